/* Condition: an RLock plus a ticketed wait queue.
 *
 * Exact notify(n) without per-waiter state in shared memory: each waiter
 * takes a ticket (next_ticket++) under the lock; notify(n) moves `granted`
 * past the next n tickets; a waiter returns 0 only once its ticket is below
 * `granted`. Tickets are served in order, so a waiter that began after a
 * notify can never take that notify's wake-up, and no waiter returns 0
 * without one (no spurious successes).
 *
 * A waiter that times out withdraws its ticket: the last ticket is simply
 * taken back; one in the middle is marked in `cancelled` (bit i: ticket
 * granted + i), and notify skips marked tickets. A waiter that dies keeps
 * its ticket, so one notification may go to the dead; multiprocessing's
 * Condition does the same. That is the price of storing nothing per waiter,
 * which is what makes a dead waiter harmless otherwise (see futex.c).
 *
 * Sleepers read `granted` without the lock, so a notify wakes every sleeper
 * but only the granted ones go on to take the lock. */
#include "internal.h"

#include <string.h>

struct cond_impl {
    mproc_rlock_t lock;
    mproc__waitq_t waitq;
    uint64_t next_ticket;       /* under the lock */
    _Atomic uint64_t granted;   /* written under the lock, read by sleepers */
    uint64_t cancelled;         /* under the lock; bit i: ticket granted + i withdrew */
};
MPROC__FITS(struct cond_impl, mproc_cond_t);

#define IMPL(c) ((struct cond_impl *)(void *)(c))

int mproc_cond_init(mproc_cond_t *c)
{
    if (c == NULL)
        return MPROC_EINVAL;
    memset(c, 0, sizeof *c);
    return mproc_rlock_init(&IMPL(c)->lock);
}

int mproc_cond_destroy(mproc_cond_t *c)
{
    return mproc_rlock_destroy(&IMPL(c)->lock);
}

static int init_payload(void *payload, const void *arg)
{
    (void)arg;
    return mproc_cond_init(payload);
}

int mproc_cond_create(mproc_cond_t **c, const char *name)
{
    return mproc__segment_create((void **)c, name, MPROC__TYPE_COND, sizeof **c, init_payload, NULL);
}

int mproc_cond_open(mproc_cond_t **c, const char *name)
{
    return mproc__segment_open((void **)c, name, MPROC__TYPE_COND, sizeof **c);
}

int mproc_cond_close(mproc_cond_t *c)
{
    return mproc__segment_close(c, MPROC__TYPE_COND);
}

int mproc_cond_acquire(mproc_cond_t *c, double timeout)
{
    return mproc_rlock_acquire(&IMPL(c)->lock, timeout);
}

int mproc_cond_release(mproc_cond_t *c)
{
    return mproc_rlock_release(&IMPL(c)->lock);
}

/* Takes back ticket t of a waiter that timed out. Called with the lock held
 * and t not granted. */
static void withdraw(struct cond_impl *ci, uint64_t t)
{
    uint64_t granted = atomic_load_explicit(&ci->granted, memory_order_relaxed);
    uint64_t offset = t - granted;
    if (t + 1 == ci->next_ticket) {
        /* The last ticket: hand it back, and any withdrawn ones before it. */
        ci->next_ticket--;
        while (ci->next_ticket > granted &&
               ci->next_ticket - granted <= 64 &&
               (ci->cancelled >> (ci->next_ticket - granted - 1) & 1)) {
            ci->cancelled &= ~(UINT64_C(1) << (ci->next_ticket - granted - 1));
            ci->next_ticket--;
        }
    } else if (offset < 64) {
        ci->cancelled |= UINT64_C(1) << offset;
    }
    /* else: more than 64 waiters ahead; a later notify may grant this ticket
     * in vain, as it would a dead waiter's. */
}

/* The body of wait, with a deadline that wait_for computes only once:
 * 0 notified, MPROC_ETIMEDOUT, MPROC_EPERM; *owner_died: re-acquiring the
 * lock found its holder dead. */
static int wait_until(struct cond_impl *ci, const mproc__deadline_t *d, int *owner_died)
{
    struct mproc__rlock *lock = (struct mproc__rlock *)(void *)&ci->lock;
    if (mproc__mutex_owner(&lock->mutex) != mproc__tid())
        return MPROC_EPERM;

    uint64_t ticket = ci->next_ticket++;
    MPROC__CRASH(COND_WAIT_TICKET);
    uint32_t depth = lock->depth;
    uint32_t seq = mproc__waitq_prepare(&ci->waitq);
    lock->depth = 0;
    pthread_mutex_unlock(&lock->mutex);
    MPROC__CRASH(COND_WAIT_UNLOCKED);

    int timed_out = 0;
    while (atomic_load(&ci->granted) <= ticket) {
        if (mproc__waitq_sleep(&ci->waitq, seq, d) == MPROC_ETIMEDOUT) {
            timed_out = 1;
            break;
        }
        MPROC__CRASH(COND_WAIT_WOKEN);
        seq = atomic_load(&ci->waitq.seq);
    }
    mproc__waitq_finish(&ci->waitq);

    /* Re-acquire without limit, as Python does: the timeout bounds the wait. */
    mproc__deadline_t forever = { .kind = MPROC__FOREVER };
    int relock = mproc__mutex_lock(&lock->mutex, &forever);
    lock->depth = depth;

    int r = 0;
    if (timed_out && atomic_load(&ci->granted) <= ticket) {
        withdraw(ci, ticket);
        MPROC__CRASH(COND_WAIT_WITHDRAWN);
        r = MPROC_ETIMEDOUT;
    }
    *owner_died = relock == MPROC_EOWNERDEAD;
    return r;
}

int mproc_cond_wait(mproc_cond_t *c, double timeout)
{
    mproc__deadline_t d;
    int r = mproc__deadline_init(&d, timeout);
    if (r != 0)
        return r;
    int owner_died = 0;
    r = wait_until(IMPL(c), &d, &owner_died);
    /* One code for two facts: the owner's death wins (see the header, and
     * mproc_cond_wait_status for both). */
    return owner_died && (r == 0 || r == MPROC_ETIMEDOUT) ? MPROC_EOWNERDEAD : r;
}

int mproc_cond_wait_status(mproc_cond_t *c, double timeout, int *owner_died)
{
    mproc__deadline_t d;
    int r = mproc__deadline_init(&d, timeout);
    if (r != 0)
        return r;
    if (owner_died == NULL)
        return MPROC_EINVAL;
    *owner_died = 0;
    return wait_until(IMPL(c), &d, owner_died);
}

int mproc_cond_wait_for(mproc_cond_t *c, int (*pred)(void *arg), void *arg, double timeout)
{
    mproc__deadline_t d;
    int r = mproc__deadline_init(&d, timeout);
    if (r != 0)
        return r;
    if (pred == NULL)
        return MPROC_EINVAL;
    if (!mproc_rlock_owned(&IMPL(c)->lock))
        return MPROC_EPERM;
    int owner_died = 0;
    while (!pred(arg)) {
        if (mproc__deadline_expired(&d))
            return MPROC_ETIMEDOUT;
        int died = 0;
        r = wait_until(IMPL(c), &d, &died);
        if (r == MPROC_EPERM)
            return r;
        owner_died |= died;
    }
    return owner_died ? MPROC_EOWNERDEAD : 0;
}

static int notify(struct cond_impl *ci, uint64_t n)
{
    if (!mproc_rlock_owned(&ci->lock))
        return MPROC_EPERM;
    uint64_t granted = atomic_load_explicit(&ci->granted, memory_order_relaxed);
    uint64_t g = granted, cancelled = ci->cancelled;
    /* Grant n live tickets in order, stepping over withdrawn ones, and over
     * withdrawn ones that follow (they need no grant). */
    while (g < ci->next_ticket && (n > 0 || (cancelled & 1))) {
        if (!(cancelled & 1))
            n--;
        cancelled >>= 1;
        g++;
    }
    if (g != granted) {
        ci->cancelled = cancelled;
        atomic_store(&ci->granted, g);
        MPROC__CRASH(COND_NOTIFY_GRANTED);
        mproc__waitq_wake(&ci->waitq);
    }
    return 0;
}

int mproc_cond_notify(mproc_cond_t *c, unsigned n)
{
    return notify(IMPL(c), n);
}

int mproc_cond_notify_all(mproc_cond_t *c)
{
    return notify(IMPL(c), UINT64_MAX);
}
