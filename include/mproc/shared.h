/* mproc/shared.h: shared-memory blocks (multiprocessing.shared_memory), and
 * Value / Array (multiprocessing.Value, Array, RawValue, RawArray).
 * Include <mproc.h>, not this file. */
#ifndef MPROC_SHARED_H
#define MPROC_SHARED_H

#include <mproc/common.h>
#include <mproc/sync.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Shared-memory blocks ----------------------------------------------
 * Raw bytes with no header: byte for byte what Python's
 * multiprocessing.shared_memory.SharedMemory sees under the same name, so C
 * and Python processes can share one block. Nothing is ever unlinked behind
 * the caller's back: a block lives until mproc_unlink(name). (Python 3.8 to
 * 3.12 register blocks they merely open with their resource tracker, which
 * unlinks them when that Python process exits; there, call
 * resource_tracker.unregister(shm._name, "shared_memory") after opening, or
 * pass track=False on 3.13.) */
typedef struct mproc_shm mproc_shm_t;

/* Creates a zero-filled block of `size` bytes, exclusively, mode 0600.
 * name NULL: a fresh unique name of 12 characters ("psm_" and 8 hex digits,
 * as Python makes them). The pages are reserved now, so a full /dev/shm is
 * MPROC_ENOMEM here rather than SIGBUS later. 0; MPROC_EINVAL (size 0, bad
 * name); MPROC_EEXIST; MPROC_ENOMEM (nothing is left behind); MPROC_EACCES. */
MPROC_API int mproc_shm_create(mproc_shm_t **m, const char *name, size_t size);
/* Maps an existing block (made by mproc or by Python) at its full size.
 * 0; MPROC_EINVAL (bad name, or a block of size 0); MPROC_ENOENT; MPROC_EACCES. */
MPROC_API int mproc_shm_open(mproc_shm_t **m, const char *name);
/* The block's first byte, mapped for reading and writing. */
MPROC_API void *mproc_shm_buf(mproc_shm_t *m);
/* Its size in bytes (of the whole block, as opened). */
MPROC_API size_t mproc_shm_size(mproc_shm_t *m);
/* The block's name without a leading slash (the string lives as long as m). */
MPROC_API const char *mproc_shm_name(mproc_shm_t *m);
/* Unmaps the block here and frees the handle; the block itself stays until
 * mproc_unlink(name). 0, MPROC_EINVAL (m NULL). */
MPROC_API int mproc_shm_close(mproc_shm_t *m);

/* ---- Value and Array ---------------------------------------------------
 * typecode as Python's: 'c' 'b' 'B' 'h' 'H' 'i' 'I' 'l' 'L' 'q' 'Q' 'f' 'd'
 * (sizes: mproc_typesize). Zero-initialised. lock = 1: guarded by an RLock
 * that get/set/add (and Array's read/write) take, like multiprocessing.Value;
 * lock = 0: raw, like RawValue (add is still atomic, done with atomic
 * instructions). In and out values are pointers to one item of the type.
 *
 * With a lock, a call may return MPROC_EOWNERDEAD: it did its work, but the
 * lock's previous holder died holding it, so that holder's own update may be
 * half done. The lock works normally again. */
typedef struct mproc_value mproc_value_t;
typedef struct mproc_array mproc_array_t;

/* 0; MPROC_EINVAL (unknown typecode, lock not 0 or 1, bad name); MPROC_EEXIST;
 * MPROC_ENOMEM; MPROC_EACCES. name NULL: shared with children forked later. */
MPROC_API int mproc_value_create(mproc_value_t **v, const char *name, char typecode, int lock);
/* 0, MPROC_ENOENT, MPROC_EACCES, MPROC_ETYPE (not a Value). */
MPROC_API int mproc_value_open(mproc_value_t **v, const char *name);
MPROC_API int mproc_value_close(mproc_value_t *v);
/* The item itself, for direct access (under mproc_value_get_lock, if any). */
MPROC_API void *mproc_value_ptr(mproc_value_t *v);
/* Copies the item out / in, under the lock if there is one. 0,
 * MPROC_EOWNERDEAD (done; the lock's previous holder died holding it). */
MPROC_API int mproc_value_get(mproc_value_t *v, void *out);
MPROC_API int mproc_value_set(mproc_value_t *v, const void *in);
/* Adds *delta atomically (Python's `v.value += 1` is not atomic; this is);
 * the new value goes to *result unless result is NULL. Integers wrap as in
 * C's unsigned arithmetic. 0, MPROC_EOWNERDEAD. */
MPROC_API int mproc_value_add(mproc_value_t *v, const void *delta, void *result);
/* The Value's RLock, NULL when made with lock = 0. */
MPROC_API mproc_rlock_t *mproc_value_get_lock(mproc_value_t *v);

/* An Array of `length` items (length >= 1). Same errors as Value. */
MPROC_API int mproc_array_create(mproc_array_t **a, const char *name, char typecode, size_t length,
                                 int lock);
MPROC_API int mproc_array_open(mproc_array_t **a, const char *name);
MPROC_API int mproc_array_close(mproc_array_t *a);
/* The first item, for direct access (under mproc_array_get_lock, if any). */
MPROC_API void *mproc_array_ptr(mproc_array_t *a);
/* The number of items, and their typecode. */
MPROC_API size_t mproc_array_len(mproc_array_t *a);
MPROC_API char mproc_array_typecode(mproc_array_t *a);
/* One item. 0, MPROC_EINDEX (i >= length; nothing changes), MPROC_EOWNERDEAD. */
MPROC_API int mproc_array_get(mproc_array_t *a, size_t i, void *out);
MPROC_API int mproc_array_set(mproc_array_t *a, size_t i, const void *in);
/* count items from start. With a lock, reads and writes are atomic with
 * respect to each other: a reader never sees half of a concurrent write. (A
 * raw array copies without any guard.) 0, MPROC_EINDEX (the range does not
 * lie within the array; nothing changes), MPROC_EOWNERDEAD. */
MPROC_API int mproc_array_read(mproc_array_t *a, size_t start, size_t count, void *out);
MPROC_API int mproc_array_write(mproc_array_t *a, size_t start, size_t count, const void *in);
/* The Array's RLock, NULL when made with lock = 0. */
MPROC_API mproc_rlock_t *mproc_array_get_lock(mproc_array_t *a);

#ifdef __cplusplus
}
#endif
#endif
