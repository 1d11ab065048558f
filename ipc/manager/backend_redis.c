/* The Manager backend on Redis / Valkey, standalone or Cluster
 * (docs/redis-layout.md): dict NAME is the hash "mproc:dict:{NAME}", list
 * NAME the list "mproc:list:{NAME}". Every operation is one command, or one
 * Lua script where Redis has no single command for it (EVALSHA, EVAL when
 * the server does not have the script yet), so each is atomic on the server.
 *
 * hiredis parses the replies (its redisReader); the sockets are ours, so
 * that every connect and every reply is bounded by a deadline, a send never
 * raises SIGPIPE, the errno of a failed connect reaches the caller, and a
 * connection inherited across fork is never used by the child. */
#include "config.h"

#include "manager/backend.h"

#ifndef HAVE_HIREDIS

/* Built without hiredis: a redis:// address is MPROC_ENOTSUP. */
const mproc__backend_t *const mproc__backend_redis = NULL;

#else

#include "manager/byte_table.h"
#include "manager/redis.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Every call (connect, redirections and retries included) ends within this:
 * an address that swallows packets or a server that stops answering is an
 * error, never a hang. */
#define CALL_TIMEOUT 10.0
/* A connection idle for longer is checked for a peer that closed it (a
 * restarted server) before it is used, so the first call after a restart
 * succeeds instead of failing on the stale connection. */
#define IDLE_CHECK 1e-3
/* Cluster: the pause before retrying while a slot moves or a failover runs. */
#define RETRY_PAUSE_NS 20000000L
/* What a reply may claim. hiredis 0.14's reader believes any element count
 * and bulk length (a reply "*2000000000" would make it allocate 16 GB), so
 * the reply objects are built here: a reply is at most what the Manager's
 * protocol carries in one frame, and each element takes at least 4 bytes on
 * the wire (":0\r\n"), so a larger count or length is a lie. Arrays grow as
 * their elements arrive, so memory follows the bytes received, never a
 * count announced. */
#define REPLY_BYTES_MAX MPROC__MGR_FRAME_MAX
#define REPLY_ELEMENTS_MAX (REPLY_BYTES_MAX / 4)

/* ---- the wire: sending commands, reading replies ---- */

static int wait_fd(int fd, short events, double deadline)
{
    for (;;) {
        double left = deadline - mproc__monotonic();
        if (left <= 0)
            return MPROC_ETIMEDOUT;
        struct pollfd p = { .fd = fd, .events = events };
        int r = poll(&p, 1, (int)(left * 1000) + 1);
        if (r > 0)
            return 0;
        if (r < 0 && errno != EINTR)
            return mproc__errno(errno);
    }
}

static int send_all(int fd, const unsigned char *p, size_t len, double deadline)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int r = wait_fd(fd, POLLOUT, deadline);
            if (r != 0)
                return r;
            continue;
        }
        return n < 0 ? mproc__errno(errno) : MPROC_EPIPE;
    }
    return 0;
}

/* ---- reply objects for hiredis's reader, bounded ---- */

/* Set when a reply announced more than it may: the reader's error is then a
 * lie (MPROC_EPROTO), not a lack of memory. Each thread reads its own
 * replies, so the flag is the thread's. */
static __thread int reply_lie;

/* Puts child at index idx of the array parent, growing its element array
 * (its capacity kept in parent->len, which an array does not use) up to the
 * count announced; parent->elements counts the elements in place, so that
 * freeReplyObject frees a half-read array correctly. */
static int attach(redisReply *parent, int idx, redisReply *child, int announced)
{
    size_t i = (size_t)idx;
    if (i >= parent->len) {
        size_t cap = parent->len < 8 ? 8 : 2 * parent->len;
        if (cap > (size_t)announced)
            cap = (size_t)announced;
        redisReply **grown = realloc(parent->element, cap * sizeof *grown);
        if (grown == NULL)
            return -1;
        parent->element = grown;
        parent->len = cap;
    }
    parent->element[i] = child;
    parent->elements = i + 1;
    return 0;
}

static void *new_reply(const redisReadTask *task, int type)
{
    redisReply *rep = calloc(1, sizeof *rep);
    if (rep == NULL)
        return NULL;
    rep->type = type;
    if (task->parent != NULL && attach(task->parent->obj, task->idx, rep, task->parent->elements) != 0) {
        free(rep);
        return NULL;
    }
    return rep;
}

static void *create_string(const redisReadTask *task, char *str, size_t len)
{
    if (len > REPLY_BYTES_MAX) {
        reply_lie = 1;
        return NULL;
    }
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return NULL;
    memcpy(copy, str, len);
    copy[len] = '\0';
    redisReply *rep = new_reply(task, task->type);
    if (rep == NULL) {
        free(copy);
        return NULL;
    }
    rep->str = copy;
    rep->len = len;
    return rep;
}

static void *create_array(const redisReadTask *task, int elements)
{
    if (elements < 0 || (size_t)elements > REPLY_ELEMENTS_MAX) {
        reply_lie = 1;
        return NULL;
    }
    return new_reply(task, REDIS_REPLY_ARRAY); /* its elements come as they arrive */
}

static void *create_integer(const redisReadTask *task, long long value)
{
    redisReply *rep = new_reply(task, REDIS_REPLY_INTEGER);
    if (rep != NULL)
        rep->integer = value;
    return rep;
}

static void *create_nil(const redisReadTask *task)
{
    return new_reply(task, REDIS_REPLY_NIL);
}

static redisReplyObjectFunctions bounded_replies = {
    .createString = create_string,
    .createArray = create_array,
    .createInteger = create_integer,
    .createNil = create_nil,
    .freeObject = freeReplyObject, /* elements counts what is in place */
};

static int read_reply(mproc__rnode_t *n, double deadline, redisReply **reply)
{
    char buf[16384];
    for (;;) {
        void *rep = NULL;
        reply_lie = 0;
        if (redisReaderGetReply(n->reader, &rep) != REDIS_OK)
            /* hiredis's parser refused what came, or a count was a lie */
            return n->reader->err == REDIS_ERR_OOM && !reply_lie ? MPROC_ENOMEM : MPROC_EPROTO;
        if (rep != NULL) {
            *reply = rep;
            return 0;
        }
        /* what the reader holds unparsed is one item still arriving: a
         * bulk string longer than any reply may be is refused before it
         * is buffered whole */
        if (n->reader->len - n->reader->pos > REPLY_BYTES_MAX + 32)
            return MPROC_EPROTO;
        ssize_t got = recv(n->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (got == 0)
            return MPROC_EOF;
        if (got < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return errno == ECONNRESET ? MPROC_EOF : mproc__errno(errno);
            int r = wait_fd(n->fd, POLLIN, deadline);
            if (r != 0)
                return r;
            continue;
        }
        if (redisReaderFeed(n->reader, buf, (size_t)got) != REDIS_OK)
            return MPROC_ENOMEM;
    }
}

static void put_decimal(mproc__wbuf_t *w, char kind, long long v)
{
    char text[32];
    int n = snprintf(text, sizeof text, "%c%lld\r\n", kind, v);
    mproc__put_raw(w, text, (size_t)n);
}

void mproc__redis_append(mproc__redis_t *r, int argc, const char *const *argv, const size_t *argvlen)
{
    put_decimal(&r->out, '*', argc);
    for (int i = 0; i < argc; i++) {
        put_decimal(&r->out, '$', (long long)argvlen[i]);
        mproc__put_raw(&r->out, argv[i], argvlen[i]);
        mproc__put_raw(&r->out, "\r\n", 2);
    }
}

void mproc__redis_disconnect(mproc__rnode_t *n)
{
    if (n->fd >= 0)
        close(n->fd); /* an inherited copy: the parent's own stays open */
    n->fd = -1;
    n->inherited = 0;
    if (n->reader != NULL)
        redisReaderFree(n->reader);
    n->reader = NULL;
}

/* A connection whose peer has closed it (or that holds bytes nobody asked
 * for) is no use: poll says so without blocking. */
static int stale(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };
    return poll(&p, 1, 0) != 0;
}

static int connect_socket(mproc__rnode_t *n, double deadline)
{
    struct addrinfo *res = NULL, *ai, one = { 0 };
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    if (n->path != NULL) {
        memcpy(un.sun_path, n->path, strlen(n->path)); /* length checked when parsed */
        one.ai_family = AF_UNIX;
        one.ai_socktype = SOCK_STREAM;
        one.ai_addr = (struct sockaddr *)&un;
        one.ai_addrlen = sizeof un;
        ai = &one;
    } else {
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
        int g = getaddrinfo(n->host, n->port, &hints, &res);
        if (g != 0)
            return g == EAI_MEMORY ? MPROC_ENOMEM : g == EAI_SYSTEM ? mproc__errno(errno) : MPROC_ENOENT;
        ai = res;
    }
    int err = MPROC_ENOENT;
    for (; ai != NULL; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            err = mproc__errno(errno);
            continue;
        }
        int r = connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ? 0 : errno;
        if (r == EINPROGRESS || r == EAGAIN) {
            r = wait_fd(fd, POLLOUT, deadline);
            if (r == 0) {
                socklen_t len = sizeof r;
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &r, &len) != 0)
                    r = errno;
                r = -r;
            }
        } else {
            r = -r;
        }
        if (r == 0) {
            if (ai->ai_family != AF_UNIX) {
                int on = 1; /* one small request, one small reply: never wait for more */
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
            }
            n->fd = fd;
            break;
        }
        close(fd);
        err = r;
    }
    if (res != NULL)
        freeaddrinfo(res);
    return n->fd >= 0 ? 0 : err;
}

/* Connects n and authenticates (AUTH, SELECT), before deadline. */
static int connect_node(mproc__redis_t *r, mproc__rnode_t *n, double deadline)
{
    int rc = connect_socket(n, deadline);
    if (rc != 0)
        return rc;
    if ((n->reader = redisReaderCreateWithFunctions(&bounded_replies)) == NULL) {
        mproc__redis_disconnect(n);
        return MPROC_ENOMEM;
    }
    int expect = 0;
    mproc__wbuf_t hello = { 0 };
    mproc__redis_t tmp = { .out = hello };
    if (r->password != NULL) {
        const char *argv[] = { "AUTH", (const char *)r->password };
        size_t len[] = { 4, r->pwlen };
        mproc__redis_append(&tmp, 2, argv, len);
        expect++;
    }
    char db[24];
    if (r->db != 0) {
        const char *argv[] = { "SELECT", db };
        size_t len[] = { 6, (size_t)snprintf(db, sizeof db, "%ld", r->db) };
        mproc__redis_append(&tmp, 2, argv, len);
        expect++;
    }
    rc = tmp.out.failed ? MPROC_ENOMEM : 0;
    if (rc == 0 && expect > 0)
        rc = send_all(n->fd, tmp.out.data, tmp.out.len, deadline);
    for (int i = 0; rc == 0 && i < expect; i++) {
        redisReply *rep;
        rc = read_reply(n, deadline, &rep);
        if (rc != 0)
            break;
        /* AUTH refused; or SELECT refused: NOAUTH (no password given to a
         * server that wants one), else a db it has not */
        if (rep->type == REDIS_REPLY_ERROR)
            rc = (i == 0 && r->password != NULL) || mproc__redis_error_code(rep) == MPROC_EAUTH ? MPROC_EAUTH
                                                                                            : MPROC_EINVAL;
        freeReplyObject(rep);
    }
    mproc__wbuf_free(&tmp.out);
    if (rc != 0)
        mproc__redis_disconnect(n);
    return rc;
}

int mproc__redis_exec(mproc__redis_t *r, mproc__rnode_t *n, int nreplies, redisReply **reply,
                      double deadline, int *sent)
{
    *sent = 0;
    if (r->out.failed)
        return MPROC_ENOMEM;
    if (r->out.len > MPROC__MGR_FRAME_MAX)
        return MPROC_EMSGSIZE; /* the Manager's request limit, on every backend */
    if (n->inherited)
        mproc__redis_disconnect(n);
    double t = mproc__monotonic();
    if (n->fd >= 0 && t - n->last_used > IDLE_CHECK && stale(n->fd))
        mproc__redis_disconnect(n);
    int rc = 0;
    if (n->fd < 0)
        rc = connect_node(r, n, deadline);
    if (rc != 0)
        return rc;
    *sent = 1;
    rc = send_all(n->fd, r->out.data, r->out.len, deadline);
    for (int i = 0; rc == 0 && i < nreplies; i++) {
        redisReply *rep;
        rc = read_reply(n, deadline, &rep);
        if (rc != 0)
            break;
        if (i + 1 == nreplies) {
            *reply = rep;
        } else {
            if (rep->type == REDIS_REPLY_ERROR)
                rc = MPROC_EPROTO;
            freeReplyObject(rep);
        }
    }
    if (rc != 0) {
        mproc__redis_disconnect(n); /* out of step with the server: start afresh */
        return rc;
    }
    n->last_used = mproc__monotonic();
    return 0;
}

/* ---- routing: one command to the node that holds its key ---- */

int mproc__redis_error_is(const redisReply *rep, const char *p)
{
    return rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, p, strlen(p)) == 0;
}

static void pause_retry(void)
{
    struct timespec ts = { 0, RETRY_PAUSE_NS };
    nanosleep(&ts, NULL);
}

/* Did the connection to the node fail (refused, reset, unreachable, no
 * answer in time, closed)? Then the node may be gone, and another node
 * knows where its slots went. Anything else (the request too large, no
 * memory, a password refused) would fail on any node: it is returned. */
static int node_failed(int rc)
{
    switch (rc) {
    case -ECONNREFUSED:
    case -ECONNRESET:
    case -ECONNABORTED:
    case -EHOSTUNREACH:
    case -EHOSTDOWN:
    case -ENETUNREACH:
    case -ENETDOWN:
    case -ENOENT: /* a Unix socket gone; a name that no longer resolves */
    case MPROC_ETIMEDOUT:
    case MPROC_EOF:
    case MPROC_EPIPE:
        return 1;
    default:
        return 0;
    }
}

/* Runs one command about key: on a cluster it goes to the slot's master,
 * follows MOVED (and refreshes the map) and ASK (ASKING, once), and waits
 * out a migration or a failover; all before deadline. 0 with *reply (maybe an
 * error reply), or a negative code. */
int mproc__redis_run(mproc__redis_t *r, const char *key, size_t klen, int argc, const char *const *argv,
                     const size_t *argvlen, redisReply **reply, double deadline)
{
    int ask = -1;
    if (r->cluster && r->refresh_due) {
        /* a node failed in an earlier call: where are its slots now? (from
         * another node; on failure the map stays as it was) */
        r->refresh_due = mproc__redis_cluster_refresh(r, -1, deadline) != 1;
    }
    for (;;) {
        unsigned slot = r->cluster ? mproc__redis_slot(key, klen) : 0;
        int node = r->cluster && r->slots[slot] > 0 ? r->slots[slot] - 1 : 0;
        mproc__wbuf_reset(&r->out);
        if (ask >= 0) {
            static const char *const asking[] = { "ASKING" };
            static const size_t asking_len[] = { 6 };
            mproc__redis_append(r, 1, asking, asking_len);
            node = ask;
        }
        mproc__redis_append(r, argc, argv, argvlen);
        int sent;
        int rc = mproc__redis_exec(r, &r->nodes[node], ask >= 0 ? 2 : 1, reply, deadline, &sent);
        ask = -1;
        if (rc != 0) {
            if (!r->cluster || !node_failed(rc))
                return rc; /* no other node; or what any node would give: at once */
            /* the master may be gone (a failover): the map is asked of
             * another node, now if the command surely did not reach this
             * one (then it is sent again), else at the next call (it may
             * have been applied: it is not sent twice) */
            r->nodes[node].suspect = 1;
            r->refresh_due = 1;
            if (sent || mproc__monotonic() >= deadline)
                return rc;
            pause_retry();
            r->refresh_due = mproc__redis_cluster_refresh(r, -1, deadline) != 1;
            continue;
        }
        r->nodes[node].suspect = 0;
        if (!r->cluster || (*reply)->type != REDIS_REPLY_ERROR)
            return 0;
        if (mproc__redis_error_is(*reply, "MOVED ") || mproc__redis_error_is(*reply, "ASK ")) {
            unsigned to_slot;
            int moved = mproc__redis_error_is(*reply, "MOVED ");
            int idx = mproc__redis_redirect(r, (*reply)->str, (*reply)->len, &to_slot);
            freeReplyObject(*reply);
            if (idx < 0)
                return idx;
            if (moved) {
                r->slots[to_slot] = (uint16_t)(idx + 1);
                mproc__redis_cluster_refresh(r, idx, deadline); /* more slots likely moved */
            } else {
                ask = idx;
            }
        } else if (mproc__redis_error_is(*reply, "TRYAGAIN") || mproc__redis_error_is(*reply, "CLUSTERDOWN")) {
            freeReplyObject(*reply); /* a multi-key operation mid-migration, a failover */
            pause_retry();
        } else {
            return 0;
        }
        if (mproc__monotonic() >= deadline)
            return MPROC_ETIMEDOUT;
    }
}

/* ---- scripts: what Redis has no single command for ---- */

enum script_id { S_DICT_POP, S_SETDEFAULT, S_CLEAR, S_LIST_INSERT, S_LIST_POP, S_COUNT };

/* KEYS[1] is the container. Errors the API maps: WRONGTYPE (MPROC_ETYPE),
 * MPROC_EINDEX. Lists are rebuilt around an index with LRANGE/LTRIM/RPUSH
 * (RPUSH in batches: Lua's unpack has a limit). */
static const char *const scripts[S_COUNT] = {
    [S_DICT_POP] = "local v = redis.call('HGET', KEYS[1], ARGV[1])\n"
                   "if v then redis.call('HDEL', KEYS[1], ARGV[1]) end\n"
                   "return v\n",
    [S_SETDEFAULT] = "redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])\n"
                     "return redis.call('HGET', KEYS[1], ARGV[1])\n",
    [S_CLEAR] = "local t = redis.call('TYPE', KEYS[1]).ok\n"
                "if t ~= 'none' and t ~= ARGV[1] then\n"
                "  return redis.error_reply('WRONGTYPE Operation against a key holding the wrong kind of value')\n"
                "end\n"
                "return redis.call('DEL', KEYS[1])\n",
    [S_LIST_INSERT] = "local n = redis.call('LLEN', KEYS[1])\n"
                      "local i = tonumber(ARGV[1])\n"
                      "if i < 0 then i = math.max(i + n, 0) elseif i > n then i = n end\n"
                      "if i == n then return redis.call('RPUSH', KEYS[1], ARGV[2]) end\n"
                      "if i == 0 then return redis.call('LPUSH', KEYS[1], ARGV[2]) end\n"
                      "local tail = redis.call('LRANGE', KEYS[1], i, -1)\n"
                      "redis.call('LTRIM', KEYS[1], 0, i - 1)\n"
                      "redis.call('RPUSH', KEYS[1], ARGV[2])\n"
                      "for j = 1, #tail, 1000 do\n"
                      "  redis.call('RPUSH', KEYS[1], unpack(tail, j, math.min(j + 999, #tail)))\n"
                      "end\n"
                      "return n + 1\n",
    [S_LIST_POP] = "local n = redis.call('LLEN', KEYS[1])\n"
                   "local i = tonumber(ARGV[1])\n"
                   "if i < 0 then i = i + n end\n"
                   "if i < 0 or i >= n then return redis.error_reply('MPROC_EINDEX index out of range') end\n"
                   "if i == n - 1 then return redis.call('RPOP', KEYS[1]) end\n"
                   "if i == 0 then return redis.call('LPOP', KEYS[1]) end\n"
                   "local v = redis.call('LINDEX', KEYS[1], i)\n"
                   "local tail = redis.call('LRANGE', KEYS[1], i + 1, -1)\n"
                   "redis.call('LTRIM', KEYS[1], 0, i - 1)\n"
                   "for j = 1, #tail, 1000 do\n"
                   "  redis.call('RPUSH', KEYS[1], unpack(tail, j, math.min(j + 999, #tail)))\n"
                   "end\n"
                   "return v\n",
};
static char script_sha[S_COUNT][41];
static pthread_once_t sha_once = PTHREAD_ONCE_INIT;

static void compute_shas(void)
{
    for (int i = 0; i < S_COUNT; i++) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned len = 0;
        EVP_Digest(scripts[i], strlen(scripts[i]), md, &len, EVP_sha1(), NULL);
        for (unsigned j = 0; j < len && j < 20; j++)
            snprintf(&script_sha[i][2 * j], 3, "%02x", md[j]);
    }
}

/* EVALSHA of script id on key with up to 2 arguments; EVAL when the server
 * does not have it yet (then it has it for next time). */
static int script(mproc__redis_t *r, enum script_id id, const char *key, size_t klen, int nargs,
                  const char *const *args, const size_t *lens, redisReply **reply, double deadline)
{
    pthread_once(&sha_once, compute_shas);
    const char *argv[6] = { "EVALSHA", script_sha[id], "1", key };
    size_t len[6] = { 7, 40, 1, klen };
    for (int i = 0; i < nargs; i++) {
        argv[4 + i] = args[i];
        len[4 + i] = lens[i];
    }
    int rc = mproc__redis_run(r, key, klen, 4 + nargs, argv, len, reply, deadline);
    if (rc == 0 && mproc__redis_error_is(*reply, "NOSCRIPT")) {
        freeReplyObject(*reply);
        argv[0] = "EVAL";
        len[0] = 4;
        argv[1] = scripts[id];
        len[1] = strlen(scripts[id]);
        rc = mproc__redis_run(r, key, klen, 4 + nargs, argv, len, reply, deadline);
    }
    return rc;
}

/* ---- replies to results ---- */

int mproc__redis_error_code(const redisReply *rep)
{
    static const struct { const char *prefix; int code; } map[] = {
        { "WRONGTYPE", MPROC_ETYPE },
        { "NOAUTH", MPROC_EAUTH },
        { "WRONGPASS", MPROC_EAUTH },
        { "NOPERM", MPROC_EACCES },
        { "ERR hash value is not an integer", MPROC_EINVAL },
        { "ERR increment or decrement would overflow", MPROC_EOVERFLOW },
        { "ERR index out of range", MPROC_EINDEX },
        { "ERR no such key", MPROC_EINDEX },
        { "MPROC_EINDEX", MPROC_EINDEX },
        { "OOM", MPROC_ENOMEM },
        { "LOADING", MPROC_EAGAIN },
        { "BUSY", MPROC_EAGAIN },
        { "TRYAGAIN", MPROC_EAGAIN },
        { "CLUSTERDOWN", MPROC_EAGAIN },
    };
    if (rep->type != REDIS_REPLY_ERROR)
        return MPROC_EPROTO;
    const char *text = rep->str;
    /* Redis before 7 wraps the error of a command a script ran: "ERR Error
     * running script (call to f_SHA): @user_script:1: WRONGTYPE ..."; Redis
     * 7 puts the command's error first. The command's error is what counts. */
    static const char wrapped[] = "ERR Error running script";
    const char *at = strncmp(text, wrapped, sizeof wrapped - 1) == 0 ? strstr(text, "@user_script:") : NULL;
    const char *colon = at != NULL ? strstr(at + 13, ": ") : NULL;
    if (colon != NULL)
        text = colon + 2;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strncmp(text, map[i].prefix, strlen(map[i].prefix)) == 0)
            return map[i].code;
    return MPROC_EPROTO;
}

int mproc__redis_take_string(const redisReply *rep, void **val, size_t *vlen)
{
    if (rep->type != REDIS_REPLY_STRING)
        return MPROC_EPROTO;
    if (val == NULL)
        return 0;
    mproc_buf_t copy = mproc__buf_copy(rep->str, rep->len);
    if (copy.data == NULL)
        return MPROC_ENOMEM;
    *val = copy.data;
    if (vlen != NULL)
        *vlen = copy.len;
    return 0;
}

static int take_array(const redisReply *rep, int pairs, mproc__mgr_res_t *res)
{
    if (rep->type != REDIS_REPLY_ARRAY || (pairs && rep->elements % 2 != 0))
        return MPROC_EPROTO;
    mproc_buf_t *bufs = rep->elements > 0 ? calloc(rep->elements, sizeof *bufs) : NULL;
    if (rep->elements > 0 && bufs == NULL)
        return MPROC_ENOMEM;
    for (size_t i = 0; i < rep->elements; i++) {
        int rc = mproc__redis_take_string(rep->element[i], &bufs[i].data, &bufs[i].len);
        if (rc != 0) {
            mproc_bufs_free(bufs, i);
            return rc;
        }
    }
    res->seq = bufs; /* mproc_item_t is two mproc_buf_t in a row */
    res->n = pairs ? rep->elements / 2 : rep->elements;
    return 0;
}

/* An integer reply no smaller than min (a length, a position, a count can
 * not be negative: a server that says so lies). */
static int take_integer(const redisReply *rep, int64_t min, int64_t *out)
{
    if (rep->type != REDIS_REPLY_INTEGER || rep->integer < min)
        return MPROC_EPROTO;
    *out = rep->integer;
    return 0;
}

/* ---- the operations ---- */

#define KEY_MAX (sizeof "mproc:dict:{}" + MPROC__MGR_NAME_MAX)

/* "mproc:dict:{NAME}" or "mproc:list:{NAME}": the braces make NAME the hash
 * tag, so a container's keys share a slot whatever NAME holds. */
static size_t container_key(char *out, const mproc__mgr_req_t *q)
{
    int dict = q->op >= MPROC__OP_DICT_OPEN && q->op < MPROC__OP_LIST_OPEN;
    memcpy(out, dict ? "mproc:dict:{" : "mproc:list:{", 12);
    memcpy(out + 12, q->name, q->nlen);
    out[12 + q->nlen] = '}';
    return 13 + q->nlen;
}

/* Arguments built on the fly: at most a few per command, besides update
 * and extend. */
struct args {
    const char *v[8];
    size_t len[8];
    int n;
};

static void arg(struct args *a, const void *p, size_t len)
{
    a->v[a->n] = p;
    a->len[a->n++] = len;
}

static int many(mproc__redis_t *r, const char *cmd, const char *key, size_t klen,
                const mproc__mgr_req_t *q, redisReply **reply, double deadline)
{
    int pairs = q->items != NULL;
    size_t argc = 2 + q->count * (pairs ? 2 : 1);
    /* more than one request may carry is refused before it is built: each
     * argument is at least "$N\r\n" and its bytes and "\r\n" */
    size_t wire = 0;
    for (size_t i = 0; i < q->count && wire <= MPROC__MGR_FRAME_MAX; i++)
        wire += pairs ? q->items[i].key.len + q->items[i].value.len + 10 : q->vals[i].len + 5;
    if (wire > MPROC__MGR_FRAME_MAX)
        return MPROC_EMSGSIZE;
    const char **argv = malloc(argc * sizeof *argv);
    size_t *len = malloc(argc * sizeof *len);
    int rc = argc > INT32_MAX ? MPROC_EMSGSIZE : MPROC_ENOMEM;
    if (argv != NULL && len != NULL && argc <= INT32_MAX) {
        argv[0] = cmd;
        len[0] = strlen(cmd);
        argv[1] = key;
        len[1] = klen;
        size_t j = 2;
        for (size_t i = 0; i < q->count; i++) {
            const mproc_buf_t *b = pairs ? &q->items[i].key : &q->vals[i];
            argv[j] = b->data;
            len[j++] = b->len;
            if (pairs) {
                argv[j] = q->items[i].value.data;
                len[j++] = q->items[i].value.len;
            }
        }
        rc = mproc__redis_run(r, key, klen, (int)argc, argv, len, reply, deadline);
    }
    free(argv);
    free(len);
    return rc;
}

static int redis_call(void *state, const mproc__mgr_req_t *q, mproc__mgr_res_t *res)
{
    if (MPROC__REDIS_QUEUE_OP(q->op)) return mproc__redis_queue_call(state, q, res); /* redis_queue.c */
    mproc__redis_t *r = state;
    double deadline = mproc__monotonic() + CALL_TIMEOUT;
    if (q->op == MPROC__OP_SHUTDOWN)
        return 0; /* Redis is never stopped */
    if (q->op == MPROC__OP_MANAGER_SHM)
        return MPROC_ENOTSUP; /* Redis has no process that could unlink a block */
    char key[KEY_MAX];
    size_t klen = 0;
    if (q->op != MPROC__OP_PING)
        klen = container_key(key, q);
    char num[2][24];
    size_t numlen[2] = { (size_t)snprintf(num[0], sizeof num[0], "%lld", (long long)q->num),
                         (size_t)snprintf(num[1], sizeof num[1], "%lld", (long long)q->num2) };
    struct args a = { .n = 0 };
    redisReply *rep = NULL;
    int rc;
    const char *cmd = NULL;
    switch (q->op) {
    case MPROC__OP_PING: cmd = "PING"; break;
    case MPROC__OP_DICT_OPEN: case MPROC__OP_LIST_OPEN: cmd = "TYPE"; break;
    case MPROC__OP_DICT_SET: cmd = "HSET"; break;
    case MPROC__OP_DICT_GET: cmd = "HGET"; break;
    case MPROC__OP_DICT_DEL: cmd = "HDEL"; break;
    case MPROC__OP_DICT_CONTAINS: cmd = "HEXISTS"; break;
    case MPROC__OP_DICT_INCR: cmd = "HINCRBY"; break;
    case MPROC__OP_DICT_LEN: cmd = "HLEN"; break;
    case MPROC__OP_DICT_KEYS: cmd = "HKEYS"; break;
    case MPROC__OP_DICT_ITEMS: cmd = "HGETALL"; break;
    case MPROC__OP_LIST_APPEND: cmd = "RPUSH"; break;
    case MPROC__OP_LIST_GET: cmd = "LINDEX"; break;
    case MPROC__OP_LIST_SET: cmd = "LSET"; break;
    case MPROC__OP_LIST_REMOVE: cmd = "LREM"; break;
    case MPROC__OP_LIST_INDEX: cmd = "LPOS"; break;
    case MPROC__OP_LIST_LEN: cmd = "LLEN"; break;
    case MPROC__OP_LIST_SLICE: cmd = "LRANGE"; break;
    default: break;
    }
    if (cmd != NULL) {
        arg(&a, cmd, strlen(cmd));
        if (q->op != MPROC__OP_PING)
            arg(&a, key, klen);
    }
    switch (q->op) {
    case MPROC__OP_DICT_SET:
        arg(&a, q->key, q->klen);
        arg(&a, q->val, q->vlen);
        break;
    case MPROC__OP_DICT_GET:
    case MPROC__OP_DICT_DEL:
    case MPROC__OP_DICT_CONTAINS:
        arg(&a, q->key, q->klen);
        break;
    case MPROC__OP_DICT_INCR:
        arg(&a, q->key, q->klen);
        arg(&a, num[0], numlen[0]);
        break;
    case MPROC__OP_LIST_APPEND:
    case MPROC__OP_LIST_INDEX:
        arg(&a, q->val, q->vlen);
        break;
    case MPROC__OP_LIST_GET:
        arg(&a, num[0], numlen[0]);
        break;
    case MPROC__OP_LIST_SET:
        arg(&a, num[0], numlen[0]);
        arg(&a, q->val, q->vlen);
        break;
    case MPROC__OP_LIST_REMOVE: /* the first equal value, from the head */
        arg(&a, "1", 1);
        arg(&a, q->val, q->vlen);
        break;
    case MPROC__OP_LIST_SLICE: {
        /* Python's [start:stop] is LRANGE start stop-1: negative indices
         * and clamping agree; stop 0 (or below INT64_MIN + 1) is empty */
        int64_t stop = q->num2;
        if (stop == 0 || stop == INT64_MIN)
            numlen[0] = (size_t)snprintf(num[0], sizeof num[0], "1"), stop = 1; /* LRANGE 1 0 */
        numlen[1] = (size_t)snprintf(num[1], sizeof num[1], "%lld", (long long)(stop - 1));
        arg(&a, num[0], numlen[0]);
        arg(&a, num[1], numlen[1]);
        break;
    }
    default:
        break;
    }
    if (cmd != NULL) {
        rc = mproc__redis_run(r, key, klen, a.n, a.v, a.len, &rep, deadline);
    } else {
        switch (q->op) {
        case MPROC__OP_DICT_POP:
            arg(&a, q->key, q->klen);
            rc = script(r, S_DICT_POP, key, klen, a.n, a.v, a.len, &rep, deadline);
            break;
        case MPROC__OP_DICT_SETDEFAULT:
            arg(&a, q->key, q->klen);
            arg(&a, q->val, q->vlen);
            rc = script(r, S_SETDEFAULT, key, klen, a.n, a.v, a.len, &rep, deadline);
            break;
        case MPROC__OP_DICT_CLEAR:
        case MPROC__OP_LIST_CLEAR:
            arg(&a, q->op == MPROC__OP_DICT_CLEAR ? "hash" : "list", 4);
            rc = script(r, S_CLEAR, key, klen, a.n, a.v, a.len, &rep, deadline);
            break;
        case MPROC__OP_LIST_INSERT:
            arg(&a, num[0], numlen[0]);
            arg(&a, q->val, q->vlen);
            rc = script(r, S_LIST_INSERT, key, klen, a.n, a.v, a.len, &rep, deadline);
            break;
        case MPROC__OP_LIST_POP:
            arg(&a, num[0], numlen[0]);
            rc = script(r, S_LIST_POP, key, klen, a.n, a.v, a.len, &rep, deadline);
            break;
        case MPROC__OP_DICT_UPDATE:
        case MPROC__OP_LIST_EXTEND: {
            int dict = q->op == MPROC__OP_DICT_UPDATE;
            if (q->count == 0) { /* nothing to add; still the type clash */
                arg(&a, dict ? "HLEN" : "LLEN", 4);
                arg(&a, key, klen);
                rc = mproc__redis_run(r, key, klen, a.n, a.v, a.len, &rep, deadline);
            } else {
                rc = many(r, dict ? "HSET" : "RPUSH", key, klen, q, &rep, deadline);
            }
            break;
        }
        default:
            return MPROC_EINVAL;
        }
    }
    if (rc != 0)
        return rc;
    if (rep->type == REDIS_REPLY_ERROR) {
        rc = mproc__redis_error_code(rep);
        freeReplyObject(rep);
        return rc;
    }
    int64_t n = 0;
    switch (q->op) {
    case MPROC__OP_DICT_OPEN:
    case MPROC__OP_LIST_OPEN: {
        const char *want = q->op == MPROC__OP_DICT_OPEN ? "hash" : "list";
        if (rep->type != REDIS_REPLY_STATUS)
            rc = MPROC_EPROTO;
        else if (strcmp(rep->str, "none") != 0 && strcmp(rep->str, want) != 0)
            rc = MPROC_ETYPE;
        break;
    }
    case MPROC__OP_DICT_GET:
    case MPROC__OP_DICT_POP:
    case MPROC__OP_LIST_GET:
        rc = rep->type == REDIS_REPLY_NIL ? (q->op == MPROC__OP_LIST_GET ? MPROC_EINDEX : MPROC_EKEY)
                                          : mproc__redis_take_string(rep, res->val, res->vlen);
        break;
    case MPROC__OP_DICT_SETDEFAULT:
    case MPROC__OP_LIST_POP:
        rc = mproc__redis_take_string(rep, res->val, res->vlen);
        break;
    case MPROC__OP_DICT_DEL:
    case MPROC__OP_LIST_REMOVE:
        rc = take_integer(rep, 0, &n);
        if (rc == 0 && n == 0)
            rc = q->op == MPROC__OP_DICT_DEL ? MPROC_EKEY : MPROC_EVALUE;
        break;
    case MPROC__OP_DICT_CONTAINS:
        rc = take_integer(rep, 0, &res->num);
        if (rc == 0 && res->num > 1)
            rc = MPROC_EPROTO;
        break;
    case MPROC__OP_DICT_INCR:
        rc = take_integer(rep, INT64_MIN, &res->num);
        break;
    case MPROC__OP_DICT_LEN:
    case MPROC__OP_LIST_LEN:
        rc = take_integer(rep, 0, &res->num);
        break;
    case MPROC__OP_LIST_INDEX:
        rc = rep->type == REDIS_REPLY_NIL ? MPROC_EVALUE : take_integer(rep, 0, &res->num);
        break;
    case MPROC__OP_DICT_KEYS:
    case MPROC__OP_LIST_SLICE:
    case MPROC__OP_DICT_ITEMS:
        rc = take_array(rep, q->op == MPROC__OP_DICT_ITEMS, res);
        break;
    default: /* set, update, append, extend, insert, clear, ping: the reply is no news */
        break;
    }
    freeReplyObject(rep);
    return rc;
}

/* ---- the handle's state ---- */

static void redis_close(void *state)
{
    mproc__redis_t *r = state;
    for (size_t i = 0; i < r->nnodes; i++) {
        mproc__redis_disconnect(&r->nodes[i]);
        free(r->nodes[i].host);
        free(r->nodes[i].path);
    }
    free(r->nodes);
    free(r->slots);
    mproc__wbuf_free(&r->out);
    free(r);
}

static void redis_forked(void *state)
{
    mproc__redis_t *r = state;
    for (size_t i = 0; i < r->nnodes; i++) {
        r->nodes[i].inherited = r->nodes[i].fd >= 0;
        /* the reader is plain memory of this process: dropped at the next use */
    }
}

int mproc__redis_node(mproc__redis_t *r, const char *host, size_t hlen, const char *port)
{
    for (size_t i = 0; i < r->nnodes; i++) {
        mproc__rnode_t *n = &r->nodes[i];
        if (n->host != NULL && strlen(n->host) == hlen && memcmp(n->host, host, hlen) == 0 &&
            strcmp(n->port, port) == 0)
            return (int)i;
    }
    if (r->nnodes >= MPROC__REDIS_SLOTS || strlen(port) >= sizeof r->nodes[0].port)
        return MPROC_EPROTO; /* more nodes than slots: a lie */
    mproc__rnode_t *grown = realloc(r->nodes, (r->nnodes + 1) * sizeof *grown);
    if (grown == NULL)
        return MPROC_ENOMEM;
    r->nodes = grown;
    mproc__rnode_t *n = &r->nodes[r->nnodes];
    memset(n, 0, sizeof *n);
    n->fd = -1;
    if ((n->host = strndup(host, hlen)) == NULL)
        return MPROC_ENOMEM;
    strcpy(n->port, port);
    return (int)r->nnodes++;
}

/* "redis://HOST[:PORT][/DB]" (HOST may be "[v6]") or
 * "redis+unix://PATH[?db=DB]". */
static int parse_address(mproc__redis_t *r, const char *address)
{
    char *end;
    if (strncmp(address, "redis+unix://", 13) == 0) {
        const char *path = address + 13;
        const char *q = strchr(path, '?');
        size_t plen = q != NULL ? (size_t)(q - path) : strlen(path);
        if (plen == 0 || plen >= sizeof ((struct sockaddr_un *)0)->sun_path)
            return MPROC_EINVAL;
        if (q != NULL) {
            if (strncmp(q, "?db=", 4) != 0 || q[4] < '0' || q[4] > '9')
                return MPROC_EINVAL;
            errno = 0;
            r->db = strtol(q + 4, &end, 10);
            if (*end != '\0' || errno != 0)
                return MPROC_EINVAL;
        }
        r->nodes = calloc(1, sizeof *r->nodes);
        if (r->nodes == NULL || (r->nodes[0].path = strndup(path, plen)) == NULL)
            return MPROC_ENOMEM;
        r->nodes[0].fd = -1;
        r->nnodes = 1;
        return 0;
    }
    const char *host = address + 8, *hend, *rest;
    if (*host == '[') {
        hend = strchr(host, ']');
        if (hend == NULL)
            return MPROC_EINVAL;
        rest = hend + 1;
        host++;
    } else {
        hend = host + strcspn(host, ":/");
        rest = hend;
    }
    if (hend == host)
        return MPROC_EINVAL;
    char port[8] = "6379";
    if (*rest == ':') {
        size_t plen = strcspn(rest + 1, "/");
        if (plen == 0 || plen >= sizeof port || strspn(rest + 1, "0123456789") != plen)
            return MPROC_EINVAL;
        memcpy(port, rest + 1, plen);
        port[plen] = '\0';
        rest += 1 + plen;
    }
    if (*rest == '/' && rest[1] != '\0') {
        if (rest[1] < '0' || rest[1] > '9')
            return MPROC_EINVAL;
        errno = 0;
        r->db = strtol(rest + 1, &end, 10);
        if (*end != '\0' || errno != 0)
            return MPROC_EINVAL;
    } else if (*rest != '\0' && strcmp(rest, "/") != 0) {
        return MPROC_EINVAL;
    }
    int rc = mproc__redis_node(r, host, (size_t)(hend - host), port);
    return rc < 0 ? rc : 0;
}

static int redis_open(void **state, const char *address, const void *key, size_t keylen)
{
    mproc__redis_t *r = calloc(1, sizeof *r);
    if (r == NULL)
        return MPROC_ENOMEM;
    r->password = key; /* the handle's copy, which lives as long as this */
    r->pwlen = keylen;
    int rc = parse_address(r, address);
    double deadline = mproc__monotonic() + CALL_TIMEOUT;
    /* connects, authenticates, and finds out whether this is a cluster */
    if (rc == 0)
        rc = mproc__redis_cluster_refresh(r, 0, deadline);
    if (rc == 1) {
        r->cluster = 1;
        rc = 0;
    }
    if (rc != 0) {
        redis_close(r);
        return rc;
    }
    *state = r;
    return 0;
}

static const mproc__backend_t backend = {
    .open = redis_open,
    .call = redis_call,
    .forked = redis_forked,
    .close = redis_close,
};
const mproc__backend_t *const mproc__backend_redis = &backend;

#endif
