/* Manager lists: one request per call (docs/manager-protocol.md). */
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
    int r = mproc__mgr_name_request(m, MPROC__OP_LIST_OPEN, l->name, n, NULL);
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

/* A request with an optional index and an optional value; with val non-NULL
 * the reply's bytes are handed over. */
static int request(mproc_list_t *l, unsigned op, const int64_t *index, const void *in, size_t inlen,
                   int with_value, void **val, size_t *vlen)
{
    mproc__wbuf_t *w = mproc__mgr_begin(l->m, op, l->name, l->nlen);
    if (index != NULL)
        mproc__put_u64(w, (uint64_t)*index);
    if (with_value)
        mproc__put_bytes(w, in, inlen);
    mproc__rbuf_t reply;
    int r = mproc__mgr_run(l->m, &reply);
    if (r == 0 && val != NULL)
        r = mproc__mgr_take_bytes(&reply, val, vlen);
    mproc__mgr_end(l->m);
    return r;
}

int mproc_list_append(mproc_list_t *l, const void *val, size_t vlen)
{
    CHECK(l == NULL ? MPROC_EINVAL : 0);
    CHECK_VALUE(val, vlen);
    return request(l, MPROC__OP_LIST_APPEND, NULL, val, vlen, 1, NULL, NULL);
}

int mproc_list_extend(mproc_list_t *l, const mproc_buf_t *vals, size_t n)
{
    CHECK(l == NULL || (vals == NULL && n > 0) || n > UINT32_MAX ? MPROC_EINVAL : 0);
    for (size_t i = 0; i < n; i++)
        CHECK_VALUE(vals[i].data, vals[i].len);
    mproc__wbuf_t *w = mproc__mgr_begin(l->m, MPROC__OP_LIST_EXTEND, l->name, l->nlen);
    mproc__put_u32(w, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        mproc__put_bytes(w, vals[i].data, vals[i].len);
    mproc__rbuf_t reply;
    int r = mproc__mgr_run(l->m, &reply);
    mproc__mgr_end(l->m);
    return r;
}

int mproc_list_get(mproc_list_t *l, ssize_t index, void **val, size_t *vlen)
{
    CHECK(l == NULL || val == NULL ? MPROC_EINVAL : 0);
    int64_t i = index;
    return request(l, MPROC__OP_LIST_GET, &i, NULL, 0, 0, val, vlen);
}

int mproc_list_set(mproc_list_t *l, ssize_t index, const void *val, size_t vlen)
{
    CHECK(l == NULL ? MPROC_EINVAL : 0);
    CHECK_VALUE(val, vlen);
    int64_t i = index;
    return request(l, MPROC__OP_LIST_SET, &i, val, vlen, 1, NULL, NULL);
}

int mproc_list_insert(mproc_list_t *l, ssize_t index, const void *val, size_t vlen)
{
    CHECK(l == NULL ? MPROC_EINVAL : 0);
    CHECK_VALUE(val, vlen);
    int64_t i = index;
    return request(l, MPROC__OP_LIST_INSERT, &i, val, vlen, 1, NULL, NULL);
}

int mproc_list_pop(mproc_list_t *l, ssize_t index, void **val, size_t *vlen)
{
    CHECK(l == NULL ? MPROC_EINVAL : 0);
    int64_t i = index;
    void *discard = NULL;
    int r = request(l, MPROC__OP_LIST_POP, &i, NULL, 0, 0, val != NULL ? val : &discard, vlen);
    free(discard);
    return r;
}

int mproc_list_remove(mproc_list_t *l, const void *val, size_t vlen)
{
    CHECK(l == NULL ? MPROC_EINVAL : 0);
    CHECK_VALUE(val, vlen);
    return request(l, MPROC__OP_LIST_REMOVE, NULL, val, vlen, 1, NULL, NULL);
}

int mproc_list_index(mproc_list_t *l, const void *val, size_t vlen, size_t *index)
{
    CHECK(l == NULL || index == NULL ? MPROC_EINVAL : 0);
    CHECK_VALUE(val, vlen);
    mproc__wbuf_t *w = mproc__mgr_begin(l->m, MPROC__OP_LIST_INDEX, l->name, l->nlen);
    mproc__put_bytes(w, val, vlen);
    mproc__rbuf_t reply;
    int r = mproc__mgr_run(l->m, &reply);
    uint64_t v;
    if (r == 0 && (r = mproc__mgr_take_u64(&reply, &v)) == 0)
        *index = (size_t)v;
    mproc__mgr_end(l->m);
    return r;
}

int mproc_list_len(mproc_list_t *l, size_t *n)
{
    CHECK(l == NULL || n == NULL ? MPROC_EINVAL : 0);
    return mproc__mgr_name_request(l->m, MPROC__OP_LIST_LEN, l->name, l->nlen, n);
}

int mproc_list_clear(mproc_list_t *l)
{
    CHECK(l == NULL ? MPROC_EINVAL : 0);
    return mproc__mgr_name_request(l->m, MPROC__OP_LIST_CLEAR, l->name, l->nlen, NULL);
}

int mproc_list_slice(mproc_list_t *l, ssize_t start, ssize_t stop, mproc_buf_t **vals, size_t *n)
{
    CHECK(l == NULL || vals == NULL || n == NULL ? MPROC_EINVAL : 0);
    mproc__wbuf_t *w = mproc__mgr_begin(l->m, MPROC__OP_LIST_SLICE, l->name, l->nlen);
    mproc__put_u64(w, (uint64_t)(int64_t)start);
    mproc__put_u64(w, (uint64_t)(int64_t)stop);
    mproc__rbuf_t reply;
    int r = mproc__mgr_run(l->m, &reply);
    if (r == 0)
        r = mproc__mgr_take_sequence(&reply, 0, (void **)vals, n);
    mproc__mgr_end(l->m);
    return r;
}
