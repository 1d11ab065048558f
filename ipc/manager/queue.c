/* Manager queues: each handle has a backend connection of its own, so that
 * a get that waits on the server holds up nothing else, and so that the
 * server can tell this handle's unacknowledged items from anyone else's
 * (they belong to the connection: when it ends they go back). */
#include "manager/client.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct mproc_rqueue {
    pthread_mutex_t lock;
    const mproc__backend_t *backend;
    void *state;
    pid_t pid; /* the process whose connection state is */
    unsigned char *key;
    size_t keylen, nlen;
    char name[MPROC__MGR_NAME_MAX + 1];
};

/* One operation under the handle's lock. In a child forked after the handle
 * was made, the connection is the parent's: the backend drops its copy and
 * the child connects anew (the lock is made anew: only the forking thread
 * came along). */
static int call(mproc_rqueue_t *q, mproc__mgr_req_t *req, mproc__mgr_res_t *res)
{
    mproc__mgr_res_t ignored = { 0 };
    if (q->pid != getpid()) {
        pthread_mutex_init(&q->lock, NULL);
        q->backend->forked(q->state);
        q->pid = getpid();
    }
    req->name = q->name;
    req->nlen = q->nlen;
    pthread_mutex_lock(&q->lock);
    int r = q->backend->call(q->state, req, res != NULL ? res : &ignored);
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
    if (b != &mproc__backend_server)
        return MPROC_ENOTSUP;
    mproc_rqueue_t *q = calloc(1, sizeof *q);
    if (q == NULL)
        return MPROC_ENOMEM;
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
