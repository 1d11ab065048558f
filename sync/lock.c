/* Lock: a robust, process-shared, non-recursive mutex. */
#include "internal.h"

#include <errno.h>
#include <string.h>

struct lock_impl {
    pthread_mutex_t mutex;
};
MPROC__FITS(struct lock_impl, mproc_lock_t);

#define IMPL(l) ((struct lock_impl *)(void *)(l))

int mproc_lock_init(mproc_lock_t *l)
{
    if (l == NULL)
        return MPROC_EINVAL;
    memset(l, 0, sizeof *l);
    return mproc__mutex_init(&IMPL(l)->mutex);
}

int mproc_lock_destroy(mproc_lock_t *l)
{
    return mproc__mutex_destroy(&IMPL(l)->mutex);
}

static int init_payload(void *payload, const void *arg)
{
    (void)arg;
    return mproc_lock_init(payload);
}

int mproc_lock_create(mproc_lock_t **l, const char *name)
{
    return mproc__segment_create((void **)l, name, MPROC__TYPE_LOCK, sizeof **l, init_payload, NULL);
}

int mproc_lock_open(mproc_lock_t **l, const char *name)
{
    return mproc__segment_open((void **)l, name, MPROC__TYPE_LOCK, sizeof **l);
}

int mproc_lock_close(mproc_lock_t *l)
{
    return mproc__segment_close(l, MPROC__TYPE_LOCK);
}

int mproc_lock_acquire(mproc_lock_t *l, double timeout)
{
    if (timeout < 0) { /* the common case without a deadline to compute */
        int r = pthread_mutex_lock(&IMPL(l)->mutex);
        if (r == 0)
            return 0;
        if (r == EOWNERDEAD) {
            pthread_mutex_consistent(&IMPL(l)->mutex);
            return MPROC_EOWNERDEAD;
        }
        return -r;
    }
    mproc__deadline_t d;
    int r = mproc__deadline_init(&d, timeout);
    if (r != 0)
        return r;
    return mproc__mutex_lock(&IMPL(l)->mutex, &d);
}

int mproc_lock_release(mproc_lock_t *l)
{
    return mproc__mutex_unlock(&IMPL(l)->mutex);
}

int mproc_lock_locked(mproc_lock_t *l)
{
    return mproc__mutex_owner(&IMPL(l)->mutex) != 0;
}
