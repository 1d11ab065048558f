/* Barrier: a robust mutex, a wait queue, and a round counter.
 *
 * `state` packs the round number (high 32 bits) and the parties arrived in
 * it (low 32 bits), so that arriving (state + 1) and finishing a round
 * (state = next round, count 0) are each one store: a process killed under
 * the mutex leaves either the old state or the new one, never half of each.
 *
 * Rounds do not wait for the previous one to drain: waiters of round r watch
 * for the round number to move and then read how round r ended in
 * `broken_rounds` (bit r % 64, set before the round number moves). Parties
 * arriving meanwhile simply belong to round r + 1. A waiter would misread its
 * round's outcome only if it slept through 64 further rounds.
 *
 * Recovery after a holder's death (EOWNERDEAD): if the round is full, its
 * last party died running the action or releasing the others; that round is
 * broken. Anything else was a single store, complete or not done.
 *
 * The dead break the barrier without a third party's help:
 * - The last arrival runs the action holding the robust mutex; if it dies
 *   there the kernel marks the mutex word OWNER_DIED. Sleepers re-check once
 *   per wait-queue slice (0.5 s, see futex.c), see the mark, take the mutex
 *   themselves, and its recovery breaks the round.
 * - A waiting party records its pid in a slot (the first WATCHED parties of
 *   a round; the rest fit nowhere in the fixed 128 bytes). Sleepers check
 *   once per slice whether a recorded process has ended (a pidfd is readable
 *   once it has exited, zombie or reaped), and break the round if so; the
 *   last arrival checks the same before it completes a round, so no round
 *   completes with a dead party counted. */
#include "internal.h"

#include <errno.h>
#include <linux/futex.h>
#include <poll.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define WATCHED 14

struct barrier_impl {
    pthread_mutex_t mutex;
    mproc__waitq_t waitq;
    uint32_t parties;
    _Atomic uint32_t broken;
    _Atomic uint64_t state;          /* round << 32 | arrived */
    _Atomic uint64_t broken_rounds;  /* bit (round % 64): that round ended broken */
    _Atomic int32_t waiting[WATCHED]; /* pid of the party with that index, this round (under the mutex) */
};
MPROC__FITS(struct barrier_impl, mproc_barrier_t);

#define IMPL(b) ((struct barrier_impl *)(void *)(b))
#define ROUND(state) ((uint32_t)((state) >> 32))
#define ARRIVED(state) ((uint32_t)(state))
#define ROUND_BIT(round) (UINT64_C(1) << ((round) % 64))

int mproc_barrier_init(mproc_barrier_t *b, unsigned parties)
{
    if (b == NULL || parties == 0 || parties > INT32_MAX)
        return MPROC_EINVAL;
    memset(b, 0, sizeof *b);
    IMPL(b)->parties = parties;
    return mproc__mutex_init(&IMPL(b)->mutex);
}

int mproc_barrier_destroy(mproc_barrier_t *b)
{
    return mproc__mutex_destroy(&IMPL(b)->mutex);
}

static int init_payload(void *payload, const void *arg)
{
    return mproc_barrier_init(payload, *(const unsigned *)arg);
}

int mproc_barrier_create(mproc_barrier_t **b, const char *name, unsigned parties)
{
    if (parties == 0 || parties > INT32_MAX)
        return MPROC_EINVAL;
    return mproc__segment_create((void **)b, name, MPROC__TYPE_BARRIER, sizeof **b,
                                 init_payload, &parties);
}

int mproc_barrier_open(mproc_barrier_t **b, const char *name)
{
    return mproc__segment_open((void **)b, name, MPROC__TYPE_BARRIER, sizeof **b);
}

int mproc_barrier_close(mproc_barrier_t *b)
{
    return mproc__segment_close(b, MPROC__TYPE_BARRIER);
}

/* Ends the current round broken and wakes its waiters. Mutex held. The
 * outcome bit first: a waiter that sees `broken` reads it at once, one that
 * sees the round move reads the bit. */
static void break_round(struct barrier_impl *bi)
{
    uint32_t round = ROUND(atomic_load(&bi->state));
    atomic_fetch_or(&bi->broken_rounds, ROUND_BIT(round));
    MPROC__CRASH(BARRIER_BREAK_MARKED);
    atomic_store(&bi->broken, 1);
    MPROC__CRASH(BARRIER_BROKEN);
    mproc__waitq_wake(&bi->waitq);
}

/* 1 if a party recorded as waiting in this round has ended. */
static int a_party_died(struct barrier_impl *bi, uint32_t arrived)
{
    for (uint32_t i = 0; i < arrived && i < WATCHED; i++)
        if (mproc__process_ended(atomic_load_explicit(&bi->waiting[i], memory_order_relaxed)))
            return 1;
    return 0;
}

/* The kernel reported the mutex's holder dead (OWNER_DIED in the lock word,
 * set when it died and cleared when the next holder takes it). */
static int holder_died(struct barrier_impl *bi)
{
    return (__atomic_load_n(&bi->mutex.__data.__lock, __ATOMIC_RELAXED) & FUTEX_OWNER_DIED) != 0;
}

static void lock(struct barrier_impl *bi)
{
    mproc__deadline_t forever = { .kind = MPROC__FOREVER };
    if (mproc__mutex_lock(&bi->mutex, &forever) == MPROC_EOWNERDEAD &&
        ARRIVED(atomic_load(&bi->state)) >= bi->parties && !atomic_load(&bi->broken))
        break_round(bi);
}

static void unlock(struct barrier_impl *bi)
{
    pthread_mutex_unlock(&bi->mutex);
}

/* How round `round` ended, for a waiter that saw the round number move. */
static int outcome(struct barrier_impl *bi, uint32_t round, int index)
{
    return (atomic_load(&bi->broken_rounds) & ROUND_BIT(round)) ? MPROC_EBROKEN : index;
}

int mproc_barrier_wait_action(mproc_barrier_t *b, double timeout, int (*action)(void *arg), void *arg)
{
    struct barrier_impl *bi = IMPL(b);
    mproc__deadline_t d;
    int r = mproc__deadline_init(&d, timeout);
    if (r != 0)
        return r;

    lock(bi);
    if (atomic_load(&bi->broken)) {
        unlock(bi);
        return MPROC_EBROKEN;
    }
    uint64_t state = atomic_load(&bi->state) + 1;
    uint32_t round = ROUND(state);
    int index = (int)ARRIVED(state) - 1;

    if (ARRIVED(state) == bi->parties) {
        /* The last arrival: no round completes with a dead party counted. */
        if (a_party_died(bi, bi->parties - 1)) {
            break_round(bi);
            unlock(bi);
            return MPROC_EBROKEN;
        }
        atomic_store(&bi->state, state);
        MPROC__CRASH(BARRIER_ARRIVED);
        /* Run the action, then open the next round. */
        if (action != NULL) {
            int failed = action(arg);
            MPROC__CRASH(BARRIER_ACTION);
            if (failed) {
                break_round(bi);
                unlock(bi);
                return MPROC_EBROKEN;
            }
        }
        atomic_fetch_and(&bi->broken_rounds, ~ROUND_BIT(round));
        MPROC__CRASH(BARRIER_ROUND_CLEARED);
        atomic_store(&bi->state, (uint64_t)(round + 1) << 32);
        MPROC__CRASH(BARRIER_ADVANCED);
        mproc__waitq_wake(&bi->waitq);
        unlock(bi);
        return index;
    }
    /* The pid before the arrival: a party counted is always one watched. */
    if (index < WATCHED)
        atomic_store_explicit(&bi->waiting[index], (int32_t)getpid(), memory_order_relaxed);
    atomic_store(&bi->state, state);
    MPROC__CRASH(BARRIER_WAITING);

    uint32_t seq = mproc__waitq_prepare(&bi->waitq);
    unlock(bi);
    for (;;) {
        if (ROUND(atomic_load(&bi->state)) != round) {
            r = outcome(bi, round, index);
            break;
        }
        if (atomic_load(&bi->broken)) {
            r = MPROC_EBROKEN;
            break;
        }
        if (holder_died(bi) || a_party_died(bi, ARRIVED(atomic_load(&bi->state)))) {
            /* Break the round ourselves: the mutex's recovery does it for a
             * holder that died in the action; a dead waiter we break here. */
            lock(bi);
            if (ROUND(atomic_load(&bi->state)) == round && !atomic_load(&bi->broken) &&
                a_party_died(bi, ARRIVED(atomic_load(&bi->state))))
                break_round(bi);
            unlock(bi);
            continue;
        }
        if (mproc__waitq_sleep(&bi->waitq, seq, &d) == MPROC_ETIMEDOUT) {
            /* Our timeout breaks the round for everyone, unless the round
             * ended (or broke) while we were timing out. */
            lock(bi);
            if (ROUND(atomic_load(&bi->state)) != round) {
                r = outcome(bi, round, index);
            } else {
                if (!atomic_load(&bi->broken))
                    break_round(bi);
                r = MPROC_ETIMEDOUT;
            }
            unlock(bi);
            break;
        }
        seq = atomic_load(&bi->waitq.seq);
    }
    mproc__waitq_finish(&bi->waitq);
    return r;
}

int mproc_barrier_wait(mproc_barrier_t *b, double timeout)
{
    return mproc_barrier_wait_action(b, timeout, NULL, NULL);
}

int mproc_barrier_abort(mproc_barrier_t *b)
{
    struct barrier_impl *bi = IMPL(b);
    lock(bi);
    if (!atomic_load(&bi->broken))
        break_round(bi);
    unlock(bi);
    return 0;
}

int mproc_barrier_reset(mproc_barrier_t *b)
{
    struct barrier_impl *bi = IMPL(b);
    lock(bi);
    uint64_t state = atomic_load(&bi->state);
    if (atomic_load(&bi->broken) || ARRIVED(state) > 0) {
        /* Whoever still waits in this round sees it end broken. */
        uint32_t round = ROUND(state);
        atomic_fetch_or(&bi->broken_rounds, ROUND_BIT(round));
        MPROC__CRASH(BARRIER_RESET_MARKED);
        atomic_store(&bi->state, (uint64_t)(round + 1) << 32);
        MPROC__CRASH(BARRIER_RESET_ADVANCED);
        atomic_store(&bi->broken, 0);
        mproc__waitq_wake(&bi->waitq);
    }
    unlock(bi);
    return 0;
}

int mproc_barrier_parties(mproc_barrier_t *b)
{
    return (int)IMPL(b)->parties;
}

int mproc_barrier_n_waiting(mproc_barrier_t *b)
{
    struct barrier_impl *bi = IMPL(b);
    if (atomic_load(&bi->broken))
        return 0;
    return (int)ARRIVED(atomic_load(&bi->state));
}

int mproc_barrier_broken(mproc_barrier_t *b)
{
    return atomic_load(&IMPL(b)->broken) != 0;
}
