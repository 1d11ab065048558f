/* The shared-memory blocks a Manager server owns (mproc_manager_shm): made
 * by the server itself on a client's request, so that a block belongs to the
 * server from its first instant (a client killed between asking and opening
 * leaves nothing behind), and unlinked when the server stops. */
#ifndef MPROC_MANAGER_BLOCKS_H
#define MPROC_MANAGER_BLOCKS_H

#include "manager/protocol.h"

typedef struct mproc__blocks mproc__blocks_t;

/* Whether the request msg[len] is one for this file (MPROC__OP_MANAGER_SHM). */
int mproc__blocks_request(const unsigned char *msg, size_t len);
/* Executes such a request: makes a zero-filled block of a fresh name and
 * records it in *b (allocated on first use), and writes the reply into out
 * (status, then the name). 0 (the reply's status may be an error of
 * mproc_shm_create, MPROC_EINVAL for size 0, MPROC_ENOMEM); MPROC_EPROTO: a
 * malformed request (nothing made, no reply due). MPROC_ENOMEM: no room for
 * even the reply (nothing left made). */
int mproc__blocks_execute(mproc__blocks_t **b, const unsigned char *req, size_t len, mproc__wbuf_t *out);
/* The number of blocks held. */
size_t mproc__blocks_count(const mproc__blocks_t *b);
/* Unlinks every block held and forgets them (b may be NULL). Processes that
 * map a block keep their mapping; the name is gone. */
void mproc__blocks_unlink_all(mproc__blocks_t *b);
void mproc__blocks_free(mproc__blocks_t *b);

#endif
