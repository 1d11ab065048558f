/* The Manager's queues on mproc's server: named FIFO queues of byte strings
 * whose got-but-unacknowledged items are kept per owner (a connection), so
 * that an owner that goes returns them to the front. No I/O: the server
 * (server.c) parks the requests that must wait and answers them. */
#ifndef MPROC_MANAGER_QUEUE_STORE_H
#define MPROC_MANAGER_QUEUE_STORE_H

#include "manager/protocol.h"

typedef struct mproc__qstore mproc__qstore_t;
typedef struct mproc__rq mproc__rq_t;

/* The memory quota (--max-memory), shared with the store's dicts and lists:
 * bytes counted against it, and the limit (0: none). */
typedef struct {
    size_t used, max;
} mproc__quota_t;
/* What a queue and an item count against the quota beyond their bytes (the
 * name's, the item's): about what the server spends on each. */
#define MPROC__QUEUE_OVERHEAD 64
#define MPROC__QITEM_OVERHEAD 64

/* The items one owner (a connection) holds, oldest first, in any queue:
 * kept by the owner (zeroed before its first take) and handed to take,
 * done and release, so that these cost nothing per queue or per item
 * held by others. */
struct mproc__qitem;
typedef struct {
    struct mproc__qitem *head, *tail;
} mproc__qholder_t;

/* quota: the counter and limit to charge (it outlives the store). NULL:
 * out of memory. */
mproc__qstore_t *mproc__qstore_new(mproc__quota_t *quota);
void mproc__qstore_free(mproc__qstore_t *qs);

/* The queue of that name (found by a hash of it), made (with maxsize, 0 =
 * unbounded) if new; an existing one keeps its maxsize. 0 or MPROC_ENOMEM
 * (no memory, or a new queue would pass the quota). */
int mproc__qstore_open(mproc__qstore_t *qs, const void *name, size_t nlen, uint64_t maxsize,
                       mproc__rq_t **q);

/* Removes every queue. Only with no owner holding items (at start). */
void mproc__qstore_clear(mproc__qstore_t *qs);

/* Appends a copy of the item (*id: its id, for the journal): 0; MPROC_EFULL
 * (maxsize items wait); MPROC_ENOMEM (no memory, or the item would pass
 * the quota). Nothing changed on error. */
int mproc__rq_put(mproc__rq_t *q, const void *data, size_t len, uint64_t *id);
/* Takes the front item for owner (it stays held until task_done or the
 * owner's release): 0 with data and len pointing at it (valid until it is
 * acknowledged or released); MPROC_EEMPTY. */
int mproc__rq_take(mproc__rq_t *q, mproc__qholder_t *owner, const void **data, size_t *len, uint64_t *id);
/* Acknowledges owner's oldest held item of q (*id: its id): 0;
 * MPROC_EOVERFLOW (none). */
int mproc__rq_done(mproc__rq_t *q, mproc__qholder_t *owner, uint64_t *id);
size_t mproc__rq_waiting(const mproc__rq_t *q);
/* Items put and not yet acknowledged (what join waits for). */
uint64_t mproc__rq_unfinished(const mproc__rq_t *q);
int mproc__rq_full(const mproc__rq_t *q);
uint64_t mproc__rq_maxsize(const mproc__rq_t *q);
/* Returns every item owner holds, in any queue, to the front of its queue,
 * oldest first; the number returned. Owner NULL: the items held by nobody
 * (loaded from a journal: their connections ended with the old server). */
size_t mproc__qstore_release(mproc__qstore_t *qs, mproc__qholder_t *owner);

/* ---- the journal (journal.h, record kind MPROC__JREC_QUEUE) ----
 * Body: u8 qop, u16 name length, name, u64 num, and for PUT the item as
 * u32 length + bytes. OPEN: num is maxsize; PUT: the new item's id; TAKE,
 * DONE: the item's id. A take replayed leaves the item held by nobody;
 * items returned when a connection ended are not recorded: whatever is
 * held by nobody after the replay goes back to the front at start. */
enum { MPROC__QREC_OPEN = 1, MPROC__QREC_PUT = 2, MPROC__QREC_TAKE = 3, MPROC__QREC_DONE = 4 };
/* Builds a record body in w (reset first). */
void mproc__qstore_record(mproc__wbuf_t *w, unsigned qop, const mproc__rq_t *q, uint64_t num,
                          const void *data, size_t len);
/* Replays one record body. 0; MPROC_EPROTO (malformed, or naming an item
 * that is not there); MPROC_ENOMEM. */
int mproc__qstore_apply(mproc__qstore_t *qs, const unsigned char *body, size_t len);

/* ---- snapshots (store.c): one object of kind MPROC__QSNAP_KIND per queue ----
 * u8 kind, u16 name length, name, u64 maxsize, u64 the last id given,
 * u32 count, then per item u64 id, u8 held, u32 length + bytes (held ones
 * first, oldest first). */
#define MPROC__QSNAP_KIND 3
void mproc__qstore_save(const mproc__qstore_t *qs, mproc__wbuf_t *out);
/* One queue object (its kind byte already read). 0; MPROC_EPROTO;
 * MPROC_ENOMEM. */
int mproc__qstore_load(mproc__qstore_t *qs, mproc__rbuf_t *r);

#endif
