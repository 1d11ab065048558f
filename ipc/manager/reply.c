/* Decoding a reply of mproc's Manager server (docs/manager-protocol.md) on
 * the client's side. Every length and count in it is checked against the
 * bytes actually there before it is used: a server that lies gets
 * MPROC_EPROTO, never a crash or a huge allocation. fuzz/fuzz_manager_reply.c
 * exercises this file. */
#include "manager/backend.h"
#include "manager/byte_table.h"
#include "connection/conn_internal.h" /* MPROC__CHALLENGE */

#include <stdlib.h>
#include <string.h>

/* A malloc'ed, NUL-terminated copy of the next bytes of the reply (val NULL:
 * check and skip them). */
static int take_bytes(mproc__rbuf_t *reply, void **val, size_t *vlen)
{
    mproc_buf_t b = mproc__get_bytes(reply, SIZE_MAX);
    if (reply->bad)
        return MPROC_EPROTO;
    if (val == NULL)
        return 0;
    mproc_buf_t copy = mproc__buf_copy(b.data, b.len);
    if (copy.data == NULL)
        return MPROC_ENOMEM;
    *val = copy.data;
    if (vlen != NULL)
        *vlen = copy.len;
    return 0;
}

static void free_strings(mproc_buf_t *bufs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(bufs[i].data);
    free(bufs);
}

/* keys/items/slice: a count, then that many byte strings (pairs when pairs
 * is 1) into a fresh array. */
static int take_sequence(mproc__rbuf_t *reply, int pairs, void **out, size_t *n)
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
        int r = take_bytes(reply, &bufs[i].data, &bufs[i].len);
        if (r != 0) {
            free_strings(bufs, i);
            return r;
        }
    }
    *out = bufs; /* mproc_item_t is two mproc_buf_t in a row */
    *n = count;
    return 0;
}

int mproc__mgr_decode_reply(unsigned op, const unsigned char *msg, size_t len, mproc__mgr_res_t *res)
{
    mproc__rbuf_t reply = { msg, msg + len, 0 };
    if (mproc__get_u8(&reply) != MPROC__MGR_VERSION) {
        /* a server that wants a key we did not give challenges instead */
        size_t n = sizeof MPROC__CHALLENGE - 1;
        return len >= n && memcmp(msg, MPROC__CHALLENGE, n) == 0 ? MPROC_EAUTH : MPROC_EPROTO;
    }
    int32_t status = (int32_t)mproc__get_u32(&reply);
    /* a status is 0 or one of our (negative) codes; anything else is a lie */
    if (reply.bad || status > 0)
        return MPROC_EPROTO;
    if (status < 0)
        return status;
    switch (op) {
    case MPROC__OP_DICT_GET:
    case MPROC__OP_DICT_POP:
    case MPROC__OP_DICT_SETDEFAULT:
    case MPROC__OP_LIST_GET:
    case MPROC__OP_LIST_POP:
    case MPROC__OP_MANAGER_SHM: /* the block's name */
    case MPROC__OP_QUEUE_GET:
        return take_bytes(&reply, res->val, res->vlen);
    case MPROC__OP_DICT_INCR:
    case MPROC__OP_DICT_LEN:
    case MPROC__OP_LIST_LEN:
    case MPROC__OP_LIST_INDEX:
    case MPROC__OP_QUEUE_QSIZE: {
        uint64_t v = mproc__get_u64(&reply);
        if (reply.bad)
            return MPROC_EPROTO;
        res->num = (int64_t)v;
        return 0;
    }
    case MPROC__OP_DICT_CONTAINS: {
        unsigned v = mproc__get_u8(&reply);
        if (reply.bad || v > 1)
            return MPROC_EPROTO;
        res->num = v;
        return 0;
    }
    case MPROC__OP_DICT_KEYS:
    case MPROC__OP_DICT_ITEMS:
    case MPROC__OP_LIST_SLICE:
        res->seq = NULL;
        res->n = 0;
        return take_sequence(&reply, op == MPROC__OP_DICT_ITEMS, &res->seq, &res->n);
    default:
        return 0;
    }
}
