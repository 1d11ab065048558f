/* The Manager backend that speaks mproc's own protocol to mproc's server
 * (docs/manager-protocol.md): one framed request, one framed reply.
 *
 * A connection belongs to the process that opened it: after a fork the
 * child's first call closes its inherited copy of the socket (the parent's
 * stays open) and connects anew. */
#include "manager/backend.h"
#include "manager/byte_table.h"
#include "connection/conn_internal.h"
#include "connection/frame_buffer.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* connecting and the handshake: a server that never answers (an address that
 * swallows packets, a server without a key) is an error, not a hang */
#define CONNECT_TIMEOUT 10.0
/* The largest reply accepted. A reply carries at most a whole container
 * (keys of 64 KiB, values of 16 MiB); a header that claims more than this is
 * a lie, refused before anything is allocated or added. */
#define REPLY_MAX ((size_t)1 << 40)

struct server_backend {
    char *address;
    const unsigned char *key; /* NULL: no handshake */
    size_t keylen;
    int fd;             /* -1: not connected (yet, or since an error) */
    int inherited;      /* fd came with a fork: not ours to use */
    unsigned spin_skip; /* requests to come that wait without polling first */
    mproc__frames_t in;
    mproc__wbuf_t req;
};

static void disconnect(struct server_backend *s)
{
    if (s->fd >= 0)
        close(s->fd); /* an inherited copy: the parent's own stays open */
    s->fd = -1;
    s->inherited = 0;
    mproc__frames_free(&s->in);
}

static int connect_server(struct server_backend *s)
{
    if (s->inherited)
        disconnect(s);
    if (s->fd >= 0)
        return 0;
    mproc_conn_t *c;
    int r = mproc_client_timeout(&c, s->address, s->key, s->keylen, CONNECT_TIMEOUT);
    if (r != 0)
        return r;
    s->fd = mproc__conn_release_fd(c);
    s->in.max = REPLY_MAX;
    return 0;
}

/* Waits for the reply. A reply usually comes within tens of microseconds,
 * less than it costs to put a process to sleep and wake it up again, so with
 * another CPU to run the server the client polls the socket for a while
 * before it sleeps in recv; when that does not pay, it stops polling for a
 * while. */
static int receive_reply(struct server_backend *s, mproc__rbuf_t *reply)
{
    double spin_until = 0;
    if (s->spin_skip > 0)
        s->spin_skip--;
    else if (mproc__spin_worthwhile())
        spin_until = mproc__monotonic() + MPROC__MGR_SPIN_SECONDS;
    for (;;) {
        const unsigned char *msg;
        size_t len;
        int r = mproc__frames_next(&s->in, &msg, &len);
        if (r == 1) {
            *reply = (mproc__rbuf_t){ msg, msg + len, 0 };
            return 0;
        }
        if (r != 0) /* a header that lies (MPROC_EPROTO) or over REPLY_MAX (MPROC_EMSGSIZE) */
            return r < 0 ? r : MPROC_EPROTO;
        int flags = 0;
        if (spin_until > 0 && mproc__monotonic() < spin_until)
            flags = MSG_DONTWAIT;
        else if (spin_until > 0) {
            /* polling did not pay this time (a busy server, or more work
             * than CPUs): sleep at once for the next few requests */
            s->spin_skip = MPROC__MGR_SPIN_BACKOFF;
            spin_until = 0;
        }
        ssize_t got = mproc__frames_fill(&s->in, s->fd, flags);
        if (got == 0)
            return MPROC_EOF;
        if (got < 0 && got != MPROC_EAGAIN)
            return got < INT32_MIN ? MPROC_EPROTO : (int)got;
    }
}

/* Sends the request built in s->req (connecting first if needed) and waits
 * for the reply frame. */
static int round_trip(struct server_backend *s, mproc__rbuf_t *reply)
{
    if (s->req.failed)
        return MPROC_ENOMEM;
    if (s->req.len > MPROC__MGR_FRAME_MAX)
        return MPROC_EMSGSIZE;
    int r = connect_server(s);
    if (r == 0)
        r = mproc__send_frame(s->fd, MPROC__SEND_SOCKET, s->req.data, s->req.len);
    if (r == 0)
        r = receive_reply(s, reply);
    if (r != 0)
        disconnect(s); /* out of step with the server: the next call starts afresh */
    return r;
}

/* ---- encoding a request ---- */

/* Manager queues: a timeout in whole microseconds; none: MPROC__MGR_FOREVER.
 * The server answers a waiting request at its deadline itself, so the
 * client waits for that answer (or for the connection to end). */
static uint64_t wire_timeout(double t)
{
    if (t < 0)
        return MPROC__MGR_FOREVER;
    if (t > 1e12)
        return MPROC__MGR_FOREVER - 1;
    return (uint64_t)(t * 1e6);
}

static void encode(mproc__wbuf_t *w, const mproc__mgr_req_t *q)
{
    mproc__wbuf_reset(w);
    mproc__put_u8(w, MPROC__MGR_VERSION);
    mproc__put_u8(w, q->op);
    if (q->op == MPROC__OP_PING || q->op == MPROC__OP_SHUTDOWN)
        return;
    if (q->op == MPROC__OP_MANAGER_SHM) { /* the size alone, no container name */
        mproc__put_u64(w, (uint64_t)q->num);
        return;
    }
    mproc__put_u16(w, (unsigned)q->nlen);
    mproc__put_raw(w, q->name, q->nlen);
    switch (q->op) {
    case MPROC__OP_DICT_SET:
        mproc__put_bytes(w, q->key, q->klen);
        mproc__put_bytes(w, q->val, q->vlen);
        return;
    case MPROC__OP_DICT_GET:
    case MPROC__OP_DICT_POP:
        mproc__put_bytes(w, q->key, q->klen);
        return;
    case MPROC__OP_DICT_DEL:
        mproc__put_bytes(w, q->key, q->klen);
        return;
    case MPROC__OP_DICT_CONTAINS:
        mproc__put_bytes(w, q->key, q->klen);
        return;
    case MPROC__OP_DICT_SETDEFAULT:
        mproc__put_bytes(w, q->key, q->klen);
        mproc__put_bytes(w, q->val, q->vlen);
        return;
    case MPROC__OP_DICT_INCR:
        mproc__put_bytes(w, q->key, q->klen);
        mproc__put_u64(w, (uint64_t)q->num);
        return;
    case MPROC__OP_DICT_UPDATE:
        mproc__put_u32(w, (uint32_t)q->count);
        for (size_t i = 0; i < q->count; i++) {
            mproc__put_bytes(w, q->items[i].key.data, q->items[i].key.len);
            mproc__put_bytes(w, q->items[i].value.data, q->items[i].value.len);
        }
        return;
    case MPROC__OP_LIST_APPEND:
    case MPROC__OP_LIST_REMOVE:
        mproc__put_bytes(w, q->val, q->vlen);
        return;
    case MPROC__OP_LIST_EXTEND:
        mproc__put_u32(w, (uint32_t)q->count);
        for (size_t i = 0; i < q->count; i++)
            mproc__put_bytes(w, q->vals[i].data, q->vals[i].len);
        return;
    case MPROC__OP_LIST_GET:
    case MPROC__OP_LIST_POP:
        mproc__put_u64(w, (uint64_t)q->num);
        return;
    case MPROC__OP_LIST_SET:
    case MPROC__OP_LIST_INSERT:
        mproc__put_u64(w, (uint64_t)q->num);
        mproc__put_bytes(w, q->val, q->vlen);
        return;
    case MPROC__OP_LIST_INDEX:
        mproc__put_bytes(w, q->val, q->vlen);
        return;
    case MPROC__OP_LIST_SLICE:
        mproc__put_u64(w, (uint64_t)q->num);
        mproc__put_u64(w, (uint64_t)q->num2);
        return;
    /* ---- Manager queues ---- */
    case MPROC__OP_QUEUE_OPEN:
        mproc__put_u64(w, (uint64_t)q->num);
        return;
    case MPROC__OP_QUEUE_PUT:
        mproc__put_u64(w, wire_timeout(q->timeout));
        mproc__put_bytes(w, q->val, q->vlen);
        return;
    case MPROC__OP_QUEUE_GET:
    case MPROC__OP_QUEUE_JOIN:
        mproc__put_u64(w, wire_timeout(q->timeout));
        return;
    /* ---- end of Manager queues ---- */
    default: /* DICT_OPEN, LIST_OPEN, LEN, KEYS, ITEMS, the CLEARs: the name alone */
        return;
    }
}

static int server_call(void *state, const mproc__mgr_req_t *q, mproc__mgr_res_t *res)
{
    struct server_backend *s = state;
    encode(&s->req, q);
    mproc__rbuf_t reply;
    int r = round_trip(s, &reply);
    if (r == 0)
        r = mproc__mgr_decode_reply(q->op, reply.p, (size_t)(reply.end - reply.p), res);
    if (r == MPROC_EPROTO || r == MPROC_EAUTH)
        disconnect(s); /* a reply that makes no sense: start afresh */
    return r;
}

/* ---- the table ---- */

static void server_close(void *state)
{
    struct server_backend *s = state;
    disconnect(s);
    mproc__wbuf_free(&s->req);
    free(s->address);
    free(s);
}

static void server_forked(void *state)
{
    struct server_backend *s = state;
    s->inherited = s->fd >= 0;
    mproc__frames_free(&s->in);
}

static int server_open(void **state, const char *address, const void *key, size_t keylen)
{
    struct server_backend *s = calloc(1, sizeof *s);
    if (s == NULL || (s->address = strdup(address)) == NULL) {
        free(s);
        return MPROC_ENOMEM;
    }
    s->fd = -1;
    s->key = key; /* the handle's copy, which lives as long as this */
    s->keylen = keylen;
    /* a round trip now, so a wrong address or key, or something that is
     * not a Manager, shows here */
    mproc__mgr_req_t ping = { .op = MPROC__OP_PING };
    mproc__mgr_res_t res = { 0 };
    int r = server_call(s, &ping, &res);
    if (r != 0) {
        server_close(s);
        return r;
    }
    *state = s;
    return 0;
}

const mproc__backend_t mproc__backend_server = {
    .open = server_open,
    .call = server_call,
    .forked = server_forked,
    .close = server_close,
};
