/* Shared by the Redis backend (backend_redis.c) and its cluster routing
 * (redis_cluster.c). Not installed. */
#ifndef MPROC_MANAGER_REDIS_H
#define MPROC_MANAGER_REDIS_H

#include "manager/backend.h"

#include <hiredis/hiredis.h>

#define MPROC__REDIS_SLOTS 16384

/* One server: where it is, and this process's connection to it. */
typedef struct {
    char *host;         /* TCP (a name or a numeric address), or NULL */
    char port[8];
    char *path;         /* Unix socket, or NULL */
    int fd;             /* -1: not connected */
    int inherited;      /* fd came with a fork: the parent's, not ours */
    double last_used;   /* monotonic seconds of the last reply */
    int suspect;        /* cluster: its connection failed since it last answered */
    redisReader *reader;
} mproc__rnode_t;

typedef struct mproc__redis {
    mproc__rnode_t *nodes; /* nodes[0]: the address given to connect */
    size_t nnodes;
    const unsigned char *password; /* NULL: no AUTH */
    size_t pwlen;
    long db;
    int cluster;           /* the server is a cluster node: route by slot */
    uint16_t *slots;       /* cluster: node index + 1 per slot, 0 unknown */
    int refresh_due;       /* cluster: a node failed; the next command asks for the map first */
    size_t ask_next;       /* cluster: the node asked first for the map next time (round robin) */
    mproc__wbuf_t out;     /* the commands being sent */
} mproc__redis_t;

/* Sends the commands in r->out to node n (connecting first if needed) and
 * reads nreplies replies, the last into *reply (the others must be +OK),
 * before deadline. 0 with *reply (an error reply included: the caller reads
 * it), or a negative code: the connection is then closed. `sent` says
 * whether any byte may have reached the server. */
int mproc__redis_exec(mproc__redis_t *r, mproc__rnode_t *n, int nreplies, redisReply **reply,
                      double deadline, int *sent);
/* Appends one command (argc arguments) to r->out in Redis's protocol. */
void mproc__redis_append(mproc__redis_t *r, int argc, const char *const *argv, const size_t *argvlen);
/* The node host:port (added if new): its index, or a negative code. */
int mproc__redis_node(mproc__redis_t *r, const char *host, size_t hlen, const char *port);
void mproc__redis_disconnect(mproc__rnode_t *n);

/* ---- backend_redis.c, for the other Redis files ---- */
/* Runs one command about key: on a cluster it goes to the slot's master,
 * follows MOVED and ASK and waits out a migration or a failover, all before
 * deadline. 0 with *reply (maybe an error reply: the caller frees it), or a
 * negative code. */
int mproc__redis_run(mproc__redis_t *r, const char *key, size_t klen, int argc, const char *const *argv,
                     const size_t *argvlen, redisReply **reply, double deadline);
/* Is rep an error reply starting with p? */
int mproc__redis_error_is(const redisReply *rep, const char *p);
/* The MPROC_E* code for an error reply (MPROC_EPROTO when unknown). */
int mproc__redis_error_code(const redisReply *rep);
/* A string reply copied into *val (malloc'ed, NUL-terminated past *vlen;
 * nothing when val is NULL): 0, MPROC_EPROTO (not a string), MPROC_ENOMEM. */
int mproc__redis_take_string(const redisReply *rep, void **val, size_t *vlen);

/* ---- redis_cluster.c ---- */
/* The slot of a key, per the Redis Cluster specification (CRC16 of the
 * hash tag: the bytes between the first '{' and the next '}' if not empty). */
unsigned mproc__redis_slot(const void *key, size_t len);
/* Asks the nodes for the slot map (CLUSTER SLOTS), first from node `first`
 * (-1: any), then from the others: those not suspect first, each in turn
 * (not always the same one), the suspect ones last; each attempt bounded by
 * MPROC__REDIS_ASK_TIMEOUT, so that a node that hangs costs that much, not
 * the whole call. 1 if the server is a cluster (r->slots filled), 0 if it
 * is a standalone server, or a negative code (no node answered). */
#define MPROC__REDIS_ASK_TIMEOUT 2.0
int mproc__redis_cluster_refresh(mproc__redis_t *r, int first, double deadline);
/* Parses a MOVED or ASK error reply ("MOVED 3999 127.0.0.1:6381"): the
 * node's index, slot in *slot; or a negative code. */
int mproc__redis_redirect(mproc__redis_t *r, const char *text, size_t len, unsigned *slot);

/* ---- redis_queue.c: Manager queues (docs/redis-layout.md, "Queues") ---- */
/* Operations of a queue handle that only this backend has (queue.c sends
 * them; never on mproc's wire): renew the handle's liveness and reap dead
 * consumers; return the handle's unacknowledged items at close. */
enum { MPROC__OP_QUEUE_KEEPALIVE = 0x6e, MPROC__OP_QUEUE_RELEASE = 0x6f };
#define MPROC__REDIS_QUEUE_OP(op) ((op) >= MPROC__OP_QUEUE_OPEN && (op) <= MPROC__OP_QUEUE_RELEASE)
/* A queue handle's consumer id: 32 hex digits (128 random bits), made at
 * open (and anew in a forked child), passed as the request's key. */
#define MPROC__REDIS_CONSUMER_ID_LEN 32
/* A consumer whose liveness key is older than this is dead: its items go
 * back to the front of the queue. */
#define MPROC__REDIS_QUEUE_TTL_MS 5000
/* The handle renews its liveness (and reaps) at least this often, from a
 * thread of its own while idle, and a blocked get between BLMOVE slices of
 * at most this long (seconds). */
#define MPROC__REDIS_QUEUE_SLICE 1.0
/* One queue operation (MPROC__REDIS_QUEUE_OP(q->op)); q->key is the
 * handle's consumer id; q->num (but for open) the number of its gets the
 * handle holds unacknowledged on the server. q->num2's bits:
 * MPROC__REDIS_QUEUE_FRESH_BIT the handle renewed its liveness less than
 * MPROC__REDIS_QUEUE_FRESH seconds ago, so this call need not (the key has
 * most of its TTL left; a get then tries a plain LMOVE first); a call
 * without it renews. MPROC__REDIS_QUEUE_RESYNC_BIT: a get's reply was lost,
 * so items beyond q->num at the new end of the processing list were never
 * seen: they go back to the front of the queue first. res->n is set to 1
 * when the handle's consumer was found reaped (the items it held went back
 * to the queue; it is registered anew and the operation ran as if it held
 * none). A call waits at most its timeout plus the usual bound of one
 * round trip (KEEPALIVE: MPROC__REDIS_QUEUE_KEEP_BOUND). 0 or a negative
 * code. */
#define MPROC__REDIS_QUEUE_FRESH 0.5
#define MPROC__REDIS_QUEUE_FRESH_BIT 1
#define MPROC__REDIS_QUEUE_RESYNC_BIT 2
#define MPROC__REDIS_QUEUE_KEEP_BOUND 1.0
int mproc__redis_queue_call(mproc__redis_t *r, const mproc__mgr_req_t *q, mproc__mgr_res_t *res);

#endif
