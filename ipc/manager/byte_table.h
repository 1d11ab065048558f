/* An insertion-ordered hash table from byte strings to byte strings (the
 * layout of CPython's dict: an array of entries in insertion order and an
 * open-addressing index into it). Keys are hashed with SipHash-2-4 under a
 * random key, so clients cannot pick keys that collide. Used by the Manager
 * for its dicts and for its table of names. */
#ifndef MPROC_BYTE_TABLE_H
#define MPROC_BYTE_TABLE_H

#include "internal.h"

typedef struct {
    mproc_buf_t key, value; /* key.data NULL: a deleted entry */
    uint64_t hash;
} mproc__entry_t;

typedef struct {
    mproc__entry_t *entries; /* in insertion order, with holes */
    size_t used;             /* entries filled, holes included */
    size_t live;
    size_t entries_cap;
    int64_t *index;          /* -1 empty, -2 deleted, else an entry's position */
    size_t index_size;       /* a power of two */
} mproc__table_t;

/* The position of key's entry, or -1. */
int64_t mproc__table_find(const mproc__table_t *t, const void *key, size_t klen);
/* Sets key to value, taking ownership of value.data (key is copied). The
 * entry's position; -1 when out of memory (value is then freed). */
int64_t mproc__table_set(mproc__table_t *t, const void *key, size_t klen, mproc_buf_t value);
/* Removes the entry at pos, handing its value over (or freeing it if out is NULL). */
void mproc__table_remove(mproc__table_t *t, int64_t pos, mproc_buf_t *out);
/* Frees every key and value (values with free_value if not NULL, else free). */
void mproc__table_clear(mproc__table_t *t, void (*free_value)(void *));

/* A malloc'ed copy of n bytes with a NUL after them (data NULL on failure). */
mproc_buf_t mproc__buf_copy(const void *p, size_t n);

#endif
