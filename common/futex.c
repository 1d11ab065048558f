/* Futex waits on shared words, and the wait queue built on them.
 *
 * Why not pthread_cond_t: glibc's process-shared condition variable (2.25 up
 * to 2.40) hangs the next signal forever once a waiter was killed while
 * blocked (glibc bug 21422), and pthread_cond_destroy hangs after any dead
 * waiter. A futex word keeps no per-waiter state: the kernel drops a killed
 * sleeper from its queue, so a wake-up always goes to a live one. */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

int mproc__futex_wait(_Atomic uint32_t *word, uint32_t expected, const mproc__deadline_t *d)
{
    if (d->kind == MPROC__NOWAIT)
        return MPROC_ETIMEDOUT;
    /* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline, so an
     * interrupted wait resumes with exactly the time that remains. Not
     * FUTEX_PRIVATE_FLAG: the word is shared between processes. */
    const struct timespec *at = d->kind == MPROC__UNTIL ? &d->at : NULL;
    long r = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_BITSET, expected, at, NULL,
                     FUTEX_BITSET_MATCH_ANY);
    if (r == -1 && errno == ETIMEDOUT)
        return MPROC_ETIMEDOUT;
    return 0; /* woken, EAGAIN (word changed) or EINTR: the caller re-checks */
}

void mproc__futex_wake(_Atomic uint32_t *word, int n)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, n, NULL, NULL, 0);
}

uint32_t mproc__waitq_prepare(mproc__waitq_t *q)
{
    /* The sleeper count goes up before the waiter re-checks its condition,
     * and the waker changes the condition before it reads the count (both
     * sequentially consistent): either the waker sees the sleeper, or the
     * sleeper sees the changed condition. */
    atomic_fetch_add(&q->sleepers, 1);
    return atomic_load(&q->seq);
}

/* An unbounded sleep is cut into slices of this many seconds. A waker wakes
 * n sleepers; if one of them is killed after the kernel woke it but before it
 * acted on the wake-up, the others would otherwise sleep on although the state
 * they wait for holds. Each slice ends with a re-check, so such a loss costs a
 * live waiter at most one slice, never a hang. */
#define MPROC__SLEEP_SLICE 0.25

int mproc__waitq_sleep(mproc__waitq_t *q, uint32_t seq, const mproc__deadline_t *d)
{
    if (d->kind != MPROC__FOREVER)
        return mproc__futex_wait(&q->seq, seq, d);
    mproc__deadline_t slice;
    mproc__deadline_init(&slice, MPROC__SLEEP_SLICE);
    mproc__futex_wait(&q->seq, seq, &slice);
    return 0; /* the caller re-checks its condition either way */
}

void mproc__waitq_finish(mproc__waitq_t *q)
{
    atomic_fetch_sub(&q->sleepers, 1);
}

int mproc__waitq_wait_for(mproc__waitq_t *q, int (*ready)(void *arg), void *arg,
                          const mproc__deadline_t *d)
{
    if (ready(arg))
        return 0;
    uint32_t seq = mproc__waitq_prepare(q);
    int r = 0;
    for (;;) {
        if (ready(arg)) {
            r = 0;
            break;
        }
        if (r == MPROC_ETIMEDOUT)
            break;
        r = mproc__waitq_sleep(q, seq, d);
        seq = atomic_load(&q->seq);
    }
    mproc__waitq_finish(q);
    return r;
}

void mproc__waitq_wake(mproc__waitq_t *q, int n)
{
    /* With no sleeper counted, any waiter still to come counts itself after
     * the caller's state change and so sees it when it re-checks: neither the
     * bump nor the system call is needed (nor the cache line they would pull
     * away from the other side). */
    /* The fence orders the caller's state change (often a plain release
     * store) before this load: without it the load could be satisfied first,
     * miss a sleeper that counted itself meanwhile, and leave it asleep. */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load(&q->sleepers) == 0)
        return;
    atomic_fetch_add(&q->seq, 1);
    mproc__futex_wake(&q->seq, n);
}
