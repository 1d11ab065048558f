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
 * broken. Anything else was a single store, complete or not done. */
#include "internal.h"

#include <string.h>

struct barrier_impl {
    pthread_mutex_t mutex;
    mproc__waitq_t waitq;
    uint32_t parties;
    _Atomic uint32_t broken;
    _Atomic uint64_t state;          /* round << 32 | arrived */
    _Atomic uint64_t broken_rounds;  /* bit (round % 64): that round ended broken */
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

/* Ends the current round broken and wakes its waiters. Mutex held. */
static void break_round(struct barrier_impl *bi)
{
    uint32_t round = ROUND(atomic_load(&bi->state));
    atomic_fetch_or(&bi->broken_rounds, ROUND_BIT(round));
    atomic_store(&bi->broken, 1);
    mproc__waitq_wake(&bi->waitq, INT32_MAX);
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
    atomic_store(&bi->state, state);

    if (ARRIVED(state) == bi->parties) {
        /* The last arrival: run the action, then open the next round. */
        if (action != NULL && action(arg) != 0) {
            break_round(bi);
            unlock(bi);
            return MPROC_EBROKEN;
        }
        atomic_fetch_and(&bi->broken_rounds, ~ROUND_BIT(round));
        atomic_store(&bi->state, (uint64_t)(round + 1) << 32);
        mproc__waitq_wake(&bi->waitq, INT32_MAX);
        unlock(bi);
        return index;
    }

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
        atomic_store(&bi->state, (uint64_t)(round + 1) << 32);
        atomic_store(&bi->broken, 0);
        mproc__waitq_wake(&bi->waitq, INT32_MAX);
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
