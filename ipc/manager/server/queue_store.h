/* The Manager's queues on mproc's server: named FIFO queues of byte strings
 * whose got-but-unacknowledged items are kept per owner (a connection), so
 * that an owner that goes returns them to the front. No I/O: the server
 * (server.c) parks the requests that must wait and answers them. */
#ifndef MPROC_MANAGER_QUEUE_STORE_H
#define MPROC_MANAGER_QUEUE_STORE_H

#include "manager/protocol.h"

typedef struct mproc__qstore mproc__qstore_t;
typedef struct mproc__rq mproc__rq_t;

mproc__qstore_t *mproc__qstore_new(void); /* NULL: out of memory */
void mproc__qstore_free(mproc__qstore_t *qs);

/* The queue of that name, made (with maxsize, 0 = unbounded) if new; an
 * existing one keeps its maxsize. 0 or MPROC_ENOMEM. */
int mproc__qstore_open(mproc__qstore_t *qs, const void *name, size_t nlen, uint64_t maxsize,
                       mproc__rq_t **q);

/* Appends a copy of the item: 0; MPROC_EFULL (maxsize items wait);
 * MPROC_ENOMEM. Nothing changed on error. */
int mproc__rq_put(mproc__rq_t *q, const void *data, size_t len);
/* Takes the front item for owner (it stays held until task_done or the
 * owner's release): 0 with data and len pointing at it (valid until it is
 * acknowledged or released); MPROC_EEMPTY. */
int mproc__rq_take(mproc__rq_t *q, uint64_t owner, const void **data, size_t *len);
/* Acknowledges owner's oldest held item of q: 0; MPROC_EOVERFLOW (none). */
int mproc__rq_done(mproc__rq_t *q, uint64_t owner);
size_t mproc__rq_waiting(const mproc__rq_t *q);
/* Items put and not yet acknowledged (what join waits for). */
uint64_t mproc__rq_unfinished(const mproc__rq_t *q);
int mproc__rq_full(const mproc__rq_t *q);
/* Returns every item owner holds, in any queue, to the front of its queue,
 * oldest first; the number returned. */
size_t mproc__qstore_release(mproc__qstore_t *qs, uint64_t owner);

#endif
