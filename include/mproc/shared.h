/* mproc/shared.h: shared-memory blocks and ShareableList
 * (multiprocessing.shared_memory), and Value / Array (multiprocessing.Value,
 * Array, RawValue, RawArray).
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

/* ---- ShareableList --------------------------------------------------------
 * A fixed-length list of int, float, bool, str, bytes and None in a named
 * block, in the layout of Python's multiprocessing.shared_memory.ShareableList,
 * so C and Python processes read and write one list. Lists are created in the
 * layout of Python 3.9 and later: the item count, N + 1 offsets of the items'
 * slots, the slots, each item's struct format (8 bytes), each item's
 * back-transform code (1 byte). mproc_shlist_open reads that layout and
 * Python 3.8's (slot sizes after the count). (Python 3.8 reads only its own
 * layout and cannot open lists made here -- a CPython incompatibility between
 * 3.8 and 3.9+ -- so they are for Python 3.9 and later. An all-zero block,
 * e.g. a fresh SharedMemory, opens as an empty list, as in Python 3.9+. Python 3.8 to
 * 3.13 unlink a list they merely open when they exit, unless told
 * resource_tracker.unregister(sl.shm._name, "shared_memory").)
 *
 * Values read back as Python reads them: trailing NUL bytes of a str or bytes
 * item are stripped (b"ab\0\0" reads back as b"ab"; NULs inside stay); a
 * bool is stored as Python stores it (format "xxxxxxx?": 7 zero bytes, then 0
 * or 1), None as Python's "xxxxxx?x" (8 zero bytes); floats keep their bits
 * (-0.0, inf, nan). A str or bytes item's slot holds 8 * (len / 8 + 1) bytes,
 * len in bytes (a str's UTF-8 bytes), as Python sizes ASCII strings (Python
 * sizes a str by its characters, so it truncates a long non-ASCII str; mproc
 * does not). No item is created longer than 9999991 bytes (Python's limit
 * too: its format "9999992s" has 8 characters); a set may fill its slot
 * completely, as Python's may (a 9999992-byte slot takes 9999992 bytes, and
 * such a value reads back whole, no NUL after it in the block).
 *
 * Concurrency: exactly as safe as Python's, which has no lock. An item's
 * get and set are several loads and stores (format, code, value): a reader
 * racing a writer of the same item, or a writer killed half-way, may read the
 * old type with the new bytes, a bytes item where a str was, or get
 * MPROC_ETYPE for that item; the next complete set repairs it. The list's
 * shape (count and slots) never changes after creation and is checked once at
 * open, so nothing another process writes into the block can make a call
 * read or write outside it. The block's size is not re-checked per access: a
 * block another process shrinks (ftruncate) after open raises SIGBUS on the
 * next get or set that touches the lost pages, as for any mapped file and as
 * in Python. An int, float, bool or None set by mproc over an item of the same
 * type is one aligned 8-byte store, never seen torn by an mproc reader. To
 * read and write items consistently, guard the list with an mproc Lock
 * placed beside it (README: "ShareableList"); its MPROC_EOWNERDEAD tells the
 * next holder that a writer died mid-update.
 *
 * Threads may share a handle: it holds only the mapping and the shape
 * checked at open; items are as unguarded between threads as between
 * processes (above). Nothing is ever unlinked behind the caller's back: the
 * list lives until mproc_unlink(name). */
typedef struct mproc_shlist mproc_shlist_t;

/* Item types: MPROC_SL_NONE .. MPROC_SL_BYTES. */
enum { MPROC_SL_NONE = 0, MPROC_SL_INT, MPROC_SL_FLOAT, MPROC_SL_BOOL, MPROC_SL_STR, MPROC_SL_BYTES };
/* One item, in (create, set) and out (get). */
typedef struct {
    int     type;   /* MPROC_SL_* */
    int64_t i;      /* INT, BOOL (0 or 1) */
    double  f;      /* FLOAT */
    void   *data;   /* STR (UTF-8, no NUL needed) and BYTES; from get: malloc'd, free() it */
    size_t  len;
} mproc_sl_item_t;

/* Creates a list of the n items (n may be 0), exclusively, mode 0600, and
 * publishes the name only once the list is complete, so no process opens a
 * half-built one. name NULL: a fresh unique name, "psm_" and 8 hex digits, as
 * Python's ShareableList(seq) makes. 0; MPROC_EINVAL (l NULL, items NULL with
 * n > 0, an unknown type, a bool not 0 or 1, data NULL with len > 0, a str not
 * valid UTF-8, an item of more than 9999991 bytes, a bad name); MPROC_EEXIST;
 * MPROC_ENOMEM; MPROC_EACCES. Nothing is left behind on failure. */
MPROC_API int mproc_shlist_create(mproc_shlist_t **l, const char *name, const mproc_sl_item_t *items,
                                  size_t n);
/* Opens a list made by mproc or by Python 3.8 or later, after checking its
 * whole layout: 0; MPROC_EINVAL (bad name); MPROC_ENOENT; MPROC_EACCES;
 * MPROC_ENOMEM; MPROC_ETYPE: not a ShareableList (a block too small for its
 * count, a negative or absurd count, slots out of order, smaller than 8 bytes
 * or reaching outside the block, an unknown format or back-transform code).
 * Open copies the offsets privately, growing the copy as they check out, so
 * it costs memory in proportion to the offsets really in the block: a huge
 * sparse block with a count to match (1 TB, count size / 25) is MPROC_ETYPE
 * at its first missing offset, never one huge allocation; MPROC_ENOMEM only
 * if memory for the offsets actually present runs out. */
MPROC_API int mproc_shlist_open(mproc_shlist_t **l, const char *name);
/* The number of items (fixed at creation). */
MPROC_API size_t mproc_shlist_len(mproc_shlist_t *l);
/* The list's name without a leading slash (the string lives as long as l). */
MPROC_API const char *mproc_shlist_name(mproc_shlist_t *l);
/* Reads item index (< 0 counts from the end, as in Python) into *out. For
 * STR and BYTES, out->data is malloc'd (free() it), followed by a NUL byte
 * not counted in out->len; for other types out->data is NULL and out->len 0.
 * 0; MPROC_EINVAL (l or out NULL); MPROC_EINDEX; MPROC_ENOMEM; MPROC_ETYPE:
 * the item cannot be read, where Python raises too (a str that is not valid
 * UTF-8, e.g. one Python truncated; a set seen half-done; a corrupted item).
 * *out is written only on success. */
MPROC_API int mproc_shlist_get(mproc_shlist_t *l, ssize_t index, mproc_sl_item_t *out);
/* Replaces item index by *item, as Python's sl[index] = value: any type may
 * replace any other; a str or bytes takes the whole slot (NUL-padded); an
 * int, float, bool or None writes 8 bytes. 0; MPROC_EINVAL (l or item NULL,
 * an unknown type, a bool not 0 or 1, data NULL with len > 0, a str not valid
 * UTF-8, a str or bytes longer than the item's slot -- one exactly as long
 * is fine, as in Python: nothing changed);
 * MPROC_EINDEX (nothing changed). */
MPROC_API int mproc_shlist_set(mproc_shlist_t *l, ssize_t index, const mproc_sl_item_t *item);
/* Unmaps the list here and frees the handle; the list itself stays until
 * mproc_unlink(name). 0, MPROC_EINVAL (l NULL). */
MPROC_API int mproc_shlist_close(mproc_shlist_t *l);

#ifdef __cplusplus
}
#endif
#endif
