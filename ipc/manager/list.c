/* Manager lists: each call is one operation of the handle's backend. */
#include "manager/client.h"

#include <stdlib.h>
#include <string.h>

int mproc_manager_list(mproc_manager_t *m, const char *name, mproc_list_t **lp)
{
    size_t n = name != NULL ? strlen(name) : 0;
    if (m == NULL || lp == NULL || n == 0 || n > MPROC__MGR_NAME_MAX)
        return MPROC_EINVAL;
    mproc_list_t *l = calloc(1, sizeof *l);
    if (l == NULL)
        return MPROC_ENOMEM;
    l->m = m;
    l->nlen = n;
    memcpy(l->name, name, n);
    mproc__mgr_req_t req = { .op = MPROC__OP_LIST_OPEN, .name = l->name, .nlen = n };
    int r = mproc__mgr_call(m, &req, NULL);
    if (r != 0) {
        free(l);
        return r;
    }
    *lp = l;
    return 0;
}

void mproc_list_close(mproc_list_t *l)
{
    free(l);
}

/* An operation on l with an index and a value (either may be unused); a
 * byte-string result goes to *val unless val is NULL, a number to res. */
static int request(mproc_list_t *l, unsigned op, int64_t index, const void *in, size_t inlen,
                   void **val, size_t *vlen, mproc__mgr_res_t *res)
{
    mproc__mgr_req_t req = { .op = op, .name = l->name, .nlen = l->nlen, .num = index,
                             .val = in, .vlen = inlen };
    mproc__mgr_res_t own = { 0 };
    if (res == NULL)
        res = &own;
    res->val = val;
    res->vlen = vlen;
    return mproc__mgr_call(l->m, &req, res);
}

int mproc_list_append(mproc_list_t *l, const void *val, size_t vlen)
{
    CHECK(l == NULL ? MPROC_EINVAL : 0);
    CHECK_VALUE(val, vlen);
    return request(l, MPROC__OP_LIST_APPEND, 0, val, vlen, NULL, NULL, NULL);
}

int mproc_list_extend(mproc_list_t *l, const mproc_buf_t *vals, size_t n)
{
    CHECK(l == NULL || (vals == NULL && n > 0) || n > UINT32_MAX ? MPROC_EINVAL : 0);
    for (size_t i = 0; i < n; i++)
        CHECK_VALUE(vals[i].data, vals[i].len);
    mproc__mgr_req_t req = { .op = MPROC__OP_LIST_EXTEND, .name = l->name, .nlen = l->nlen,
                             .vals = vals, .count = n };
    return mproc__mgr_call(l->m, &req, NULL);
}

int mproc_list_get(mproc_list_t *l, ssize_t index, void **val, size_t *vlen)
{
    CHECK(l == NULL || val == NULL ? MPROC_EINVAL : 0);
    return request(l, MPROC__OP_LIST_GET, index, NULL, 0, val, vlen, NULL);
}

int mproc_list_set(mproc_list_t *l, ssize_t index, const void *val, size_t vlen)
{
    CHECK(l == NULL ? MPROC_EINVAL : 0);
    CHECK_VALUE(val, vlen);
    return request(l, MPROC__OP_LIST_SET, index, val, vlen, NULL, NULL, NULL);
}

int mproc_list_insert(mproc_list_t *l, ssize_t index, const void *val, size_t vlen)
{
    CHECK(l == NULL ? MPROC_EINVAL : 0);
    CHECK_VALUE(val, vlen);
    return request(l, MPROC__OP_LIST_INSERT, index, val, vlen, NULL, NULL, NULL);
}

int mproc_list_pop(mproc_list_t *l, ssize_t index, void **val, size_t *vlen)
{
    CHECK(l == NULL ? MPROC_EINVAL : 0);
    return request(l, MPROC__OP_LIST_POP, index, NULL, 0, val, vlen, NULL);
}

int mproc_list_remove(mproc_list_t *l, const void *val, size_t vlen)
{
    CHECK(l == NULL ? MPROC_EINVAL : 0);
    CHECK_VALUE(val, vlen);
    return request(l, MPROC__OP_LIST_REMOVE, 0, val, vlen, NULL, NULL, NULL);
}

int mproc_list_index(mproc_list_t *l, const void *val, size_t vlen, size_t *index)
{
    CHECK(l == NULL || index == NULL ? MPROC_EINVAL : 0);
    CHECK_VALUE(val, vlen);
    mproc__mgr_res_t res = { 0 };
    int r = request(l, MPROC__OP_LIST_INDEX, 0, val, vlen, NULL, NULL, &res);
    if (r == 0)
        *index = (size_t)res.num;
    return r;
}

int mproc_list_len(mproc_list_t *l, size_t *n)
{
    CHECK(l == NULL || n == NULL ? MPROC_EINVAL : 0);
    mproc__mgr_res_t res = { 0 };
    int r = request(l, MPROC__OP_LIST_LEN, 0, NULL, 0, NULL, NULL, &res);
    if (r == 0)
        *n = (size_t)res.num;
    return r;
}

int mproc_list_clear(mproc_list_t *l)
{
    CHECK(l == NULL ? MPROC_EINVAL : 0);
    return request(l, MPROC__OP_LIST_CLEAR, 0, NULL, 0, NULL, NULL, NULL);
}

int mproc_list_slice(mproc_list_t *l, ssize_t start, ssize_t stop, mproc_buf_t **vals, size_t *n)
{
    CHECK(l == NULL || vals == NULL || n == NULL ? MPROC_EINVAL : 0);
    mproc__mgr_req_t req = { .op = MPROC__OP_LIST_SLICE, .name = l->name, .nlen = l->nlen,
                             .num = start, .num2 = stop };
    mproc__mgr_res_t res = { 0 };
    int r = mproc__mgr_call(l->m, &req, &res);
    if (r == 0) {
        *vals = res.seq;
        *n = res.n;
    }
    return r;
}
