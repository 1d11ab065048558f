/* Semaphore and BoundedSemaphore: an atomic count and a wait queue; no lock,
 * so nothing for a dying process to leave held. A process killed inside
 * acquire or release has either changed the count (one atomic step) or not. */
#include "internal.h"

#include <limits.h>
#include <string.h>

struct sem_impl {
    _Atomic uint32_t value;
    uint32_t bound; /* 0: unbounded */
    mproc__waitq_t waitq;
};
MPROC__FITS(struct sem_impl, mproc_sem_t);

#define IMPL(s) ((struct sem_impl *)(void *)(s))

struct sem_params {
    unsigned value, bound;
};

int mproc_sem_init(mproc_sem_t *s, unsigned value, unsigned bound)
{
    if (s == NULL || value > INT_MAX || bound > INT_MAX || (bound != 0 && value > bound))
        return MPROC_EINVAL;
    memset(s, 0, sizeof *s);
    IMPL(s)->value = value;
    IMPL(s)->bound = bound;
    return 0;
}

int mproc_sem_destroy(mproc_sem_t *s)
{
    return s == NULL ? MPROC_EINVAL : 0;
}

static int init_payload(void *payload, const void *arg)
{
    const struct sem_params *p = arg;
    return mproc_sem_init(payload, p->value, p->bound);
}

int mproc_sem_create(mproc_sem_t **s, const char *name, unsigned value, unsigned bound)
{
    struct sem_params p = { value, bound };
    if (value > INT_MAX || bound > INT_MAX || (bound != 0 && value > bound))
        return MPROC_EINVAL;
    return mproc__segment_create((void **)s, name, MPROC__TYPE_SEM, sizeof **s, init_payload, &p);
}

int mproc_sem_open(mproc_sem_t **s, const char *name)
{
    return mproc__segment_open((void **)s, name, MPROC__TYPE_SEM, sizeof **s);
}

int mproc_sem_close(mproc_sem_t *s)
{
    return mproc__segment_close(s, MPROC__TYPE_SEM);
}

/* Takes one unit if there is one. */
static int try_take(void *arg)
{
    struct sem_impl *si = arg;
    uint32_t v = atomic_load(&si->value);
    while (v > 0)
        if (atomic_compare_exchange_weak(&si->value, &v, v - 1))
            return 1;
    return 0;
}

int mproc_sem_acquire(mproc_sem_t *s, double timeout)
{
    struct sem_impl *si = IMPL(s);
    mproc__deadline_t d;
    int r = mproc__deadline_init(&d, timeout);
    if (r != 0)
        return r;
    return mproc__waitq_wait_for(&si->waitq, try_take, si, &d, MPROC__CP_SEM_ACQUIRE_WOKEN);
}

int mproc_sem_release(mproc_sem_t *s, unsigned n)
{
    struct sem_impl *si = IMPL(s);
    if (n == 0)
        return MPROC_EINVAL;
    uint32_t limit = si->bound != 0 ? si->bound : INT_MAX;
    uint32_t v = atomic_load(&si->value);
    do {
        if (n > limit || v > limit - n)
            return MPROC_EOVERFLOW;
    } while (!atomic_compare_exchange_weak(&si->value, &v, v + n));
    MPROC__CRASH(SEM_RELEASE_ADDED);
    mproc__waitq_wake(&si->waitq);
    return 0;
}

int mproc_sem_value(mproc_sem_t *s)
{
    return (int)atomic_load(&IMPL(s)->value);
}

unsigned mproc__sem_bound(mproc_sem_t *s)
{
    return IMPL(s)->bound;
}
