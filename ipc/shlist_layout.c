/* The bytes of a ShareableList (see shlist_layout.h), as CPython's
 * multiprocessing/shared_memory.py writes and reads them, 3.8 to 3.13.
 *
 * Python's item formats and back-transform codes:
 *   int   "q"         code 0     8 bytes
 *   float "d"         code 0     8 bytes
 *   bool  "xxxxxxx?"  code 0     7 zero bytes, then 0 or 1
 *   None  "xxxxxx?x"  code 3     8 zero bytes (the '?' packs bool(None))
 *   str   "<slot>s"   code 1     UTF-8, NUL-padded; read back rstrip(b"\0")
 *   bytes "<slot>s"   code 2     NUL-padded; read back rstrip(b"\0")
 * Python unpacks by the format, then transforms by the code; get follows the
 * same two steps, so every pairing Python reads (e.g. an "<n>s" with code 0
 * is the raw slot as bytes, code 3 is None whatever the format) reads the
 * same here, and every pairing Python raises on is MPROC_ETYPE.
 *
 * Concurrency: another process may write any byte of the block at any time.
 * Every shared byte is loaded once into private memory before it is judged,
 * and every bound comes from the private copy of the offsets. */
#include "shlist_layout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { FMT_INT, FMT_FLOAT, FMT_BOOL, FMT_NONE, FMT_STR };
enum { CODE_PLAIN = 0, CODE_STR = 1, CODE_BYTES = 2, CODE_NONE = 3 };

static const char *const fixed_formats[] = {"q", "d", "xxxxxxx?", "xxxxxx?x"};

static uint64_t load_u64(const unsigned char *p)
{
    uint64_t v;
    /* Relaxed: one untorn 8-byte word is all that is promised (formats and
     * 8-byte values); the layout offers no ordering between words. */
    if ((uintptr_t)p % 8 == 0)
        return __atomic_load_n((const uint64_t *)(const void *)p, __ATOMIC_RELAXED);
    memcpy(&v, p, sizeof v);
    return v;
}

static void store_u64(unsigned char *p, uint64_t v)
{
    /* Relaxed, as load_u64: a same-type set of an 8-byte item is never seen
     * torn by a reader here. */
    if ((uintptr_t)p % 8 == 0)
        __atomic_store_n((uint64_t *)(void *)p, v, __ATOMIC_RELAXED);
    else
        memcpy(p, &v, sizeof v);
}

static int64_t load_i64(const unsigned char *p)
{
    uint64_t u = load_u64(p);
    int64_t v;
    memcpy(&v, &u, sizeof v);
    return v;
}

int mproc__sl_utf8_valid(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        unsigned lo = 0x80, hi = 0xBF; /* the range of the second byte */
        if (c >= 0xC2 && c <= 0xDF)
            need = 1;
        else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0)
                lo = 0xA0; /* no overlong forms */
            else if (c == 0xED)
                hi = 0x9F; /* no surrogates: Python's strict decoder refuses them */
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F; /* nothing past U+10FFFF */
        } else
            return 0;
        if (len - i - 1 < need)
            return 0;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return 0;
        for (size_t k = 2; k <= need; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xBF)
                return 0;
        i += need + 1;
    }
    return 1;
}

/* The format of a slot of `slot` bytes in f[0..8): FMT_*, or -1 if Python
 * would not have written it there. A str/bytes format must name the whole
 * slot, as every format Python writes does. */
static int parse_format(const unsigned char f[8], uint64_t slot)
{
    size_t len = 8;
    while (len > 0 && f[len - 1] == 0)
        len--; /* Python: v.rstrip(b'\x00') */
    for (int k = 0; k < 4; k++)
        if (len == strlen(fixed_formats[k]) && memcmp(f, fixed_formats[k], len) == 0)
            return k;
    if (len < 2 || f[len - 1] != 's' || f[0] == '0')
        return -1;
    uint64_t n = 0;
    for (size_t k = 0; k + 1 < len; k++) {
        if (f[k] < '0' || f[k] > '9')
            return -1;
        n = n * 10 + (uint64_t)(f[k] - '0');
    }
    return n == slot ? FMT_STR : -1;
}

static uint64_t slot_of(const struct mproc__sl_layout *lay, size_t i)
{
    return lay->offsets[i + 1] - lay->offsets[i];
}

void mproc__sl_layout_free(struct mproc__sl_layout *lay)
{
    free(lay->offsets);
    lay->offsets = NULL;
}

int mproc__sl_parse(const unsigned char *buf, size_t size, struct mproc__sl_layout *lay)
{
    memset(lay, 0, sizeof *lay);
    if (size < 8)
        return MPROC_ETYPE;
    int64_t count = load_i64(buf);
    if (count < 0)
        return MPROC_ETYPE;
    /* Python 3.9+: the first offset, at byte 8, is always 0. Python 3.8: the
     * first slot size is there, at least 8. An empty 3.8 list is 8 bytes. */
    int py38 = !(size >= 16 && load_u64(buf + 8) == 0);
    size_t header = py38 ? 8 : 16;
    /* each item needs at least 8 bytes of header, 8 of slot, 8 of format
     * and 1 of code: bound the count by the size before allocating */
    if (size < header || (uint64_t)count > (size - header) / 25)
        return MPROC_ETYPE;
    size_t n = (size_t)count;
    /* The private offsets grow as they are checked, never past twice those
     * found valid: a count that only a huge (sparse) block allows costs
     * memory only for offsets really written into it (each valid one is
     * non-zero, so its page is real), and a lying count is refused early
     * (MPROC_ETYPE) instead of asking for its whole array at once. */
    size_t cap = n < 1024 ? n + 1 : 1024;
    uint64_t *off = malloc(cap * sizeof *off);
    int r = MPROC_ETYPE; /* what bad returns */
    if (off == NULL)
        return MPROC_ENOMEM;
    size_t data = py38 ? 8 * (n + 1) : 8 * (n + 2);
    uint64_t room = size - data; /* data <= size by the bound above */
    off[0] = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t slot;
        if (py38) {
            slot = load_u64(buf + 8 + 8 * i);
        } else {
            uint64_t next = load_u64(buf + 16 + 8 * i);
            if (next < off[i])
                goto bad;
            slot = next - off[i];
        }
        /* Python's slots are multiples of 8, at least 8 and at most the
         * largest its 8-byte formats can name */
        if (slot < 8 || slot > MPROC__SL_MAX_SLOT || slot % 8 != 0 || slot > room - off[i])
            goto bad;
        if (i + 1 == cap) {
            size_t more = cap > (n + 1) / 2 ? n + 1 : 2 * cap;
            uint64_t *grown = realloc(off, more * sizeof *off);
            if (grown == NULL) {
                r = MPROC_ENOMEM;
                goto bad;
            }
            off = grown;
            cap = more;
        }
        off[i + 1] = off[i] + slot;
    }
    /* the formats and codes follow the data area */
    if ((room - off[n]) / 9 < n)
        goto bad;
    lay->n = n;
    lay->data = data;
    lay->formats = data + (size_t)off[n];
    lay->codes = lay->formats + 8 * n;
    lay->end = lay->codes + n;
    lay->offsets = off;
    lay->py38 = py38;
    for (size_t i = 0; i < n; i++) {
        unsigned char f[8];
        uint64_t w = load_u64(buf + lay->formats + 8 * i);
        memcpy(f, &w, sizeof f);
        signed char code = (signed char)__atomic_load_n(buf + lay->codes + i, __ATOMIC_RELAXED);
        if (parse_format(f, slot_of(lay, i)) < 0 || code < CODE_PLAIN || code > CODE_NONE)
            goto bad;
    }
    return 0;

bad:
    free(off);
    memset(lay, 0, sizeof *lay);
    return r;
}

/* 0 if item can be stored, a str or bytes in at most max bytes: create's
 * limit, or the slot's for set (Python's __setitem__ lets a value fill its
 * slot, up to 9999992 bytes, one more than any list can be created with). */
static int check_item(const mproc_sl_item_t *item, uint64_t max)
{
    switch (item->type) {
    case MPROC_SL_NONE:
    case MPROC_SL_INT:
    case MPROC_SL_FLOAT:
        return 0;
    case MPROC_SL_BOOL:
        return item->i == 0 || item->i == 1 ? 0 : MPROC_EINVAL;
    case MPROC_SL_STR:
    case MPROC_SL_BYTES:
        if (item->data == NULL && item->len > 0)
            return MPROC_EINVAL;
        if (item->len > max)
            return MPROC_EINVAL; /* Python: "bytes/str item exceeds available storage" */
        if (item->type == MPROC_SL_STR && !mproc__sl_utf8_valid(item->data, item->len))
            return MPROC_EINVAL;
        return 0;
    default:
        return MPROC_EINVAL;
    }
}

int mproc__sl_plan(const mproc_sl_item_t *items, size_t n, struct mproc__sl_layout *lay,
                   size_t *size)
{
    memset(lay, 0, sizeof *lay);
    if (n > 0 && items == NULL)
        return MPROC_EINVAL;
    if (n > (SIZE_MAX / 8) / 32) /* 8 + 8 + 8 + 1 bytes an item at least */
        return MPROC_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        int r = check_item(&items[i], MPROC__SL_MAX_ITEM);
        if (r != 0)
            return r;
    }
    uint64_t *off = malloc((n + 1) * sizeof *off);
    if (off == NULL)
        return MPROC_ENOMEM;
    off[0] = 0;
    size_t data = 8 * (n + 2);
    for (size_t i = 0; i < n; i++) {
        const mproc_sl_item_t *it = &items[i];
        /* Python: 8 * (len // 8 + 1) for str and bytes (in bytes here, UTF-8
         * for a str), 8 for the others */
        uint64_t slot = it->type == MPROC_SL_STR || it->type == MPROC_SL_BYTES ? 8 * (it->len / 8 + 1)
                                                                                : 8;
        if (off[i] > SIZE_MAX / 4 - data - 9 * n) {
            free(off);
            return MPROC_ENOMEM;
        }
        off[i + 1] = off[i] + slot;
    }
    if (off[n] > SIZE_MAX / 4 - data - 9 * n) {
        free(off);
        return MPROC_ENOMEM;
    }
    lay->n = n;
    lay->data = data;
    lay->formats = data + (size_t)off[n];
    lay->codes = lay->formats + 8 * n;
    lay->end = lay->codes + n;
    lay->offsets = off;
    *size = lay->end;
    return 0;
}

/* Stores item i: format, then code, then value, in Python's order. The
 * item has passed check_item with its slot's length. */
static void put_item(const struct mproc__sl_layout *lay, unsigned char *buf, size_t i,
                     const mproc_sl_item_t *item)
{
    uint64_t slot = slot_of(lay, i);
    unsigned char f[8] = {0}, v[8] = {0};
    signed char code = CODE_PLAIN;
    unsigned char *p = buf + lay->data + lay->offsets[i];
    uint64_t w;
    const char *fixed = NULL;
    char text[24];
    switch (item->type) {
    case MPROC_SL_STR:
    case MPROC_SL_BYTES:
        /* Python keeps the item's "<slot>s" format, or writes that one; at
         * most "9999992s", 8 characters */
        snprintf(text, sizeof text, "%llus", (unsigned long long)slot);
        fixed = text;
        break;
    case MPROC_SL_INT: fixed = fixed_formats[FMT_INT]; break;
    case MPROC_SL_FLOAT: fixed = fixed_formats[FMT_FLOAT]; break;
    case MPROC_SL_BOOL: fixed = fixed_formats[FMT_BOOL]; break;
    default: fixed = fixed_formats[FMT_NONE]; break;
    }
    memcpy(f, fixed, strlen(fixed));
    memcpy(&w, f, sizeof w);
    store_u64(buf + lay->formats + 8 * i, w);
    switch (item->type) {
    case MPROC_SL_STR: code = CODE_STR; break;
    case MPROC_SL_BYTES: code = CODE_BYTES; break;
    case MPROC_SL_NONE: code = CODE_NONE; break;
    default: break;
    }
    __atomic_store_n((signed char *)(buf + lay->codes + i), code, __ATOMIC_RELAXED);
    switch (item->type) {
    case MPROC_SL_STR:
    case MPROC_SL_BYTES:
        /* struct's "<n>s": the bytes, then NULs to the slot's end */
        if (item->len > 0)
            memcpy(p, item->data, item->len);
        memset(p + item->len, 0, (size_t)slot - item->len);
        return;
    case MPROC_SL_INT:
        memcpy(v, &item->i, 8);
        break;
    case MPROC_SL_FLOAT:
        memcpy(v, &item->f, 8);
        break;
    case MPROC_SL_BOOL:
        v[7] = (unsigned char)item->i;
        break;
    default: /* None: eight zero bytes */
        break;
    }
    memcpy(&w, v, sizeof w);
    store_u64(p, w);
}

void mproc__sl_build(const struct mproc__sl_layout *lay, unsigned char *buf,
                     const mproc_sl_item_t *items)
{
    int64_t count = (int64_t)lay->n;
    memcpy(buf, &count, 8);
    for (size_t i = 0; i <= lay->n; i++)
        memcpy(buf + 8 + 8 * i, &lay->offsets[i], 8);
    for (size_t i = 0; i < lay->n; i++)
        put_item(lay, buf, i, &items[i]);
}

int mproc__sl_set(const struct mproc__sl_layout *lay, unsigned char *buf, size_t i,
                  const mproc_sl_item_t *item)
{
    int r = check_item(item, slot_of(lay, i));
    if (r != 0)
        return r;
    put_item(lay, buf, i, item);
    return 0;
}

int mproc__sl_get(const struct mproc__sl_layout *lay, const unsigned char *buf, size_t i,
                  mproc_sl_item_t *out)
{
    uint64_t slot = slot_of(lay, i);
    const unsigned char *p = buf + lay->data + lay->offsets[i];
    unsigned char f[8];
    uint64_t w = load_u64(buf + lay->formats + 8 * i);
    memcpy(f, &w, sizeof f);
    signed char code = (signed char)__atomic_load_n(buf + lay->codes + i, __ATOMIC_RELAXED);
    int fmt = parse_format(f, slot);
    if (fmt < 0 || code < CODE_PLAIN || code > CODE_NONE)
        return MPROC_ETYPE; /* Python: struct.error, KeyError */
    mproc_sl_item_t it = {.type = MPROC_SL_NONE};
    if (code == CODE_NONE) {
        *out = it; /* whatever the format held */
        return 0;
    }
    if (fmt != FMT_STR) {
        if (code != CODE_PLAIN)
            return MPROC_ETYPE; /* Python: 'int' object has no attribute 'rstrip' */
        unsigned char v[8];
        w = load_u64(p);
        memcpy(v, &w, sizeof v);
        switch (fmt) {
        case FMT_INT: it.type = MPROC_SL_INT; memcpy(&it.i, v, 8); break;
        case FMT_FLOAT: it.type = MPROC_SL_FLOAT; memcpy(&it.f, v, 8); break;
        case FMT_BOOL: it.type = MPROC_SL_BOOL; it.i = v[7] != 0; break;
        default: it.type = MPROC_SL_BOOL; it.i = v[6] != 0; break; /* "xxxxxx?x", code 0 */
        }
        *out = it;
        return 0;
    }
    /* "<slot>s": copy once, then judge the private copy */
    unsigned char *s = malloc((size_t)slot + 1);
    if (s == NULL)
        return MPROC_ENOMEM;
    memcpy(s, p, (size_t)slot);
    size_t len = (size_t)slot;
    if (code != CODE_PLAIN) /* code 0 keeps the raw slot, NULs and all */
        while (len > 0 && s[len - 1] == 0)
            len--;
    s[len] = 0;
    if (code == CODE_STR && !mproc__sl_utf8_valid(s, len)) {
        free(s);
        return MPROC_ETYPE; /* Python: UnicodeDecodeError */
    }
    it.type = code == CODE_STR ? MPROC_SL_STR : MPROC_SL_BYTES;
    it.data = s;
    it.len = len;
    *out = it;
    return 0;
}
