/* The bytes of a ShareableList, in Python's layout: checking a block, and
 * reading, writing and building items in it. Pure functions over (buffer,
 * size): no system calls, so the fuzz target links this file alone.
 *
 * Layout (Python 3.9 and later; all integers native int64):
 *   count N | N + 1 offsets (the first 0, the last the data area's size) |
 *   data area (item i's slot spans offsets i to i + 1) |
 *   N formats (8 bytes each, NUL-padded struct formats) | N codes (1 byte)
 * Python 3.8 differs only at the start: count N | N slot sizes | data ... */
#ifndef MPROC_SHLIST_LAYOUT_H
#define MPROC_SHLIST_LAYOUT_H

#include <mproc.h>

#include <stddef.h>
#include <stdint.h>

/* The longest str or bytes item a list is created with (its slot, 9999992
 * bytes, is the largest whose format "9999992s" fits Python's 8 bytes); a
 * set may fill a slot, as Python's does, so that slot takes 9999992 */
#define MPROC__SL_MAX_ITEM 9999991u
#define MPROC__SL_MAX_SLOT 9999992u

/* Where things are in a checked block. The offsets are a private copy, so a
 * process that rewrites the block's header later cannot move any access
 * outside the block. */
struct mproc__sl_layout {
    size_t n;          /* items */
    size_t data;       /* the data area's first byte */
    size_t formats;    /* the first item's format */
    size_t codes;      /* the first item's back-transform code */
    size_t end;        /* one past the last code */
    uint64_t *offsets; /* n + 1 offsets into the data area (malloc'd) */
    int py38;          /* read from Python 3.8's layout */
};

/* Checks that buf[0..size) holds a ShareableList in either layout and fills
 * *lay. 0; MPROC_ETYPE (not one); MPROC_ENOMEM. Free with
 * mproc__sl_layout_free. */
int mproc__sl_parse(const unsigned char *buf, size_t size, struct mproc__sl_layout *lay);
void mproc__sl_layout_free(struct mproc__sl_layout *lay);

/* Checks items and plans a new list of them in the 3.9+ layout: *lay and
 * the block size. 0; MPROC_EINVAL (an invalid item); MPROC_ENOMEM. */
int mproc__sl_plan(const mproc_sl_item_t *items, size_t n, struct mproc__sl_layout *lay,
                   size_t *size);
/* Writes a planned list into buf (zero-filled, lay->end bytes at least). */
void mproc__sl_build(const struct mproc__sl_layout *lay, unsigned char *buf,
                     const mproc_sl_item_t *items);

/* Reads item i (< lay->n). 0; MPROC_ETYPE; MPROC_ENOMEM. */
int mproc__sl_get(const struct mproc__sl_layout *lay, const unsigned char *buf, size_t i,
                  mproc_sl_item_t *out);
/* Writes item i (< lay->n) as Python's __setitem__ does. 0; MPROC_EINVAL
 * (invalid item, or a str or bytes longer than the slot: nothing written;
 * as long as the slot is fine). */
int mproc__sl_set(const struct mproc__sl_layout *lay, unsigned char *buf, size_t i,
                  const mproc_sl_item_t *item);

/* 1 if s[0..len) is valid UTF-8 as Python's strict decoder accepts it. */
int mproc__sl_utf8_valid(const unsigned char *s, size_t len);

#endif
