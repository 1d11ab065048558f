/* The blocks a Manager server owns (blocks.h).
 *
 * The server creates each block itself (it sees the same /dev/shm as its
 * clients) and records it before it tells the client its name: a client
 * killed at any moment leaves no block that the server does not know of.
 *
 * Blocks are not journaled: a restarted server could not hand a dead
 * server's blocks back to anybody, and the clients that mapped them keep
 * their mappings anyway. A server killed with SIGKILL cannot unlink; its
 * blocks carry its pid in their names, and `mproc gc` removes those of a
 * server that is gone once no process maps them. */
#include "manager/server/blocks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define NAME_SIZE 64

struct mproc__blocks {
    char (*names)[NAME_SIZE];
    size_t n, cap;
};

int mproc__blocks_request(const unsigned char *msg, size_t len)
{
    return len >= 2 && msg[1] == MPROC__OP_MANAGER_SHM;
}

size_t mproc__blocks_count(const mproc__blocks_t *b)
{
    return b == NULL ? 0 : b->n;
}

/* "mproc_mgr_PID_" and 16 random hex digits: unpredictable, so no other
 * process can create it first or guess it. 0 or an errno code. */
static int fresh_name(char *name)
{
    unsigned char r[8];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        return mproc__errno(errno);
    snprintf(name, NAME_SIZE, MPROC__MGR_BLOCK_PREFIX "%d_%02x%02x%02x%02x%02x%02x%02x%02x", (int)getpid(),
             r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
    return 0;
}

/* Makes a block of size bytes, recorded in b: 0 with its name, or a code
 * (nothing made, nothing recorded). */
static int make_block(mproc__blocks_t *b, uint64_t size, const char **name)
{
    if (size == 0)
        return MPROC_EINVAL;
    if (size > (uint64_t)INT64_MAX || size > SIZE_MAX)
        return MPROC_ENOMEM;
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 16;
        void *grown = mproc__mgr_realloc(b->names, cap * sizeof *b->names);
        if (grown == NULL)
            return MPROC_ENOMEM;
        b->names = grown;
        b->cap = cap;
    }
    char *slot = b->names[b->n];
    int r;
    mproc_shm_t *blk = NULL;
    do /* a clash of 64 random bits: another name */
        if ((r = fresh_name(slot)) == 0)
            r = mproc_shm_create(&blk, slot, (size_t)size);
    while (r == MPROC_EEXIST);
    if (r != 0)
        return r;
    /* the server never touches the bytes: only the name is kept */
    mproc_shm_close(blk);
    b->n++;
    *name = slot;
    return 0;
}

int mproc__blocks_execute(mproc__blocks_t **bp, const unsigned char *req, size_t len, mproc__wbuf_t *out)
{
    mproc__rbuf_t in = { req, req + len, 0 };
    unsigned version = mproc__get_u8(&in);
    unsigned op = mproc__get_u8(&in);
    uint64_t size = mproc__get_u64(&in);
    if (in.bad || in.p != in.end || version != MPROC__MGR_VERSION || op != MPROC__OP_MANAGER_SHM)
        return MPROC_EPROTO;
    mproc__wbuf_reset(out);
    /* room for the whole reply first: once the block exists, the reply
     * that names it cannot fail */
    if (mproc__wbuf_reserve(out, 1 + 4 + 4 + NAME_SIZE) != 0)
        return MPROC_ENOMEM;
    int r = 0;
    if (*bp == NULL && (*bp = mproc__mgr_calloc(1, sizeof **bp)) == NULL)
        r = MPROC_ENOMEM;
    const char *name = NULL;
    if (r == 0)
        r = make_block(*bp, size, &name);
    mproc__put_u8(out, MPROC__MGR_VERSION);
    mproc__put_u32(out, (uint32_t)r);
    if (r == 0)
        mproc__put_bytes(out, name, strlen(name));
    return 0;
}

void mproc__blocks_unlink_all(mproc__blocks_t *b)
{
    if (b == NULL)
        return;
    for (size_t i = 0; i < b->n; i++)
        mproc_unlink(b->names[i]); /* MPROC_ENOENT: someone removed it already */
    b->n = 0;
}

void mproc__blocks_free(mproc__blocks_t *b)
{
    if (b == NULL)
        return;
    mproc__blocks_unlink_all(b);
    free(b->names);
    free(b);
}
