/* The Manager's append-only journal: every change the server acknowledges
 * is appended (and, by the fsync policy, made durable) before its reply
 * leaves; at start the journal is replayed; when it has outgrown the data
 * it is compacted into one snapshot record.
 *
 * File format (docs/manager-protocol.md, "Journal"): the 8 bytes
 * "MPROCJL1", then records:
 *
 *     u32 length    bytes of payload (kind byte included), at least 1
 *     u32 hcheck    CRC-32C of the 4 length bytes
 *     u32 check     CRC-32C of the payload
 *     payload       u8 kind, then the kind's body
 *
 * all big-endian. Kinds: 1 REQUEST (a Manager request as a client sent it,
 * replayed through the store), 2 SNAPSHOT (the store's snapshot image:
 * replaces everything before it). Other kinds are for later (a newer mproc);
 * this one refuses a journal holding one rather than skip it.
 *
 * A crash mid-append leaves a torn last record: a header or payload cut
 * short, a checksum that fails on the last record, or zeros to the end. It
 * is cut off at start. Anything else that fails a check is damage, and the
 * server refuses to start rather than lose what follows it. */
#ifndef MPROC_MANAGER_JOURNAL_H
#define MPROC_MANAGER_JOURNAL_H

#include "manager/server/store.h"

#define MPROC__JOURNAL_MAGIC "MPROCJL1"
#define MPROC__JOURNAL_HEADER 8
#define MPROC__JOURNAL_RECORD_HEADER 12
enum { MPROC__JREC_REQUEST = 1, MPROC__JREC_SNAPSHOT = 2 };
/* 3 QUEUE: a change of a Manager queue (queue_store.h). */
enum { MPROC__JREC_QUEUE = 3 };

typedef struct mproc__journal mproc__journal_t;

/* Replays a journal image into s (empty at the call). 0 with *keep the
 * length of the good part (less than len: a torn last record, or a torn
 * file header, to cut off). MPROC_EPROTO (damage; the store is left
 * cleared; *why says what and *at where), MPROC_ENOMEM. Pure: no I/O. */
int mproc__journal_replay(mproc__store_t *s, const unsigned char *data, size_t len, size_t *keep,
                          const char **why, size_t *at);

/* CRC-32C (Castagnoli) of n bytes. */
uint32_t mproc__crc32c(const void *p, size_t n);

/* Opens (creating) the journal at path, replays it into s (empty), and cuts
 * off a torn tail. If the file is new or empty, its first record is a
 * snapshot of s (what a --snapshot file gave it). fsync: MPROC_FSYNC_*;
 * rewrite_min: the size under which it is never compacted. The journal is
 * locked first (a POSIX lock on path.lock, held until mproc__journal_close
 * or the process's end, not inherited by forked children). 0; MPROC_EBUSY
 * (another server has it: msg says which); MPROC_EPROTO (damaged: msg says
 * where and why); an errno code. */
int mproc__journal_open(mproc__journal_t **j, const char *path, int fsync, size_t rewrite_min,
                        mproc__store_t *s, char *msg, size_t msgsize);
/* Adds a record to the pending batch (in memory). */
void mproc__journal_add(mproc__journal_t *j, unsigned kind, const void *body, size_t len);
/* Whether records wait for mproc__journal_commit. */
int mproc__journal_pending(const mproc__journal_t *j);
/* Writes the pending batch, then, for MPROC_FSYNC_ALWAYS, fdatasyncs it;
 * EVERYSEC leaves that to a thread, once a second. 0 or an errno code (the
 * batch could not be written: nothing of it may be acknowledged). */
int mproc__journal_commit(mproc__journal_t *j);
/* Compacts the journal into one snapshot record of s when it has grown to
 * twice its size after the last compaction (and past rewrite_min), or when
 * force is set. Atomic: a new file is written and fsynced beside it, then
 * renamed over it and the directory fsynced; a crash at any point leaves
 * the old journal or the new one, both whole. 0 (also when not due) or an
 * errno code (the old journal stays in use). Nothing may be pending. */
int mproc__journal_maybe_rewrite(mproc__journal_t *j, const mproc__store_t *s, int force);
/* Syncs what was written and closes. */
void mproc__journal_close(mproc__journal_t *j);

#endif
