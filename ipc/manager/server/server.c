/* The Manager server's event loop.
 *
 * One thread, epoll, non-blocking sockets. Each client has a buffered frame
 * reader and an output buffer; a client that does not read its replies gets
 * no more requests served until it does (its requests wait in its buffer),
 * and never holds up the others. A client that is still authenticating has
 * a deadline; one that sends a malformed frame or request is dropped. The
 * handshake is Python's (auth.c), run step by step as messages arrive. */
#include "manager/server/server.h"

#include "connection/conn_internal.h"
#include "connection/frame_buffer.h"
#include "manager/server/store.h"
#include "manager/protocol.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/uio.h>
#include <unistd.h>

#define DEFAULT_HANDSHAKE_TIMEOUT 10.0
#define EVENTS 64
#define ACCEPTS_PER_ROUND 64

enum state { AWAIT_ANSWER, AWAIT_CHALLENGE, AWAIT_WELCOME, READY };

struct client {
    int fd;
    enum state state;
    int writing;     /* registered for EPOLLOUT, output pending */
    int closing;     /* drop once the output is out (after #FAILURE#) */
    double deadline; /* for the handshake */
    unsigned char challenge[MPROC__AUTH_MESSAGE_MAX];
    size_t challenge_len;
    mproc__frames_t in;
    mproc__wbuf_t out;
    size_t out_sent;
    struct client *prev, *next;
};

struct server {
    const struct mproc__server_opts *o;
    mproc_listener_t *listener;
    int epoll, watch, signals;
    mproc__store_t *store;
    struct client *clients;
    mproc__wbuf_t reply;
    int stop;
    double handshake_timeout;
};

/* epoll tags for the descriptors that are not clients */
static char tag_listener, tag_watch, tag_signals;

/* ---- clients ---- */

static void drop(struct server *s, struct client *c)
{
    epoll_ctl(s->epoll, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    mproc__frames_free(&c->in);
    mproc__wbuf_free(&c->out);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->clients = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    free(c);
}

static void want_output(struct server *s, struct client *c, int on)
{
    if (c->writing == on)
        return;
    c->writing = on;
    struct epoll_event ev = { .events = on ? EPOLLOUT : EPOLLIN, .data.ptr = c };
    epoll_ctl(s->epoll, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Queues one framed message; writes at once what the socket takes. 0, or
 * -1 when the client must be dropped. */
static int send_frame(struct server *s, struct client *c, const void *data, size_t len)
{
    unsigned char header[MPROC__FRAME_HEADER_MAX];
    size_t hlen = mproc__frame_header(header, len);
    size_t sent = 0;
    if (c->out.len == c->out_sent) {
        struct iovec iov[2] = { { header, hlen }, { (void *)data, len } };
        struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };
        ssize_t w;
        do
            w = sendmsg(c->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
        while (w < 0 && errno == EINTR);
        if (w < 0 && errno != EAGAIN)
            return -1;
        sent = w > 0 ? (size_t)w : 0;
        if (sent == hlen + len)
            return 0;
        mproc__wbuf_reset(&c->out);
        c->out_sent = 0;
    }
    if (sent < hlen)
        mproc__put_raw(&c->out, header + sent, hlen - sent);
    size_t from = sent > hlen ? sent - hlen : 0;
    mproc__put_raw(&c->out, (const unsigned char *)data + from, len - from);
    if (c->out.failed)
        return -1;
    want_output(s, c, 1);
    return 0;
}

static int send_text(struct server *s, struct client *c, const char *text)
{
    return send_frame(s, c, text, strlen(text));
}

/* One message from a client, by the state of its handshake. 0 or -1 (drop). */
static int handle(struct server *s, struct client *c, const unsigned char *msg, size_t len)
{
    const struct mproc__server_opts *o = s->o;
    size_t prefix = sizeof MPROC__CHALLENGE - 1;
    switch (c->state) {
    case AWAIT_ANSWER:
        if (mproc__auth_verify(o->key, o->keylen, c->challenge + prefix, c->challenge_len - prefix, msg,
                               len) != 0) {
            c->closing = 1;
            return send_text(s, c, MPROC__FAILURE);
        }
        c->state = AWAIT_CHALLENGE;
        return send_text(s, c, MPROC__WELCOME);
    case AWAIT_CHALLENGE: {
        unsigned char answer[MPROC__AUTH_MESSAGE_MAX];
        size_t alen;
        if (mproc__auth_answer_to(o->key, o->keylen, msg, len, answer, &alen) != 0)
            return -1;
        c->state = AWAIT_WELCOME;
        return send_frame(s, c, answer, alen);
    }
    case AWAIT_WELCOME:
        if (!mproc__auth_is_welcome(msg, len))
            return -1;
        c->state = READY;
        c->in.max = MPROC__MGR_FRAME_MAX;
        return 0;
    case READY: {
        int shutdown = 0;
        if (mproc__store_execute(s->store, msg, len, &s->reply, &shutdown) != 0)
            return -1; /* malformed (or no memory for the reply) */
        if (shutdown)
            s->stop = 1;
        return send_frame(s, c, s->reply.data, s->reply.len);
    }
    }
    return -1;
}

/* Handles the frames buffered for c, while its output keeps flowing. 0 or
 * -1 (dropped). */
static int serve_buffered(struct server *s, struct client *c)
{
    while (!c->writing) {
        if (c->closing) {
            drop(s, c); /* its #FAILURE# is out */
            return -1;
        }
        const unsigned char *msg;
        size_t len;
        int r = mproc__frames_next(&c->in, &msg, &len);
        if (r == 0)
            return 0;
        if (r < 0 || handle(s, c, msg, len) != 0) {
            drop(s, c);
            return -1;
        }
    }
    return 0;
}

static void client_readable(struct server *s, struct client *c)
{
    ssize_t r = mproc__frames_fill(&c->in, c->fd, MSG_DONTWAIT);
    if (r == MPROC_EAGAIN)
        return;
    if (r <= 0) {
        drop(s, c); /* gone, or a frame over the limit */
        return;
    }
    serve_buffered(s, c);
}

static void client_writable(struct server *s, struct client *c)
{
    while (c->out_sent < c->out.len) {
        ssize_t w = send(c->fd, c->out.data + c->out_sent, c->out.len - c->out_sent,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                drop(s, c);
            return;
        }
        c->out_sent += (size_t)w;
    }
    mproc__wbuf_reset(&c->out);
    c->out_sent = 0;
    if (c->closing) {
        drop(s, c);
        return;
    }
    want_output(s, c, 0);
    serve_buffered(s, c); /* requests that waited for the output */
}

static void accept_clients(struct server *s)
{
    for (int i = 0; i < ACCEPTS_PER_ROUND; i++) {
        int fd = accept4(mproc__listener_fd(s->listener), NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            return; /* EAGAIN, or out of descriptors: try at the next event */
        struct client *c = calloc(1, sizeof *c);
        if (c == NULL) {
            close(fd);
            return;
        }
        c->fd = fd;
        c->in.max = MPROC__AUTH_MESSAGE_MAX;
        c->state = s->o->key != NULL ? AWAIT_ANSWER : READY;
        if (c->state == READY)
            c->in.max = MPROC__MGR_FRAME_MAX;
        c->deadline = mproc__monotonic() + s->handshake_timeout;
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
        if (epoll_ctl(s->epoll, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            free(c);
            return;
        }
        c->next = s->clients;
        if (c->next != NULL)
            c->next->prev = c;
        s->clients = c;
        if (c->state == AWAIT_ANSWER &&
            (mproc__auth_challenge(c->challenge, &c->challenge_len) != 0 ||
             send_frame(s, c, c->challenge, c->challenge_len) != 0))
            drop(s, c);
    }
}

/* Drops clients whose handshake ran out of time; the milliseconds until the
 * next such deadline (-1: none). */
static int expire_handshakes(struct server *s)
{
    double now = mproc__monotonic(), next = -1;
    struct client *c = s->clients;
    while (c != NULL) {
        struct client *following = c->next;
        if (c->state != READY) {
            if (now >= c->deadline)
                drop(s, c);
            else if (next < 0 || c->deadline < next)
                next = c->deadline;
        }
        c = following;
    }
    return next < 0 ? -1 : (int)((next - now) * 1000.0) + 1;
}

/* ---- snapshots ---- */

static int save_snapshot(struct server *s)
{
    const char *path = s->o->snapshot;
    mproc__wbuf_t data = { 0 };
    int r = mproc__store_save(s->store, &data);
    char tmp[4096];
    if (r == 0 && (size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        r = MPROC_EINVAL;
    int fd = -1;
    if (r == 0 && (fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
        r = mproc__errno(errno);
    for (size_t done = 0; r == 0 && done < data.len;) {
        ssize_t w = write(fd, data.data + done, data.len - done);
        if (w < 0 && errno != EINTR)
            r = mproc__errno(errno);
        else if (w > 0)
            done += (size_t)w;
    }
    if (r == 0 && fsync(fd) != 0)
        r = mproc__errno(errno);
    if (fd >= 0)
        close(fd);
    if (r == 0 && rename(tmp, path) != 0)
        r = mproc__errno(errno);
    if (r != 0 && fd >= 0)
        unlink(tmp);
    mproc__wbuf_free(&data);
    if (r != 0 && s->o->on_error != NULL)
        s->o->on_error(r, "saving the snapshot", s->o->arg);
    return r;
}

static int load_snapshot(struct server *s)
{
    int fd = open(s->o->snapshot, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : mproc__errno(errno); /* no snapshot yet */
    mproc__wbuf_t data = { 0 };
    unsigned char chunk[65536];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof chunk)) > 0 || (n < 0 && errno == EINTR))
        if (n > 0)
            mproc__put_raw(&data, chunk, (size_t)n);
    int r = n < 0 ? mproc__errno(errno) : data.failed ? MPROC_ENOMEM : 0;
    close(fd);
    if (r == 0)
        r = mproc__store_load(s->store, data.data, data.len);
    mproc__wbuf_free(&data);
    return r;
}

/* ---- the loop ---- */

static void handle_signals(struct server *s)
{
    struct signalfd_siginfo si;
    while (read(s->signals, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGUSR1) {
            if (s->o->snapshot != NULL)
                save_snapshot(s);
        } else {
            s->stop = 1;
        }
    }
}

static int add_watch(int epoll, int fd, void *tag)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = tag };
    return epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &ev);
}

/* Whether the watched starter has exited (the check without a pidfd). */
static int starter_gone(pid_t pid)
{
    return kill(pid, 0) != 0 && errno == ESRCH;
}

static int start(struct server *s, const char **what)
{
    const struct mproc__server_opts *o = s->o;
    if (o->key == NULL && o->address != NULL && o->address[0] != '/' && o->address[0] != '@' &&
        strchr(o->address, '/') == NULL)
        return MPROC_EINVAL; /* TCP without an authkey: anyone could connect */
    if ((s->store = mproc__store_new()) == NULL)
        return MPROC_ENOMEM;
    int r;
    *what = "loading the snapshot";
    if (o->snapshot != NULL && (r = load_snapshot(s)) != 0)
        return r;
    *what = "listening";
    if ((r = mproc_listener_create(&s->listener, o->address, NULL, 0)) != 0)
        return r;
    *what = "starting";
    fcntl(mproc__listener_fd(s->listener), F_SETFL, O_NONBLOCK);
    if ((s->epoll = epoll_create1(EPOLL_CLOEXEC)) < 0)
        return mproc__errno(errno);
    if (add_watch(s->epoll, mproc__listener_fd(s->listener), &tag_listener) != 0)
        return mproc__errno(errno);
    /* SIGTERM stops the server. SIGINT does too for the daemon; a server
     * forked by mproc_manager_start ignores it, as Python's does, so the
     * Ctrl-C meant for its starter's process group leaves it serving the
     * starter (which it follows when the starter does exit). Dispositions
     * are reset first: an ignored signal never reaches a signalfd. */
    int forked = o->watch_pid > 0;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    if (!forked)
        sigaddset(&set, SIGINT);
    signal(SIGTERM, SIG_DFL);
    signal(SIGUSR1, SIG_DFL);
    signal(SIGINT, forked ? SIG_IGN : SIG_DFL);
    sigprocmask(SIG_BLOCK, &set, NULL);
    s->signals = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (s->signals < 0 || add_watch(s->epoll, s->signals, &tag_signals) != 0)
        return mproc__errno(errno);
    s->watch = o->watch_pid > 0 ? o->watch_fd : -1;
    if (s->watch >= 0 && add_watch(s->epoll, s->watch, &tag_watch) != 0)
        return mproc__errno(errno);
    return 0;
}

int mproc__manager_serve(const struct mproc__server_opts *o)
{
    struct server s = { .o = o, .epoll = -1, .watch = -1, .signals = -1 };
    s.handshake_timeout = o->handshake_timeout > 0 ? o->handshake_timeout : DEFAULT_HANDSHAKE_TIMEOUT;
    const char *what = "starting";
    int r = start(&s, &what);
    if (r != 0) {
        if (o->on_error != NULL)
            o->on_error(r, what, o->arg);
    } else if (o->on_ready != NULL) {
        o->on_ready(mproc_listener_address(s.listener), o->arg);
    }
    /* After serving a request the loop polls for a while before it sleeps:
     * a client's next request often comes sooner than a sleep and wake-up
     * would take (only with another CPU for the client to run on). */
    int spin = mproc__spin_worthwhile();
    unsigned spin_skip = 0;
    double busy_until = 0;
    while (r == 0 && !s.stop) {
        int wait_ms = expire_handshakes(&s);
        if (o->watch_pid > 0 && s.watch < 0 && (wait_ms < 0 || wait_ms > 1000))
            wait_ms = 1000; /* no pidfd: look at the starter every second */
        int polling = busy_until > 0;
        if (polling && mproc__monotonic() < busy_until) {
            wait_ms = 0;
        } else if (polling) {
            busy_until = 0; /* the poll came up empty: sleep, and skip a few */
            spin_skip = MPROC__MGR_SPIN_BACKOFF;
        }
        struct epoll_event ev[EVENTS];
        int n = epoll_wait(s.epoll, ev, EVENTS, wait_ms);
        if (n > 0 && spin) {
            if (spin_skip > 0)
                spin_skip--;
            else
                busy_until = mproc__monotonic() + MPROC__MGR_SPIN_SECONDS;
        }
        if (o->watch_pid > 0 && s.watch < 0 && starter_gone(o->watch_pid))
            s.stop = 1;
        for (int i = 0; i < n; i++) {
            void *tag = ev[i].data.ptr;
            if (tag == &tag_listener)
                accept_clients(&s);
            else if (tag == &tag_watch)
                s.stop = 1;
            else if (tag == &tag_signals)
                handle_signals(&s);
            else if (ev[i].events & EPOLLOUT)
                client_writable(&s, tag);
            else
                client_readable(&s, tag); /* (a client is dropped only while its own event is handled) */
        }
    }
    /* Give the last replies (a SHUTDOWN's own) a chance to leave. */
    while (s.clients != NULL) {
        if (s.clients->writing)
            client_writable(&s, s.clients);
        if (s.clients != NULL)
            drop(&s, s.clients);
    }
    if (r == 0 && o->snapshot != NULL)
        r = save_snapshot(&s);
    if (s.listener != NULL)
        mproc_listener_close(s.listener);
    if (s.epoll >= 0)
        close(s.epoll);
    if (s.watch >= 0)
        close(s.watch);
    if (s.signals >= 0)
        close(s.signals);
    mproc__store_free(s.store);
    mproc__wbuf_free(&s.reply);
    return r;
}
