/* mproc/queue.h: message queues between threads and processes
 * (queue.Queue, LifoQueue, PriorityQueue, multiprocessing.JoinableQueue).
 * Include <mproc.h>, not this file.
 *
 * Messages are byte strings of 0 up to about `capacity` bytes, copied into a
 * ring inside the queue's shared memory. A queue made with name NULL is
 * shared with children forked afterwards; a named one is opened by any
 * process with mproc_queue_open. All calls are safe from any thread of any
 * process that has the queue open.
 *
 * Crash safety: a producer killed inside put (even while copying a large
 * message) leaves the queue as if that put never started; a consumer killed
 * inside get leaves its message either queued or gone, never half of it; a
 * consumer killed while blocked in get, or woken and killed before it takes
 * the message, takes no wake-up from another (every sleeper is woken); nor
 * does a get that fails with MPROC_EMSGSIZE or MPROC_ENOMEM. An immediate
 * shutdown killed half-way is completed by the next consumer or join. A
 * LIFO/PRIORITY put killed while it moves queued messages to gather free
 * bytes (see Capacity) leaves each of them whole and queued once: the next
 * caller to take the queue's lock finishes the move.
 *
 * Timeouts: every finite timeout bounds the whole call, including the wait
 * for the queue's internal lock (held by another process for a copy).
 *
 * Waiting: a blocking call that finds no message (or no room) polls for a
 * few microseconds before it sleeps, as long as polling has lately paid.
 * A FIFO get that finds the queue empty while producers keep putting waits,
 * while it polls, for a batch (until 16 KiB of records, a quarter of the
 * capacity, or half of maxsize messages are queued, whichever comes first)
 * rather than taking each message the moment it is committed: the queue
 * then runs deep instead of in lockstep, where each put waits for the
 * cache lines the get has just read (see README, Benchmarks). A message
 * that arrives alone is taken once a poll interval passes without another
 * put (under a microsecond); none waits more than 256 pauses of the
 * processor (about 6 us) for a batch; a get that finds messages, or one
 * with timeout 0, takes one at once. Polling stops within about 1.5 us of
 * the call's deadline; a sleep that follows may end late by the kernel's
 * timer slack (50 us by default).
 *
 * Capacity: a message takes a record of 32 bytes (the per-record overhead)
 * plus its length rounded up to a multiple of 8. In a LIFO or PRIORITY
 * queue a put waits (or fails with MPROC_EFULL) only when the records of
 * the messages queued plus its own would exceed the capacity (or maxsize
 * items are queued): messages taken from the middle leave no lasting holes,
 * since a put that finds no contiguous room gathers the free bytes first
 * (it moves the queued messages in the ring; copying each live byte at
 * most once, and only when needed: a queue kept at most half full copies
 * on average at most one byte per byte put, a nearly full one up to its
 * queued bytes per put, under the queue's lock: such a put, even with
 * timeout 0, may take milliseconds in a ring of tens of MiB, and holds up
 * the queue's other callers as long). A FIFO queue never moves its messages: a record
 * that does not fit before the ring's end starts again at its beginning,
 * so there a put may also wait while up to one record's worth of bytes at
 * the ring's end is unused. A message of capacity - 32 bytes always fits
 * an empty queue.
 */
#ifndef MPROC_QUEUE_H
#define MPROC_QUEUE_H

#include <mproc/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mproc_queue mproc_queue_t;

enum { MPROC_FIFO = 0, MPROC_LIFO = 1, MPROC_PRIORITY = 2 };

typedef struct {
    size_t maxsize;   /* most items at once; 0 = limited only by capacity */
    size_t capacity;  /* bytes of message storage; 0 = 1 MiB; at most 1 GiB.
                         Each message takes 32 bytes of bookkeeping plus its
                         length rounded up to 8. */
    int    order;     /* MPROC_FIFO (default), MPROC_LIFO, MPROC_PRIORITY */
} mproc_queue_opts_t;     /* a zeroed struct, or NULL, means the defaults */

/* Creates a queue. 0; MPROC_EINVAL (bad order, capacity over 1 GiB, bad
 * name); MPROC_EEXIST; MPROC_ENOMEM; MPROC_EACCES. */
MPROC_API int mproc_queue_create(mproc_queue_t **q, const char *name, const mproc_queue_opts_t *opts);
/* Opens a named queue. 0, MPROC_EINVAL, MPROC_ENOENT, MPROC_EACCES,
 * MPROC_ETYPE (not a queue of this layout version). */
MPROC_API int mproc_queue_open(mproc_queue_t **q, const char *name);
/* Unmaps the queue here; it lives on until unlinked and closed everywhere.
 * 0, MPROC_EINVAL (not from create/open). */
MPROC_API int mproc_queue_close(mproc_queue_t *q);

/* Copies len bytes in as one message, waiting while there is no room (too
 * many items, or too few free bytes). 0; MPROC_EFULL when no room came in
 * time (or the queue's lock was not free in time); MPROC_EMSGSIZE at once if
 * the message could never fit; MPROC_ESHUTDOWN after mproc_queue_shutdown;
 * MPROC_EINVAL (data NULL with len > 0, NaN timeout). */
MPROC_API int mproc_queue_put(mproc_queue_t *q, const void *data, size_t len, double timeout);
/* As put, with a priority: PRIORITY queues hand out the lowest priority
 * first, and among equal priorities the earliest put first (stable). Other
 * orders ignore the priority. put() means priority 0. */
MPROC_API int mproc_queue_put_prio(mproc_queue_t *q, const void *data, size_t len,
                                   int64_t priority, double timeout);
/* Takes the next message (FIFO: oldest; LIFO: newest; PRIORITY: lowest
 * priority) into buf, and its length into *len. 0; MPROC_EEMPTY when nothing
 * came in time (or the queue's lock was not free in time); MPROC_EMSGSIZE if
 * it is longer than cap: *len is then the size needed and the message stays
 * where it was; MPROC_ESHUTDOWN once a shut down queue is empty. */
MPROC_API int mproc_queue_get(mproc_queue_t *q, void *buf, size_t cap, size_t *len, double timeout);
/* As get into a buffer from malloc (free() it), exactly *len bytes long (at
 * least 1 byte allocated). MPROC_ENOMEM leaves the message queued. */
MPROC_API int mproc_queue_get_alloc(mproc_queue_t *q, void **data, size_t *len, double timeout);

/* Marks one item taken by get as processed (JoinableQueue.task_done).
 * 0; MPROC_EOVERFLOW (nothing changed) if called more often than put. */
MPROC_API int mproc_queue_task_done(mproc_queue_t *q);
/* Waits until every item ever put has been marked task_done.
 * 0, MPROC_ETIMEDOUT. */
MPROC_API int mproc_queue_join(mproc_queue_t *q, double timeout);

/* Shuts the queue down (Python 3.13's Queue.shutdown): put fails with
 * MPROC_ESHUTDOWN from now on; get goes on returning queued messages and fails
 * with MPROC_ESHUTDOWN once the queue is empty. immediate != 0: the queued
 * messages are dropped now (each counts as task_done, so join returns).
 * Blocked callers wake up. Permanent. 0. */
MPROC_API int mproc_queue_shutdown(mproc_queue_t *q, int immediate);

/* Snapshots: items queued now; 1 if empty / full (maxsize reached), else 0;
 * the maxsize it was created with (0: unbounded). */
MPROC_API size_t mproc_queue_qsize(mproc_queue_t *q);
MPROC_API int mproc_queue_empty(mproc_queue_t *q);
MPROC_API int mproc_queue_full(mproc_queue_t *q);
MPROC_API size_t mproc_queue_maxsize(mproc_queue_t *q);

#ifdef __cplusplus
}
#endif
#endif
