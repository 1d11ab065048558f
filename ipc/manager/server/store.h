/* The Manager's data: named dicts and lists, and the execution of one
 * request against them. No I/O: the server feeds it requests, the fuzz
 * target feeds it anything. */
#ifndef MPROC_MANAGER_STORE_H
#define MPROC_MANAGER_STORE_H

#include "manager/protocol.h"

typedef struct mproc__store mproc__store_t;

/* NULL when out of memory. */
mproc__store_t *mproc__store_new(void);
void mproc__store_free(mproc__store_t *s);

/* Executes one request (a whole message) and writes the reply into out.
 * All or nothing: a request that fails changed nothing.
 * 0: out holds the reply (whose status may be an error such as MPROC_EKEY,
 * or MPROC_ENOMEM: no memory, or the quota); *shutdown is set for a SHUTDOWN
 * request. MPROC_EPROTO: the request is malformed; nothing was changed and
 * no reply is due (the server drops the client). MPROC_ENOMEM: not even a
 * 5-byte reply could be built (nothing changed). */
int mproc__store_execute(mproc__store_t *s, const unsigned char *req, size_t len, mproc__wbuf_t *out,
                         int *shutdown);

/* Whether the last mproc__store_execute changed the data (made an object,
 * or a change that succeeded): what a journal must record. */
int mproc__store_changed(const mproc__store_t *s);
/* The quota for names, keys and values held, by length (0: none). */
void mproc__store_set_limit(mproc__store_t *s, size_t max_memory);
/* The bytes counted against the quota. */
size_t mproc__store_used(const mproc__store_t *s);
/* Removes every object. */
void mproc__store_clear(mproc__store_t *s);

/* Manager queues: the store holds them (queue_store.h) so that snapshots
 * and the journal's compaction carry them; the server runs their requests. */
struct mproc__qstore *mproc__store_queues(mproc__store_t *s);

/* The whole store in the snapshot format. 0 or MPROC_ENOMEM. */
int mproc__store_save(const mproc__store_t *s, mproc__wbuf_t *out);
/* Adds the objects of a snapshot to an empty store. 0; MPROC_EPROTO (not a
 * well-formed snapshot: the store is left empty); MPROC_ENOMEM. */
int mproc__store_load(mproc__store_t *s, const unsigned char *data, size_t len);

#endif
