/* The queue's storage in shared memory: a ring of message records plus, for
 * LIFO and PRIORITY queues, an index (a stack or a heap) of the live ones.
 * Internal to sync/queue.c.
 *
 * Two words describe the ring: `tail` (puts << 32 | tail offset), written
 * only by producers, and `head` (gets << 32 | head offset), written only by
 * consumers; items = puts - gets. Each sits on its own cache line, so in a
 * FIFO queue a producer and a consumer share only the records themselves.
 *
 * Locking: FIFO queues have one mutex per side (put_mutex for producers,
 * get_mutex for consumers); LIFO and PRIORITY queues take put_mutex for
 * everything, since a get there may touch the tail and the index.
 *
 * What is true after a crash: the two words and the record headers inside
 * the used region. A record is written completely before the tail word grows
 * over it; a FIFO get is committed by the head store, a LIFO/PRIORITY get by
 * marking the record FREE. Recovery rebuilds everything else, and each side
 * rebuilds only its own state: a FIFO consumer recovering the get mutex
 * must not write what producers own (head_seen), since a producer may be
 * working under the put mutex at that very moment, and the other way round.
 *
 * Task accounting: `dones` packs the task_done count (low 32 bits) with the
 * items an immediate shutdown dropped but has not yet credited (high 32
 * bits), so that crediting them and clearing the pending count is one
 * store; see queue.c's finish_drop. */
#ifndef MPROC_QUEUE_STORE_H
#define MPROC_QUEUE_STORE_H

#include "internal.h"

#include <stddef.h>

/* One index entry: where a live record is, and its sort key. */
struct queue_entry {
    uint32_t offset;
    uint32_t len;
    uint64_t seq;
    int64_t prio;
};

/* Laid out by who writes what: the parameters and wait queues are read by
 * both sides but written almost never; each mutex sits with the fields of its
 * side; the two words have lines of their own. */
struct queue_shared {
    uint32_t order;
    uint32_t capacity;          /* ring bytes, a multiple of 8 */
    uint64_t maxsize;
    uint32_t index_cap;         /* 0 for FIFO */
    _Atomic uint32_t shutdown;  /* 0, or SHUTDOWN_* */
    uint64_t index_offset;      /* from the start of this struct */
    uint64_t ring_offset;
    mproc__waitq_t not_empty;   /* getters sleep here */
    mproc__waitq_t not_full;    /* putters sleep here */
    mproc__waitq_t all_done;    /* joiners sleep here */

    _Alignas(64) pthread_mutex_t put_mutex;
    uint64_t head_seen;         /* producers' last look at head */
    uint64_t index_len;         /* LIFO/PRIORITY, derived */
    uint64_t next_seq;          /* LIFO/PRIORITY: put order, for stable priorities */
    _Alignas(64) _Atomic uint64_t tail;  /* producers' word */

    _Alignas(64) pthread_mutex_t get_mutex;
    uint64_t tail_seen;         /* consumers' last look at tail */
    _Atomic uint32_t no_batching; /* FIFO consumers: a hint, see queue.c (in the padding) */
    _Alignas(64) _Atomic uint64_t head;  /* consumers' word */

    _Alignas(64) _Atomic uint64_t dones; /* pending drop << 32 | task_done calls (mod 2^32, like puts) */
};

/* no_batching lives in what was padding: the layout of every other field,
 * and so MPROC__LAYOUT_VERSION, stays as it was (a queue made by a build
 * without it reads 0 there: batching on). */
_Static_assert(offsetof(struct queue_shared, no_batching) / 64 ==
                   offsetof(struct queue_shared, get_mutex) / 64,
               "no_batching must fit in the consumers' line");

enum { SHUTDOWN_GRACEFUL = 1, SHUTDOWN_IMMEDIATE = 2 };

/* Bytes of shared memory a queue with these parameters needs. */
size_t queue_store_size(uint32_t capacity, uint32_t index_cap);
void queue_store_init(struct queue_shared *q, int order, uint64_t maxsize, uint32_t capacity,
                      uint32_t index_cap);
/* 1 if the stored parameters are self-consistent for a segment of `size`. */
int queue_store_valid(const struct queue_shared *q, size_t size);

/* The mutex each side takes. */
pthread_mutex_t *queue_store_put_mutex(struct queue_shared *q);
pthread_mutex_t *queue_store_get_mutex(struct queue_shared *q);

/* Messages queued now (a snapshot from any thread), and puts so far (mod 2^32). */
uint32_t queue_store_items(const struct queue_shared *q);
uint32_t queue_store_puts(const struct queue_shared *q);

/* Ring bytes the queued messages take now (a snapshot; LIFO/PRIORITY: their
 * records, without the holes between them or the skipped end; after a
 * holder died and before the next caller's recovery, it may be off by the
 * one message that holder was putting or taking). */
uint32_t queue_store_used(const struct queue_shared *q);
/* The largest message that fits in an empty queue. */
size_t queue_store_max_message(const struct queue_shared *q);

/* Producer side (put mutex held). */
/* 1 if a message of len bytes can be put now (item limit and free bytes). */
int queue_store_has_room(struct queue_shared *q, size_t len);
/* Appends a message; the caller checked has_room. */
void queue_store_put(struct queue_shared *q, const void *data, size_t len, int64_t prio);

/* Consumer side (get mutex held). */
/* 1 if a message is there to take. */
int queue_store_has_item(struct queue_shared *q);
/* The next message (has_item was 1): its entry, and a pointer to its bytes. */
const void *queue_store_peek(struct queue_shared *q, struct queue_entry *e);
/* Removes the message peek returned. */
void queue_store_take(struct queue_shared *q, const struct queue_entry *e);
/* Drops every message (consumer side: the get mutex held); one store. */
void queue_store_drain(struct queue_shared *q);

/* Rebuilds the derived state after a holder died with a mutex: a FIFO
 * queue's producer side (put mutex held) or consumer side (get mutex held);
 * a LIFO/PRIORITY queue's whole state (its one mutex held). */
void queue_store_recover_put(struct queue_shared *q);
void queue_store_recover_get(struct queue_shared *q);
void queue_store_recover(struct queue_shared *q);

/* ---- records, shared with the compaction (queue_compact.c) ----
 * A record is a 32-byte header and the message padded to 8 bytes; it never
 * wraps: the end of the ring is skipped (a PAD record, or fewer than 32
 * bytes that are skipped implicitly). `pad_before` is non-zero only in a
 * record at offset 0. */
enum { RECORD_LIVE = 1, RECORD_FREE = 2, RECORD_PAD = 3 };

struct record {
    uint32_t state;
    uint32_t len;        /* message bytes */
    uint32_t pad_before; /* bytes skipped at the ring's end before this record */
    uint32_t reserved;
    uint64_t seq;
    int64_t prio;
};
#define RECORD_HEADER ((uint32_t)sizeof(struct record))
_Static_assert(sizeof(struct record) == 32, "record header is 32 bytes");

#define COUNT(word) ((uint32_t)((word) >> 32))
#define OFFSET(word) ((uint32_t)(word))
#define WORD(count, offset) ((uint64_t)(uint32_t)(count) << 32 | (uint32_t)(offset))

static inline uint32_t record_size(uint64_t len)
{
    return RECORD_HEADER + (uint32_t)((len + 7) & ~(uint64_t)7);
}

static inline unsigned char *ring_bytes(struct queue_shared *q)
{
    return (unsigned char *)q + q->ring_offset;
}

static inline struct record *record_at(struct queue_shared *q, uint32_t offset)
{
    return (struct record *)(void *)(ring_bytes(q) + offset);
}

static inline struct queue_entry *index_entries(struct queue_shared *q)
{
    return (struct queue_entry *)(void *)((unsigned char *)q + q->index_offset);
}

/* The first record at or after offset, past the skipped end of the ring. */
static inline uint32_t skip_end(struct queue_shared *q, uint32_t offset)
{
    if (q->capacity - offset < RECORD_HEADER || record_at(q, offset)->state == RECORD_PAD)
        return 0;
    return offset;
}

/* ---- LIFO/PRIORITY only: after the index entries (queue_compact.c) ----
 *
 * Capacity rule: a put finds room when the records of the live messages
 * plus its own fit the capacity. The holes that gets leave in the middle
 * of the ring and the skipped end are gathered by a compaction when a put
 * finds no contiguous room for its record but enough bytes in all.
 *
 * A compaction is a series of moves, each of a run of consecutive live
 * records; `move` records the one in progress (its bytes, how far the copy
 * got, and the stores that end it) before any byte is copied, so that the
 * recovery of a holder killed in the middle finishes it first. */
struct queue_move {
    uint32_t src, dst, len;     /* ring offsets and bytes of the run */
    _Atomic uint32_t done;      /* bytes copied so far, in steps that never overlap */
    uint32_t free_at, free_len; /* then: a FREE record (len free_len) at free_at, or none */
    uint32_t tail_to, head_to;  /* then: the tail / head offset moves there, or none */
    uint32_t clear_pad0;        /* then: pad_before of the record at offset 0 becomes 0 */
    _Atomic uint32_t active;    /* set last when begun, cleared last when ended */
};

struct queue_index_extra {
    struct queue_move move;
    uint64_t live_bytes;        /* derived: the live records' bytes */
};

#define QUEUE_MOVE_NONE UINT32_MAX

static inline struct queue_index_extra *index_extra(struct queue_shared *q)
{
    return (struct queue_index_extra *)(void *)((unsigned char *)index_entries(q) +
                                                (size_t)q->index_cap * sizeof(struct queue_entry));
}

/* Gathers the free bytes of a LIFO/PRIORITY queue (its mutex held, items
 * queued) into one gap between the tail and the head, keeping the records'
 * order; then rebuilds the index. Copies the live bytes at most once. */
void queue_compact(struct queue_shared *q);
/* Finishes a move a dead holder left in progress (its mutex held). */
void queue_compact_recover(struct queue_shared *q);

#endif
