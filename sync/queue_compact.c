/* Compaction of a LIFO or PRIORITY queue's ring: the bytes of messages
 * taken from the middle (FREE records) and the skipped end of the ring are
 * gathered into the one gap between the tail and the head, so that a put
 * waits only when the live messages' records and its own exceed the
 * capacity (see queue_store.h).
 *
 * The ring from the head is A, up to the ring's end (or the tail, if the
 * region does not wrap), then B from offset 0 to the tail. The runs of
 * consecutive live records in A slide up until A ends exactly at the ring's
 * end (no skipped end left); those in B slide down to start at offset 0.
 * The records keep their order, so a LIFO stack is still the ring's order.
 * Every live byte is copied at most once, and only when a put found no
 * contiguous room but enough bytes in all, so a queue kept at most half
 * full copies on average at most one byte per byte put; one nearly full
 * copies more (up to its live bytes per put) -- the price of never waiting
 * while there is room.
 *
 * Crash safety: a move is written down (struct queue_move) before its first
 * byte is copied. The copy goes in steps no longer than the distance moved,
 * from the end that cannot overwrite what is still to be read, and records
 * how far it got after each step, so that doing a step again is harmless.
 * Then the stores that end the move (the FREE record over the bytes left
 * behind, the head or tail word, a stale pad_before) are made, and the move
 * is cleared last. Whoever recovers the mutex of a holder killed anywhere
 * in between finishes the move from what is written down, then rebuilds the
 * index as after any death. Between moves the ring is a valid chain of
 * records; the index, used as scratch here, is rebuilt at the end. */
#include "queue_store.h"

#include <string.h>

#define NONE QUEUE_MOVE_NONE

static uint64_t load(const _Atomic uint64_t *word)
{
    return atomic_load_explicit(word, memory_order_acquire);
}

static void publish(_Atomic uint64_t *word, uint64_t value)
{
    atomic_store_explicit(word, value, memory_order_release);
}

/* Copies what is left of the run. A step never overlaps its own source, and
 * the steps go from the end that moves away from what is still unread, so
 * the source of a step is intact until `done` is past it. */
static void copy_run(struct queue_shared *q, struct queue_move *m)
{
    unsigned char *ring = ring_bytes(q);
    uint32_t step = m->src > m->dst ? m->src - m->dst : m->dst - m->src;
    uint32_t done = atomic_load_explicit(&m->done, memory_order_relaxed);
    if (step == 0)
        return;
    while (done < m->len) {
        uint32_t n = m->len - done < step ? m->len - done : step;
        uint32_t at = m->dst < m->src ? done : m->len - done - n;
        memcpy(ring + m->dst + at, ring + m->src + at, n);
        MPROC__CRASH(QUEUE_COMPACT_STEP);
        done += n;
        /* release: the step's bytes are in place before it counts as done */
        atomic_store_explicit(&m->done, done, memory_order_release);
    }
}

/* Ends the move written down in m: the rest of the copy, then its stores;
 * each is the same if done twice. */
static void finish(struct queue_shared *q, struct queue_move *m)
{
    copy_run(q, m);
    MPROC__CRASH(QUEUE_COMPACT_COPIED);
    if (m->free_at != NONE) {
        struct record *r = record_at(q, m->free_at);
        r->state = RECORD_FREE;
        r->len = m->free_len;
    }
    if (m->clear_pad0)
        record_at(q, 0)->pad_before = 0;
    if (m->tail_to != NONE)
        publish(&q->tail, WORD(COUNT(load(&q->tail)), m->tail_to));
    MPROC__CRASH(QUEUE_COMPACT_FIXED);
    if (m->head_to != NONE)
        publish(&q->head, WORD(COUNT(load(&q->head)), m->head_to));
    /* release: every store above is in place before the move is over */
    atomic_store_explicit(&m->active, 0, memory_order_release);
    MPROC__CRASH(QUEUE_COMPACT_MOVED);
}

/* 1 if a move written down stays inside the ring (it always does while the
 * invariants hold; a check before a copy whose bounds come from memory that
 * any process may write). */
static int sane(const struct queue_shared *q, const struct queue_move *m)
{
    uint32_t cap = q->capacity;
    return m->len <= cap && m->src <= cap - m->len && m->dst <= cap - m->len &&
           atomic_load_explicit(&m->done, memory_order_relaxed) <= m->len &&
           (m->free_at == NONE || (m->free_at <= cap - RECORD_HEADER && m->free_len <= cap)) &&
           (m->tail_to == NONE || m->tail_to < cap) && (m->head_to == NONE || m->head_to < cap);
}

/* Moves the run of `len` bytes at src to dst; then the bytes from free_at to
 * free_end become one FREE record (free_at NONE: none), and the tail and
 * head offsets move to tail_to and head_to (NONE: they stay). */
static void move(struct queue_shared *q, uint32_t src, uint32_t dst, uint32_t len, uint32_t free_at,
                 uint32_t free_end, uint32_t tail_to, uint32_t head_to, int clear_pad0)
{
    struct queue_move *m = &index_extra(q)->move;
    m->src = src;
    m->dst = dst;
    m->len = len;
    atomic_store_explicit(&m->done, src == dst ? len : 0, memory_order_relaxed);
    m->free_at = free_at;
    m->free_len = free_at == NONE ? 0 : free_end - free_at - RECORD_HEADER;
    m->tail_to = tail_to;
    m->head_to = head_to;
    m->clear_pad0 = (uint32_t)clear_pad0;
    /* release: the move is written down whole before it counts */
    atomic_store_explicit(&m->active, 1, memory_order_release);
    MPROC__CRASH(QUEUE_COMPACT_BEGUN);
    finish(q, m);
}

/* The maximal runs of consecutive live records from `from` up to `to` (or
 * the ring's skipped end), as (offset, bytes) in runs[], at most max. */
static uint32_t collect(struct queue_shared *q, uint32_t from, uint32_t to, struct queue_entry *runs,
                        uint32_t max)
{
    uint32_t n = 0;
    for (uint32_t at = from; at < to;) {
        if (skip_end(q, at) != at)
            break;
        const struct record *r = record_at(q, at);
        uint32_t size = record_size(r->len);
        if (size > to - at)
            break; /* cannot happen while the invariants hold */
        if (r->state == RECORD_LIVE) {
            if (n > 0 && runs[n - 1].offset + runs[n - 1].len == at)
                runs[n - 1].len += size;
            else if (n < max)
                runs[n++] = (struct queue_entry){ .offset = at, .len = size };
            else
                break;
        }
        at += size;
    }
    return n;
}

void queue_compact(struct queue_shared *q)
{
    uint64_t head = load(&q->head), tail = load(&q->tail);
    uint32_t cap = q->capacity, h = OFFSET(head), t = OFFSET(tail);
    int wrapped = t <= h; /* items are queued: equal offsets mean full */
    struct queue_entry *runs = index_entries(q); /* scratch; rebuilt below */

    /* A slides up to end at the ring's end, its last run first. The bytes
     * left below a run join the hole before it (its FREE record grows), or,
     * below the first run, leave the region (the head moves up). */
    uint32_t na = collect(q, h, wrapped ? cap : t, runs, q->index_cap), pos = cap;
    for (uint32_t i = na; i-- > 0;) {
        uint32_t src = runs[i].offset, len = runs[i].len, dst = pos - len;
        int first = i == 0, last = i == na - 1;
        uint32_t below = first ? h : runs[i - 1].offset + runs[i - 1].len;
        pos = dst;
        if (dst == src && !(first && h != dst))
            continue; /* in place; the holes below keep their records */
        move(q, src, dst, len, first ? NONE : below, dst,
             last && !wrapped ? 0 : NONE, /* the region now ends at the ring's end */
             first ? dst : NONE,
             last && wrapped && t > 0); /* B's first record has no skipped end before it now */
    }

    if (na == 0 && wrapped && h != 0)
        move(q, 0, 0, 0, NONE, 0, NONE, 0, 0); /* nothing live in A: the head goes to B */

    /* B slides down to start at 0, its first run first. The bytes left
     * above a run join the hole after it, or, above the last run, leave the
     * region (the tail moves back). */
    if (wrapped) {
        uint32_t nb = collect(q, 0, t, runs, q->index_cap);
        pos = 0;
        for (uint32_t j = 0; j < nb; j++) {
            uint32_t src = runs[j].offset, len = runs[j].len, dst = pos;
            int last = j == nb - 1;
            uint32_t above = last ? t : runs[j + 1].offset;
            pos = dst + len;
            if (dst == src && !(last && pos != t))
                continue;
            move(q, src, dst, len, last ? NONE : pos, above, last ? pos : NONE, NONE,
                 dst == 0); /* nothing is skipped before offset 0 now */
        }
        if (nb == 0 && t != 0)
            move(q, 0, 0, 0, NONE, 0, 0, NONE, 0); /* nothing live in B: the tail goes back to 0 */
    }

    /* The index and the byte count, as after a death: from the ring. */
    queue_store_recover(q);
    MPROC__CRASH(QUEUE_COMPACT_DONE);
}

void queue_compact_recover(struct queue_shared *q)
{
    struct queue_move *m = &index_extra(q)->move;
    /* acquire: pairs with the release that began the move */
    if (atomic_load_explicit(&m->active, memory_order_acquire) == 0)
        return;
    if (sane(q, m))
        finish(q, m);
    else
        atomic_store_explicit(&m->active, 0, memory_order_release);
}
