/* RLock: a robust, process-shared mutex plus a recursion depth.
 *
 * Ownership is read from the mutex word itself (the holder's kernel tid),
 * not from a copy of our own: the kernel clears that word when the holder
 * dies, so a later thread that happens to get the dead holder's tid can never
 * mistake the lock for its own. */
#include "internal.h"

#include <errno.h>
#include <string.h>

MPROC__FITS(struct mproc__rlock, mproc_rlock_t);

#define IMPL(l) ((struct mproc__rlock *)(void *)(l))

int mproc_rlock_init(mproc_rlock_t *l)
{
    if (l == NULL)
        return MPROC_EINVAL;
    memset(l, 0, sizeof *l);
    return mproc__mutex_init(&IMPL(l)->mutex);
}

int mproc_rlock_destroy(mproc_rlock_t *l)
{
    return mproc__mutex_destroy(&IMPL(l)->mutex);
}

static int init_payload(void *payload, const void *arg)
{
    (void)arg;
    return mproc_rlock_init(payload);
}

int mproc_rlock_create(mproc_rlock_t **l, const char *name)
{
    return mproc__segment_create((void **)l, name, MPROC__TYPE_RLOCK, sizeof **l, init_payload, NULL);
}

int mproc_rlock_open(mproc_rlock_t **l, const char *name)
{
    return mproc__segment_open((void **)l, name, MPROC__TYPE_RLOCK, sizeof **l);
}

int mproc_rlock_close(mproc_rlock_t *l)
{
    return mproc__segment_close(l, MPROC__TYPE_RLOCK);
}

int mproc_rlock_acquire(mproc_rlock_t *l, double timeout)
{
    struct mproc__rlock *rl = IMPL(l);
    mproc__deadline_t d;
    int r = mproc__deadline_init(&d, timeout);
    if (r != 0)
        return r;
    /* Fast path: a free lock. trylock fails with EBUSY on a lock we hold
     * (the mutex is not recursive), which the ownership check then sorts out. */
    r = pthread_mutex_trylock(&rl->mutex);
    if (r == 0) {
        rl->depth = 1;
        return 0;
    }
    if (r == EBUSY && mproc__mutex_owner(&rl->mutex) == mproc__tid()) {
        if (rl->depth == UINT32_MAX)
            return MPROC_EOVERFLOW;
        rl->depth++;
        return 0;
    }
    if (r == EBUSY)
        r = mproc__mutex_lock(&rl->mutex, &d);
    else if (r == EOWNERDEAD) {
        pthread_mutex_consistent(&rl->mutex);
        r = MPROC_EOWNERDEAD;
    } else {
        return -r;
    }
    if (r == 0 || r == MPROC_EOWNERDEAD)
        rl->depth = 1; /* after a death, whatever depth the dead left is void */
    return r;
}

int mproc_rlock_release(mproc_rlock_t *l)
{
    struct mproc__rlock *rl = IMPL(l);
    /* Only the owner writes depth; at depth 1 it is left as it is, since the
     * next acquirer sets it. */
    if (mproc__mutex_owner(&rl->mutex) != mproc__tid())
        return MPROC_EPERM;
    if (rl->depth > 1) {
        rl->depth--;
        return 0;
    }
    return -pthread_mutex_unlock(&rl->mutex);
}

int mproc_rlock_owned(mproc_rlock_t *l)
{
    return mproc__mutex_owner(&IMPL(l)->mutex) == mproc__tid();
}
