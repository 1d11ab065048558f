/* The Manager's backends: what the client API (dict.c, list.c, client.c)
 * asks of the store behind a handle. A backend is chosen by the address at
 * connect (client.c): mproc's own server (backend_server.c) or a Redis /
 * Valkey server or cluster (backend_redis.c). Not installed.
 *
 * One operation is one request: the API checks the arguments (NULLs, the
 * key and value limits of protocol.h) before it builds a request, so a
 * backend sees only well-formed ones. A backend's state belongs to one
 * handle and is used under that handle's lock, one call at a time.
 *
 * Adding a kind of container (Manager queues) means adding MPROC__OP_*
 * codes and, where a call must wait, a timeout in the request: the table
 * below stays as it is. */
#ifndef MPROC_MANAGER_BACKEND_H
#define MPROC_MANAGER_BACKEND_H

#include "manager/protocol.h"

/* One operation; fields op does not use are zero. */
typedef struct {
    unsigned op;                 /* MPROC__OP_* (protocol.h), the same codes for every backend */
    const char *name;            /* the container's name, nlen bytes (not for PING / SHUTDOWN) */
    size_t nlen;
    const void *key;             /* dict key */
    size_t klen;
    const void *val;             /* dict value or default, list value */
    size_t vlen;
    int64_t num, num2;           /* incr delta; list index; slice start and stop; MANAGER_SHM size */
    const mproc_item_t *items;   /* DICT_UPDATE: count items */
    const mproc_buf_t *vals;     /* LIST_EXTEND: count values */
    size_t count;
    double timeout;              /* QUEUE_PUT / GET / JOIN: seconds, < 0 none (common.h) */
} mproc__mgr_req_t;

/* What an operation gives back beyond its status. */
typedef struct {
    void **val;      /* in: where a byte-string result goes (malloc'ed, NUL-terminated past
                        *vlen); NULL: the caller does not want it */
    size_t *vlen;    /* in: may be NULL */
    int64_t num;     /* out: incr's result, a length, an index, contains (1 or 0) */
    void *seq;       /* out: keys, slice (mproc_buf_t[n]) or items (mproc_item_t[n]); NULL if n is 0 */
    size_t n;
} mproc__mgr_res_t;

typedef struct mproc__backend {
    /* Makes *state for address (already known to be this backend's) and
     * connects once, so that a wrong address or key shows at connect.
     * 0 or a negative code (nothing left allocated). */
    int (*open)(void **state, const char *address, const void *key, size_t keylen);
    /* One operation: 0 or a negative code (then nothing was changed, or the
     * connection failed: the next call connects anew). */
    int (*call)(void *state, const mproc__mgr_req_t *req, mproc__mgr_res_t *res);
    /* In the child after a fork (only the forking thread exists): the
     * connections are the parent's; the child's next call opens its own.
     * Must not send anything. */
    void (*forked)(void *state);
    void (*close)(void *state);
} mproc__backend_t;

extern const mproc__backend_t mproc__backend_server;
/* NULL when built without hiredis (address "redis://...": MPROC_ENOTSUP). */
extern const mproc__backend_t *const mproc__backend_redis;

/* mproc's own server: decodes the reply frame msg[len] to operation op
 * (reply.c): the reply's status, or 0 with the results in *res, or
 * MPROC_EPROTO / MPROC_EAUTH (a challenge: the server wants a key) /
 * MPROC_ENOMEM. */
int mproc__mgr_decode_reply(unsigned op, const unsigned char *msg, size_t len, mproc__mgr_res_t *res);

/* Is address one of the Redis forms ("redis://", "redis+unix://")? */
int mproc__is_redis_address(const char *address);

#endif
