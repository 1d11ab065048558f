/* Buffered input of framed messages (see frame_buffer.h). */
#include "connection/frame_buffer.h"

#include "connection/conn_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define FILL_CHUNK ((size_t)64 << 10)

/* The size of the frame at the buffer's start (header included), or 0 if
 * its header is incomplete; negative on a bad or oversized header. */
static int64_t frame_size(const mproc__frames_t *f, size_t *header)
{
    size_t have = f->end - f->start;
    const unsigned char *p = f->data + f->start;
    if (have < 4)
        return 0;
    int32_t n = (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
    uint64_t len;
    if (n >= 0) {
        *header = 4;
        len = (uint64_t)n;
    } else if (n == -1) {
        if (have < MPROC__FRAME_HEADER_MAX)
            return 0;
        *header = MPROC__FRAME_HEADER_MAX;
        len = 0;
        for (int i = 4; i < 12; i++)
            len = len << 8 | p[i];
    } else {
        return MPROC_EPROTO;
    }
    /* checked before any arithmetic: a header may claim up to 2^64-1 bytes */
    if (len > f->max || len > (uint64_t)INT64_MAX - *header)
        return MPROC_EMSGSIZE;
    return (int64_t)(*header + len);
}

int mproc__frames_next(mproc__frames_t *f, const unsigned char **msg, size_t *len)
{
    size_t header = 0;
    int64_t size = frame_size(f, &header);
    if (size < 0)
        return (int)size;
    if (size == 0 || f->end - f->start < (size_t)size)
        return 0;
    *msg = f->data + f->start + header;
    *len = (size_t)size - header;
    f->start += (size_t)size;
    if (f->start == f->end)
        f->start = f->end = 0;
    return 1;
}

int mproc__frames_pending(const mproc__frames_t *f)
{
    return f->end > f->start;
}

ssize_t mproc__frames_fill(mproc__frames_t *f, int fd, int flags)
{
    size_t header = 0;
    int64_t size = frame_size(f, &header);
    if (size < 0)
        return size;
    /* room for a chunk more than is buffered; for a large frame, room that
     * grows with what has arrived (doubling, up to the frame's size), never
     * at once what a header merely claims: a peer announcing 64 MiB and
     * sending nothing costs a chunk, not 64 MiB */
    size_t have = f->end - f->start;
    size_t need = have + FILL_CHUNK;
    if ((size_t)size > need) {
        size_t grown = have * 2;
        need = grown < need ? need : grown < (size_t)size ? grown : (size_t)size;
    }
    if (f->cap - f->start < need && f->start > 0) {
        memmove(f->data, f->data + f->start, f->end - f->start);
        f->end -= f->start;
        f->start = 0;
    }
    if (f->cap - f->start < need) {
        unsigned char *grown = realloc(f->data, f->start + need);
        if (grown == NULL)
            return MPROC_ENOMEM;
        f->data = grown;
        f->cap = f->start + need;
    }
    for (;;) {
        ssize_t r = recv(fd, f->data + f->end, f->cap - f->end, flags);
        if (r >= 0) {
            f->end += (size_t)r;
            return r;
        }
        if (errno == EINTR)
            continue;
        if (errno == ECONNRESET)
            return 0;
        return mproc__errno(errno);
    }
}

void mproc__frames_free(mproc__frames_t *f)
{
    free(f->data);
    memset(f, 0, sizeof *f);
}
