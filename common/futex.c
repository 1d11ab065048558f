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
    uint32_t seq = atomic_load(&q->seq);
    /* Under the C11 model the increment above and the caller's (relaxed or
     * acquire) re-check of its condition need a full fence between them to
     * pair with the waker's fence; x86 would not need it, others do. */
    atomic_thread_fence(memory_order_seq_cst);
    return seq;
}

/* Every sleep is cut into slices of this many seconds, timed or not. Waking
 * every sleeper (see mproc__waitq_wake) covers the death of a woken waiter;
 * what remains is the death of a waker between its state change (one atomic
 * store, or a commit under a robust mutex) and its futex wake. No kernel
 * mechanism reports that death to a sleeper on another word: a robust futex
 * wakes only sleepers on the dead owner's lock word, and giving each waker
 * such a word (and each sleeper a way to find it) would add a shared store
 * to every uncontended wake. So a sleeper re-checks once per slice: such a
 * loss costs a live waiter at most one slice, never its whole timeout, and
 * an idle waiter pays two wake-ups a second (bench_sync measures it). */
#define MPROC__SLEEP_SLICE 0.5

int mproc__waitq_sleep(mproc__waitq_t *q, uint32_t seq, const mproc__deadline_t *d)
{
    if (d->kind == MPROC__NOWAIT)
        return MPROC_ETIMEDOUT;
    if (d->kind == MPROC__UNTIL && mproc__deadline_expired(d)) {
        /* No system call once the deadline has passed, but the kernel's
         * answer all the same: a wake-up since seq was read is reported
         * (0: the caller re-checks), not swallowed as a timeout, since a
         * caller such as Condition acts on it (cond.c hands on a grant
         * meant for a dead waiter only when woken). */
        return atomic_load(&q->seq) != seq ? 0 : MPROC_ETIMEDOUT;
    }
    mproc__deadline_t slice;
    mproc__deadline_init(&slice, MPROC__SLEEP_SLICE);
    int sliced = d->kind == MPROC__FOREVER || slice.at.tv_sec < d->at.tv_sec ||
                 (slice.at.tv_sec == d->at.tv_sec && slice.at.tv_nsec < d->at.tv_nsec);
    if (!sliced)
        return mproc__futex_wait(&q->seq, seq, d);
    mproc__futex_wait(&q->seq, seq, &slice);
    return 0; /* the caller re-checks its condition (and its deadline) */
}

void mproc__waitq_finish(mproc__waitq_t *q)
{
    atomic_fetch_sub(&q->sleepers, 1);
}

int mproc__waitq_wait_for(mproc__waitq_t *q, int (*ready)(void *arg), void *arg,
                          const mproc__deadline_t *d, int woken_point)
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
#ifdef MPROC_CRASH_POINTS
        if (woken_point >= 0)
            mproc__crash_point(woken_point);
#else
        (void)woken_point;
#endif
        seq = atomic_load(&q->seq);
    }
    mproc__waitq_finish(q);
    return r;
}

void mproc__waitq_wake(mproc__waitq_t *q)
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
    /* Every sleeper, not n: a sleeper woken to take a unit (or a message)
     * that is killed before it acts, or that cannot take it (a buffer too
     * small), would otherwise leave the others asleep while the unit is
     * there. Those woken in vain re-check and sleep again. */
    mproc__futex_wake(&q->seq, INT32_MAX);
}
