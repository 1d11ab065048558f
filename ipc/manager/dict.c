/* Manager dicts: one request per call (docs/manager-protocol.md). */
#include "manager/client.h"

#include <stdlib.h>
#include <string.h>

int mproc__mgr_check_bytes(const void *p, size_t n, size_t max)
{
    if (p == NULL && n > 0)
        return MPROC_EINVAL;
    return n > max ? MPROC_EMSGSIZE : 0;
}

int mproc_manager_dict(mproc_manager_t *m, const char *name, mproc_dict_t **dp)
{
    size_t n = name != NULL ? strlen(name) : 0;
    if (m == NULL || dp == NULL || n == 0 || n > MPROC__MGR_NAME_MAX)
        return MPROC_EINVAL;
    mproc_dict_t *d = calloc(1, sizeof *d);
    if (d == NULL)
        return MPROC_ENOMEM;
    d->m = m;
    d->nlen = n;
    memcpy(d->name, name, n);
    mproc__rbuf_t reply;
    mproc__mgr_begin(m, MPROC__OP_DICT_OPEN, d->name, n);
    int r = mproc__mgr_run(m, &reply);
    mproc__mgr_end(m);
    if (r != 0) {
        free(d);
        return r;
    }
    *dp = d;
    return 0;
}

void mproc_dict_close(mproc_dict_t *d)
{
    free(d);
}

/* A request carrying one key (and maybe a value); a reply's bytes go to
 * *val unless val is NULL (an op with an empty reply, or a caller who does
 * not want them). */
static int key_request(mproc_dict_t *d, unsigned op, const void *key, size_t klen, const void *in,
                       size_t inlen, int with_value, void **val, size_t *vlen)
{
    mproc__wbuf_t *w = mproc__mgr_begin(d->m, op, d->name, d->nlen);
    mproc__put_bytes(w, key, klen);
    if (with_value)
        mproc__put_bytes(w, in, inlen);
    mproc__rbuf_t reply;
    int r = mproc__mgr_run(d->m, &reply);
    if (r == 0 && val != NULL)
        r = mproc__mgr_take_bytes(&reply, val, vlen);
    mproc__mgr_end(d->m);
    return r;
}

int mproc_dict_set(mproc_dict_t *d, const void *key, size_t klen, const void *val, size_t vlen)
{
    CHECK(d == NULL ? MPROC_EINVAL : 0);
    CHECK_KEY(key, klen);
    CHECK_VALUE(val, vlen);
    return key_request(d, MPROC__OP_DICT_SET, key, klen, val, vlen, 1, NULL, NULL);
}

int mproc_dict_get(mproc_dict_t *d, const void *key, size_t klen, void **val, size_t *vlen)
{
    CHECK(d == NULL || val == NULL ? MPROC_EINVAL : 0);
    CHECK_KEY(key, klen);
    return key_request(d, MPROC__OP_DICT_GET, key, klen, NULL, 0, 0, val, vlen);
}

int mproc_dict_del(mproc_dict_t *d, const void *key, size_t klen)
{
    CHECK(d == NULL ? MPROC_EINVAL : 0);
    CHECK_KEY(key, klen);
    return key_request(d, MPROC__OP_DICT_DEL, key, klen, NULL, 0, 0, NULL, NULL);
}

int mproc_dict_contains(mproc_dict_t *d, const void *key, size_t klen)
{
    CHECK(d == NULL ? MPROC_EINVAL : 0);
    CHECK_KEY(key, klen);
    mproc__wbuf_t *w = mproc__mgr_begin(d->m, MPROC__OP_DICT_CONTAINS, d->name, d->nlen);
    mproc__put_bytes(w, key, klen);
    mproc__rbuf_t reply;
    int r = mproc__mgr_run(d->m, &reply);
    if (r == 0) {
        r = (int)mproc__get_u8(&reply);
        if (reply.bad || r > 1)
            r = MPROC_EPROTO;
    }
    mproc__mgr_end(d->m);
    return r;
}

int mproc_dict_pop(mproc_dict_t *d, const void *key, size_t klen, void **val, size_t *vlen)
{
    CHECK(d == NULL ? MPROC_EINVAL : 0);
    CHECK_KEY(key, klen);
    return key_request(d, MPROC__OP_DICT_POP, key, klen, NULL, 0, 0, val, vlen);
}

int mproc_dict_setdefault(mproc_dict_t *d, const void *key, size_t klen, const void *dflt, size_t dlen,
                          void **val, size_t *vlen)
{
    CHECK(d == NULL ? MPROC_EINVAL : 0);
    CHECK_KEY(key, klen);
    CHECK_VALUE(dflt, dlen);
    return key_request(d, MPROC__OP_DICT_SETDEFAULT, key, klen, dflt, dlen, 1, val, vlen);
}

int mproc_dict_incr(mproc_dict_t *d, const void *key, size_t klen, int64_t delta, int64_t *result)
{
    CHECK(d == NULL ? MPROC_EINVAL : 0);
    CHECK_KEY(key, klen);
    mproc__wbuf_t *w = mproc__mgr_begin(d->m, MPROC__OP_DICT_INCR, d->name, d->nlen);
    mproc__put_bytes(w, key, klen);
    mproc__put_u64(w, (uint64_t)delta);
    mproc__rbuf_t reply;
    int r = mproc__mgr_run(d->m, &reply);
    uint64_t v;
    if (r == 0 && (r = mproc__mgr_take_u64(&reply, &v)) == 0 && result != NULL)
        *result = (int64_t)v;
    mproc__mgr_end(d->m);
    return r;
}

/* A request with nothing but the name, answered with a u64 (out NULL: nothing). */
int mproc__mgr_name_request(mproc_manager_t *m, unsigned op, const char *name, size_t nlen, size_t *out)
{
    mproc__mgr_begin(m, op, name, nlen);
    mproc__rbuf_t reply;
    int r = mproc__mgr_run(m, &reply);
    uint64_t v;
    if (r == 0 && out != NULL && (r = mproc__mgr_take_u64(&reply, &v)) == 0)
        *out = (size_t)v;
    mproc__mgr_end(m);
    return r;
}

int mproc_dict_len(mproc_dict_t *d, size_t *n)
{
    CHECK(d == NULL || n == NULL ? MPROC_EINVAL : 0);
    return mproc__mgr_name_request(d->m, MPROC__OP_DICT_LEN, d->name, d->nlen, n);
}

int mproc_dict_clear(mproc_dict_t *d)
{
    CHECK(d == NULL ? MPROC_EINVAL : 0);
    return mproc__mgr_name_request(d->m, MPROC__OP_DICT_CLEAR, d->name, d->nlen, NULL);
}

static int snapshot(mproc_dict_t *d, unsigned op, int pairs, void **out, size_t *n)
{
    mproc__mgr_begin(d->m, op, d->name, d->nlen);
    mproc__rbuf_t reply;
    int r = mproc__mgr_run(d->m, &reply);
    if (r == 0)
        r = mproc__mgr_take_sequence(&reply, pairs, out, n);
    mproc__mgr_end(d->m);
    return r;
}

int mproc_dict_keys(mproc_dict_t *d, mproc_buf_t **keys, size_t *n)
{
    CHECK(d == NULL || keys == NULL || n == NULL ? MPROC_EINVAL : 0);
    return snapshot(d, MPROC__OP_DICT_KEYS, 0, (void **)keys, n);
}

int mproc_dict_items(mproc_dict_t *d, mproc_item_t **items, size_t *n)
{
    CHECK(d == NULL || items == NULL || n == NULL ? MPROC_EINVAL : 0);
    return snapshot(d, MPROC__OP_DICT_ITEMS, 1, (void **)items, n);
}

int mproc_dict_update(mproc_dict_t *d, const mproc_item_t *items, size_t n)
{
    CHECK(d == NULL || (items == NULL && n > 0) || n > UINT32_MAX ? MPROC_EINVAL : 0);
    for (size_t i = 0; i < n; i++) {
        CHECK_KEY(items[i].key.data, items[i].key.len);
        CHECK_VALUE(items[i].value.data, items[i].value.len);
    }
    mproc__wbuf_t *w = mproc__mgr_begin(d->m, MPROC__OP_DICT_UPDATE, d->name, d->nlen);
    mproc__put_u32(w, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        mproc__put_bytes(w, items[i].key.data, items[i].key.len);
        mproc__put_bytes(w, items[i].value.data, items[i].value.len);
    }
    mproc__rbuf_t reply;
    int r = mproc__mgr_run(d->m, &reply);
    mproc__mgr_end(d->m);
    return r;
}

/* ---- arrays handed to the caller ---- */

void mproc_bufs_free(mproc_buf_t *bufs, size_t n)
{
    if (bufs == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(bufs[i].data);
    free(bufs);
}

void mproc_items_free(mproc_item_t *items, size_t n)
{
    if (items == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(items[i].key.data);
        free(items[i].value.data);
    }
    free(items);
}

int mproc__mgr_take_sequence(mproc__rbuf_t *reply, int pairs, void **out, size_t *n)
{
    uint32_t count = mproc__get_u32(reply);
    /* every string takes 4 bytes at least: a count beyond that is a lie */
    if (reply->bad || (uint64_t)count * (pairs ? 8 : 4) > (uint64_t)(reply->end - reply->p))
        return MPROC_EPROTO;
    size_t strings = (size_t)count * (pairs ? 2 : 1);
    mproc_buf_t *bufs = count > 0 ? calloc(strings, sizeof *bufs) : NULL;
    if (count > 0 && bufs == NULL)
        return MPROC_ENOMEM;
    for (size_t i = 0; i < strings; i++) {
        int r = mproc__mgr_take_bytes(reply, &bufs[i].data, &bufs[i].len);
        if (r != 0) {
            mproc_bufs_free(bufs, i);
            return r;
        }
    }
    *out = bufs; /* mproc_item_t is two mproc_buf_t in a row */
    *n = count;
    return 0;
}
