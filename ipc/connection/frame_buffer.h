/* Buffered input of framed messages for the Manager's two ends. Unlike
 * mproc_conn_recv it reads ahead (one recv takes every frame that has
 * arrived), which is safe there because neither end's descriptor is handed
 * to a user's poll loop. */
#ifndef MPROC_FRAME_BUFFER_H
#define MPROC_FRAME_BUFFER_H

#include "internal.h"

#include <sys/types.h>

typedef struct {
    unsigned char *data;
    size_t start, end, cap;
    size_t max; /* the largest frame accepted */
} mproc__frames_t;

/* The next whole frame in the buffer: 1 with *msg (valid until the next
 * fill) and *len; 0 when more bytes are needed; MPROC_EPROTO (a negative
 * length) or MPROC_EMSGSIZE (over max). */
int mproc__frames_next(mproc__frames_t *f, const unsigned char **msg, size_t *len);
/* One recv(fd, flags) into the buffer, with room for the frame in progress.
 * The count read, 0 at end of file, or a negative code (MPROC_EAGAIN when
 * nothing was there for a MSG_DONTWAIT read). */
ssize_t mproc__frames_fill(mproc__frames_t *f, int fd, int flags);
/* Whether bytes of a frame not yet complete are buffered. */
int mproc__frames_pending(const mproc__frames_t *f);
void mproc__frames_free(mproc__frames_t *f);

#endif
