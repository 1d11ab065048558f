/* mproc/manager.h: the Manager (multiprocessing.Manager): a server process
 * owning named dicts and lists whose keys and values are byte strings, used
 * by forked workers, unrelated processes, and processes on other machines
 * (TCP with an authkey). Include <mproc.h>, not this file.
 *
 * Every operation is one request to the server and is atomic there:
 * mproc_dict_incr is a real atomic counter (Python's d[k] += 1 is not).
 * A handle may be used from several threads (one request at a time goes over
 * its connection) and in children forked after it was made: a child's first
 * call opens a connection of its own, so no two processes ever share one.
 * The wire format is documented in docs/manager-protocol.md.
 *
 * The same handle works on Redis or Valkey, standalone or Cluster, for
 * workers on many machines: mproc_manager_connect with "redis://HOST:PORT[/DB]"
 * or "redis+unix://PATH[?db=DB]". Dict NAME is then the hash
 * "mproc:dict:{NAME}", list NAME the list "mproc:list:{NAME}", readable by any
 * Redis client (docs/redis-layout.md). Differences there: dict key order is
 * Redis's; incr accepts what HINCRBY accepts; a key of another Redis type is
 * MPROC_ETYPE (a dict and a list may share a name); shutdown only closes the
 * handle. Built without hiredis, a Redis address is MPROC_ENOTSUP.
 *
 * Errors of every call below besides those listed: MPROC_EINVAL (NULL
 * arguments), MPROC_EMSGSIZE (a key over 64 KiB, a value over 16 MiB, a
 * request over 64 MiB), MPROC_ETYPE (the name is a list, used as a dict, or
 * the reverse), MPROC_EPIPE / MPROC_EOF (the server is gone; the next call
 * connects anew), MPROC_EPROTO (a reply that makes no sense). */
#ifndef MPROC_MANAGER_H
#define MPROC_MANAGER_H

#include <mproc/common.h>
#include <mproc/shared.h> /* mproc_shm_t, for mproc_manager_shm */

#include <limits.h> /* SSIZE_MAX, for slices to the end */

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mproc_manager mproc_manager_t;
typedef struct mproc_dict mproc_dict_t;
typedef struct mproc_list mproc_list_t;

/* A byte string returned by the Manager (data is malloc'ed, NUL-terminated
 * past len for convenience), and a key with its value. */
typedef struct { void *data; size_t len; } mproc_buf_t;
typedef struct { mproc_buf_t key, value; } mproc_item_t;
/* Free an array returned by keys/items/slice (and each element's data). */
MPROC_API void mproc_bufs_free(mproc_buf_t *bufs, size_t n);
MPROC_API void mproc_items_free(mproc_item_t *items, size_t n);

/* Forks a server process and connects to it. address NULL: a private Unix
 * socket (see mproc_listener_create for the forms). authkey NULL: a random
 * 32-byte key, known to this process and its children
 * (mproc_manager_authkey). The server stops at mproc_manager_shutdown or when
 * the process that started it exits; it never outlives its starter. It is
 * not the caller's child (a wait() for children never waits for it) and runs
 * in a session of its own, with none of the starter's descriptors.
 * 0; MPROC_EINVAL; MPROC_EEXIST (address taken); MPROC_ENOMEM; MPROC_EMFILE. */
MPROC_API int mproc_manager_start(mproc_manager_t **m, const char *address, const void *authkey,
                                  size_t keylen);
/* Options of the server (the embedded one and the `mproc manager` daemon);
 * a zeroed struct is the defaults. */
enum { MPROC_FSYNC_EVERYSEC = 0, MPROC_FSYNC_ALWAYS = 1, MPROC_FSYNC_NO = 2 };
typedef struct {
    size_t      max_memory;   /* bytes of keys and values held (names, keys, values and list
                                 items, counted by their lengths); 0 = no limit. A change that
                                 would pass it fails with MPROC_ENOMEM and changes nothing */
    unsigned    max_clients;  /* connections at once, 0 = 1024; one more is refused at once */
    const char *journal;      /* append-only journal file; NULL = none. Loaded at start (the
                                 journal is the data's truth: see README, "Running the Manager") */
    int         fsync;        /* MPROC_FSYNC_*: ALWAYS = no acknowledged change is ever lost,
                                 even to a power cut; EVERYSEC = at most about the last second's
                                 to a crash of the machine; NO = the kernel's choice. With any of
                                 them a change is written before its reply, so a killed server
                                 loses nothing it acknowledged */
} mproc_manager_opts_t;
/* As mproc_manager_start, with options (opts NULL: the defaults). Every
 * Manager request is all-or-nothing: on any error nothing changed. A
 * Manager without an authkey on a Unix socket (path or @abstract) serves
 * only processes of its own user (SO_PEERCRED); mproc_manager_start always
 * gives its server a key. 0; MPROC_EINVAL (an fsync value out of range);
 * MPROC_EPROTO (the journal is damaged before its last record: the server
 * refused to start); the errors of mproc_manager_start. */
MPROC_API int mproc_manager_start_opts(mproc_manager_t **m, const char *address, const void *authkey,
                                       size_t keylen, const mproc_manager_opts_t *opts);
/* Attaches to a running server (one started elsewhere, or `mproc manager`),
 * or to Redis ("redis://HOST[:PORT][/DB]", "redis+unix://PATH[?db=DB]"; the
 * authkey is then the password, and a Cluster is found by asking).
 * 0; MPROC_EINVAL (a malformed address); MPROC_ENOENT; -ECONNREFUSED;
 * MPROC_EAUTH (wrong key or password, or one the server wants and the caller
 * lacks); MPROC_ETIMEDOUT (no answer within 10 s: a silent address, or a
 * server without a key given one); MPROC_ENOTSUP (a Redis address, built
 * without hiredis). On Redis, a call that loses its connection fails with
 * the socket's error and the next call connects anew. */
MPROC_API int mproc_manager_connect(mproc_manager_t **m, const char *address, const void *authkey,
                                    size_t keylen);
/* The server's address (the real port for TCP port 0). */
MPROC_API const char *mproc_manager_address(mproc_manager_t *m);
/* The key clients must present (the random one if start made it); *len its size. */
MPROC_API const void *mproc_manager_authkey(mproc_manager_t *m, size_t *len);
/* Stops the server (its data goes with it), waits for it to exit if this
 * process started it, then closes the handle. 0, or the error of the request
 * (the handle is closed either way). On Redis: closes the handle, returns 0;
 * Redis is never stopped. */
MPROC_API int mproc_manager_shutdown(mproc_manager_t *m);
/* Drops this handle; the server runs on. Dict and list handles made from it
 * must be closed first. 0, MPROC_EINVAL. */
MPROC_API int mproc_manager_close(mproc_manager_t *m);

/* ---- dicts ---- */

/* A handle on the dict called name (1..255 bytes), created empty if new.
 * Close it with mproc_dict_close. */
MPROC_API int mproc_manager_dict(mproc_manager_t *m, const char *name, mproc_dict_t **d);
/* Sets key to a copy of val (replacing any value; a new key goes last). */
MPROC_API int mproc_dict_set(mproc_dict_t *d, const void *key, size_t klen, const void *val, size_t vlen);
/* *val: a malloc'ed copy (free it), NUL-terminated past *vlen. MPROC_EKEY. */
MPROC_API int mproc_dict_get(mproc_dict_t *d, const void *key, size_t klen, void **val, size_t *vlen);
MPROC_API int mproc_dict_del(mproc_dict_t *d, const void *key, size_t klen); /* MPROC_EKEY */
/* 1 or 0 (or a negative error). */
MPROC_API int mproc_dict_contains(mproc_dict_t *d, const void *key, size_t klen);
/* Removes the key and hands its value over. MPROC_EKEY. val may be NULL. */
MPROC_API int mproc_dict_pop(mproc_dict_t *d, const void *key, size_t klen, void **val, size_t *vlen);
/* Sets key to dflt unless present; the value it then holds goes to *val
 * (val may be NULL). */
MPROC_API int mproc_dict_setdefault(mproc_dict_t *d, const void *key, size_t klen, const void *dflt,
                                    size_t dlen, void **val, size_t *vlen);
/* Adds delta to the integer kept as decimal text under key (a missing key
 * counts as 0); *result (may be NULL) the new value. MPROC_EINVAL (the value
 * is not a decimal integer: nothing changed); MPROC_EOVERFLOW (past int64). */
MPROC_API int mproc_dict_incr(mproc_dict_t *d, const void *key, size_t klen, int64_t delta,
                              int64_t *result);
/* *n: the number of keys. */
MPROC_API int mproc_dict_len(mproc_dict_t *d, size_t *n);
/* A consistent snapshot, in insertion order; free with mproc_bufs_free /
 * mproc_items_free. An empty dict gives *n = 0 and a NULL array. */
MPROC_API int mproc_dict_keys(mproc_dict_t *d, mproc_buf_t **keys, size_t *n);
MPROC_API int mproc_dict_items(mproc_dict_t *d, mproc_item_t **items, size_t *n);
/* Sets n items in one round trip, atomically. */
MPROC_API int mproc_dict_update(mproc_dict_t *d, const mproc_item_t *items, size_t n);
/* Removes every key. */
MPROC_API int mproc_dict_clear(mproc_dict_t *d);
/* Frees the handle (the dict stays on the server). */
MPROC_API void mproc_dict_close(mproc_dict_t *d);

/* ---- lists ---- index < 0 counts from the end, as in Python ---- */

/* A handle on the list called name (1..255 bytes), created empty if new.
 * Close it with mproc_list_close. */
MPROC_API int mproc_manager_list(mproc_manager_t *m, const char *name, mproc_list_t **l);
/* Appends a copy of val. */
MPROC_API int mproc_list_append(mproc_list_t *l, const void *val, size_t vlen);
/* Appends n values in one round trip, atomically. */
MPROC_API int mproc_list_extend(mproc_list_t *l, const mproc_buf_t *vals, size_t n);
MPROC_API int mproc_list_get(mproc_list_t *l, ssize_t index, void **val, size_t *vlen); /* MPROC_EINDEX */
MPROC_API int mproc_list_set(mproc_list_t *l, ssize_t index, const void *val, size_t vlen); /* MPROC_EINDEX */
/* Inserts before index; out-of-range indexes clamp, as list.insert. */
MPROC_API int mproc_list_insert(mproc_list_t *l, ssize_t index, const void *val, size_t vlen);
/* Removes the item at index (-1: the last) and hands it over (val may be
 * NULL). MPROC_EINDEX (also for an empty list). */
MPROC_API int mproc_list_pop(mproc_list_t *l, ssize_t index, void **val, size_t *vlen);
/* Removes the first item equal to val. MPROC_EVALUE. */
MPROC_API int mproc_list_remove(mproc_list_t *l, const void *val, size_t vlen);
/* The index of the first item equal to val. MPROC_EVALUE. */
MPROC_API int mproc_list_index(mproc_list_t *l, const void *val, size_t vlen, size_t *index);
/* *n: the number of items. */
MPROC_API int mproc_list_len(mproc_list_t *l, size_t *n);
/* Items [start, stop) clamped as Python's l[start:stop] (use SSIZE_MAX for
 * "to the end"); a consistent snapshot; free with mproc_bufs_free. */
MPROC_API int mproc_list_slice(mproc_list_t *l, ssize_t start, ssize_t stop, mproc_buf_t **vals,
                               size_t *n);
/* Removes every item. */
MPROC_API int mproc_list_clear(mproc_list_t *l);
/* Frees the handle (the list stays on the server). */
MPROC_API void mproc_list_close(mproc_list_t *l);

/* ---- blocks owned by a Manager (shared_memory.SharedMemoryManager) ---- */

/* *blk: a fresh shared-memory block of size bytes, zero-filled, under a
 * fresh unpredictable name ("mproc_mgr_PID_" and 16 random hex digits, PID
 * the server's), made and owned by the Manager's server, which unlinks it
 * when it stops: at mproc_manager_shutdown (from any handle: the name is
 * gone when it returns), when the process that started an embedded server
 * exits or is killed (SIGKILL too), and when the `mproc manager` daemon
 * exits (SIGTERM, SIGINT, a shutdown request). The server makes the block
 * itself, so a caller killed at any moment leaves no block behind it.
 * Use it as any block (mproc_shm_buf, ...); mproc_shm_close unmaps it in
 * this process; mappings outlive the name. A server killed with SIGKILL
 * cannot unlink: `mproc gc` removes the blocks of a server that is gone
 * once no process maps them. `mproc ls` / `mproc info` show the owning
 * server's pid. Blocks are not counted in max_memory and not journaled.
 * 0; MPROC_EINVAL (m or blk NULL, size 0); MPROC_ENOTSUP (a Redis
 * backend); MPROC_ENOMEM; the errors of mproc_shm_create on the server's
 * side (-ENOSPC: /dev/shm is full, ...); those of mproc_shm_open (MPROC_ENOENT:
 * the server stopped meanwhile); the Manager's errors above. Safe from
 * several threads and in forked children, as every Manager call. */
MPROC_API int mproc_manager_shm(mproc_manager_t *m, mproc_shm_t **blk, size_t size);

/* ---- Manager queues (Manager().Queue() / JoinableQueue) ----
 * Named FIFO queues of byte strings (empty ones too) held by the Manager,
 * on mproc's server and on Redis. Timeouts as everywhere in mproc
 * (common.h): < 0 waits without limit, 0 tries once. On mproc's server a
 * blocked get or put waits on the server, which answers as soon as an item
 * (or room) arrives, or at the deadline: the client polls nothing. On Redis
 * a blocked get waits in BLMOVE (woken as soon as an item arrives); a put on
 * a full queue and join poll, with a pause growing from 1 to 50 ms (Redis
 * has no blocking push), so room or completion is seen within 50 ms; a
 * blocking call ends at most 11 s past its timeout (one round trip's 10 s
 * bound, and up to 1 s waiting for the handle's renewal thread).
 * Each queue handle has a connection of its own, so a blocked call
 * holds up neither the Manager handle nor other queues; one call at a time
 * per queue handle (calls from several threads take turns). A child forked
 * after the handle was made gets its own connection on its first call, and
 * none of the parent's unacknowledged items (on Redis: a consumer id of its
 * own, and a thread of its own that keeps it alive once it has got an item;
 * a process runs no thread for a handle it has never got an item from, and
 * a fork() waits until such a thread is between renewals, at most 1 s).
 *
 * Delivery is at least once: an item got by a process that dies (or whose
 * handle closes) before its task_done goes back to the front of the queue,
 * within a few seconds, for another consumer. On mproc's server that
 * happens as soon as the server sees the connection end; a get already
 * blocked takes it, without anyone calling get or qsize. A consumer that
 * lives keeps its items however long it holds them. On a server with a
 * journal (mproc_manager_opts_t.journal, `mproc manager --journal`) queues
 * survive a restart, even after SIGKILL: every put, get and task_done is
 * recorded before its reply, and the items that were got and not
 * acknowledged are back at the front of their queue.
 *
 * On Redis (docs/redis-layout.md, "Queues": the keys and scripts, so that a
 * worker in another language can join): the reliable-queue pattern. Each
 * handle is a consumer with a random id, a processing list that a get moves
 * the item into, and a liveness key with a 5 s TTL that a call renews
 * (unless renewed less than 0.5 s before) and that, once the handle has got
 * an item, a thread of the handle renews every second while the handle is
 * idle (so a live consumer keeps its items however long). When a consumer's
 * process dies the key expires, and the next reap by any handle of the queue
 * (the renewal thread every second, a blocked get between its 1 s waits, a
 * get finding the queue empty, join and qsize at every call; not a put
 * waiting on a full queue) returns its items to the front: redelivery within
 * about 6 s of the death while some handle reaps. A process stopped for
 * longer than the TTL counts as dead too: its items are redelivered (at
 * least once), and its task_done calls for the gets it made before are
 * MPROC_EOVERFLOW, acknowledging nothing. Close returns the handle's items
 * at once. Every change is one command (a get's LMOVE or BLMOVE) or one Lua
 * script, atomic on the server; a queue's keys share one cluster slot. */
typedef struct mproc_rqueue mproc_rqueue_t;

/* Gets or creates the queue name (1 to 255 bytes) on m's server (or Redis)
 * and opens a connection for it. maxsize bounds the waiting items (0 =
 * unbounded; an existing queue keeps its own). *q is freed by
 * mproc_rqueue_close, which must come before mproc_manager_close(m). 0;
 * MPROC_EINVAL (also: on a Redis Cluster, a name starting with '}', whose
 * keys could not share a slot); MPROC_ETYPE (Redis: one of the queue's keys
 * holds another type; nothing changed); MPROC_ENOMEM; a connection error. */
MPROC_API int mproc_manager_queue(mproc_manager_t *m, const char *name, size_t maxsize,
                                  mproc_rqueue_t **q);
/* Appends a copy of data[len] (len up to 16 MiB; data may be NULL when len
 * is 0). MPROC_EFULL: maxsize items waited until the timeout; MPROC_EINVAL;
 * MPROC_EMSGSIZE; a connection error. */
MPROC_API int mproc_rqueue_put(mproc_rqueue_t *q, const void *data, size_t len, double timeout);
/* Takes the front item: *data is malloc'ed (NUL-terminated past *len; free()
 * it), *len may be NULL. The item stays this handle's, unacknowledged, until
 * mproc_rqueue_task_done. MPROC_EEMPTY: nothing came in time; MPROC_EINVAL;
 * a connection error (then the item, if one was taken, goes back: on
 * mproc's server at once; on Redis to the front of the queue at the
 * handle's next call, or when it closes or its process ends). */
MPROC_API int mproc_rqueue_get(mproc_rqueue_t *q, void **data, size_t *len, double timeout);
/* Acknowledges this handle's oldest unacknowledged get. MPROC_EOVERFLOW:
 * none (on Redis also: that get's item was taken back when the consumer
 * was reaped, see above; nothing is acknowledged); MPROC_EINVAL; a
 * connection error (on Redis the acknowledgement may have been made:
 * calling task_done again is safe, it is MPROC_EOVERFLOW if it was). */
MPROC_API int mproc_rqueue_task_done(mproc_rqueue_t *q);
/* 0 once every item put has been task_done (puts minus task_dones is 0,
 * counted on the server). MPROC_ETIMEDOUT; MPROC_EINVAL. */
MPROC_API int mproc_rqueue_join(mproc_rqueue_t *q, double timeout);
/* *n: the items waiting (not those held by live consumers; an item returned
 * after its consumer's death counts again). MPROC_EINVAL; MPROC_EPROTO (a
 * length below 0); a connection error. */
MPROC_API int mproc_rqueue_qsize(mproc_rqueue_t *q, size_t *n);
/* Closes the handle's connection and frees it; its unacknowledged items go
 * back to the front of the queue (on Redis: if Redis cannot be reached,
 * when the handle's liveness key expires). The queue stays on the server.
 * q may be NULL. */
MPROC_API void mproc_rqueue_close(mproc_rqueue_t *q);

#ifdef __cplusplus
}
#endif

#endif
