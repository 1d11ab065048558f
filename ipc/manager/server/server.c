/* The Manager server's event loop.
 *
 * One thread, epoll, non-blocking sockets. Each client has a buffered frame
 * reader and an output buffer; a client that does not read its replies gets
 * no more requests served until it does (its requests wait in its buffer),
 * and never holds up the others. A client that is still authenticating has
 * a deadline; one that sends a malformed frame or request is dropped. The
 * handshake is Python's (auth.c), run step by step as messages arrive.
 *
 * Limits, so that hostile or careless clients cannot take the server down:
 * at most max_clients connections (one more is accepted and closed at once);
 * at most max_handshakes still authenticating (a new one pushes out the
 * oldest, so silent connections cannot keep a real client out); a reserve
 * descriptor so that running out of descriptors still lets the server accept
 * and close (or push out a silent handshake) instead of spinning on a
 * readable listener; replies waiting for clients that do not read them
 * bounded in total (output_limit: past it, the client stalled longest is
 * dropped, as Redis's client-output-buffer-limit does); buffers that shrink
 * back after a large message. A dropped client is freed only at the end of
 * the loop's round, so events already fetched for it stay safe to skip. */
#include "manager/server/server.h"

#include "connection/conn_internal.h"
#include "connection/frame_buffer.h"
#include "manager/server/blocks.h"
#include "manager/server/journal.h"
#include "manager/server/store.h"
#include "manager/server/queue_store.h"
#include "manager/protocol.h"

#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEFAULT_HANDSHAKE_TIMEOUT 10.0
#define DEFAULT_MAX_CLIENTS 1024
#define DEFAULT_MAX_HANDSHAKES 256
#define DEFAULT_OUTPUT_LIMIT ((size_t)64 << 20)
#define EVENTS 64
#define ACCEPTS_PER_ROUND 64
/* buffers larger than this are freed once empty */
#define KEEP_BUFFER ((size_t)64 << 10)
/* out of descriptors with nothing to push out: the listener rests this long */
#define ACCEPT_BACKOFF 0.1

enum state { AWAIT_ANSWER, AWAIT_CHALLENGE, AWAIT_WELCOME, READY };

struct client {
    int fd;
    enum state state;
    int writing;     /* registered for EPOLLOUT, output pending */
    int closing;     /* drop once the output is out (after #FAILURE#) */
    int dead;        /* dropped: freed at the end of the round */
    int held;        /* its reply waits for the journal's commit */
    double deadline; /* for the handshake; for the idle timeout once READY */
    double stalled;  /* when its pending output last made no progress */
    unsigned char challenge[MPROC__AUTH_MESSAGE_MAX];
    size_t challenge_len;
    mproc__frames_t in;
    mproc__wbuf_t out;
    size_t out_sent;
    struct client *prev, *next;
    /* the handshaking clients (oldest first), then the ready ones by their
     * last activity (idle timeout only): both ordered by deadline, so expiry
     * looks at the head alone */
    struct client *tprev, *tnext;
    struct client *hprev, *hnext; /* on the held list */
    /* ---- Manager queues ---- */
    mproc__qholder_t qheld;       /* the items it got and has not acknowledged */
    int parked;                   /* a queue request waits: no other request is served */
    unsigned pop;                 /* the parked request's op */
    mproc__rq_t *pq;              /* its queue */
    double pdeadline;             /* when it is answered anyway (< 0: never) */
    mproc__wbuf_t pdata;          /* a parked put's item */
    struct client *pprev, *pnext; /* on the parked list, oldest first */
    int resume;                   /* unparked this round: serve what it sent meanwhile */
    int paused;                   /* parked with PARKED_INPUT_MAX buffered: not read (only its
                                     hang-up is watched) until unparked */
};

struct timeline {
    struct client *head, *tail;
    unsigned n;
};

struct server {
    const struct mproc__server_opts *o;
    mproc_listener_t *listener;
    int epoll, watch, signals;
    mproc__store_t *store;
    mproc__blocks_t *blocks;        /* the blocks it owns (mproc_manager_shm) */
    struct client *clients, *graveyard, *held;
    mproc__journal_t *journal;
    pid_t saver;                    /* the child writing a snapshot (SIGUSR1), or 0 */
    char msg[600];                  /* what went wrong, for on_error */
    struct timeline handshakes, idle;
    unsigned nclients, max_clients, max_handshakes;
    size_t out_total, output_limit; /* bytes of replies not yet taken by the sockets */
    int reserve;                    /* /dev/null, given up to accept when out of descriptors */
    double paused_until;            /* listener out of epoll until then (0: in) */
    int peer_uid_check;             /* keyless Unix socket: only our own uid */
    int tcp;                        /* a TCP listener: keepalive on its connections */
    mproc__wbuf_t reply;
    /* ---- Manager queues ---- */
    mproc__qstore_t *queues;
    struct client *parked, *parked_tail;
    int qdirty;                     /* a queue changed this round: look at the parked */
    mproc__wbuf_t qreply, qrecord;
    int stop;
    double handshake_timeout, idle_timeout;
};

/* epoll tags for the descriptors that are not clients */
static char tag_listener, tag_watch, tag_signals;

/* ---- clients ---- */

static void timeline_add(struct timeline *t, struct client *c)
{
    c->tnext = NULL;
    c->tprev = t->tail;
    if (t->tail != NULL)
        t->tail->tnext = c;
    else
        t->head = c;
    t->tail = c;
    t->n++;
}

static void timeline_remove(struct timeline *t, struct client *c)
{
    if (c->tprev != NULL)
        c->tprev->tnext = c->tnext;
    else
        t->head = c->tnext;
    if (c->tnext != NULL)
        c->tnext->tprev = c->tprev;
    else
        t->tail = c->tprev;
    c->tprev = c->tnext = NULL;
    t->n--;
}

/* The timeline c is on, or NULL. */
static struct timeline *timeline_of(struct server *s, struct client *c)
{
    if (c->state != READY)
        return &s->handshakes;
    return s->idle_timeout > 0 ? &s->idle : NULL;
}

static void pending_output(struct server *s, struct client *c, size_t was)
{
    size_t now_pending = c->out.len - c->out_sent;
    s->out_total = s->out_total - was + now_pending;
}

static void hold(struct server *s, struct client *c)
{
    c->held = 1;
    c->hprev = NULL;
    c->hnext = s->held;
    if (s->held != NULL)
        s->held->hprev = c;
    s->held = c;
}

static void unhold(struct server *s, struct client *c)
{
    if (c->hprev != NULL)
        c->hprev->hnext = c->hnext;
    else
        s->held = c->hnext;
    if (c->hnext != NULL)
        c->hnext->hprev = c->hprev;
    c->held = 0;
    c->hprev = c->hnext = NULL;
}

static void queue_client_gone(struct server *s, struct client *c);

/* Closes c's connection at once; its memory goes at the end of the round
 * (events of this round may still name it). */
static void drop(struct server *s, struct client *c)
{
    if (c->dead)
        return;
    c->dead = 1;
    epoll_ctl(s->epoll, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    s->out_total -= c->out.len - c->out_sent;
    mproc__frames_free(&c->in);
    mproc__wbuf_free(&c->out);
    c->out_sent = 0;
    struct timeline *t = timeline_of(s, c);
    if (t != NULL)
        timeline_remove(t, c);
    if (c->held)
        unhold(s, c);
    queue_client_gone(s, c);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->clients = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    s->nclients--;
    c->next = s->graveyard;
    s->graveyard = c;
}

static void bury(struct server *s)
{
    while (s->graveyard != NULL) {
        struct client *c = s->graveyard;
        s->graveyard = c->next;
        free(c);
    }
}

/* Drops clients whose replies have waited longest until the replies waiting
 * in total are within the limit; `keep` (whose reply is being queued) last. */
static void enforce_output_limit(struct server *s, struct client *keep)
{
    while (s->out_total > s->output_limit) {
        struct client *worst = NULL;
        for (struct client *c = s->clients; c != NULL; c = c->next)
            if (c != keep && c->out.len > c->out_sent && (worst == NULL || c->stalled < worst->stalled))
                worst = c;
        if (worst == NULL)
            return; /* keep's one reply alone may pass the limit */
        drop(s, worst);
    }
}

static void want_output(struct server *s, struct client *c, int on)
{
    if (c->writing == on)
        return;
    c->writing = on;
    struct epoll_event ev = { .events = on ? EPOLLOUT : EPOLLIN, .data.ptr = c };
    epoll_ctl(s->epoll, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Queues one framed message; unless `later`, writes at once what the
 * socket takes. 0, or -1 when the client must be dropped. */
static int queue_frame(struct server *s, struct client *c, const void *data, size_t len, int later)
{
    unsigned char header[MPROC__FRAME_HEADER_MAX];
    size_t hlen = mproc__frame_header(header, len);
    size_t sent = 0;
    if (c->out.len == c->out_sent && !later) {
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
    size_t was = c->out.len - c->out_sent;
    if (was == 0)
        c->stalled = mproc__monotonic();
    if (sent < hlen)
        mproc__put_raw(&c->out, header + sent, hlen - sent);
    size_t from = sent > hlen ? sent - hlen : 0;
    mproc__put_raw(&c->out, (const unsigned char *)data + from, len - from);
    if (c->out.failed)
        return -1;
    pending_output(s, c, was);
    if (!later)
        want_output(s, c, 1);
    enforce_output_limit(s, c);
    return 0;
}

static int send_frame(struct server *s, struct client *c, const void *data, size_t len)
{
    return queue_frame(s, c, data, len, 0);
}

static int send_text(struct server *s, struct client *c, const char *text)
{
    return send_frame(s, c, text, strlen(text));
}

static int queue_request(struct server *s, struct client *c, const unsigned char *msg, size_t len);

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
        timeline_remove(&s->handshakes, c);
        c->state = READY;
        c->in.max = MPROC__MGR_FRAME_MAX;
        if (s->idle_timeout > 0) {
            c->deadline = mproc__monotonic() + s->idle_timeout;
            timeline_add(&s->idle, c);
        }
        return 0;
    case READY: {
        if (mproc__blocks_request(msg, len)) {
            /* not the store's, and never journaled (blocks.c says why) */
            if (mproc__blocks_execute(&s->blocks, msg, len, &s->reply) != 0)
                return -1;
            return send_frame(s, c, s->reply.data, s->reply.len);
        }
        if (len >= 2 && msg[1] >= MPROC__OP_QUEUE_OPEN && msg[1] <= MPROC__OP_QUEUE_LAST)
            return queue_request(s, c, msg, len);
        int shutdown = 0;
        if (mproc__store_execute(s->store, msg, len, &s->reply, &shutdown) != 0)
            return -1; /* malformed (or no memory for the reply) */
        if (shutdown) {
            s->stop = 1;
            /* before the reply: its blocks are gone when shutdown returns */
            mproc__blocks_unlink_all(s->blocks);
        }
        int later = 0;
        if (s->journal != NULL && mproc__store_changed(s->store)) {
            /* the change goes to the journal; its reply waits for the
             * commit at the end of this round */
            mproc__journal_add(s->journal, MPROC__JREC_REQUEST, msg, len);
            hold(s, c);
            later = 1;
        }
        int r = queue_frame(s, c, s->reply.data, s->reply.len, later);
        if (s->reply.cap > KEEP_BUFFER)
            mproc__wbuf_free(&s->reply); /* one huge reply should not stay */
        return r;
    }
    }
    return -1;
}

/* Handles the frames buffered for c, while its output keeps flowing. 0 or
 * -1 (dropped). */
static int serve_buffered(struct server *s, struct client *c)
{
    while (!c->writing && !c->held && !c->parked) {
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

/* Frees an empty input buffer that grew past what small messages need. */
static void shrink_input(struct client *c)
{
    if (c->in.cap > KEEP_BUFFER && !mproc__frames_pending(&c->in)) {
        size_t max = c->in.max;
        mproc__frames_free(&c->in);
        c->in.max = max;
    }
}

/* A parked client's requests wait for its answer; what it sends meanwhile is
 * buffered up to this much, then the server stops reading it (and watches
 * only for its hang-up), so a client that parks a get and keeps sending
 * cannot make the server buffer without bound. */
#define PARKED_INPUT_MAX (64 * 1024)

static void pause_reading(struct server *s, struct client *c, int pause)
{
    if (c->paused == pause)
        return;
    c->paused = pause;
    /* a parked client has no output pending (requests are served only once
     * the previous reply is out), so EPOLLIN is its only other interest */
    struct epoll_event ev = { .events = pause ? EPOLLRDHUP : EPOLLIN, .data.ptr = c };
    if (!c->dead) /* a dropped client's descriptor is closed already */
        epoll_ctl(s->epoll, EPOLL_CTL_MOD, c->fd, &ev);
}

static void client_readable(struct server *s, struct client *c)
{
    if (c->paused) {
        drop(s, c); /* a paused client is woken only by its hang-up or an error */
        return;
    }
    ssize_t r = mproc__frames_fill(&c->in, c->fd, MSG_DONTWAIT);
    if (r == MPROC_EAGAIN)
        return;
    if (r <= 0) {
        drop(s, c); /* gone, or a frame over the limit */
        return;
    }
    if (c->state == READY && s->idle_timeout > 0) {
        c->deadline = mproc__monotonic() + s->idle_timeout;
        timeline_remove(&s->idle, c);
        timeline_add(&s->idle, c);
    }
    if (c->parked && c->in.end - c->in.start >= PARKED_INPUT_MAX) {
        pause_reading(s, c, 1);
        return;
    }
    if (serve_buffered(s, c) == 0)
        shrink_input(c);
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
        s->out_total -= (size_t)w;
        c->stalled = mproc__monotonic();
    }
    if (c->out.cap > KEEP_BUFFER)
        mproc__wbuf_free(&c->out);
    else
        mproc__wbuf_reset(&c->out);
    c->out_sent = 0;
    if (c->closing) {
        drop(s, c);
        return;
    }
    want_output(s, c, 0);
    serve_buffered(s, c); /* requests that waited for the output */
}

/* The round's changes are in the journal: their replies may go. */
static void release_held(struct server *s)
{
    struct client *c = s->held;
    s->held = NULL;
    for (struct client *k = c; k != NULL; k = k->hnext)
        k->held = 0; /* off the list as a whole: a drop leaves the list alone */
    while (c != NULL) {
        struct client *next = c->hnext;
        c->hprev = c->hnext = NULL;
        if (!c->dead) {
            client_writable(s, c); /* sends, then serves what waited */
            if (!c->dead && c->out_sent < c->out.len)
                want_output(s, c, 1);
        }
        c = next;
    }
}

/* End of a round: write (and by the policy fsync) the round's changes in
 * one batch, then let their replies go; compact the journal when due. 0,
 * or the error that stops the server (the held clients get no reply: their
 * changes are not acknowledged). */
static int commit_round(struct server *s)
{
    if (s->journal == NULL || !mproc__journal_pending(s->journal))
        return 0;
    int r = mproc__journal_commit(s->journal);
    if (r != 0) {
        while (s->held != NULL)
            drop(s, s->held);
        if (s->o->on_error != NULL)
            s->o->on_error(r, "writing the journal", s->o->arg);
        return r;
    }
    release_held(s);
    if (!mproc__journal_pending(s->journal)) {
        int e = mproc__journal_maybe_rewrite(s->journal, s->store, 0);
        if (e != 0 && s->o->on_error != NULL)
            s->o->on_error(e, "compacting the journal (the journal stays as it was)", s->o->arg);
    }
    return 0;
}

static void pause_listener(struct server *s)
{
    epoll_ctl(s->epoll, EPOLL_CTL_DEL, mproc__listener_fd(s->listener), NULL);
    s->paused_until = mproc__monotonic() + ACCEPT_BACKOFF;
}

/* Out of descriptors: push out the oldest silent handshake, or accept with
 * the reserve descriptor and close at once (the caller learns at once that
 * it is refused), or, with neither, rest the listener a while. Never leave
 * the listener readable with nothing done about it: that spins the loop. */
static int out_of_descriptors(struct server *s)
{
    if (s->handshakes.head != NULL) {
        drop(s, s->handshakes.head);
        return 1; /* try again with the descriptor it freed */
    }
    if (s->reserve >= 0) {
        close(s->reserve);
        int fd = accept4(mproc__listener_fd(s->listener), NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0)
            close(fd);
        s->reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd >= 0)
            return 1;
    }
    pause_listener(s);
    return 0;
}

/* Whether the peer of a keyless Unix socket is of our own uid. */
static int peer_allowed(struct server *s, int fd)
{
    if (!s->peer_uid_check)
        return 1;
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
        return 0;
    return cred.uid == geteuid();
}

/* A TCP peer whose machine vanished (no FIN, no RST) is found out by
 * keepalive within about a minute (30 s of silence, then 3 probes 10 s
 * apart), so its connection ends and the queue items it held go back, even
 * though holding them keeps it from the idle timeout. Best effort. */
static void keepalive(int fd)
{
    int on = 1, idle = 30, interval = 10, count = 3;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
}

static void accept_clients(struct server *s)
{
    for (int i = 0; i < ACCEPTS_PER_ROUND; i++) {
        int fd = accept4(mproc__listener_fd(s->listener), NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if ((errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) &&
                out_of_descriptors(s))
                continue;
            return; /* EAGAIN: all taken */
        }
        if (s->nclients >= s->max_clients || !peer_allowed(s, fd)) {
            close(fd); /* refused at once: the client sees the connection end */
            continue;
        }
        if (s->tcp)
            keepalive(fd);
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
        s->nclients++;
        if (c->state != READY) {
            /* too many still authenticating: the oldest has had longest */
            if (s->handshakes.n >= s->max_handshakes)
                drop(s, s->handshakes.head);
            c->deadline = mproc__monotonic() + s->handshake_timeout;
            timeline_add(&s->handshakes, c);
        } else if (s->idle_timeout > 0) {
            c->deadline = mproc__monotonic() + s->idle_timeout;
            timeline_add(&s->idle, c);
        }
        if (c->state == AWAIT_ANSWER &&
            (mproc__auth_challenge(c->challenge, &c->challenge_len) != 0 ||
             send_frame(s, c, c->challenge, c->challenge_len) != 0))
            drop(s, c);
    }
}

static double queue_expire(struct server *s, double now);

/* Drops the clients whose deadline passed on one timeline (only its head
 * needs a look: it is ordered by deadline); the earliest deadline left, or
 * -1. */
static double expire(struct server *s, struct timeline *t, double now)
{
    while (t->head != NULL && now >= t->head->deadline) {
        struct client *c = t->head;
        if ((c->parked || c->qheld.head != NULL) && t == &s->idle) {
            /* Waiting on the server is not idleness, and neither is holding
             * a queue item: a worker may take as long as its job takes, and
             * the server cannot tell a slow one from a dead one by silence.
             * A dead one's connection ends (the kernel closes it; on TCP,
             * keepalive finds a vanished machine), and that returns its
             * items. Its time starts again. */
            timeline_remove(t, c);
            c->deadline = now + s->idle_timeout;
            timeline_add(t, c);
            continue;
        }
        drop(s, c);
    }
    return t->head != NULL ? t->head->deadline : -1;
}

/* Drops clients whose handshake (or idle time) ran out; the milliseconds
 * until the next such deadline (-1: none). */
static int expire_clients(struct server *s)
{
    double now = mproc__monotonic();
    double next = expire(s, &s->handshakes, now);
    double idle = expire(s, &s->idle, now);
    if (idle >= 0 && (next < 0 || idle < next))
        next = idle;
    if (s->paused_until > 0 && (next < 0 || s->paused_until < next))
        next = s->paused_until;
    double parked = queue_expire(s, now);
    if (parked >= 0 && (next < 0 || parked < next))
        next = parked;
    return next < 0 ? -1 : (int)((next - now) * 1000.0) + 1;
}

/* ---- Manager queues ----
 *
 * A queue request that cannot be answered at once (get on an empty queue,
 * put on a full one, join with work outstanding) parks its client: nothing
 * more of that client is served until it is answered, when the queue
 * changes or at its deadline, whichever comes first. The client polls
 * nothing. Every item a connection got and did not acknowledge is tagged
 * with the connection; when the connection ends, however it ends, the items
 * go back to the front of their queues and parked gets take them in the
 * same round. With a journal every change (open, put, take, done) is
 * recorded and its reply waits for the round's commit, as the store's do;
 * a return is not recorded (see queue_store.h). */

static void park(struct server *s, struct client *c, unsigned op, mproc__rq_t *q, uint64_t timeout_us)
{
    c->parked = 1;
    c->pop = op;
    c->pq = q;
    c->pdeadline = timeout_us == MPROC__MGR_FOREVER ? -1 : mproc__monotonic() + (double)timeout_us / 1e6;
    c->pnext = NULL;
    c->pprev = s->parked_tail;
    if (s->parked_tail != NULL)
        s->parked_tail->pnext = c;
    else
        s->parked = c;
    s->parked_tail = c;
}

static void unpark(struct server *s, struct client *c)
{
    if (c->pprev != NULL)
        c->pprev->pnext = c->pnext;
    else
        s->parked = c->pnext;
    if (c->pnext != NULL)
        c->pnext->pprev = c->pprev;
    else
        s->parked_tail = c->pprev;
    c->pprev = c->pnext = NULL;
    c->parked = 0;
    c->pq = NULL;
    mproc__wbuf_free(&c->pdata);
    c->resume = 1;
    pause_reading(s, c, 0);
}

/* With a journal: records a queue change; the reply that acknowledges it
 * then waits for the round's commit (queue_reply's `later`). 1 if so. */
static int queue_journal(struct server *s, unsigned qop, const mproc__rq_t *q, uint64_t num,
                         const void *data, size_t len)
{
    if (s->journal == NULL)
        return 0;
    mproc__qstore_record(&s->qrecord, qop, q, num, data, len);
    mproc__journal_add(s->journal, MPROC__JREC_QUEUE, s->qrecord.data, s->qrecord.len);
    if (s->qrecord.cap > KEEP_BUFFER)
        mproc__wbuf_free(&s->qrecord);
    return 1;
}

/* Sends a queue reply: a status, then (get) the item or (qsize) a count;
 * later: after the journal's commit. */
static int queue_reply_at(struct server *s, struct client *c, int status, const void *data, size_t len,
                          int has_data, int has_num, uint64_t num, int later)
{
    mproc__wbuf_t *w = &s->qreply;
    mproc__wbuf_reset(w);
    mproc__put_u8(w, MPROC__MGR_VERSION);
    mproc__put_u32(w, (uint32_t)status);
    if (status == 0 && has_data)
        mproc__put_bytes(w, data, len);
    if (status == 0 && has_num)
        mproc__put_u64(w, num);
    if (w->failed) {
        mproc__wbuf_reset(w);
        mproc__put_u8(w, MPROC__MGR_VERSION);
        mproc__put_u32(w, (uint32_t)MPROC_ENOMEM);
    }
    if (later)
        hold(s, c);
    int r = queue_frame(s, c, w->data, w->len, later);
    if (w->cap > KEEP_BUFFER)
        mproc__wbuf_free(w);
    return r;
}

static int queue_reply(struct server *s, struct client *c, int status, const void *data, size_t len,
                       int has_data, int has_num, uint64_t num)
{
    return queue_reply_at(s, c, status, data, len, has_data, has_num, num, 0);
}

/* Tries to answer parked c now: 1 if answered (and unparked). */
static int try_parked(struct server *s, struct client *c, int expired)
{
    mproc__rq_t *q = c->pq;
    const void *data;
    size_t len;
    uint64_t id;
    int r;
    switch (c->pop) {
    case MPROC__OP_QUEUE_GET:
        r = mproc__rq_take(q, &c->qheld, &data, &len, &id);
        if (r == 0) {
            s->qdirty = 1; /* room for a parked put */
            int later = queue_journal(s, MPROC__QREC_TAKE, q, id, NULL, 0);
            if (queue_reply_at(s, c, 0, data, len, 1, 0, 0, later) != 0) {
                unpark(s, c);
                drop(s, c); /* its item goes back */
                return 1;
            }
        } else if (!expired) {
            return 0;
        } else if (queue_reply(s, c, MPROC_EEMPTY, NULL, 0, 0, 0, 0) != 0) {
            unpark(s, c);
            drop(s, c);
            return 1;
        }
        break;
    case MPROC__OP_QUEUE_PUT:
        r = mproc__rq_put(q, c->pdata.data, c->pdata.len, &id);
        int later = 0;
        if (r == 0) {
            s->qdirty = 1;
            later = queue_journal(s, MPROC__QREC_PUT, q, id, c->pdata.data, c->pdata.len);
        } else if (r == MPROC_EFULL && !expired) {
            return 0;
        }
        if (queue_reply_at(s, c, r, NULL, 0, 0, 0, 0, later) != 0) {
            unpark(s, c);
            drop(s, c);
            return 1;
        }
        break;
    default: /* JOIN */
        if (mproc__rq_unfinished(q) > 0 && !expired)
            return 0;
        if (queue_reply(s, c, mproc__rq_unfinished(q) > 0 ? MPROC_ETIMEDOUT : 0, NULL, 0, 0, 0, 0) != 0) {
            unpark(s, c);
            drop(s, c);
            return 1;
        }
        break;
    }
    unpark(s, c);
    return 1;
}

/* After the round's events: answers what the round's changes allow, until
 * nothing more moves, then serves what the answered clients sent
 * meanwhile (which may change queues again). A chain of such answers can
 * be as long as the clients make it: after SETTLE_ROUNDS the loop takes its
 * events again (others are served too) and, qdirty being still set, comes
 * back here at once without sleeping. */
#define SETTLE_ROUNDS 64
static void queue_settle(struct server *s)
{
    for (int rounds = 0; rounds < SETTLE_ROUNDS && s->qdirty; rounds++) {
        while (s->qdirty) {
            s->qdirty = 0;
            for (struct client *c = s->parked, *next; c != NULL; c = next) {
                next = c->pnext;
                if (!c->dead)
                    try_parked(s, c, 0);
                if (next != NULL && next->dead)
                    next = s->parked; /* a drop changed the list: start over */
            }
        }
        for (struct client *c = s->clients; c != NULL; c = c->next)
            if (c->resume && !c->dead) {
                c->resume = 0;
                serve_buffered(s, c);
                if (!c->dead)
                    shrink_input(c);
            }
    }
}

/* Answers the parked requests whose deadline passed; the earliest deadline
 * left (-1: none). */
static double queue_expire(struct server *s, double now)
{
    double next = -1;
    int expired = 0;
    for (struct client *c = s->parked, *n; c != NULL; c = n) {
        n = c->pnext;
        if (c->pdeadline >= 0 && now >= c->pdeadline) {
            try_parked(s, c, 1);
            expired = 1;
        } else if (c->pdeadline >= 0 && (next < 0 || c->pdeadline < next)) {
            next = c->pdeadline;
        }
    }
    if (expired) {
        s->qdirty = 1;
        queue_settle(s);
        return 0; /* look again at once: serving may have parked more */
    }
    return next;
}

static void queue_client_gone(struct server *s, struct client *c)
{
    if (c->parked) {
        unpark(s, c);
        c->resume = 0;
    }
    if (mproc__qstore_release(s->queues, &c->qheld) > 0)
        s->qdirty = 1; /* parked gets take them in this round */
}

/* One queue request: answered now, parked, or malformed (-1: drop). */
static int queue_request(struct server *s, struct client *c, const unsigned char *msg, size_t len)
{
    mproc__rbuf_t r = { msg, msg + len, 0 };
    unsigned version = mproc__get_u8(&r);
    unsigned op = mproc__get_u8(&r);
    size_t nlen = mproc__get_u16(&r);
    if (r.bad || version != MPROC__MGR_VERSION || nlen == 0 || nlen > MPROC__MGR_NAME_MAX ||
        (size_t)(r.end - r.p) < nlen)
        return -1;
    const unsigned char *name = r.p;
    r.p += nlen;
    uint64_t num = 0;
    mproc_buf_t item = { 0 };
    if (op == MPROC__OP_QUEUE_OPEN || op == MPROC__OP_QUEUE_PUT || op == MPROC__OP_QUEUE_GET ||
        op == MPROC__OP_QUEUE_JOIN)
        num = mproc__get_u64(&r);
    if (op == MPROC__OP_QUEUE_PUT)
        item = mproc__get_bytes(&r, MPROC__MGR_VALUE_MAX);
    if (r.bad || r.p != r.end)
        return -1;
    mproc__rq_t *q;
    /* a queue unknown here (a server started anew) is made unbounded */
    uint64_t maxsize = op == MPROC__OP_QUEUE_OPEN ? num : 0;
    int st = mproc__qstore_open(s->queues, name, nlen, maxsize, &q);
    if (st != 0)
        return queue_reply(s, c, st, NULL, 0, 0, 0, 0);
    const void *data;
    size_t dlen;
    uint64_t id;
    int later = 0;
    switch (op) {
    case MPROC__OP_QUEUE_OPEN:
        /* recorded every time (idempotent): cheap, and simpler than telling new from old */
        later = queue_journal(s, MPROC__QREC_OPEN, q, mproc__rq_maxsize(q), NULL, 0);
        return queue_reply_at(s, c, 0, NULL, 0, 0, 0, 0, later);
    case MPROC__OP_QUEUE_PUT:
        st = mproc__rq_put(q, item.data, item.len, &id);
        if (st == 0) {
            s->qdirty = 1;
            later = queue_journal(s, MPROC__QREC_PUT, q, id, item.data, item.len);
            return queue_reply_at(s, c, 0, NULL, 0, 0, 0, 0, later);
        }
        if (st == MPROC_EFULL && num > 0) {
            mproc__put_raw(&c->pdata, item.data, item.len);
            if (c->pdata.failed) {
                mproc__wbuf_free(&c->pdata);
                return queue_reply(s, c, MPROC_ENOMEM, NULL, 0, 0, 0, 0);
            }
            park(s, c, op, q, num);
            return 0;
        }
        return queue_reply(s, c, st, NULL, 0, 0, 0, 0);
    case MPROC__OP_QUEUE_GET:
        st = mproc__rq_take(q, &c->qheld, &data, &dlen, &id);
        if (st == 0) {
            s->qdirty = 1;
            later = queue_journal(s, MPROC__QREC_TAKE, q, id, NULL, 0);
            return queue_reply_at(s, c, 0, data, dlen, 1, 0, 0, later);
        }
        if (num > 0) {
            park(s, c, op, q, num);
            return 0;
        }
        return queue_reply(s, c, st, NULL, 0, 0, 0, 0);
    case MPROC__OP_QUEUE_TASK_DONE:
        st = mproc__rq_done(q, &c->qheld, &id);
        if (st == 0) {
            s->qdirty = 1;
            later = queue_journal(s, MPROC__QREC_DONE, q, id, NULL, 0);
        }
        return queue_reply_at(s, c, st, NULL, 0, 0, 0, 0, later);
    case MPROC__OP_QUEUE_JOIN:
        if (mproc__rq_unfinished(q) == 0)
            return queue_reply(s, c, 0, NULL, 0, 0, 0, 0);
        if (num > 0) {
            park(s, c, op, q, num);
            return 0;
        }
        return queue_reply(s, c, MPROC_ETIMEDOUT, NULL, 0, 0, 0, 0);
    default: /* QSIZE */
        return queue_reply(s, c, 0, NULL, 0, 0, 1, mproc__rq_waiting(q));
    }
}

/* ---- snapshots ---- */

/* Writes the snapshot: to a fresh file of an unpredictable name beside it
 * (created exclusively, never through a symlink), fsynced, renamed over
 * it, the directory fsynced: a crash leaves the old one or the new one. */
static int save_snapshot(struct server *s)
{
    const char *path = s->o->snapshot;
    mproc__wbuf_t data = { 0 };
    int r = mproc__store_save(s->store, &data);
    char tmp[4096];
    if (r == 0 && (size_t)snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path) >= sizeof tmp)
        r = MPROC_EINVAL;
    int fd = -1;
    if (r == 0 && (fd = mkostemp(tmp, O_CLOEXEC)) < 0)
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
    if (r == 0) {
        char dir[4096];
        const char *slash = strrchr(path, '/');
        snprintf(dir, sizeof dir, "%.*s", slash == NULL ? 1 : slash == path ? 1 : (int)(slash - path),
                 slash == NULL ? "." : path);
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) != 0)
            r = mproc__errno(errno);
        if (dfd >= 0)
            close(dfd);
    }
    if (r != 0 && fd >= 0)
        unlink(tmp);
    mproc__wbuf_free(&data);
    if (r != 0 && s->o->on_error != NULL)
        s->o->on_error(r, "saving the snapshot", s->o->arg);
    return r;
}

/* SIGUSR1: the snapshot is written by a forked child, which has the data
 * as of now (copy-on-write), as Redis's BGSAVE does: the clients never wait
 * for the disk. One at a time. */
static void save_snapshot_in_background(struct server *s)
{
    if (s->saver > 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        /* The child lets go of every socket at once: holding the listener
         * would keep its address taken (a server restarted after this one
         * died could not listen), and holding the clients' connections
         * would hide this one's death from them (no hang-up, no items
         * returned) until the snapshot is written. The journal's lock is
         * not the child's (journal.c). */
        for (struct client *c = s->clients; c != NULL; c = c->next)
            close(c->fd);
        close(mproc__listener_fd(s->listener));
        close(s->epoll);
        close(s->signals);
        if (s->watch >= 0)
            close(s->watch);
        _exit(save_snapshot(s) == 0 ? 0 : 1);
    }
    if (pid < 0)
        save_snapshot(s); /* no process to spare: in the loop, then */
    else
        s->saver = pid;
}

static void reap_saver(struct server *s, int wait)
{
    if (s->saver > 0 && waitpid(s->saver, NULL, wait ? 0 : WNOHANG) == s->saver)
        s->saver = 0;
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
                save_snapshot_in_background(s);
        } else if (si.ssi_signo == SIGUSR2) {
            if (s->journal != NULL && !mproc__journal_pending(s->journal)) {
                int r = mproc__journal_maybe_rewrite(s->journal, s->store, 1);
                if (r != 0 && s->o->on_error != NULL)
                    s->o->on_error(r, "compacting the journal (the journal stays as it was)", s->o->arg);
            }
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
    s->queues = mproc__store_queues(s->store);
    int r;
    /* With a journal, the journal is the truth: the snapshot file is read
     * only to begin a journal that does not exist yet (or is empty). */
    struct stat st;
    int fresh = o->journal == NULL || stat(o->journal, &st) != 0 || st.st_size == 0;
    *what = "loading the snapshot";
    if (o->snapshot != NULL && fresh && (r = load_snapshot(s)) != 0)
        return r;
    if (o->journal != NULL) {
        snprintf(s->msg, sizeof s->msg, "loading the journal %s", o->journal);
        *what = s->msg;
        r = mproc__journal_open(&s->journal, o->journal, o->fsync, o->rewrite_min, s->store, s->msg,
                                sizeof s->msg);
        if (r != 0)
            return r;
    }
    mproc__store_set_limit(s->store, o->max_memory);
    /* items taken and not acknowledged before a restart: their connections
     * ended with the old server, so they go back to the front */
    mproc__qstore_release(s->queues, NULL);
    *what = "listening";
    if ((r = mproc_listener_create(&s->listener, o->address, NULL, 0)) != 0)
        return r;
    *what = "starting";
    int lfd = mproc__listener_fd(s->listener);
    fcntl(lfd, F_SETFL, O_NONBLOCK);
    struct sockaddr_storage sa;
    socklen_t salen = sizeof sa;
    if (getsockname(lfd, (struct sockaddr *)&sa, &salen) != 0)
        return mproc__errno(errno);
    /* without a key, a Unix socket is for our own user only, whatever the
     * mode of its file (an abstract one has none) */
    s->peer_uid_check = o->key == NULL && sa.ss_family == AF_UNIX;
    s->tcp = sa.ss_family == AF_INET || sa.ss_family == AF_INET6;
    s->reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
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
    sigaddset(&set, SIGUSR2);
    /* the other signals that would end it by default end it through the
     * loop too, so its blocks are unlinked on the way out */
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGQUIT);
    if (!forked)
        sigaddset(&set, SIGINT);
    signal(SIGHUP, SIG_DFL);
    signal(SIGQUIT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGUSR1, SIG_DFL);
    signal(SIGUSR2, SIG_DFL);
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
    struct server s = { .o = o, .epoll = -1, .watch = -1, .signals = -1, .reserve = -1 };
    s.handshake_timeout = o->handshake_timeout > 0 ? o->handshake_timeout : DEFAULT_HANDSHAKE_TIMEOUT;
    s.idle_timeout = o->idle_timeout > 0 ? o->idle_timeout : 0;
    s.max_clients = o->max_clients > 0 ? o->max_clients : DEFAULT_MAX_CLIENTS;
    s.max_handshakes = o->max_handshakes > 0 ? o->max_handshakes : DEFAULT_MAX_HANDSHAKES;
    s.output_limit = o->output_limit > 0 ? o->output_limit : DEFAULT_OUTPUT_LIMIT;
    /* Big buffers (replies, requests, values) straight from mmap, always:
     * glibc would otherwise raise its threshold after the first one is
     * freed and keep later ones in the heap, so memory a client made the
     * server take would stay with the process after the client went. */
    mallopt(M_MMAP_THRESHOLD, 256 << 10);
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
        if (s.paused_until > 0 && mproc__monotonic() >= s.paused_until) {
            s.paused_until = 0;
            add_watch(s.epoll, mproc__listener_fd(s.listener), &tag_listener);
        }
        int wait_ms = expire_clients(&s);
        if (o->watch_pid > 0 && s.watch < 0 && (wait_ms < 0 || wait_ms > 1000))
            wait_ms = 1000; /* no pidfd: look at the starter every second */
        int polling = busy_until > 0;
        if (s.held != NULL || s.qdirty) {
            /* replies wait for a commit, or queue_settle stopped at its
             * bound with parked requests still to look at: no sleeping */
            wait_ms = 0;
        } else if (polling && mproc__monotonic() < busy_until) {
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
        reap_saver(&s, 0);
        for (int i = 0; i < n; i++) {
            void *tag = ev[i].data.ptr;
            if (tag == &tag_listener)
                accept_clients(&s);
            else if (tag == &tag_watch)
                s.stop = 1;
            else if (tag == &tag_signals)
                handle_signals(&s);
            else if (((struct client *)tag)->dead)
                continue; /* dropped earlier in this round */
            else if (ev[i].events & EPOLLOUT)
                client_writable(&s, tag);
            else
                client_readable(&s, tag);
        }
        queue_settle(&s);
        if ((r = commit_round(&s)) == 0 && s.journal != NULL && mproc__journal_pending(s.journal))
            r = commit_round(&s); /* requests the released replies let through */
        bury(&s);
    }
    /* Every way out of the loop (shutdown, signal, the starter's exit, a
     * journal that cannot be written) passes here: the blocks go first. */
    mproc__blocks_free(s.blocks);
    s.blocks = NULL;
    /* Give the last replies (a SHUTDOWN's own) a chance to leave. */
    while (s.clients != NULL) {
        if (s.clients->writing)
            client_writable(&s, s.clients);
        if (s.clients != NULL)
            drop(&s, s.clients);
    }
    bury(&s);
    mproc__wbuf_free(&s.qreply);
    mproc__wbuf_free(&s.qrecord);
    if (s.reserve >= 0)
        close(s.reserve);
    reap_saver(&s, 1);
    if (r == 0 && o->snapshot != NULL)
        r = save_snapshot(&s);
    mproc__journal_close(s.journal);
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
