/* Queue: blocking put/get, task_done/join and shutdown over the storage of
 * queue_store.c, with robust mutexes (one per side for FIFO) and three wait
 * queues.
 *
 * Every change is committed by one store (see queue_store.h), so when a
 * holder dies the next one rebuilds what is derived and goes on: no message
 * is torn, none half-delivered. Wake-ups skip the system call when nobody
 * sleeps; a caller that must wait first spins briefly outside the mutex,
 * since on another core the other side is usually about to move. */
#include "queue_store.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define IMPL(q) ((struct queue_shared *)(void *)(q))
#define DEFAULT_CAPACITY (1u << 20)
#define MAX_CAPACITY (1u << 30)
#define SPIN_LOCK_TRIES 2000
/* Waiting outside the mutex: busy polls (a pause each, 40-150 ns), between
 * SPIN_MIN and SPIN_MAX of them as they pay off, then a futex sleep. */
#define SPIN_MIN 16
#define SPIN_MAX 1024

struct create_args {
    int order;
    uint64_t maxsize;
    uint32_t capacity, index_cap;
};

static int init_payload(void *payload, const void *arg)
{
    const struct create_args *a = arg;
    struct queue_shared *q = payload;
    queue_store_init(q, a->order, a->maxsize, a->capacity, a->index_cap);
    int r = mproc__mutex_init(&q->put_mutex);
    return r != 0 ? r : mproc__mutex_init(&q->get_mutex);
}

int mproc_queue_create(mproc_queue_t **q, const char *name, const mproc_queue_opts_t *opts)
{
    mproc_queue_opts_t o = { 0 };
    if (opts != NULL)
        o = *opts;
    if (o.order < MPROC_FIFO || o.order > MPROC_PRIORITY || o.capacity > MAX_CAPACITY)
        return MPROC_EINVAL;
    struct create_args a = { .order = o.order, .maxsize = o.maxsize };
    a.capacity = o.capacity == 0 ? DEFAULT_CAPACITY : (uint32_t)((o.capacity + 7) & ~(size_t)7);
    if (a.capacity < 64)
        a.capacity = 64; /* room for at least one small message */
    if (o.order != MPROC_FIFO) {
        /* an item takes at least 32 bytes, so capacity / 32 bounds the index */
        uint64_t most = a.capacity / 32;
        a.index_cap = (uint32_t)(o.maxsize != 0 && o.maxsize < most ? o.maxsize : most);
    }
    return mproc__segment_create((void **)q, name, MPROC__TYPE_QUEUE,
                                 queue_store_size(a.capacity, a.index_cap), init_payload, &a);
}

int mproc_queue_open(mproc_queue_t **q, const char *name)
{
    int r = mproc__segment_open((void **)q, name, MPROC__TYPE_QUEUE, 0);
    if (r == 0 && !queue_store_valid(IMPL(*q), mproc__segment_payload_size(*q))) {
        mproc__segment_close(*q, MPROC__TYPE_QUEUE);
        return MPROC_ETYPE;
    }
    return r;
}

int mproc_queue_close(mproc_queue_t *q)
{
    return mproc__segment_close(q, MPROC__TYPE_QUEUE);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#define DONES(word) ((uint32_t)(word))
#define PENDING(word) ((uint32_t)((word) >> 32))

/* Finishes an immediate shutdown's drop of the queued items: mark how many
 * go (pending), drop them (one head store), then credit them as task_done
 * and clear pending in one store. Idempotent: whoever holds the consumers'
 * mutex after the shutting-down process died runs it again and completes
 * whatever step was missing. Nobody puts once the flag is set, and nobody
 * else takes meanwhile (the caller holds the consumers' mutex), so the items
 * counted are exactly those dropped. */
static void finish_drop(struct queue_shared *q)
{
    uint64_t w = atomic_load(&q->dones);
    uint32_t items = queue_store_items(q);
    if (PENDING(w) == 0) {
        if (items == 0)
            return;
        while (!atomic_compare_exchange_weak(&q->dones, &w, (uint64_t)items << 32 | DONES(w)))
            ;
        MPROC__CRASH(QUEUE_SHUTDOWN_PENDING);
    }
    if (items != 0) {
        queue_store_drain(q);
        MPROC__CRASH(QUEUE_SHUTDOWN_DRAINED);
    }
    w = atomic_load(&q->dones);
    while (!atomic_compare_exchange_weak(&q->dones, &w, (uint64_t)(DONES(w) + PENDING(w))))
        ;
    MPROC__CRASH(QUEUE_SHUTDOWN_CREDITED);
}

/* After a holder's death: the side that m guards rebuilds what it derives,
 * and only that (see queue_store.h); then wake everyone the dead one might
 * have woken. */
static void recover(struct queue_shared *q, pthread_mutex_t *m)
{
    int consumers = m == queue_store_get_mutex(q);
    if (q->order != MPROC_FIFO)
        queue_store_recover(q);
    else if (consumers)
        queue_store_recover_get(q);
    else
        queue_store_recover_put(q);
    if (consumers && atomic_load(&q->shutdown) == SHUTDOWN_IMMEDIATE)
        finish_drop(q);
    mproc__waitq_wake(&q->not_empty);
    mproc__waitq_wake(&q->not_full);
    mproc__waitq_wake(&q->all_done);
}

/* Takes a mutex within the deadline; after a holder's death, recovers. A
 * mutex is held only for a copy and a few stores, so a caller finding it
 * taken first spins (a futex sleep and wake-up would cost far more). The
 * deadline bounds the whole wait: a holder that is stopped (SIGSTOP, a
 * debugger) in the middle of a long copy costs a caller at most its timeout.
 * 0 (held) or MPROC_ETIMEDOUT (not held). */
static int lock(struct queue_shared *q, pthread_mutex_t *m, const mproc__deadline_t *d)
{
    int r = EBUSY;
    for (int i = 0; i < SPIN_LOCK_TRIES && r == EBUSY; i++) {
        if (mproc__mutex_owner(m) == 0)
            r = pthread_mutex_trylock(m);
        if (r == EBUSY)
            cpu_relax();
    }
    if (r == EBUSY) {
        r = mproc__mutex_lock(m, d);
        if (r == MPROC_ETIMEDOUT)
            return r;
    } else if (r == EOWNERDEAD) {
        pthread_mutex_consistent(m);
        r = MPROC_EOWNERDEAD;
    }
    if (r == MPROC_EOWNERDEAD)
        recover(q, m);
    return 0;
}

static void lock_forever(struct queue_shared *q, pthread_mutex_t *m)
{
    mproc__deadline_t forever = { .kind = MPROC__FOREVER };
    lock(q, m, &forever);
}

/* What a waiter waits for: room for len bytes, or an item. */
static int has_room(struct queue_shared *q, size_t len)
{
    return queue_store_has_room(q, len);
}

static int has_item(struct queue_shared *q, size_t len)
{
    (void)len;
    return queue_store_has_item(q);
}

/* Wake-ups that cost a system call once per sleep, not once per change.
 *
 * The high bit of a wait queue's sleeper count (the count itself never
 * gets near it) says "armed": a sleeper sets it after counting itself and
 * before its last check; a waker that finds sleepers clears it and, if it
 * was set, bumps the sequence and wakes every sleeper. A waker that finds
 * it clear knows that a wake-up since the last arming already woke every
 * sleeper counted then, and that every later sleeper armed first: so it
 * skips the system call. Without this, a sleeper that the scheduler is slow
 * to run (a loaded machine) keeps the count up, and the other side pays a
 * futex call on every message until it runs. Only the queue's own two wait
 * queues use the bit; mproc__waitq_wake (recovery, shutdown) wakes armed or
 * not, and mproc__waitq_finish leaves the bit alone. */
#define ARMED 0x80000000u
/* Set by the waker that takes a round, in the same store that clears ARMED,
 * and cleared once it has woken the sleepers. A waker that finds it set
 * wakes as well: one killed or stalled between its claim and its wake would
 * otherwise leave the sleepers disarmed, and every later waker would skip
 * them until their sleep slice ends. */
#define WAKING 0x40000000u
#define SLEEPER_COUNT(s) ((s) & ~(ARMED | WAKING))

static uint32_t prepare_armed(mproc__waitq_t *wq)
{
    uint32_t seq = mproc__waitq_prepare(wq);
    /* Arm after counting, then fence before the caller's last check: that
     * check and a waker's look at the bit (after its change, behind its
     * fence) are the two sides of one Dekker pair. */
    atomic_fetch_or(&wq->sleepers, ARMED);
    atomic_thread_fence(memory_order_seq_cst);
    return seq;
}

/* Orders the caller's change to the queue, made under the mutex it has just
 * unlocked, before its look at the sleepers: the waker's half of the Dekker
 * pair with prepare_armed. On x86 the unlock of a robust mutex is a locked
 * exchange of its word (it must see the waiters bit), which is a full
 * barrier: a second one per message (the commit as a locked store) cost
 * 6-15% of 1P/1C throughput in paired runs here. Elsewhere, the fence.
 * This rests on the queue's mutexes being robust (mproc__mutex_init): glibc
 * may release a private, non-robust mutex with a plain store. (A missed
 * wake-up would cost a sleeper its 0.5 s slice, never a hang.) */
static inline void fence_after_unlock(void)
{
#if defined(__x86_64__) || defined(__i386__)
    atomic_signal_fence(memory_order_seq_cst); /* the compiler's half only */
#else
    atomic_thread_fence(memory_order_seq_cst);
#endif
}

/* Called right after unlocking the queue's mutex, the change made. */
static void wake_armed(mproc__waitq_t *wq)
{
    fence_after_unlock();
    uint32_t s = atomic_load(&wq->sleepers);
    for (;;) {
        if (SLEEPER_COUNT(s) == 0 || (s & (ARMED | WAKING)) == 0)
            return; /* nobody asleep, or asleep and already being woken */
        if ((s & ARMED) == 0)
            break; /* another waker's round not finished (maybe never): wake too */
        /* Claim the round: ARMED to WAKING in one step (seq_cst: ordered
         * with the sleepers' arming RMWs). */
        if (atomic_compare_exchange_weak(&wq->sleepers, &s, (s & ~ARMED) | WAKING))
            break;
    }
    /* Killed here, a waker leaves WAKING set: the next waker wakes the
     * sleepers (and a sleeper re-checks at the end of its slice anyway). */
    MPROC__CRASH(QUEUE_WAKE_DISARMED);
    atomic_fetch_add(&wq->seq, 1);
    mproc__futex_wake(&wq->seq, INT32_MAX);
    /* seq_cst: a sleeper that arms after this sees the seq bump above in its
     * futex_wait's value check, so clearing cannot hide it. */
    atomic_fetch_and(&wq->sleepers, ~WAKING);
}

/* Returned by the waits below when the mutex could not be taken back in
 * time: the caller no longer holds it. */
#define UNLOCKED_TIMEOUT 1

/* Sleeps on wq with mutex m dropped until ready(q, len) may hold; returns
 * with m held again: 0, or MPROC_ETIMEDOUT (the deadline passed: the caller
 * checks once more); UNLOCKED_TIMEOUT: m not held.
 *
 * The other side changes the queue under its own mutex (FIFO), so the
 * waiter counts itself as a sleeper first and only then checks once more: a
 * change made before that check is seen by it, one made after is followed by
 * a wake-up that sees the sleeper (wake_armed orders for this). Every
 * sleeper is woken (see futex.c), so a woken waiter that dies, or does not
 * take what it was woken for (EMSGSIZE, ENOMEM), deprives no one. */
static int wait_unlocked(struct queue_shared *q, pthread_mutex_t *m, mproc__waitq_t *wq,
                         const mproc__deadline_t *d, int (*ready)(struct queue_shared *, size_t),
                         size_t len)
{
    uint32_t seq = prepare_armed(wq);
    int r = 0;
    if (!ready(q, len)) {
        pthread_mutex_unlock(m);
        r = mproc__waitq_sleep(wq, seq, d);
        if (wq == &q->not_empty)
            MPROC__CRASH(QUEUE_GET_WOKEN);
        if (lock(q, m, d) != 0)
            r = UNLOCKED_TIMEOUT;
    }
    mproc__waitq_finish(wq);
    return r;
}

/* Waiting outside the mutex for the other side to move. Busy polling pays
 * when the other side runs on another core; on a loaded machine it may not
 * be running at all, and polling only burns the time slice it needs. So a
 * caller polls for at most its thread's budget, which doubles when polling
 * paid and halves when it did not (between SPIN_MIN and SPIN_MAX), and then
 * goes back to sleep on the wait queue. Not sched_yield in between: measured
 * with two CPU-bound processes competing for the 2 cores, yielding rounds
 * cost half the throughput, since a yielder goes to the back of the run
 * queue while a sleeper woken by a futex runs promptly. */
static _Thread_local unsigned spin_budget = SPIN_MAX;

static void spin_paid(unsigned polls, int paid)
{
    if (paid) {
        unsigned want = 2 * polls > spin_budget ? 2 * polls : spin_budget;
        spin_budget = want > SPIN_MAX ? SPIN_MAX : want < SPIN_MIN ? SPIN_MIN : want;
    } else if (spin_budget / 2 >= SPIN_MIN) {
        spin_budget /= 2;
    }
}

/* Spinning stops at the caller's deadline: looked at every DEADLINE_POLLS
 * polls (a vDSO clock read, about 1.5 us apart, so a spin may overrun it by
 * that much), so a short timeout is not overrun by a whole spin budget. */
#define DEADLINE_POLLS 64

static int spin_expired(unsigned polls, const mproc__deadline_t *d)
{
    return polls % DEADLINE_POLLS == DEADLINE_POLLS - 1 && d->kind == MPROC__UNTIL &&
           mproc__deadline_expired(d);
}

/* Polls done(q, arg) while it is false, within the budget and the
 * deadline; 1 if it came. */
static int spin_until(struct queue_shared *q, int (*done)(struct queue_shared *, uint64_t), uint64_t arg,
                      const mproc__deadline_t *d)
{
    unsigned budget = spin_budget;
    for (unsigned i = 0; i < budget; i++) {
        if (spin_expired(i, d))
            return 0; /* says nothing of whether polling pays */
        if (done(q, arg)) {
            spin_paid(i, 1);
            return 1;
        }
        cpu_relax();
    }
    spin_paid(budget, 0);
    return 0;
}

/* A producer waiting for room waits (while it spins) until the consumers
 * have taken `arg` more items, not just one: the queue then runs deep with
 * room to spare, rather than in lockstep at the full mark, where each put
 * waits for one get and writes the line that get has just read. */
static int head_moved(struct queue_shared *q, uint64_t target)
{
    uint64_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
    return (int32_t)((uint32_t)(head >> 32) - (uint32_t)target) >= 0;
}

static void spin_while_full(struct queue_shared *q, const mproc__deadline_t *d)
{
    uint32_t gets = (uint32_t)(atomic_load_explicit(&q->head, memory_order_relaxed) >> 32);
    uint32_t want = queue_store_items(q) / 8;
    spin_until(q, head_moved, gets + (want < 1 ? 1 : want > 16 ? 16 : want), d);
}

/* A FIFO consumer that finds the queue empty waits (while it spins) for a
 * batch when the producers are streaming, not just for one item. Taking
 * each item the moment it is committed keeps the queue in lockstep at the
 * empty mark: the consumer reads the lines the producer has just written
 * (the record, the tail word), and the producer's next locked instruction
 * waits for them to come back; measured 1P/1C, the queue then ran at 0.4x
 * the rate it reaches when items wait a little in a deep queue (README,
 * Benchmarks). So once items are there the consumer polls only every
 * SETTLE_POLLS pauses, and goes on waiting while new puts keep arriving,
 * until DEEP_BYTES of records, a quarter of the ring, or half of maxsize
 * items are queued, whichever comes first. A poll interval without a new
 * put ends the wait at once: a lone message is not held back for a batch
 * that is not coming.
 *
 * That costs a lone message one poll interval (about 0.2 us here), and the
 * first message of a slow stream at most BATCH_WAIT_PAUSES pauses (about
 * 6 us), so consumers batch only while batching pays: a wait that ends
 * because the producers paused turns it off for the queue (a flag in the
 * consumers' line, written only when it changes), and every BATCH_PROBE-th
 * wait of a thread tries it again (a wait that ends deep turns it back
 * on). A get that finds items takes one at once, and a get after a sleep
 * is never held back. */
#define DEEP_BYTES 16384u
#define SETTLE_POLLS 8
#define BATCH_PROBE 16
#define BATCH_WAIT_PAUSES 256

static _Thread_local unsigned waits_since_probe;

/* Queued enough to stop waiting for more. */
static int deep(const struct queue_shared *q, uint32_t items)
{
    uint32_t bytes = q->capacity / 4 < DEEP_BYTES ? q->capacity / 4 : DEEP_BYTES;
    return queue_store_used(q) >= bytes || (q->maxsize != 0 && items >= (q->maxsize + 1) / 2);
}

/* The consumers' batching flag: a hint, so relaxed, and stored only when
 * it changes (the line is the consumers' own, but every store still costs
 * the other consumers a miss). */
static void set_batching(struct queue_shared *q, uint32_t on)
{
    if (atomic_load_explicit(&q->no_batching, memory_order_relaxed) == on)
        atomic_store_explicit(&q->no_batching, !on, memory_order_relaxed);
}

static void spin_while_empty(struct queue_shared *q, const mproc__deadline_t *d)
{
    /* FIFO only: a LIFO get takes the newest record, which the producer has
     * just written, however deep the queue is. */
    int batch = q->order == MPROC_FIFO &&
                (!atomic_load_explicit(&q->no_batching, memory_order_relaxed) ||
                 ++waits_since_probe % BATCH_PROBE == 0);
    int seen = 0;
    unsigned budget = spin_budget, i, next = 0, first = 0;
    uint32_t items = 0, puts = 0;
    for (i = 0; i < budget; i++, cpu_relax()) {
        if (spin_expired(i, d))
            return; /* says nothing of whether polling pays */
        /* Before the first item, a poll per pause (latency); after it, one
         * every SETTLE_POLLS: each poll pulls the tail's line away from the
         * producer. */
        if (i < next)
            continue;
        items = queue_store_items(q);
        seen = seen && items != 0;
        if (items == 0) {
            next = i + 1;
            continue;
        }
        if (!batch)
            break;
        if (deep(q, items)) {
            set_batching(q, 1);
            break;
        }
        uint32_t now = queue_store_puts(q);
        if (seen && now == puts) {
            set_batching(q, 0); /* the producers paused: take what is there */
            break;
        }
        if (!seen)
            first = i;
        else if (i - first >= BATCH_WAIT_PAUSES)
            break; /* a slow stream: hold no item back longer */
        seen = 1;
        puts = now;
        next = i + SETTLE_POLLS;
    }
    spin_paid(i, items != 0);
}

/* One round of waiting, with m held: the first time, spin outside the mutex
 * (the other side is usually about to move); after that, sleep on wq.
 * As wait_unlocked. */
static int wait_once(struct queue_shared *q, pthread_mutex_t *m, int *spun,
                     void (*spin)(struct queue_shared *, const mproc__deadline_t *), mproc__waitq_t *wq,
                     const mproc__deadline_t *d, int (*ready)(struct queue_shared *, size_t),
                     size_t len)
{
    if (*spun)
        return wait_unlocked(q, m, wq, d, ready, len);
    *spun = 1;
    pthread_mutex_unlock(m);
    spin(q, d);
    return lock(q, m, d) != 0 ? UNLOCKED_TIMEOUT : 0;
}

int mproc_queue_put_prio(mproc_queue_t *queue, const void *data, size_t len, int64_t priority,
                         double timeout)
{
    struct queue_shared *q = IMPL(queue);
    mproc__deadline_t d;
    int r = mproc__deadline_init(&d, timeout);
    if (r != 0)
        return r;
    if (data == NULL && len > 0)
        return MPROC_EINVAL;
    if (len > queue_store_max_message(q))
        return MPROC_EMSGSIZE;

    pthread_mutex_t *m = queue_store_put_mutex(q);
    int spun = 0;
    if (lock(q, m, &d) != 0)
        return MPROC_EFULL;
    MPROC__CRASH(QUEUE_PUT_LOCKED);
    for (;;) {
        if (atomic_load(&q->shutdown)) {
            r = MPROC_ESHUTDOWN;
            break;
        }
        if (queue_store_has_room(q, len)) {
            queue_store_put(q, data, len, priority);
            pthread_mutex_unlock(m);
            MPROC__CRASH(QUEUE_PUT_UNLOCKED);
            wake_armed(&q->not_empty);
            return 0;
        }
        if (r == MPROC_ETIMEDOUT || d.kind == MPROC__NOWAIT) {
            r = MPROC_EFULL;
            break;
        }
        r = wait_once(q, m, &spun, spin_while_full, &q->not_full, &d, has_room, len);
        if (r == UNLOCKED_TIMEOUT)
            return MPROC_EFULL;
    }
    pthread_mutex_unlock(m);
    return r;
}

int mproc_queue_put(mproc_queue_t *q, const void *data, size_t len, double timeout)
{
    return mproc_queue_put_prio(q, data, len, 0, timeout);
}

/* The body of get and get_alloc: *buf NULL means allocate. */
static int get(struct queue_shared *q, void **buf, size_t cap, size_t *len, double timeout)
{
    mproc__deadline_t d;
    int r = mproc__deadline_init(&d, timeout);
    if (r != 0)
        return r;
    if (len == NULL)
        return MPROC_EINVAL;

    pthread_mutex_t *m = queue_store_get_mutex(q);
    int spun = 0;
    if (lock(q, m, &d) != 0)
        return MPROC_EEMPTY;
    MPROC__CRASH(QUEUE_GET_LOCKED);
    for (;;) {
        if (queue_store_has_item(q)) {
            struct queue_entry e;
            const void *bytes = queue_store_peek(q, &e);
            *len = e.len;
            if (*buf == NULL) {
                *buf = malloc(e.len > 0 ? e.len : 1);
                if (*buf == NULL) {
                    r = MPROC_ENOMEM;
                    break;
                }
                MPROC__CRASH(QUEUE_GET_ALLOCATED);
            } else if (e.len > cap) {
                r = MPROC_EMSGSIZE; /* the message stays for a larger buffer */
                break;
            }
            memcpy(*buf, bytes, e.len);
            MPROC__CRASH(QUEUE_GET_COPIED);
            queue_store_take(q, &e);
            pthread_mutex_unlock(m);
            MPROC__CRASH(QUEUE_GET_UNLOCKED);
            wake_armed(&q->not_full);
            return 0;
        }
        if (atomic_load(&q->shutdown)) {
            r = MPROC_ESHUTDOWN;
            break;
        }
        if (r == MPROC_ETIMEDOUT || d.kind == MPROC__NOWAIT) {
            r = MPROC_EEMPTY;
            break;
        }
        r = wait_once(q, m, &spun, spin_while_empty, &q->not_empty, &d, has_item, 0);
        if (r == UNLOCKED_TIMEOUT)
            return MPROC_EEMPTY;
    }
    pthread_mutex_unlock(m);
    return r;
}

int mproc_queue_get(mproc_queue_t *q, void *buf, size_t cap, size_t *len, double timeout)
{
    if (buf == NULL && cap > 0)
        return MPROC_EINVAL;
    /* No buffer (cap 0) still takes a zero-length message: point at a dummy
     * so that get() never mistakes it for a request to allocate. */
    unsigned char nothing;
    void *dest = buf != NULL ? buf : &nothing;
    return get(IMPL(q), &dest, cap, len, timeout);
}

int mproc_queue_get_alloc(mproc_queue_t *q, void **data, size_t *len, double timeout)
{
    if (data == NULL)
        return MPROC_EINVAL;
    void *buf = NULL;
    int r = get(IMPL(q), &buf, 0, len, timeout);
    if (r == 0)
        *data = buf;
    return r;
}

int mproc_queue_task_done(mproc_queue_t *queue)
{
    /* No mutex: the count is one word, compared with the puts in the tail
     * word (both modulo 2^32, so only their difference matters). The count
     * is committed by the one CAS; an immediate shutdown's pending drop in
     * the high half is carried along unchanged. */
    struct queue_shared *q = IMPL(queue);
    uint64_t w = atomic_load(&q->dones);
    uint32_t dones;
    do {
        dones = DONES(w);
        if (dones == queue_store_puts(q))
            return MPROC_EOVERFLOW;
    } while (!atomic_compare_exchange_weak(&q->dones, &w, (w & ~(uint64_t)UINT32_MAX) | (dones + 1)));
    MPROC__CRASH(QUEUE_TASK_DONE_COUNTED);
    if (dones + 1 == queue_store_puts(q))
        mproc__waitq_wake(&q->all_done);
    return 0;
}

static int all_done(void *arg)
{
    struct queue_shared *q = arg;
    return DONES(atomic_load(&q->dones)) == queue_store_puts(q);
}

/* An immediate shutdown left unfinished: its process died before crediting
 * (or dropping) the items, and nobody will task_done them. */
static int drop_unfinished(struct queue_shared *q)
{
    return atomic_load(&q->shutdown) == SHUTDOWN_IMMEDIATE &&
           (PENDING(atomic_load(&q->dones)) != 0 || queue_store_items(q) != 0);
}

static int join_ready(void *arg)
{
    return all_done(arg) || drop_unfinished(arg);
}

int mproc_queue_join(mproc_queue_t *queue, double timeout)
{
    struct queue_shared *q = IMPL(queue);
    mproc__deadline_t d;
    int r = mproc__deadline_init(&d, timeout);
    if (r != 0)
        return r;
    for (;;) {
        r = mproc__waitq_wait_for(&q->all_done, join_ready, q, &d, -1);
        if (r != 0 || all_done(q))
            return r;
        /* Taking the consumers' mutex (left owner-dead by the shutting-down
         * process) finishes the drop; see finish_drop. */
        pthread_mutex_t *m = queue_store_get_mutex(q);
        if (lock(q, m, &d) != 0)
            return MPROC_ETIMEDOUT;
        pthread_mutex_unlock(m);
    }
}

int mproc_queue_shutdown(mproc_queue_t *queue, int immediate)
{
    struct queue_shared *q = IMPL(queue);
    pthread_mutex_t *put = queue_store_put_mutex(q), *get = queue_store_get_mutex(q);
    lock_forever(q, put);
    if (get != put)
        lock_forever(q, get);
    /* The flag first: from here no put can add to what is dropped. */
    if (immediate)
        atomic_store(&q->shutdown, SHUTDOWN_IMMEDIATE);
    else if (atomic_load(&q->shutdown) == 0)
        atomic_store(&q->shutdown, SHUTDOWN_GRACEFUL);
    MPROC__CRASH(QUEUE_SHUTDOWN_FLAGGED);
    if (immediate)
        finish_drop(q); /* each dropped item counts as done, as in Python */
    if (get != put)
        pthread_mutex_unlock(get);
    pthread_mutex_unlock(put);
    mproc__waitq_wake(&q->not_empty);
    mproc__waitq_wake(&q->not_full);
    mproc__waitq_wake(&q->all_done);
    return 0;
}

size_t mproc_queue_qsize(mproc_queue_t *q)
{
    return queue_store_items(IMPL(q));
}

int mproc_queue_empty(mproc_queue_t *q)
{
    return queue_store_items(IMPL(q)) == 0;
}

int mproc_queue_full(mproc_queue_t *q)
{
    struct queue_shared *qs = IMPL(q);
    return qs->maxsize != 0 && queue_store_items(qs) >= qs->maxsize;
}

size_t mproc_queue_maxsize(mproc_queue_t *q)
{
    return (size_t)IMPL(q)->maxsize;
}

void mproc__queue_state(mproc_queue_t *queue, struct mproc__queue_state *out)
{
    struct queue_shared *q = IMPL(queue);
    out->order = (int)q->order;
    out->items = queue_store_items(q);
    out->unfinished = queue_store_puts(q) - DONES(atomic_load(&q->dones));
    out->capacity = q->capacity;
    out->used = queue_store_used(q);
    out->maxsize = q->maxsize;
}
