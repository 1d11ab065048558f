/* The Manager's request/reply format (docs/manager-protocol.md): constants,
 * a growing output buffer and a bounds-checked input cursor. */
#ifndef MPROC_MANAGER_PROTOCOL_H
#define MPROC_MANAGER_PROTOCOL_H

#include "internal.h"

#define MPROC__MGR_VERSION 1
#define MPROC__MGR_NAME_MAX 255
#define MPROC__MGR_KEY_MAX ((size_t)64 << 10)
#define MPROC__MGR_VALUE_MAX ((size_t)16 << 20)
#define MPROC__MGR_FRAME_MAX ((size_t)64 << 20)
/* How long each end polls for the other's next message before sleeping
 * (only when there is another CPU for the other end to run on). */
#define MPROC__MGR_SPIN_SECONDS 50e-6
/* After a poll that came up empty, this many waits sleep at once. */
#define MPROC__MGR_SPIN_BACKOFF 16

enum mproc__mgr_op {
    MPROC__OP_PING = 0x01,
    MPROC__OP_SHUTDOWN = 0x02,
    MPROC__OP_DICT_OPEN = 0x10,
    MPROC__OP_DICT_SET,
    MPROC__OP_DICT_GET,
    MPROC__OP_DICT_DEL,
    MPROC__OP_DICT_CONTAINS,
    MPROC__OP_DICT_POP,
    MPROC__OP_DICT_SETDEFAULT,
    MPROC__OP_DICT_INCR,
    MPROC__OP_DICT_LEN,
    MPROC__OP_DICT_KEYS,
    MPROC__OP_DICT_ITEMS,
    MPROC__OP_DICT_UPDATE,
    MPROC__OP_DICT_CLEAR,
    MPROC__OP_LIST_OPEN = 0x20,
    MPROC__OP_LIST_APPEND,
    MPROC__OP_LIST_EXTEND,
    MPROC__OP_LIST_GET,
    MPROC__OP_LIST_SET,
    MPROC__OP_LIST_INSERT,
    MPROC__OP_LIST_POP,
    MPROC__OP_LIST_REMOVE,
    MPROC__OP_LIST_INDEX,
    MPROC__OP_LIST_LEN,
    MPROC__OP_LIST_SLICE,
    MPROC__OP_LIST_CLEAR,

    /* ---- Manager queues (queue.c; served by server.c with queue_store.c) ---- */
    MPROC__OP_QUEUE_OPEN = 0x60, /* u64 maxsize */
    MPROC__OP_QUEUE_PUT,         /* u64 timeout (us; UINT64_MAX: none), bytes item */
    MPROC__OP_QUEUE_GET,         /* u64 timeout; reply: bytes item */
    MPROC__OP_QUEUE_TASK_DONE,   /* the name alone */
    MPROC__OP_QUEUE_JOIN,        /* u64 timeout */
    MPROC__OP_QUEUE_QSIZE,       /* the name alone; reply: u64 */
    MPROC__OP_QUEUE_LAST = MPROC__OP_QUEUE_QSIZE,
    /* ---- end of Manager queues ---- */
};
/* Manager queues: the wire form of "no time limit". */
#define MPROC__MGR_FOREVER UINT64_MAX

/* ---- blocks owned by the server (mproc_manager_shm; server/blocks.c) ----
 * Request: u8 version, u8 op, u64 size (no container name). Reply: the
 * status, then on success the block's name as a u32-length byte string.
 * Never journaled: a block lives only as long as the server that made it. */
enum { MPROC__OP_MANAGER_SHM = 0x70 };
/* Names of the server's blocks: this prefix, the server's pid, '_', 16
 * random hex digits ("mproc_mgr_1234_0123456789abcdef"), so `mproc ls`
 * can tell whose they are and `mproc gc` can remove those of a server that
 * is gone. */
#define MPROC__MGR_BLOCK_PREFIX "mproc_mgr_"

/* ---- allocation, with a failure injection hook for tests ----
 * The server's data and messages are allocated through these, so a test can
 * make the Nth allocation from now fail and check that a request is
 * all-or-nothing. Single-threaded use (the server's loop, a test). */
extern long mproc__mgr_fail_in; /* allocations left before one fails; -1: never (default) */
void *mproc__mgr_malloc(size_t n);
void *mproc__mgr_calloc(size_t n, size_t size);
void *mproc__mgr_realloc(void *p, size_t n);

/* ---- output ---- */
typedef struct {
    unsigned char *data;
    size_t len, cap;
    int failed; /* an allocation failed: the contents are incomplete */
} mproc__wbuf_t;

void mproc__wbuf_reset(mproc__wbuf_t *w);
void mproc__wbuf_free(mproc__wbuf_t *w);
/* Room for n more bytes, so that the puts of up to n bytes that follow
 * cannot fail. 0, or MPROC_ENOMEM (w->failed is left as it was). */
int mproc__wbuf_reserve(mproc__wbuf_t *w, size_t n);
void mproc__put_raw(mproc__wbuf_t *w, const void *p, size_t n);
void mproc__put_u8(mproc__wbuf_t *w, unsigned v);
void mproc__put_u16(mproc__wbuf_t *w, unsigned v);
void mproc__put_u32(mproc__wbuf_t *w, uint32_t v);
void mproc__put_u64(mproc__wbuf_t *w, uint64_t v);
void mproc__put_bytes(mproc__wbuf_t *w, const void *p, size_t n); /* u32 length, bytes */
/* Overwrites 4 bytes at offset (a count known only at the end). */
void mproc__patch_u32(mproc__wbuf_t *w, size_t offset, uint32_t v);

/* ---- input ---- */
typedef struct {
    const unsigned char *p, *end;
    int bad; /* ran past the end, or a length over its limit */
} mproc__rbuf_t;

unsigned mproc__get_u8(mproc__rbuf_t *r);
unsigned mproc__get_u16(mproc__rbuf_t *r);
uint32_t mproc__get_u32(mproc__rbuf_t *r);
uint64_t mproc__get_u64(mproc__rbuf_t *r);
/* A u32-length byte string of at most max bytes, pointing into the input. */
mproc_buf_t mproc__get_bytes(mproc__rbuf_t *r, size_t max);

#endif
