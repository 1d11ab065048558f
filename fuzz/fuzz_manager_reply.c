/* libFuzzer target: the client's decoding of the Manager server's replies.
 * The first byte picks the operation the reply answers; the rest is what
 * arrived on the socket, cut into frames as the client cuts it
 * (frame_buffer.c) and decoded (ipc/manager/reply.c). A crash, a leak, a
 * huge allocation or a positive error code here is a hostile server taking
 * its clients down. Built by `make fuzz` with clang; `make fuzz-run` runs it
 * briefly from fuzz/corpus_reply. */
#include "manager/backend.h"
#include "connection/frame_buffer.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned ops[] = {
    MPROC__OP_PING,        MPROC__OP_DICT_OPEN,    MPROC__OP_DICT_SET,   MPROC__OP_DICT_GET,
    MPROC__OP_DICT_DEL,    MPROC__OP_DICT_CONTAINS, MPROC__OP_DICT_POP,  MPROC__OP_DICT_SETDEFAULT,
    MPROC__OP_DICT_INCR,   MPROC__OP_DICT_LEN,     MPROC__OP_DICT_KEYS,  MPROC__OP_DICT_ITEMS,
    MPROC__OP_DICT_UPDATE, MPROC__OP_DICT_CLEAR,   MPROC__OP_LIST_OPEN,  MPROC__OP_LIST_APPEND,
    MPROC__OP_LIST_GET,    MPROC__OP_LIST_POP,     MPROC__OP_LIST_INDEX, MPROC__OP_LIST_LEN,
    MPROC__OP_LIST_SLICE,  MPROC__OP_LIST_CLEAR,
};

static void release(unsigned op, mproc__mgr_res_t *res, void *val)
{
    free(val);
    mproc_buf_t *bufs = res->seq;
    size_t strings = res->n * (op == MPROC__OP_DICT_ITEMS ? 2 : 1);
    for (size_t i = 0; i < strings; i++)
        free(bufs[i].data);
    free(bufs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned op = ops[data[0] % (sizeof ops / sizeof ops[0])];
    /* the bytes as the socket would deliver them, in a buffer of the client's bound */
    mproc__frames_t in = { .max = (size_t)1 << 40 };
    in.data = malloc(size);
    if (in.data == NULL)
        return 0;
    memcpy(in.data, data + 1, size - 1);
    in.end = in.cap = size - 1;
    for (;;) {
        const unsigned char *msg;
        size_t len;
        int r = mproc__frames_next(&in, &msg, &len);
        if (r > 1)
            __builtin_trap(); /* every error is negative */
        if (r != 1)
            break;
        void *val = NULL;
        size_t vlen = 0;
        mproc__mgr_res_t res = { .val = &val, .vlen = &vlen };
        r = mproc__mgr_decode_reply(op, msg, len, &res);
        if (r > 0)
            __builtin_trap();
        if (r == 0 && val != NULL && ((char *)val)[vlen] != '\0')
            __builtin_trap(); /* values are NUL-terminated past their length */
        release(op, &res, val);
    }
    mproc__frames_free(&in);
    return 0;
}
