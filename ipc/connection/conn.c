/* Connection: one end of a message channel framed as Python's
 * multiprocessing.connection frames it, over a socket or a pipe.
 *
 * Descriptors are blocking (a send without a timeout, and a receive without
 * one, cost one system call each); a receive with a timeout waits with ppoll
 * against its deadline, so it holds in the middle of a message too. Nothing is
 * read ahead of the message being received: what is in the kernel's buffer is
 * exactly what the peer sent after it, so poll/epoll on the descriptor stays
 * truthful. A message interrupted by a timeout keeps its header and the bytes
 * read so far in the connection, and the next call carries on. */
#include "connection/conn_internal.h"

#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

int mproc__conn_wrap(mproc_conn_t **c, int fd, unsigned flags)
{
    mproc_conn_t *conn = calloc(1, sizeof *conn);
    if (conn == NULL) {
        close(fd);
        return MPROC_ENOMEM;
    }
    conn->fd = fd;
    conn->flags = flags;
    conn->max_message = MPROC_CONN_MAX_MESSAGE_DEFAULT;
    *c = conn;
    return 0;
}

int mproc_pipe(mproc_conn_t **c1, mproc_conn_t **c2, int duplex)
{
    if (c1 == NULL || c2 == NULL || (duplex != 0 && duplex != 1))
        return MPROC_EINVAL;
    /* Both kinds are a Unix socketpair: a send is one sendmsg with
     * MSG_NOSIGNAL, where a pipe(2) would need SIGPIPE blocked around its
     * write (two more system calls per send). A one-way pair is shut down in
     * the other direction, so each end is what it says at the descriptor
     * level too: the receiving end's descriptor cannot be written (EPIPE),
     * the sending end's reads end of file at once. */
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
        return mproc__errno(errno);
    unsigned f1 = MPROC__CONN_RECV | MPROC__CONN_SOCKET | MPROC__CONN_UNIX;
    unsigned f2 = MPROC__CONN_SEND | MPROC__CONN_SOCKET | MPROC__CONN_UNIX;
    if (duplex) {
        f1 = f2 = f1 | f2;
    } else if (shutdown(fds[0], SHUT_WR) != 0 || shutdown(fds[1], SHUT_RD) != 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        return mproc__errno(e);
    }
    int r = mproc__conn_wrap(c1, fds[0], f1);
    if (r != 0) {
        close(fds[1]);
        return r;
    }
    r = mproc__conn_wrap(c2, fds[1], f2);
    if (r != 0) {
        mproc_conn_close(*c1);
        return r;
    }
    return 0;
}

int mproc_conn_close(mproc_conn_t *c)
{
    if (c == NULL)
        return MPROC_EINVAL;
    close(c->fd);
    free(c->partial);
    free(c);
    return 0;
}

int mproc__conn_release_fd(mproc_conn_t *c)
{
    int fd = c->fd;
    free(c->partial);
    free(c);
    return fd;
}

int mproc_conn_fileno(mproc_conn_t *c)
{
    return c == NULL ? -1 : c->fd;
}

int mproc_conn_set_max_message(mproc_conn_t *c, size_t max)
{
    if (c == NULL || max == 0)
        return MPROC_EINVAL;
    c->max_message = max;
    return 0;
}

/* ---- sending ------------------------------------------------------------ */

size_t mproc__frame_header(unsigned char *header, size_t len)
{
    if (len <= MPROC__FRAME_SHORT_MAX) {
        for (int i = 0; i < 4; i++)
            header[i] = (unsigned char)(len >> (24 - 8 * i));
        return 4;
    }
    memset(header, 0xff, 4);
    for (int i = 0; i < 8; i++)
        header[4 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    return 12;
}

/* One write of what is left in iov: with MSG_NOSIGNAL on a socket, so a
 * vanished peer is EPIPE and never a signal; else a plain writev, which
 * leaves SIGPIPE to the program's own disposition. */
static ssize_t write_once(int fd, int is_socket, struct iovec *iov, int n)
{
    if (is_socket) {
        struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)n };
        return sendmsg(fd, &m, MSG_NOSIGNAL);
    }
    return writev(fd, iov, n);
}

static int write_all(int fd, int is_socket, struct iovec *iov, int n)
{
    static const mproc__deadline_t forever = { .kind = MPROC__FOREVER };
    while (n > 0) {
        ssize_t w = write_once(fd, is_socket, iov, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) { /* (where the caller made the descriptor non-blocking) */
                int r = mproc__fd_wait(fd, POLLOUT, &forever);
                if (r != 0)
                    return r;
                continue;
            }
            if (errno == EPIPE || errno == ECONNRESET)
                return MPROC_EPIPE;
            return mproc__errno(errno);
        }
        size_t done = (size_t)w;
        while (n > 0 && done >= iov->iov_len) {
            done -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + done;
            iov->iov_len -= done;
        }
    }
    return 0;
}

int mproc__send_frame(int fd, int how, const void *data, size_t len)
{
    unsigned char header[MPROC__FRAME_HEADER_MAX];
    struct iovec iov[2] = {
        { .iov_base = header, .iov_len = mproc__frame_header(header, len) },
        { .iov_base = (void *)data, .iov_len = len },
    };
    return write_all(fd, how == MPROC__SEND_SOCKET, iov, len > 0 ? 2 : 1);
}

/* How c's frames are written: see mproc__send_frame. With the guard off, a
 * plain write leaves SIGPIPE to the program's own disposition (ignored, or
 * its handler runs), on a socket as on a pipe. */
static int send_mode(const mproc_conn_t *c)
{
    return c->sigpipe_unguarded ? MPROC__SEND_PLAIN : MPROC__SEND_SOCKET;
}

int mproc_conn_set_sigpipe_guard(mproc_conn_t *c, int on)
{
    if (c == NULL || (on != 0 && on != 1))
        return MPROC_EINVAL;
    if (!on) {
        /* only where a SIGPIPE can no longer kill: ignored, or handled */
        struct sigaction sa;
        if (sigaction(SIGPIPE, NULL, &sa) != 0 || sa.sa_handler == SIG_DFL)
            return MPROC_EPERM;
    }
    c->sigpipe_unguarded = !on;
    return 0;
}

int mproc_conn_send(mproc_conn_t *c, const void *data, size_t len)
{
    if (c == NULL || (data == NULL && len > 0))
        return MPROC_EINVAL;
    if (!(c->flags & MPROC__CONN_SEND))
        return MPROC_EPERM;
    return mproc__send_frame(c->fd, send_mode(c), data, len);
}

/* ---- receiving ---------------------------------------------------------- */

/* Marks the stream as out of step with its frames: every later receive
 * fails the same way. */
static int conn_break(mproc_conn_t *c)
{
    c->broken = MPROC_EPROTO;
    return MPROC_EPROTO;
}

/* Reads at most want bytes, waiting until d for the first. The count read,
 * 0 at end of file, or a negative code.
 *
 * Descriptors are blocking, so a receive without a timeout costs one read
 * that sleeps in the kernel until data comes. With a timeout, a socket is
 * read with MSG_DONTWAIT and waited on only when empty; a pipe has no
 * per-call non-blocking read, so it is polled first. */
static ssize_t read_some(mproc_conn_t *c, void *dst, size_t want, const mproc__deadline_t *d)
{
    int readable = d->kind == MPROC__FOREVER;
    for (;;) {
        ssize_t r;
        if (c->flags & MPROC__CONN_SOCKET)
            r = recv(c->fd, dst, want, readable ? 0 : MSG_DONTWAIT);
        else if (readable)
            r = read(c->fd, dst, want);
        else
            r = -1, errno = EAGAIN;
        if (r >= 0)
            return r;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN) {
            /* (also where the caller made the descriptor non-blocking) */
            if (d->kind == MPROC__NOWAIT && (c->flags & MPROC__CONN_SOCKET))
                return MPROC_ETIMEDOUT; /* a MSG_DONTWAIT read said it all */
            int w = mproc__fd_wait(c->fd, POLLIN, d);
            if (w != 0)
                return w;
            readable = 1;
            continue;
        }
        if (errno == ECONNRESET)
            return 0; /* the peer closed with data of ours unread: it is gone */
        return mproc__errno(errno);
    }
}

static uint64_t big_endian(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Completes the current message's header. 0, MPROC_EOF (closed between
 * messages), MPROC_EPROTO, MPROC_ETIMEDOUT, ... */
static int read_header(mproc_conn_t *c, const mproc__deadline_t *d)
{
    while (!c->length_known) {
        unsigned need = c->header_got < 4 ? 4 : MPROC__FRAME_HEADER_MAX;
        ssize_t r = read_some(c, c->header + c->header_got, need - c->header_got, d);
        if (r < 0)
            return (int)r;
        if (r == 0)
            return c->header_got == 0 ? MPROC_EOF : conn_break(c);
        c->header_got += (unsigned)r;
        if (c->header_got == 4) {
            int32_t short_length = (int32_t)(uint32_t)big_endian(c->header, 4);
            if (short_length >= 0) {
                c->length = (uint64_t)short_length;
                c->length_known = 1;
            } else if (short_length != -1) {
                return conn_break(c);
            }
        } else if (c->header_got == MPROC__FRAME_HEADER_MAX) {
            c->length = big_endian(c->header + 4, 8);
            if (c->length > (uint64_t)SIZE_MAX || c->length > (uint64_t)INT64_MAX)
                return conn_break(c);
            c->length_known = 1;
        }
    }
    return 0;
}

static void message_done(mproc_conn_t *c)
{
    free(c->partial);
    c->partial = NULL;
    c->partial_got = 0;
    c->header_got = 0;
    c->length_known = 0;
}

/* Keeps the body bytes dst[c->partial_got, got) for the next call. The
 * buffer has room for the whole body, so each byte is copied once. */
static int keep_partial(mproc_conn_t *c, const unsigned char *dst, size_t got)
{
    if (got == c->partial_got)
        return 0;
    if (c->partial == NULL && (c->partial = malloc((size_t)c->length)) == NULL)
        return conn_break(c);
    memcpy(c->partial + c->partial_got, dst + c->partial_got, got - c->partial_got);
    c->partial_got = got;
    return 0;
}

/* Reads the rest of the current message's body into dst (room for c->length
 * bytes), whose first c->partial_got bytes are already there. 0 when
 * complete; else the error, with the count read so far in *got. */
static int read_rest(mproc_conn_t *c, unsigned char *dst, size_t *got, const mproc__deadline_t *d)
{
    *got = c->partial_got;
    while (*got < c->length) {
        ssize_t r = read_some(c, dst + *got, (size_t)c->length - *got, d);
        if (r == 0)
            return conn_break(c); /* the peer closed in the middle of a message */
        if (r < 0)
            return (int)r;
        *got += (size_t)r;
    }
    return 0;
}

/* The current message's body into the caller's dst. On a timeout, what
 * arrived is kept in the connection for the next call. */
static int read_body(mproc_conn_t *c, unsigned char *dst, const mproc__deadline_t *d)
{
    if (c->partial_got > 0)
        memcpy(dst, c->partial, c->partial_got);
    size_t got;
    int r = read_rest(c, dst, &got, d);
    if (r != 0) {
        if (!c->broken && keep_partial(c, dst, got) != 0)
            return MPROC_EPROTO;
        return r;
    }
    message_done(c);
    return 0;
}

static int check_receiver(const mproc_conn_t *c)
{
    if (c == NULL)
        return MPROC_EINVAL;
    if (!(c->flags & MPROC__CONN_RECV))
        return MPROC_EPERM;
    return c->broken;
}

int mproc__conn_recv_until(mproc_conn_t *c, void *buf, size_t cap, size_t *len,
                           const mproc__deadline_t *d)
{
    int r = read_header(c, d);
    if (r != 0)
        return r;
    *len = (size_t)c->length;
    if (c->length > cap)
        return MPROC_EMSGSIZE;
    return read_body(c, buf, d);
}

int mproc_conn_recv(mproc_conn_t *c, void *buf, size_t cap, size_t *len, double timeout)
{
    int r = check_receiver(c);
    if (r != 0)
        return r;
    if (len == NULL || (buf == NULL && cap > 0))
        return MPROC_EINVAL;
    mproc__deadline_t d;
    r = mproc__deadline_init(&d, timeout);
    if (r != 0)
        return r;
    return mproc__conn_recv_until(c, buf, cap, len, &d);
}

int mproc_conn_recv_alloc(mproc_conn_t *c, void **data, size_t *len, double timeout)
{
    int r = check_receiver(c);
    if (r != 0)
        return r;
    if (data == NULL || len == NULL)
        return MPROC_EINVAL;
    mproc__deadline_t d;
    r = mproc__deadline_init(&d, timeout);
    if (r != 0)
        return r;
    r = read_header(c, &d);
    if (r != 0)
        return r;
    *len = (size_t)c->length;
    if (c->length > c->max_message)
        return MPROC_EMSGSIZE;
    /* The body goes straight into the buffer that will be the caller's; a
     * timeout leaves it in the connection, and the next call carries on in
     * it, so a message trickling in is never copied twice. */
    if (c->partial == NULL) {
        c->partial = malloc(c->length > 0 ? (size_t)c->length : 1);
        if (c->partial == NULL)
            return MPROC_ENOMEM;
    }
    size_t got;
    r = read_rest(c, c->partial, &got, &d);
    c->partial_got = got;
    if (r != 0)
        return r;
    *data = c->partial;
    c->partial = NULL;
    message_done(c);
    return 0;
}

int mproc_conn_poll(mproc_conn_t *c, double timeout)
{
    int r = check_receiver(c);
    if (r == MPROC_EPROTO)
        return 1; /* a receive would fail at once */
    if (r != 0)
        return r;
    mproc__deadline_t d;
    r = mproc__deadline_init(&d, timeout);
    if (r != 0)
        return r;
    if (c->length_known && c->partial_got == c->length)
        return 1; /* an empty body is all that is left of the message */
    r = mproc__fd_wait(c->fd, POLLIN, &d);
    if (r == MPROC_ETIMEDOUT)
        return 0;
    return r == 0 ? 1 : r;
}

/* ---- passing descriptors ------------------------------------------------ */

/* The wire form of Python's multiprocessing.reduction.sendfds for one
 * descriptor: a single byte holding the count, with the descriptor attached. */
int mproc_conn_send_fd(mproc_conn_t *c, int fd)
{
    if (c == NULL || fd < 0)
        return MPROC_EINVAL;
    if (!(c->flags & MPROC__CONN_SEND))
        return MPROC_EPERM;
    if (!(c->flags & MPROC__CONN_UNIX))
        return MPROC_EINVAL;
    unsigned char count = 1;
    struct iovec iov = { .iov_base = &count, .iov_len = 1 };
    union {
        struct cmsghdr align;
        char space[CMSG_SPACE(sizeof(int))];
    } control;
    memset(&control, 0, sizeof control);
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = control.space, .msg_controllen = sizeof control.space,
    };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof fd);
    static const mproc__deadline_t forever = { .kind = MPROC__FOREVER };
    for (;;) {
        if (sendmsg(c->fd, &m, MSG_NOSIGNAL) == 1)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN) {
            int r = mproc__fd_wait(c->fd, POLLOUT, &forever);
            if (r != 0)
                return r;
            continue;
        }
        if (errno == EPIPE || errno == ECONNRESET)
            return MPROC_EPIPE;
        if (errno == EBADF)
            return MPROC_EINVAL; /* the descriptor to send is not open */
        return mproc__errno(errno);
    }
}

/* Closes every descriptor a control message carried except *keep (if
 * keep is not NULL, the first is kept there). */
static void take_descriptors(struct msghdr *m, int *keep)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(m); cm != NULL; cm = CMSG_NXTHDR(m, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
            if (keep != NULL && *keep < 0)
                *keep = fd;
            else
                close(fd);
        }
    }
}

int mproc_conn_recv_fd(mproc_conn_t *c, int *fd, double timeout)
{
    int r = check_receiver(c);
    if (r != 0)
        return r;
    if (fd == NULL || !(c->flags & MPROC__CONN_UNIX) || c->header_got > 0)
        return MPROC_EINVAL; /* not a Unix socket, or in the middle of a message */
    mproc__deadline_t d;
    r = mproc__deadline_init(&d, timeout);
    if (r != 0)
        return r;
    unsigned char count;
    union {
        struct cmsghdr align;
        char space[CMSG_SPACE(4 * sizeof(int))];
    } control;
    for (;;) {
        struct iovec iov = { .iov_base = &count, .iov_len = 1 };
        struct msghdr m = {
            .msg_iov = &iov, .msg_iovlen = 1,
            .msg_control = control.space, .msg_controllen = sizeof control.space,
        };
        ssize_t got = recvmsg(c->fd, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (got == 1) {
            int received = -1;
            take_descriptors(&m, (m.msg_flags & MSG_CTRUNC) ? NULL : &received);
            if (received < 0) {
                /* A byte of a message, not a descriptor: the framing is lost. */
                return conn_break(c);
            }
            *fd = received;
            return 0;
        }
        if (got == 0)
            return MPROC_EOF;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return errno == ECONNRESET ? MPROC_EOF : mproc__errno(errno);
        r = mproc__fd_wait(c->fd, POLLIN, &d);
        if (r != 0)
            return r;
    }
}
