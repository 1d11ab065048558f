/* The queue's ring of records and its index. See queue_store.h for the two
 * words, the locking, and what survives a crash.
 *
 * A record is a 32-byte header and the message padded to 8 bytes; it never
 * wraps: the end of the ring is skipped (a PAD record, or fewer than 32 bytes
 * that are skipped implicitly) and the record starts at offset 0. When the
 * queue is empty the next record may move the head to offset 0 first, so a
 * message of up to capacity - 32 bytes always fits an empty queue.
 *
 * FIFO gets take the record at the head. LIFO gets take the newest record,
 * which ends at the tail, so the tail moves back. PRIORITY gets take any
 * record: at either end the region shrinks, in the middle the record is
 * marked FREE and its bytes come back once the head reaches it, or when a
 * put that finds no contiguous room gathers them (queue_compact.c). */
#include "queue_store.h"

#include <string.h>

static size_t align64(size_t n)
{
    return (n + 63) & ~(size_t)63;
}

static uint64_t load(const _Atomic uint64_t *word)
{
    return atomic_load_explicit(word, memory_order_acquire);
}

static void publish(_Atomic uint64_t *word, uint64_t value)
{
    atomic_store_explicit(word, value, memory_order_release);
}

/* LIFO/PRIORITY's byte count, written under the mutex; an atomic store
 * (relaxed) because `mproc info` reads it without the mutex. */
static void set_live_bytes(struct queue_shared *q, uint64_t bytes)
{
    __atomic_store_n(&index_extra(q)->live_bytes, bytes, __ATOMIC_RELAXED);
}

/* The commit of a put, and of a FIFO get: release, like publish. The
 * wake-up that follows must not read the sleeper count before this store is
 * visible; queue.c's fence_after_unlock orders the two: on x86 the unlock
 * that comes between them is itself a locked instruction, so the commit
 * need not be a second one. */
static void commit(_Atomic uint64_t *word, uint64_t value)
{
    atomic_store_explicit(word, value, memory_order_release);
}

/* ---- layout ---- */

/* The index: its entries and, for LIFO/PRIORITY, the compaction's state. */
static size_t index_bytes(uint32_t index_cap)
{
    if (index_cap == 0)
        return 0;
    return (size_t)index_cap * sizeof(struct queue_entry) + sizeof(struct queue_index_extra);
}

size_t queue_store_size(uint32_t capacity, uint32_t index_cap)
{
    size_t index = align64(sizeof(struct queue_shared));
    size_t ring = align64(index + index_bytes(index_cap));
    return ring + capacity;
}

void queue_store_init(struct queue_shared *q, int order, uint64_t maxsize, uint32_t capacity,
                      uint32_t index_cap)
{
    q->order = (uint32_t)order;
    q->maxsize = maxsize;
    q->capacity = capacity;
    q->index_cap = index_cap;
    q->index_offset = align64(sizeof(struct queue_shared));
    q->ring_offset = align64(q->index_offset + index_bytes(index_cap));
}

int queue_store_valid(const struct queue_shared *q, size_t size)
{
    return q->order <= MPROC_PRIORITY && q->capacity % 8 == 0 && q->capacity >= 2 * RECORD_HEADER &&
           (q->order == MPROC_FIFO) == (q->index_cap == 0) &&
           q->index_offset == align64(sizeof(struct queue_shared)) &&
           q->ring_offset == align64(q->index_offset + index_bytes(q->index_cap)) &&
           queue_store_size(q->capacity, q->index_cap) == size;
}

pthread_mutex_t *queue_store_put_mutex(struct queue_shared *q)
{
    return &q->put_mutex;
}

pthread_mutex_t *queue_store_get_mutex(struct queue_shared *q)
{
    return q->order == MPROC_FIFO ? &q->get_mutex : &q->put_mutex;
}

uint32_t queue_store_items(const struct queue_shared *q)
{
    uint64_t head = load(&q->head); /* head first: the tail only grows meanwhile */
    return COUNT(load(&q->tail)) - COUNT(head);
}

uint32_t queue_store_puts(const struct queue_shared *q)
{
    return COUNT(load(&q->tail));
}

size_t queue_store_max_message(const struct queue_shared *q)
{
    return q->capacity - RECORD_HEADER;
}

/* ---- placing a record ---- */

/* Bytes in use between head and tail. */
static uint32_t used_bytes(const struct queue_shared *q, uint64_t head, uint64_t tail)
{
    if (COUNT(tail) == COUNT(head))
        return 0;
    uint32_t h = OFFSET(head), t = OFFSET(tail);
    return t > h ? t - h : q->capacity - h + t; /* equal offsets: full */
}

enum { NO_ROOM = 0, FITS = 1, FITS_AFTER_RESET = 2 };

/* Where a record of `size` bytes goes: its offset and the bytes skipped at
 * the ring's end first. FITS_AFTER_RESET: the queue is empty and the head
 * must first move to offset 0. */
static int place(const struct queue_shared *q, uint64_t head, uint64_t tail, uint32_t size,
                 uint32_t *offset, uint32_t *pad)
{
    uint32_t cap = q->capacity, h = OFFSET(head), t = OFFSET(tail);
    *pad = 0;
    if (COUNT(tail) == COUNT(head)) { /* empty: start where the head is, or at 0 */
        *offset = h;
        if (size <= cap - h)
            return FITS;
        *offset = 0;
        return size <= cap ? FITS_AFTER_RESET : NO_ROOM;
    }
    if (t > h) { /* not wrapped: room after the tail, or at 0 before the head */
        *offset = t;
        if (size <= cap - t)
            return FITS;
        *pad = cap - t;
        *offset = 0;
        return size <= h ? FITS : NO_ROOM;
    }
    *offset = t; /* wrapped (or full): the gap between tail and head */
    return t < h && size <= h - t ? FITS : NO_ROOM;
}

/* 1 if there is room for a record of `size` bytes and one more item, as far
 * as `head` shows. */
static int room_with(struct queue_shared *q, uint64_t head, uint32_t size)
{
    uint64_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
    uint32_t items = COUNT(tail) - COUNT(head), offset, pad;
    if (q->maxsize != 0 && items >= q->maxsize)
        return 0;
    if (q->index_cap != 0 && q->index_len >= q->index_cap)
        return 0;
    return place(q, head, tail, size, &offset, &pad) != NO_ROOM;
}

/* LIFO/PRIORITY (the one mutex held): room is counted in live bytes, not
 * found in the ring. When they say yes but the ring has no contiguous room,
 * the free bytes are gathered now (see queue_compact.c), so that the put
 * that follows finds its place. */
static int indexed_has_room(struct queue_shared *q, uint32_t size)
{
    if (q->maxsize != 0 && queue_store_items(q) >= q->maxsize)
        return 0;
    if (q->index_len >= q->index_cap || index_extra(q)->live_bytes + size > q->capacity)
        return 0;
    uint32_t offset, pad;
    uint64_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
    if (place(q, load(&q->head), tail, size, &offset, &pad) != NO_ROOM)
        return 1;
    queue_compact(q);
    tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
    return place(q, load(&q->head), tail, size, &offset, &pad) != NO_ROOM;
}

int queue_store_has_room(struct queue_shared *q, size_t len)
{
    if (len > queue_store_max_message(q))
        return 0;
    if (q->index_cap != 0)
        return indexed_has_room(q, record_size(len));
    uint32_t size = record_size(len);
    /* The head only moves forward: the last look at it errs on the side of
     * too little room, so look again only when it says no. */
    if (room_with(q, q->head_seen, size))
        return 1;
    q->head_seen = load(&q->head);
    return room_with(q, q->head_seen, size);
}

/* ---- the index: a stack (LIFO) or a binary heap on (prio, seq) ---- */

static int before(const struct queue_entry *a, const struct queue_entry *b)
{
    return a->prio < b->prio || (a->prio == b->prio && a->seq < b->seq);
}

static void swap(struct queue_entry *a, struct queue_entry *b)
{
    struct queue_entry t = *a;
    *a = *b;
    *b = t;
}

static void index_add(struct queue_shared *q, const struct queue_entry *e)
{
    struct queue_entry *h = index_entries(q);
    uint64_t i = q->index_len++;
    h[i] = *e;
    while (q->order == MPROC_PRIORITY && i > 0 && before(&h[i], &h[(i - 1) / 2])) {
        swap(&h[i], &h[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
}

static void index_remove_next(struct queue_shared *q)
{
    struct queue_entry *h = index_entries(q);
    uint64_t n = --q->index_len;
    if (q->order != MPROC_PRIORITY || n == 0)
        return; /* LIFO: the top of the stack is simply dropped */
    h[0] = h[n];
    for (uint64_t i = 0;;) {
        uint64_t least = i, l = 2 * i + 1, r = l + 1;
        if (l < n && before(&h[l], &h[least]))
            least = l;
        if (r < n && before(&h[r], &h[least]))
            least = r;
        if (least == i)
            return;
        swap(&h[i], &h[least]);
        i = least;
    }
}

/* ---- put ---- */

/* Writes a put's record at offset, after marking the skipped end of the
 * ring (pad bytes) when it starts again at 0. All of it lies outside the
 * used region until the caller's commit, so a put killed here leaves no
 * trace. */
static void write_record(struct queue_shared *q, uint32_t offset, uint32_t pad, const void *data,
                         size_t len, uint64_t seq, int64_t prio)
{
    if (pad >= RECORD_HEADER) {
        struct record *skip = record_at(q, q->capacity - pad);
        skip->state = RECORD_PAD;
        skip->len = 0;
        MPROC__CRASH(QUEUE_PUT_PAD);
    }
    struct record *r = record_at(q, offset);
    r->state = RECORD_LIVE;
    r->len = (uint32_t)len;
    r->pad_before = pad;
    r->seq = seq;
    r->prio = prio;
    if (len > 0)
        memcpy(ring_bytes(q) + offset + RECORD_HEADER, data, len);
    MPROC__CRASH(QUEUE_PUT_RECORD);
}

/* ---- claiming lines ahead of the tail ----
 *
 * A put's stores go to lines the consumers read a lap ago, still in their
 * caches: each store must take its line back first, and the unlock that
 * follows the commit (a locked instruction) waits until all of them have.
 * With the other core far away (a slow placement of this machine's vCPUs)
 * that wait was most of the producer's time. So after each put the
 * producer asks for the lines it will write CLAIM_AHEAD bytes further on,
 * as many as this record took (at most CLAIM_LINES_MAX), with a prefetch
 * for writing, a hint that fetches them exclusively while the producer goes
 * on: by the time it writes there, they are its own. Only free bytes are
 * claimed (by the producers' last look at the head, which errs on the side
 * of too few), never lines the consumers have yet to read; and only after
 * records of up to CLAIM_AHEAD / 2 bytes, whose window stays ahead of the
 * tail (a larger record's copy streams through its lines anyway). */
#define CLAIM_AHEAD 1024u
#define CLAIM_LINES_MAX 4u
#define CLAIM_LOOK_EVERY 64u

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

/* PREFETCHW is in every x86-64 AMD processor and in Intel's since
 * Broadwell (CPUID 0x80000001, ECX bit 8); on an x86 without it the claim
 * is skipped (other architectures use the compiler's write prefetch).
 * Relaxed: every thread computes the same answer. */
static int can_prefetch_for_write(void)
{
    static _Atomic int cached = -1;
    int v = atomic_load_explicit(&cached, memory_order_relaxed);
    if (v < 0) {
        unsigned a, b, c, d;
        v = __get_cpuid(0x80000001, &a, &b, &c, &d) && (c & (1u << 8));
        atomic_store_explicit(&cached, v, memory_order_relaxed);
    }
    return v;
}

static inline void prefetch_for_write(const void *p)
{
    __asm__ volatile("prefetchw %0" : : "m"(*(const char *)p));
}
#else
static int can_prefetch_for_write(void)
{
    return 1;
}

static inline void prefetch_for_write(const void *p)
{
    __builtin_prefetch(p, 1, 3);
}
#endif

/* FIFO producer (put lock held), after the commit of a record of `size`
 * bytes that ended at `tail`. */
static void claim_ahead(struct queue_shared *q, uint64_t tail, uint32_t size)
{
    uint32_t cap = q->capacity;
    if (cap < 4 * CLAIM_AHEAD || size > CLAIM_AHEAD / 2 || !can_prefetch_for_write())
        return; /* a small ring; or a large record, whose copy streams anyway */
    if (cap - used_bytes(q, q->head_seen, tail) < 2 * CLAIM_AHEAD) {
        /* The last look at the head may be a lap old: look again, but only
         * every CLAIM_LOOK_EVERY puts, since in a queue that stays nearly
         * full each look takes the consumers' line from them. */
        if (COUNT(tail) % CLAIM_LOOK_EVERY != 0)
            return;
        q->head_seen = load(&q->head);
        if (cap - used_bytes(q, q->head_seen, tail) < 2 * CLAIM_AHEAD)
            return; /* nearly full: the lines ahead are queued messages */
    }
    uint32_t end = (OFFSET(tail) + CLAIM_AHEAD) % cap;
    uint32_t from = (end + cap - size) % cap & ~63u, lines = (size + 63) / 64 + 1;
    for (uint32_t i = 0; i < lines && i < CLAIM_LINES_MAX; i++)
        prefetch_for_write(ring_bytes(q) + (from + 64 * i) % cap);
}

/* LIFO/PRIORITY (the one mutex held; has_room said yes, and made the
 * contiguous room): as the FIFO put. */
static void indexed_put(struct queue_shared *q, const void *data, size_t len, int64_t prio)
{
    uint32_t size = record_size(len), offset, pad;
    uint64_t head = load(&q->head), tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
    int fit = place(q, head, tail, size, &offset, &pad);
    if (fit == FITS_AFTER_RESET) {
        /* Empty: restart the head at 0. */
        publish(&q->head, WORD(COUNT(head), 0));
        MPROC__CRASH(QUEUE_PUT_HEAD_RESET);
    }
    uint64_t seq = q->next_seq++;
    write_record(q, offset, pad, data, len, seq, prio);
    /* The commit, as in FIFO; the index and the byte count are derived and
     * rebuilt by recovery if we die before them. */
    commit(&q->tail, WORD(COUNT(tail) + 1, (offset + size) % q->capacity));
    MPROC__CRASH(QUEUE_PUT_COMMITTED);
    struct queue_entry e = { offset, (uint32_t)len, seq, prio };
    index_add(q, &e);
    set_live_bytes(q, index_extra(q)->live_bytes + size);
    MPROC__CRASH(QUEUE_PUT_INDEXED);
}

void queue_store_put(struct queue_shared *q, const void *data, size_t len, int64_t prio)
{
    if (q->index_cap != 0) {
        indexed_put(q, data, len, prio);
        return;
    }
    uint32_t size = record_size(len), offset, pad;
    uint64_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
    if (place(q, q->head_seen, tail, size, &offset, &pad) == FITS_AFTER_RESET) {
        /* Empty, so no consumer moves the head now: restart it at 0. */
        q->head_seen = WORD(COUNT(q->head_seen), 0);
        publish(&q->head, q->head_seen);
        MPROC__CRASH(QUEUE_PUT_HEAD_RESET);
    }
    write_record(q, offset, pad, data, len, COUNT(tail), prio);
    /* The commit: until this store the record lies outside the used region,
     * so a producer killed above leaves no trace. */
    uint64_t next = WORD(COUNT(tail) + 1, (offset + size) % q->capacity);
    commit(&q->tail, next);
    MPROC__CRASH(QUEUE_PUT_COMMITTED);
    claim_ahead(q, next, size);
}

/* ---- get ---- */

int queue_store_has_item(struct queue_shared *q)
{
    uint64_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
    /* The tail only grows: a last look that shows items is still true. */
    if (COUNT(q->tail_seen) != COUNT(head))
        return 1;
    q->tail_seen = load(&q->tail);
    return COUNT(q->tail_seen) != COUNT(head);
}

const void *queue_store_peek(struct queue_shared *q, struct queue_entry *e)
{
    if (q->order == MPROC_FIFO) {
        uint32_t offset = skip_end(q, OFFSET(atomic_load_explicit(&q->head, memory_order_relaxed)));
        const struct record *r = record_at(q, offset);
        *e = (struct queue_entry){ offset, r->len, r->seq, r->prio };
    } else {
        const struct queue_entry *h = index_entries(q);
        *e = q->order == MPROC_LIFO ? h[q->index_len - 1] : h[0];
    }
    return ring_bytes(q) + e->offset + RECORD_HEADER;
}

/* The head moved past the record at `offset` and then over FREE records and
 * skipped ends, stopping at the tail. */
static uint32_t head_after(struct queue_shared *q, uint32_t offset, uint32_t tail_offset)
{
    uint32_t at = (offset + record_size(record_at(q, offset)->len)) % q->capacity;
    while (at != tail_offset) {
        uint32_t next = skip_end(q, at);
        if (next != at) {
            at = next;
            continue;
        }
        const struct record *r = record_at(q, at);
        if (r->state != RECORD_FREE)
            break;
        at = (at + record_size(r->len)) % q->capacity;
    }
    return at;
}

void queue_store_take(struct queue_shared *q, const struct queue_entry *e)
{
    uint64_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
    uint32_t size = record_size(e->len), gets = COUNT(head) + 1;
    if (q->order == MPROC_FIFO) {
        commit(&q->head, WORD(gets, (e->offset + size) % q->capacity));
        MPROC__CRASH(QUEUE_GET_COMMITTED);
        return;
    }
    /* LIFO/PRIORITY, under the one mutex: the FREE mark is the commit; the
     * words follow, and recovery redoes them if we die in between. */
    struct record *r = record_at(q, e->offset);
    __atomic_store_n(&r->state, RECORD_FREE, __ATOMIC_RELEASE);
    MPROC__CRASH(QUEUE_GET_FREED);
    uint64_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
    uint32_t head_offset = OFFSET(head);
    if (gets == COUNT(tail)) {
        head_offset = OFFSET(tail); /* none left: all bytes come back */
    } else if ((e->offset + size) % q->capacity == OFFSET(tail)) {
        /* the newest record: the tail moves back over it (and its skipped
         * end; pad_before is read only at offset 0: a record that a
         * compaction moved from there keeps a stale one) */
        uint32_t back = e->offset != 0 ? e->offset : (q->capacity - r->pad_before) % q->capacity;
        publish(&q->tail, WORD(COUNT(tail), back));
        MPROC__CRASH(QUEUE_GET_TAIL_BACK);
    } else if (skip_end(q, head_offset) == e->offset) {
        head_offset = head_after(q, e->offset, OFFSET(tail));
    }
    publish(&q->head, WORD(gets, head_offset));
    MPROC__CRASH(QUEUE_GET_COMMITTED);
    index_remove_next(q);
    set_live_bytes(q, index_extra(q)->live_bytes - size);
}

void queue_store_drain(struct queue_shared *q)
{
    /* One store drops them all. Only the consumers' own cached word is
     * updated: producers' head_seen errs on the side of too little room and
     * is refreshed by them (and no producer puts after a shutdown). */
    uint64_t tail = load(&q->tail);
    publish(&q->head, WORD(COUNT(tail), OFFSET(tail)));
    q->tail_seen = tail;
    if (q->index_cap != 0) {
        q->index_len = 0;
        set_live_bytes(q, 0);
    }
}

/* ---- recovery ---- */

void queue_store_recover_put(struct queue_shared *q)
{
    /* A FIFO producer commits with the tail store; what it caches of the
     * consumers' side is only head_seen, read afresh. */
    q->head_seen = load(&q->head);
    MPROC__CRASH(QUEUE_RECOVER_PUT_SIDE);
}

void queue_store_recover_get(struct queue_shared *q)
{
    /* Acquire: pairs with the producer's release of the tail, so the
     * records below it are seen complete. */
    q->tail_seen = load(&q->tail);
    MPROC__CRASH(QUEUE_RECOVER_GET_SIDE);
}

void queue_store_recover(struct queue_shared *q)
{
    queue_compact_recover(q); /* a move left half-done: finished first */
    uint64_t head = load(&q->head), tail = load(&q->tail);
    q->head_seen = head;
    q->tail_seen = tail;

    /* Walk the used region: count the live records, rebuild the index, and
     * find where the last live one ends. */
    uint32_t used = used_bytes(q, head, tail), walked = 0, offset = OFFSET(head);
    uint32_t live = 0, live_end = OFFSET(head), first_live = OFFSET(head);
    uint64_t live_bytes = 0;
    q->index_len = 0;
    while (walked < used) {
        uint32_t at = skip_end(q, offset);
        if (at != offset) {
            walked += q->capacity - offset;
            offset = 0;
            continue;
        }
        const struct record *r = record_at(q, offset);
        uint32_t size = record_size(r->len);
        if ((r->state != RECORD_LIVE && r->state != RECORD_FREE) || size > used - walked)
            break; /* cannot happen while the invariants hold; keep what is sound */
        if (r->state == RECORD_LIVE && q->index_len < q->index_cap) {
            struct queue_entry e = { offset, r->len, r->seq, r->prio };
            index_add(q, &e);
            if (r->seq >= q->next_seq)
                q->next_seq = r->seq + 1;
            if (live == 0)
                first_live = offset;
            live++;
            live_bytes += size;
            live_end = (offset + size) % q->capacity;
        }
        walked += size;
        offset = (offset + size) % q->capacity;
    }
    set_live_bytes(q, live_bytes);
    MPROC__CRASH(QUEUE_RECOVER_REBUILT);
    /* The head goes to the first live record, never stays on a FREE one (a
     * consumer killed after marking the head record FREE and before moving
     * the head): else it would not move again until the queue emptied. The
     * tail goes back to the end of the last live record. Either store alone
     * leaves a state this same walk rebuilds. */
    uint32_t puts = COUNT(tail);
    if (live == 0) {
        publish(&q->head, WORD(puts, OFFSET(tail)));
    } else {
        publish(&q->tail, WORD(puts, live_end));
        MPROC__CRASH(QUEUE_RECOVER_TAIL);
        publish(&q->head, WORD(puts - live, first_live));
    }
    q->head_seen = load(&q->head);
    q->tail_seen = load(&q->tail);
}

uint32_t queue_store_used(const struct queue_shared *q)
{
    /* LIFO/PRIORITY: the queued records, not head..tail with the holes
     * gets left between them and the skipped end (what the capacity rule
     * counts too). A snapshot taken without the mutex: relaxed. */
    if (q->index_cap != 0) {
        const uint64_t *live = &index_extra((struct queue_shared *)q)->live_bytes;
        return (uint32_t)__atomic_load_n(live, __ATOMIC_RELAXED);
    }
    uint64_t head = load(&q->head);
    return used_bytes(q, head, load(&q->tail));
}
