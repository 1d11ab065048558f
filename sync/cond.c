/* Condition: an RLock plus a ticketed wait queue.
 *
 * Exact notify(n): each waiter takes a ticket (next_ticket++) under the
 * lock; notify(n) moves `granted` past the next n tickets; a waiter returns 0
 * only once its ticket is below `granted`. Tickets are served in order, so a
 * waiter that began after a notify can never take that notify's wake-up, and
 * no waiter returns 0 without one (no spurious successes).
 *
 * A waiter that times out withdraws its ticket: the last ticket is simply
 * taken back; one in the middle is marked in `cancelled` (bit i: ticket
 * granted + i), and notify skips marked tickets.
 *
 * A waiter that dies keeps its ticket, and a notify may grant it. So that
 * the grant is not lost, waiters record themselves in `watch` (WATCHED slots,
 * each one 64-bit word: ticket (low 32 bits) << 32 | pid; 0 free): taken
 * under the lock with the ticket, or later, lock-free, by a waiter that found
 * every slot taken. Sleepers wake on every notify and once per wait-queue
 * slice (0.5 s, futex.c); a watched waiter that is still not granted then
 * looks for a slot whose ticket is granted and whose process has ended (or
 * that no process owns, ORPHAN), and takes that ticket over with one
 * compare-and-swap of the slot (its pid for the dead one's): it now holds a
 * granted ticket and returns 0, and the grant reached a live waiter. Its own
 * ticket, not granted, it leaves to nobody with one store (owner ORPHAN),
 * so that a later grant of it is taken over in turn. Killed between the two
 * stores, it leaves both slots naming itself, dead: each is taken over in
 * turn. A waiter clears its slot under the lock once it has re-acquired it
 * (or before it withdraws a timed-out ticket). Only watched waiters take
 * over (an unwatched one would leave its own ticket unwatched), and only
 * watched tickets are rescued: a waiter that dies before it found a free
 * slot (more than WATCHED waiters, or ended ones not yet taken over, ahead
 * of it) may still absorb a notify; so may one whose pid a new process took.
 *
 * Only a waiter that was already waiting when that ticket was granted may
 * take it over (a notify never reaches a waiter that began after it): the
 * notify stores in each slot it is about to grant a mark, how many tickets
 * after that one had been taken by then (at most MARK_MAX; waiters further
 * back are not eligible), before it publishes the grant.
 *
 * Sleepers read `granted` without the lock, so a notify wakes every sleeper
 * but only the granted ones go on to take the lock. */
#include "internal.h"

#include <string.h>
#include <unistd.h>

#define WATCHED 4
/* A slot's low 32 bits: mark << MARK_SHIFT | ORPHAN | pid (Linux pids are
 * below 2^22, PID_MAX_LIMIT). */
#define PID_MASK ((UINT32_C(1) << 22) - 1)
#define ORPHAN (UINT32_C(1) << 22) /* no owner: its waiter left the ticket */
#define MARK_SHIFT 23
#define MARK_MAX UINT32_C(511)

struct cond_impl {
    mproc_rlock_t lock;
    mproc__waitq_t waitq;
    uint64_t next_ticket;       /* under the lock */
    _Atomic uint64_t granted;   /* written under the lock, read by sleepers */
    uint64_t cancelled;         /* under the lock; bit i: ticket granted + i withdrew */
    _Atomic uint64_t watch[WATCHED]; /* ticket << 32 | mark, ORPHAN, pid; 0 free */
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

static uint64_t watch_tag(uint64_t ticket, uint32_t low)
{
    return (uint64_t)(uint32_t)ticket << 32 | low;
}

/* The full ticket named by slot word w, given `granted` (tickets in flight
 * are far fewer than 2^31, so 32 bits tell them apart). */
static uint64_t watch_ticket(uint64_t w, uint64_t granted)
{
    return granted - (uint32_t)((uint32_t)granted - (uint32_t)(w >> 32));
}

static int watch_granted(uint64_t w, uint64_t granted)
{
    uint32_t behind = (uint32_t)granted - (uint32_t)(w >> 32);
    return behind != 0 && behind <= UINT32_C(0x80000000);
}

/* 1 if no live process waits on slot word w's ticket. */
static int watch_owner_ended(uint64_t w)
{
    return (w & ORPHAN) || mproc__process_ended((pid_t)(w & PID_MASK));
}

/* Records the caller as the waiter of ticket in a free slot: its index, or -1
 * if every slot is taken. Lock-free (CAS: a repairer or another registrant may
 * race for the same slot). */
static int watch_take(struct cond_impl *ci, uint64_t ticket)
{
    uint32_t pid = (uint32_t)getpid();
    if (pid > PID_MASK)
        return -1;
    uint64_t mine = watch_tag(ticket, pid);
    for (int i = 0; i < WATCHED; i++) {
        uint64_t free_slot = 0;
        if (atomic_compare_exchange_strong(&ci->watch[i], &free_slot, mine))
            return i;
    }
    return -1;
}

/* A watched waiter not yet granted: takes over a granted ticket whose waiter
 * has ended (see the top). 1 if it did (*ticket and *slot now name the taken
 * ticket and its slot), else 0. */
static int take_over(struct cond_impl *ci, uint64_t *ticket, int *slot)
{
    /* Acquire: pairs with notify's store, so a granted slot is seen granted. */
    uint64_t granted = atomic_load_explicit(&ci->granted, memory_order_acquire);
    for (int i = 0; i < WATCHED; i++) {
        if (i == *slot)
            continue;
        uint64_t w = atomic_load_explicit(&ci->watch[i], memory_order_relaxed);
        if (w == 0 || !watch_granted(w, granted))
            continue;
        uint64_t taken = watch_ticket(w, granted);
        uint32_t mark = (uint32_t)w >> MARK_SHIFT;
        if (*ticket - taken >= mark || !watch_owner_ended(w))
            continue; /* began after that grant, or its waiter lives */
        /* The CAS decides between live waiters that found the same slot. */
        uint64_t mine = watch_tag(taken, (uint32_t)mark << MARK_SHIFT | (uint32_t)getpid());
        if (!atomic_compare_exchange_strong(&ci->watch[i], &w, mine))
            continue;
        MPROC__CRASH(COND_WAIT_TOOK_OVER);
        /* CAS: a notify may be marking that slot meanwhile; keep its mark. */
        uint64_t own = atomic_load(&ci->watch[*slot]);
        while (!atomic_compare_exchange_weak(&ci->watch[*slot], &own, (own & ~(uint64_t)PID_MASK) | ORPHAN))
            ;
        *ticket = taken;
        *slot = i;
        return 1;
    }
    return 0;
}

/* The body of wait, with a deadline that wait_for computes only once:
 * 0 notified, MPROC_ETIMEDOUT, MPROC_EPERM; *owner_died: re-acquiring the
 * lock found its holder dead. */
static int wait_until(struct cond_impl *ci, const mproc__deadline_t *d, int *owner_died)
{
    struct mproc__rlock *lock = (struct mproc__rlock *)(void *)&ci->lock;
    if (mproc__mutex_owner(&lock->mutex) != mproc__tid())
        return MPROC_EPERM;

    uint64_t ticket = ci->next_ticket;
    /* A slot already naming this ticket was left by a waiter killed between
     * taking it and taking the ticket: nobody holds that ticket. */
    for (int i = 0; i < WATCHED; i++) {
        uint64_t w = atomic_load(&ci->watch[i]);
        if (w != 0 && (uint32_t)(w >> 32) == (uint32_t)ticket)
            atomic_compare_exchange_strong(&ci->watch[i], &w, 0);
    }
    int slot = watch_take(ci, ticket);
    MPROC__CRASH(COND_WAIT_WATCHED);
    ci->next_ticket = ticket + 1;
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
        if (slot < 0)
            slot = watch_take(ci, ticket);
        else
            take_over(ci, &ticket, &slot);
    }
    mproc__waitq_finish(&ci->waitq);

    /* Re-acquire without limit, as Python does: the timeout bounds the wait. */
    mproc__deadline_t forever = { .kind = MPROC__FOREVER };
    int relock = mproc__mutex_lock(&lock->mutex, &forever);
    lock->depth = depth;

    int r = 0;
    if (timed_out && atomic_load(&ci->granted) <= ticket) {
        /* Unwatched first: a dead owner's slot whose ticket notify then
         * skipped would look granted and be taken over. */
        if (slot >= 0)
            atomic_store(&ci->watch[slot], 0);
        MPROC__CRASH(COND_WAIT_UNWATCHED);
        withdraw(ci, ticket);
        MPROC__CRASH(COND_WAIT_WITHDRAWN);
        r = MPROC_ETIMEDOUT;
    } else if (slot >= 0) {
        MPROC__CRASH(COND_WAIT_RELOCKED);
        atomic_store(&ci->watch[slot], 0); /* the grant is taken */
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

/* Marks the watched tickets in [from, to), about to be granted, with how many
 * tickets after each had been taken (see the top). Lock held; CAS, as their
 * owners and takers change slots without it. */
static void mark_granted(struct cond_impl *ci, uint64_t from, uint64_t to)
{
    for (int i = 0; i < WATCHED; i++) {
        uint64_t w = atomic_load(&ci->watch[i]);
        for (;;) {
            uint32_t t = (uint32_t)(w >> 32);
            if (w == 0 || (uint32_t)(t - (uint32_t)from) >= (uint32_t)(to - from))
                break;
            uint64_t after = ci->next_ticket - (from + (uint32_t)(t - (uint32_t)from));
            uint32_t mark = after < MARK_MAX ? (uint32_t)after : MARK_MAX;
            uint64_t marked = (w & ~((uint64_t)MARK_MAX << MARK_SHIFT)) | (uint64_t)mark << MARK_SHIFT;
            if (atomic_compare_exchange_strong(&ci->watch[i], &w, marked))
                break;
        }
    }
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
        mark_granted(ci, granted, g);
        MPROC__CRASH(COND_NOTIFY_MARKED);
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
