/* Manager dicts: each call is one operation of the handle's backend. */
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
    mproc__mgr_req_t req = { .op = MPROC__OP_DICT_OPEN, .name = d->name, .nlen = n };
    int r = mproc__mgr_call(m, &req, NULL);
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

/* A request on d about one key (and maybe a value); a byte-string result
 * goes to *val unless val is NULL. */
static int key_request(mproc_dict_t *d, unsigned op, const void *key, size_t klen, const void *in,
                       size_t inlen, void **val, size_t *vlen)
{
    mproc__mgr_req_t req = { .op = op, .name = d->name, .nlen = d->nlen, .key = key, .klen = klen,
                             .val = in, .vlen = inlen };
    mproc__mgr_res_t res = { .val = val, .vlen = vlen };
    return mproc__mgr_call(d->m, &req, &res);
}

int mproc_dict_set(mproc_dict_t *d, const void *key, size_t klen, const void *val, size_t vlen)
{
    CHECK(d == NULL ? MPROC_EINVAL : 0);
    CHECK_KEY(key, klen);
    CHECK_VALUE(val, vlen);
    return key_request(d, MPROC__OP_DICT_SET, key, klen, val, vlen, NULL, NULL);
}

int mproc_dict_get(mproc_dict_t *d, const void *key, size_t klen, void **val, size_t *vlen)
{
    CHECK(d == NULL || val == NULL ? MPROC_EINVAL : 0);
    CHECK_KEY(key, klen);
    return key_request(d, MPROC__OP_DICT_GET, key, klen, NULL, 0, val, vlen);
}

int mproc_dict_del(mproc_dict_t *d, const void *key, size_t klen)
{
    CHECK(d == NULL ? MPROC_EINVAL : 0);
    CHECK_KEY(key, klen);
    return key_request(d, MPROC__OP_DICT_DEL, key, klen, NULL, 0, NULL, NULL);
}

int mproc_dict_contains(mproc_dict_t *d, const void *key, size_t klen)
{
    CHECK(d == NULL ? MPROC_EINVAL : 0);
    CHECK_KEY(key, klen);
    mproc__mgr_req_t req = { .op = MPROC__OP_DICT_CONTAINS, .name = d->name, .nlen = d->nlen,
                             .key = key, .klen = klen };
    mproc__mgr_res_t res = { 0 };
    int r = mproc__mgr_call(d->m, &req, &res);
    return r != 0 ? r : res.num != 0;
}

int mproc_dict_pop(mproc_dict_t *d, const void *key, size_t klen, void **val, size_t *vlen)
{
    CHECK(d == NULL ? MPROC_EINVAL : 0);
    CHECK_KEY(key, klen);
    return key_request(d, MPROC__OP_DICT_POP, key, klen, NULL, 0, val, vlen);
}

int mproc_dict_setdefault(mproc_dict_t *d, const void *key, size_t klen, const void *dflt, size_t dlen,
                          void **val, size_t *vlen)
{
    CHECK(d == NULL ? MPROC_EINVAL : 0);
    CHECK_KEY(key, klen);
    CHECK_VALUE(dflt, dlen);
    return key_request(d, MPROC__OP_DICT_SETDEFAULT, key, klen, dflt, dlen, val, vlen);
}

int mproc_dict_incr(mproc_dict_t *d, const void *key, size_t klen, int64_t delta, int64_t *result)
{
    CHECK(d == NULL ? MPROC_EINVAL : 0);
    CHECK_KEY(key, klen);
    mproc__mgr_req_t req = { .op = MPROC__OP_DICT_INCR, .name = d->name, .nlen = d->nlen,
                             .key = key, .klen = klen, .num = delta };
    mproc__mgr_res_t res = { 0 };
    int r = mproc__mgr_call(d->m, &req, &res);
    if (r == 0 && result != NULL)
        *result = res.num;
    return r;
}

/* An operation on the whole dict: its number result to *out (NULL: none),
 * its sequence result to *seq / *n. */
static int whole(mproc_dict_t *d, unsigned op, size_t *out, void **seq, size_t *n)
{
    mproc__mgr_req_t req = { .op = op, .name = d->name, .nlen = d->nlen };
    mproc__mgr_res_t res = { 0 };
    int r = mproc__mgr_call(d->m, &req, &res);
    if (r != 0)
        return r;
    if (out != NULL)
        *out = (size_t)res.num;
    if (seq != NULL) {
        *seq = res.seq;
        *n = res.n;
    }
    return 0;
}

int mproc_dict_len(mproc_dict_t *d, size_t *n)
{
    CHECK(d == NULL || n == NULL ? MPROC_EINVAL : 0);
    return whole(d, MPROC__OP_DICT_LEN, n, NULL, NULL);
}

int mproc_dict_clear(mproc_dict_t *d)
{
    CHECK(d == NULL ? MPROC_EINVAL : 0);
    return whole(d, MPROC__OP_DICT_CLEAR, NULL, NULL, NULL);
}

int mproc_dict_keys(mproc_dict_t *d, mproc_buf_t **keys, size_t *n)
{
    CHECK(d == NULL || keys == NULL || n == NULL ? MPROC_EINVAL : 0);
    return whole(d, MPROC__OP_DICT_KEYS, NULL, (void **)keys, n);
}

int mproc_dict_items(mproc_dict_t *d, mproc_item_t **items, size_t *n)
{
    CHECK(d == NULL || items == NULL || n == NULL ? MPROC_EINVAL : 0);
    return whole(d, MPROC__OP_DICT_ITEMS, NULL, (void **)items, n);
}

int mproc_dict_update(mproc_dict_t *d, const mproc_item_t *items, size_t n)
{
    CHECK(d == NULL || (items == NULL && n > 0) || n > UINT32_MAX ? MPROC_EINVAL : 0);
    for (size_t i = 0; i < n; i++) {
        CHECK_KEY(items[i].key.data, items[i].key.len);
        CHECK_VALUE(items[i].value.data, items[i].value.len);
    }
    mproc__mgr_req_t req = { .op = MPROC__OP_DICT_UPDATE, .name = d->name, .nlen = d->nlen,
                             .items = items, .count = n };
    return mproc__mgr_call(d->m, &req, NULL);
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
