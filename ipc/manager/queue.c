/* Manager queues: each handle has a backend connection of its own, so that
 * a get that waits on the server holds up nothing else, and so that the
 * server can tell this handle's unacknowledged items from anyone else's
 * (they belong to the connection: when it ends they go back).
 *
 * On Redis (redis_queue.c) nothing ends with the connection: the handle is a
 * consumer with a random id and a liveness key that expires unless renewed.
 * A call renews it (unless it was renewed less than
 * MPROC__REDIS_QUEUE_FRESH ago); once the handle has got an item, a thread
 * of the handle's renews it while the handle is idle, so a live consumer
 * keeps its items however long it holds them; close returns the items at
 * once. The handle counts the gets it holds unacknowledged ("held"), so
 * that a get whose reply was lost (the item moved, the caller never saw it)
 * can be undone, and a task_done after the consumer was reaped acknowledges
 * nothing rather than a newer item. */
#include "manager/client.h"

#ifdef HAVE_HIREDIS
#include "manager/redis.h" /* the queue operations only the Redis backend has */
#else
#define MPROC__REDIS_QUEUE_FRESH 0.0 /* never used: without hiredis no handle is a Redis one */
#define MPROC__REDIS_QUEUE_FRESH_BIT 1
#define MPROC__OP_QUEUE_RELEASE (-1u)
#endif

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

struct mproc_rqueue {
    pthread_mutex_t lock;
    const mproc__backend_t *backend;
    void *state;
    pid_t pid; /* the process whose connection state is */
    unsigned char *key;
    size_t keylen, nlen;
    char name[MPROC__MGR_NAME_MAX + 1];
    /* Redis only: the consumer id (this process's: a forked child makes its
     * own) and the thread that keeps it alive, made by this process */
    int redis;
    char consumer[33];
    double renewed; /* monotonic time of the last call that renewed the liveness key
                       (under lock): 0 never */
    /* Redis only, under lock: gets the caller holds unacknowledged; of those,
     * the oldest "lost" were taken back by the reaper (task_done for them is
     * MPROC_EOVERFLOW); resync: a get's reply was lost, so the processing
     * list may end with items the caller never saw */
    long long held, lost;
    int resync;
    pthread_t keeper; /* started by the first get that succeeds in this process */
    int keeper_running;
    int keeper_stop;                /* under keeper_lock */
    int keeper_busy, keeper_paused; /* under keeper_lock: in a call; a fork is being made */
    mproc_rqueue_t *next_kept, **prev_kept; /* in kept_handles while its keeper runs */
    pthread_mutex_t keeper_lock;
    pthread_cond_t keeper_cond;     /* CLOCK_MONOTONIC */
};

/* 32 random hex digits. 0 or a negative code. */
static int new_consumer_id(char out[33])
{
    unsigned char bits[16];
    if (getrandom(bits, sizeof bits, 0) != (ssize_t)sizeof bits)
        return mproc__errno(errno);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[bits[i] >> 4];
        out[2 * i + 1] = hex[bits[i] & 15];
    }
    out[32] = '\0';
    return 0;
}

#ifdef HAVE_HIREDIS
/* Redis: the request's held count and flags (under lock). */
static void prepare(mproc_rqueue_t *q, mproc__mgr_req_t *req, int fresh)
{
    if (req->op == MPROC__OP_QUEUE_OPEN)
        return;
    req->num = q->held - q->lost;
    req->num2 = (fresh ? MPROC__REDIS_QUEUE_FRESH_BIT : 0) | (q->resync ? MPROC__REDIS_QUEUE_RESYNC_BIT : 0);
}

/* Redis: the held count after a call that ended with r (under lock). */
static void settle(mproc_rqueue_t *q, const mproc__mgr_req_t *req, const mproc__mgr_res_t *res, int r)
{
    int done = r == 0 || r == MPROC_EEMPTY || r == MPROC_EFULL || r == MPROC_ETIMEDOUT || r == MPROC_EOVERFLOW;
    if (res->n)
        q->lost = q->held; /* reaped: all it held went back to the queue */
    if (done && (req->num2 & MPROC__REDIS_QUEUE_RESYNC_BIT))
        q->resync = 0; /* the script ran: the unseen items went back */
    if (req->op == MPROC__OP_QUEUE_GET) {
        if (r == 0)
            q->held++;
        else if (r != MPROC_EEMPTY)
            q->resync = 1; /* the item may have moved without the caller seeing it */
    } else if (req->op == MPROC__OP_QUEUE_TASK_DONE && (r == 0 || (r == MPROC_EOVERFLOW && q->held > 0))) {
        if (r != 0 && q->lost > 0)
            q->lost--;
        q->held--;
    }
}

/* Renews the handle's liveness every MPROC__REDIS_QUEUE_SLICE while it is
 * idle. When a call holds the handle (trylock fails) that call renews it
 * itself, so the keeper never queues up behind a blocked get. */
static void *keeper_main(void *arg)
{
    mproc_rqueue_t *q = arg;
    pthread_mutex_lock(&q->keeper_lock);
    while (!q->keeper_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += (time_t)MPROC__REDIS_QUEUE_SLICE;
        ts.tv_nsec += (long)((MPROC__REDIS_QUEUE_SLICE - (double)(time_t)MPROC__REDIS_QUEUE_SLICE) * 1e9);
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (pthread_cond_timedwait(&q->keeper_cond, &q->keeper_lock, &ts) != ETIMEDOUT || q->keeper_stop ||
            q->keeper_paused)
            continue;
        q->keeper_busy = 1; /* a fork waits until the call is over */
        pthread_mutex_unlock(&q->keeper_lock);
        if (pthread_mutex_trylock(&q->lock) == 0) {
            mproc__mgr_req_t req = { .op = MPROC__OP_QUEUE_KEEPALIVE, .name = q->name, .nlen = q->nlen,
                                     .key = q->consumer, .klen = MPROC__REDIS_CONSUMER_ID_LEN };
            mproc__mgr_res_t res = { 0 };
            double t = mproc__monotonic();
            prepare(q, &req, 0);
            int r = q->backend->call(q->state, &req, &res); /* a failure: the next call reconnects */
            settle(q, &req, &res, r);
            if (r == 0)
                q->renewed = t;
            pthread_mutex_unlock(&q->lock);
        }
        pthread_mutex_lock(&q->keeper_lock);
        q->keeper_busy = 0;
        pthread_cond_broadcast(&q->keeper_cond);
    }
    pthread_mutex_unlock(&q->keeper_lock);
    return NULL;
}

/* fork() while a keeper is inside its call would give the child a copy of
 * the handle's lock held, and of hiredis's (and, under some allocators,
 * malloc's) state half changed by a thread the child does not have. So a
 * fork first pauses every keeper of the process between calls (waiting at
 * most one keeper call, MPROC__REDIS_QUEUE_KEEP_BOUND), and lets them go on
 * after. */
static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;
static mproc_rqueue_t *kept_handles; /* under kept_lock */
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void)
{
    pthread_mutex_lock(&kept_lock); /* held across the fork: the list stays as it is */
    for (mproc_rqueue_t *q = kept_handles; q != NULL; q = q->next_kept) {
        pthread_mutex_lock(&q->keeper_lock);
        q->keeper_paused = 1;
        while (q->keeper_busy)
            pthread_cond_wait(&q->keeper_cond, &q->keeper_lock);
        pthread_mutex_unlock(&q->keeper_lock);
    }
}

static void fork_parent(void)
{
    for (mproc_rqueue_t *q = kept_handles; q != NULL; q = q->next_kept) {
        pthread_mutex_lock(&q->keeper_lock);
        q->keeper_paused = 0;
        pthread_mutex_unlock(&q->keeper_lock);
    }
    pthread_mutex_unlock(&kept_lock);
}

/* In the child no keeper runs: the handles make their own when they need
 * one (call()). */
static void atfork_child(void)
{
    for (mproc_rqueue_t *q = kept_handles; q != NULL; q = q->next_kept)
        q->keeper_paused = 0;
    kept_handles = NULL;
    pthread_mutex_unlock(&kept_lock); /* locked by this (the forking) thread */
}

static void atfork_install(void)
{
    pthread_atfork(fork_prepare, fork_parent, atfork_child);
}

/* Makes the keeper's lock and condition and starts it. 0 or a negative code. */
static int keeper_start(mproc_rqueue_t *q)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->keeper_cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&q->keeper_lock, NULL);
    q->keeper_stop = q->keeper_busy = q->keeper_paused = 0;
    pthread_once(&atfork_once, atfork_install);
    pthread_mutex_lock(&kept_lock); /* no fork while the thread starts */
    int r = pthread_create(&q->keeper, NULL, keeper_main, q);
    if (r == 0) {
        q->next_kept = kept_handles;
        q->prev_kept = &kept_handles;
        if (kept_handles != NULL)
            kept_handles->prev_kept = &q->next_kept;
        kept_handles = q;
    }
    pthread_mutex_unlock(&kept_lock);
    if (r != 0) {
        pthread_cond_destroy(&q->keeper_cond);
        pthread_mutex_destroy(&q->keeper_lock);
        return -r;
    }
    q->keeper_running = 1;
    return 0;
}

static void keeper_stop(mproc_rqueue_t *q)
{
    if (!q->keeper_running)
        return;
    pthread_mutex_lock(&kept_lock);
    *q->prev_kept = q->next_kept;
    if (q->next_kept != NULL)
        q->next_kept->prev_kept = q->prev_kept;
    pthread_mutex_unlock(&kept_lock);
    pthread_mutex_lock(&q->keeper_lock);
    q->keeper_stop = 1;
    pthread_cond_signal(&q->keeper_cond);
    pthread_mutex_unlock(&q->keeper_lock);
    pthread_join(q->keeper, NULL);
    pthread_cond_destroy(&q->keeper_cond);
    pthread_mutex_destroy(&q->keeper_lock);
    q->keeper_running = 0;
}

static int call(mproc_rqueue_t *q, mproc__mgr_req_t *req, mproc__mgr_res_t *res);

/* At close: the keeper stops and the handle's unacknowledged items go back
 * to the front at once (failing that, when its liveness lapses). A child
 * that never called has no consumer of its own to release. */
static void redis_release(mproc_rqueue_t *q)
{
    if (q->pid != getpid())
        return;
    keeper_stop(q);
    mproc__mgr_req_t req = { .op = MPROC__OP_QUEUE_RELEASE };
    call(q, &req, NULL);
}
#else
/* Built without hiredis: no handle is ever a Redis one. */
static void prepare(mproc_rqueue_t *q, mproc__mgr_req_t *req, int fresh)
{
    (void)q, (void)req, (void)fresh;
}
static void settle(mproc_rqueue_t *q, const mproc__mgr_req_t *req, const mproc__mgr_res_t *res, int r)
{
    (void)q, (void)req, (void)res, (void)r;
}
static int keeper_start(mproc_rqueue_t *q)
{
    (void)q;
    return MPROC_ENOTSUP;
}
static void redis_release(mproc_rqueue_t *q)
{
    (void)q;
}
#endif

/* One operation under the handle's lock. In a child forked after the handle
 * was made, the connection is the parent's: the backend drops its copy and
 * the child connects anew (the lock is made anew: only the forking thread
 * came along). On Redis the child is a consumer of its own, holding
 * nothing, with no keeper until it gets an item (the parent's thread did
 * not come along either). A process that has never got an item from the
 * handle runs no thread for it, so forking it never copies a lock or
 * allocator state that another thread of it held. */
static int call(mproc_rqueue_t *q, mproc__mgr_req_t *req, mproc__mgr_res_t *res)
{
    mproc__mgr_res_t ignored = { 0 };
    if (q->pid != getpid()) {
        pthread_mutex_init(&q->lock, NULL);
        q->backend->forked(q->state);
        q->pid = getpid();
        if (q->redis) {
            q->keeper_running = 0;
            q->renewed = 0; /* a consumer of its own, not yet registered */
            q->held = q->lost = 0;
            q->resync = 0;
            int r = new_consumer_id(q->consumer);
            if (r != 0) {
                q->pid = 0; /* try again at the next call */
                return r;
            }
        }
    }
    req->name = q->name;
    req->nlen = q->nlen;
    pthread_mutex_lock(&q->lock);
    double t = 0;
    if (q->redis) {
        if (req->op == MPROC__OP_QUEUE_TASK_DONE && q->lost > 0) {
            /* the oldest held get was taken back by the reaper */
            q->lost--;
            q->held--;
            pthread_mutex_unlock(&q->lock);
            return MPROC_EOVERFLOW;
        }
        req->key = q->consumer;
        req->klen = sizeof q->consumer - 1;
        t = mproc__monotonic();
        prepare(q, req, q->renewed > 0 && t - q->renewed < MPROC__REDIS_QUEUE_FRESH);
    }
    if (res == NULL)
        res = &ignored;
    res->n = 0;
    int r = q->backend->call(q->state, req, res);
    if (q->redis) {
        settle(q, req, res, r);
        /* a call not told it need not renew did (the time taken before the
         * call: the key was renewed no earlier than that); one told so may
         * not have, and must not push the time on */
        if (!(req->num2 & MPROC__REDIS_QUEUE_FRESH_BIT) &&
            (r == 0 || r == MPROC_EEMPTY || r == MPROC_EFULL || r == MPROC_ETIMEDOUT || r == MPROC_EOVERFLOW))
            q->renewed = t;
        /* the first item this process holds: from now on a thread renews
         * the liveness while the handle is idle (failing to start, it is
         * tried again at the next call; meanwhile calls renew) */
        if (q->held > q->lost && !q->keeper_running && req->op != MPROC__OP_QUEUE_RELEASE)
            keeper_start(q);
    }
    pthread_mutex_unlock(&q->lock);
    return r;
}

int mproc_manager_queue(mproc_manager_t *m, const char *name, size_t maxsize, mproc_rqueue_t **qp)
{
    size_t n = name != NULL ? strlen(name) : 0;
    if (m == NULL || qp == NULL || n == 0 || n > MPROC__MGR_NAME_MAX)
        return MPROC_EINVAL;
    const char *address;
    const void *key;
    size_t keylen;
    const mproc__backend_t *b = mproc__mgr_backend(m, &address, &key, &keylen);
    mproc_rqueue_t *q = calloc(1, sizeof *q);
    if (q == NULL)
        return MPROC_ENOMEM;
    q->redis = b != &mproc__backend_server;
    if (q->redis && new_consumer_id(q->consumer) != 0) {
        free(q);
        return MPROC_ENOMEM;
    }
    if (key != NULL && (q->key = malloc(keylen > 0 ? keylen : 1)) == NULL) {
        free(q);
        return MPROC_ENOMEM;
    }
    if (key != NULL)
        memcpy(q->key, key, keylen);
    q->keylen = keylen;
    pthread_mutex_init(&q->lock, NULL);
    q->pid = getpid();
    q->nlen = n;
    memcpy(q->name, name, n);
    q->backend = b;
    int r = b->open(&q->state, address, q->key, q->keylen);
    if (r == 0) {
        mproc__mgr_req_t req = { .op = MPROC__OP_QUEUE_OPEN, .num = (int64_t)maxsize };
        r = call(q, &req, NULL);
        if (r != 0)
            b->close(q->state);
    }
    if (r != 0) {
        free(q->key);
        pthread_mutex_destroy(&q->lock);
        free(q);
        return r;
    }
    *qp = q;
    return 0;
}

void mproc_rqueue_close(mproc_rqueue_t *q)
{
    if (q == NULL)
        return;
    if (q->redis)
        redis_release(q);
    q->backend->close(q->state); /* the server returns what this connection held */
    if (q->key != NULL) {
        explicit_bzero(q->key, q->keylen);
        free(q->key);
    }
    pthread_mutex_destroy(&q->lock);
    free(q);
}

int mproc_rqueue_put(mproc_rqueue_t *q, const void *data, size_t len, double timeout)
{
    CHECK(q == NULL || isnan(timeout) ? MPROC_EINVAL : 0);
    CHECK_VALUE(data, len);
    mproc__mgr_req_t req = { .op = MPROC__OP_QUEUE_PUT, .val = data, .vlen = len, .timeout = timeout };
    return call(q, &req, NULL);
}

int mproc_rqueue_get(mproc_rqueue_t *q, void **data, size_t *len, double timeout)
{
    CHECK(q == NULL || data == NULL || isnan(timeout) ? MPROC_EINVAL : 0);
    mproc__mgr_req_t req = { .op = MPROC__OP_QUEUE_GET, .timeout = timeout };
    mproc__mgr_res_t res = { .val = data, .vlen = len };
    return call(q, &req, &res);
}

int mproc_rqueue_task_done(mproc_rqueue_t *q)
{
    CHECK(q == NULL ? MPROC_EINVAL : 0);
    mproc__mgr_req_t req = { .op = MPROC__OP_QUEUE_TASK_DONE };
    return call(q, &req, NULL);
}

int mproc_rqueue_join(mproc_rqueue_t *q, double timeout)
{
    CHECK(q == NULL || isnan(timeout) ? MPROC_EINVAL : 0);
    mproc__mgr_req_t req = { .op = MPROC__OP_QUEUE_JOIN, .timeout = timeout };
    return call(q, &req, NULL);
}

int mproc_rqueue_qsize(mproc_rqueue_t *q, size_t *n)
{
    CHECK(q == NULL || n == NULL ? MPROC_EINVAL : 0);
    mproc__mgr_req_t req = { .op = MPROC__OP_QUEUE_QSIZE };
    mproc__mgr_res_t res = { 0 };
    int r = call(q, &req, &res);
    if (r == 0)
        *n = (size_t)res.num;
    return r;
}
