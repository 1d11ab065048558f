/* Encoding and decoding of the Manager's messages (docs/manager-protocol.md). */
#include "manager/protocol.h"

#include <stdlib.h>
#include <string.h>

long mproc__mgr_fail_in = -1;

/* Whether the injected failure is due now. */
static int injected_failure(void)
{
    if (mproc__mgr_fail_in < 0)
        return 0;
    return mproc__mgr_fail_in-- == 0;
}

void *mproc__mgr_malloc(size_t n)
{
    return injected_failure() ? NULL : malloc(n);
}

void *mproc__mgr_calloc(size_t n, size_t size)
{
    return injected_failure() ? NULL : calloc(n, size);
}

void *mproc__mgr_realloc(void *p, size_t n)
{
    return injected_failure() ? NULL : realloc(p, n);
}

void mproc__wbuf_reset(mproc__wbuf_t *w)
{
    w->len = 0;
    w->failed = 0;
}

void mproc__wbuf_free(mproc__wbuf_t *w)
{
    free(w->data);
    memset(w, 0, sizeof *w);
}

int mproc__wbuf_reserve(mproc__wbuf_t *w, size_t n)
{
    if (w->failed)
        return MPROC_ENOMEM;
    if (n <= w->cap - w->len)
        return 0;
    size_t cap = w->cap ? w->cap : 256;
    while (cap - w->len < n) {
        if (cap > SIZE_MAX / 2)
            return MPROC_ENOMEM;
        cap *= 2;
    }
    unsigned char *grown = mproc__mgr_realloc(w->data, cap);
    if (grown == NULL)
        return MPROC_ENOMEM;
    w->data = grown;
    w->cap = cap;
    return 0;
}

void mproc__put_raw(mproc__wbuf_t *w, const void *p, size_t n)
{
    if (w->failed)
        return;
    if (mproc__wbuf_reserve(w, n) != 0) {
        w->failed = 1;
        return;
    }
    if (n > 0)
        memcpy(w->data + w->len, p, n);
    w->len += n;
}

static void put_big_endian(mproc__wbuf_t *w, uint64_t v, int bytes)
{
    unsigned char b[8];
    for (int i = 0; i < bytes; i++)
        b[i] = (unsigned char)(v >> (8 * (bytes - 1 - i)));
    mproc__put_raw(w, b, (size_t)bytes);
}

void mproc__put_u8(mproc__wbuf_t *w, unsigned v) { put_big_endian(w, v, 1); }
void mproc__put_u16(mproc__wbuf_t *w, unsigned v) { put_big_endian(w, v, 2); }
void mproc__put_u32(mproc__wbuf_t *w, uint32_t v) { put_big_endian(w, v, 4); }
void mproc__put_u64(mproc__wbuf_t *w, uint64_t v) { put_big_endian(w, v, 8); }

void mproc__put_bytes(mproc__wbuf_t *w, const void *p, size_t n)
{
    if (n > UINT32_MAX) {
        w->failed = 1;
        return;
    }
    mproc__put_u32(w, (uint32_t)n);
    mproc__put_raw(w, p, n);
}

void mproc__patch_u32(mproc__wbuf_t *w, size_t offset, uint32_t v)
{
    if (w->failed || offset + 4 > w->len)
        return;
    for (int i = 0; i < 4; i++)
        w->data[offset + (size_t)i] = (unsigned char)(v >> (24 - 8 * i));
}

static uint64_t get_big_endian(mproc__rbuf_t *r, int bytes)
{
    if (r->bad || r->end - r->p < bytes) {
        r->bad = 1;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = v << 8 | r->p[i];
    r->p += bytes;
    return v;
}

unsigned mproc__get_u8(mproc__rbuf_t *r) { return (unsigned)get_big_endian(r, 1); }
unsigned mproc__get_u16(mproc__rbuf_t *r) { return (unsigned)get_big_endian(r, 2); }
uint32_t mproc__get_u32(mproc__rbuf_t *r) { return (uint32_t)get_big_endian(r, 4); }
uint64_t mproc__get_u64(mproc__rbuf_t *r) { return get_big_endian(r, 8); }

mproc_buf_t mproc__get_bytes(mproc__rbuf_t *r, size_t max)
{
    mproc_buf_t b = { NULL, 0 };
    size_t n = mproc__get_u32(r);
    if (r->bad || n > max || (size_t)(r->end - r->p) < n) {
        r->bad = 1;
        return b;
    }
    b.data = (void *)r->p;
    b.len = n;
    r->p += n;
    return b;
}
