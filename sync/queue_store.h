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
    _Alignas(64) _Atomic uint64_t head;  /* consumers' word */

    _Alignas(64) _Atomic uint64_t dones; /* pending drop << 32 | task_done calls (mod 2^32, like puts) */
};

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

/* Ring bytes in use now (a snapshot). */
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

#endif
