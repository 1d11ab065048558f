/* Listener and Client (multiprocessing.connection.Listener, Client): Unix
 * and TCP sockets, with Python's authentication handshake when a key is
 * given. The listener challenges first, then answers the client's challenge;
 * the client does the reverse.
 *
 * The listener runs the handshakes of several clients at once, inside
 * accept: each accepted client that has a key to prove is a small state
 * machine fed by poll(), with its own deadline, kept in the listener across
 * accept calls. The first to finish is returned; a silent one holds up
 * nobody and is dropped when its time is up; accept itself returns within
 * its timeout. Handshake messages are read exactly (header, then payload),
 * never ahead, so whatever the client sends after its #WELCOME# stays in the
 * socket for the connection. */
#include "connection/conn_internal.h"

#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_HANDSHAKE_TIMEOUT 10.0
#define LISTEN_BACKLOG 128
/* handshakes in progress at once; one more pushes out the oldest */
#define MAX_PENDING 64

enum hs_state { HS_ANSWER, HS_CHALLENGE, HS_WELCOME };

/* A client in its handshake. */
struct pending {
    int fd;
    enum hs_state state;
    double deadline;
    unsigned char challenge[MPROC__AUTH_MESSAGE_MAX];
    size_t challenge_len;
    unsigned char in[4 + MPROC__AUTH_MESSAGE_MAX]; /* the message being read */
    size_t got;
};

struct mproc_listener {
    int fd;
    unsigned conn_flags; /* for the connections it accepts */
    char *address;
    char *socket_path;   /* a file to remove at close, or NULL */
    char *private_dir;   /* the 0700 directory of an address-less listener, or NULL */
    pid_t creator;       /* only the creating process removes files */
    unsigned char *key;  /* NULL: no handshake */
    size_t keylen;
    double handshake_timeout;
    struct pending pending[MAX_PENDING]; /* in the order they came */
    unsigned npending;
};

/* A copy of the key (a non-NULL pointer even for an empty key, which still
 * means "authenticate", as in Python). */
static int copy_key(const void *authkey, size_t keylen, unsigned char **key)
{
    *key = NULL;
    if (authkey == NULL)
        return 0;
    *key = malloc(keylen > 0 ? keylen : 1);
    if (*key == NULL)
        return MPROC_ENOMEM;
    memcpy(*key, authkey, keylen);
    return 0;
}

static void free_key(unsigned char *key, size_t keylen)
{
    if (key != NULL) {
        explicit_bzero(key, keylen);
        free(key);
    }
}

static void set_tcp_nodelay(int fd)
{
    /* Every frame leaves in one write: no reason to let Nagle hold it. */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* A socket file nobody accepts on (its listener died without removing it). */
static int stale_socket(const mproc__address_t *a)
{
    struct stat st;
    if (a->abstract || lstat(a->un.sun_path, &st) != 0 || !S_ISSOCK(st.st_mode))
        return 0;
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe < 0)
        return 0;
    int refused = connect(probe, (const struct sockaddr *)&a->un, a->un_len) != 0 &&
                  errno == ECONNREFUSED;
    close(probe);
    return refused;
}

static int bind_error(int e)
{
    return e == EADDRINUSE ? MPROC_EEXIST : mproc__errno(e);
}

static int listen_unix(struct mproc_listener *l, const mproc__address_t *a)
{
    l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (l->fd < 0)
        return mproc__errno(errno);
    int r = bind(l->fd, (const struct sockaddr *)&a->un, a->un_len);
    if (r != 0 && errno == EADDRINUSE && stale_socket(a)) {
        unlink(a->un.sun_path);
        r = bind(l->fd, (const struct sockaddr *)&a->un, a->un_len);
    }
    if (r != 0)
        return bind_error(errno);
    if (!a->abstract && (l->socket_path = strdup(a->un.sun_path)) == NULL)
        return MPROC_ENOMEM;
    if (listen(l->fd, LISTEN_BACKLOG) != 0)
        return mproc__errno(errno);
    l->conn_flags |= MPROC__CONN_UNIX;
    return 0;
}

/* Tries each address a resolves to, with a fresh socket each, until
 * use(fd, address) succeeds: the socket then goes to *out. The last error
 * otherwise (MPROC_ETIMEDOUT stops the search at once). */
static int each_address(const mproc__address_t *a, int passive,
                        int (*use)(int fd, const struct addrinfo *ai, const void *arg), const void *arg,
                        int *out)
{
    struct addrinfo *res;
    int r = mproc__address_resolve(a, passive, &res);
    if (r != 0)
        return r;
    r = MPROC_ENOENT;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            r = mproc__errno(errno);
            continue;
        }
        r = use(fd, ai, arg);
        if (r == 0) {
            *out = fd;
            break;
        }
        close(fd);
        if (r == MPROC_ETIMEDOUT)
            break;
    }
    freeaddrinfo(res);
    return r;
}

static int bind_and_listen(int fd, const struct addrinfo *ai, const void *arg)
{
    (void)arg;
    int one = 1; /* as Python's Listener: a restarted server can rebind at once */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, LISTEN_BACKLOG) != 0)
        return bind_error(errno);
    return 0;
}

static int listen_tcp(struct mproc_listener *l, const mproc__address_t *a)
{
    return each_address(a, 1, bind_and_listen, NULL, &l->fd);
}

/* address NULL: "<tmp>/mproc-XXXXXX/listener", the directory 0700. */
static int private_address(struct mproc_listener *l, mproc__address_t *a)
{
    const char *tmp = getenv("TMPDIR");
    if (tmp == NULL || tmp[0] != '/')
        tmp = "/tmp";
    char dir[sizeof a->un.sun_path];
    if ((size_t)snprintf(dir, sizeof dir, "%s/mproc-XXXXXX", tmp) >= sizeof dir - sizeof "/listener")
        return MPROC_EINVAL;
    if (mkdtemp(dir) == NULL)
        return mproc__errno(errno);
    if ((l->private_dir = strdup(dir)) == NULL) {
        rmdir(dir);
        return MPROC_ENOMEM;
    }
    char path[sizeof dir + sizeof "/listener"];
    snprintf(path, sizeof path, "%s/listener", dir);
    return mproc__address_parse(path, a);
}

int mproc_listener_create(mproc_listener_t **lp, const char *address, const void *authkey,
                          size_t keylen)
{
    if (lp == NULL)
        return MPROC_EINVAL;
    mproc__address_t a;
    if (address != NULL && mproc__address_parse(address, &a) != 0)
        return MPROC_EINVAL;
    struct mproc_listener *l = calloc(1, sizeof *l);
    if (l == NULL)
        return MPROC_ENOMEM;
    l->fd = -1;
    l->creator = getpid();
    l->conn_flags = MPROC__CONN_RECV | MPROC__CONN_SEND | MPROC__CONN_SOCKET;
    l->handshake_timeout = DEFAULT_HANDSHAKE_TIMEOUT;
    l->keylen = keylen;
    int r = copy_key(authkey, keylen, &l->key);
    if (r == 0 && address == NULL)
        r = private_address(l, &a);
    if (r == 0)
        r = a.is_unix ? listen_unix(l, &a) : listen_tcp(l, &a);
    if (r == 0 && (l->address = mproc__address_of_socket(l->fd)) == NULL)
        r = MPROC_ENOMEM;
    if (r != 0) {
        mproc_listener_close(l);
        return r;
    }
    *lp = l;
    return 0;
}

int mproc__listener_fd(mproc_listener_t *l)
{
    return l->fd;
}

const char *mproc_listener_address(mproc_listener_t *l)
{
    return l == NULL ? NULL : l->address;
}

int mproc_listener_set_handshake_timeout(mproc_listener_t *l, double timeout)
{
    if (l == NULL || isnan(timeout) || timeout <= 0)
        return MPROC_EINVAL;
    l->handshake_timeout = timeout;
    return 0;
}

/* Any way a handshake goes wrong is the client failing to authenticate; only
 * local trouble (memory, descriptors) is reported as itself. */
static int handshake_error(int r)
{
    return (r == MPROC_ENOMEM || r == MPROC_EMFILE) ? r : MPROC_EAUTH;
}

static int make_blocking(int fd);

static void pending_remove(mproc_listener_t *l, unsigned i, int close_fd)
{
    if (close_fd)
        close(l->pending[i].fd);
    explicit_bzero(&l->pending[i], sizeof l->pending[i]);
    memmove(&l->pending[i], &l->pending[i + 1], (l->npending - i - 1) * sizeof l->pending[0]);
    l->npending--;
}

/* Sends a handshake message whole at once (a few hundred bytes into a
 * fresh socket's buffer: it fits, or the client is not worth waiting for). */
static int send_message(int fd, const void *data, size_t len)
{
    unsigned char m[4 + MPROC__AUTH_MESSAGE_MAX];
    if (len > MPROC__AUTH_MESSAGE_MAX)
        return MPROC_EAUTH;
    size_t hlen = mproc__frame_header(m, len);
    memcpy(m + hlen, data, len);
    ssize_t w;
    do
        w = send(fd, m, hlen + len, MSG_DONTWAIT | MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    return w == (ssize_t)(hlen + len) ? 0 : MPROC_EAUTH;
}

/* Reads what has come of p's message, exactly up to its end. 1 when whole
 * (payload at p->in + 4, length p->got - 4), 0 for more later, MPROC_EAUTH
 * when the client hung up or sent a bad or over-long header. */
static int read_message(struct pending *p)
{
    for (;;) {
        size_t want = 4;
        if (p->got >= 4) {
            int32_t n = (int32_t)((uint32_t)p->in[0] << 24 | (uint32_t)p->in[1] << 16 |
                                  (uint32_t)p->in[2] << 8 | p->in[3]);
            if (n < 0 || n > MPROC__AUTH_MESSAGE_MAX)
                return MPROC_EAUTH;
            want = 4 + (size_t)n;
            if (p->got == want)
                return 1;
        }
        ssize_t r = recv(p->fd, p->in + p->got, want - p->got, MSG_DONTWAIT);
        if (r == 0)
            return MPROC_EAUTH;
        if (r < 0)
            return errno == EAGAIN || errno == EINTR ? 0 : MPROC_EAUTH;
        p->got += (size_t)r;
        if (p->got < want)
            return 0;
    }
}

/* Moves p's handshake on with what has arrived. 1 when it is done (the
 * client is in), 0 for more later, MPROC_EAUTH when it failed. */
static int step(mproc_listener_t *l, struct pending *p)
{
    for (;;) {
        int r = read_message(p);
        if (r <= 0)
            return r;
        const unsigned char *msg = p->in + 4;
        size_t len = p->got - 4;
        p->got = 0;
        size_t prefix = sizeof MPROC__CHALLENGE - 1;
        switch (p->state) {
        case HS_ANSWER:
            if (mproc__auth_verify(l->key, l->keylen, p->challenge + prefix, p->challenge_len - prefix, msg,
                                   len) != 0) {
                send_message(p->fd, MPROC__FAILURE, strlen(MPROC__FAILURE));
                return MPROC_EAUTH;
            }
            if (send_message(p->fd, MPROC__WELCOME, strlen(MPROC__WELCOME)) != 0)
                return MPROC_EAUTH;
            p->state = HS_CHALLENGE;
            break;
        case HS_CHALLENGE: {
            unsigned char answer[MPROC__AUTH_MESSAGE_MAX];
            size_t alen;
            if (mproc__auth_answer_to(l->key, l->keylen, msg, len, answer, &alen) != 0 ||
                send_message(p->fd, answer, alen) != 0)
                return MPROC_EAUTH;
            p->state = HS_WELCOME;
            break;
        }
        case HS_WELCOME:
            return mproc__auth_is_welcome(msg, len) ? 1 : MPROC_EAUTH;
        }
    }
}

/* Takes a newly accepted client: a connection at once without a key, else
 * a handshake begun. 1 with *c (no key), 0, or an error. */
static int take_client(mproc_listener_t *l, int fd, mproc_conn_t **c)
{
    if (!(l->conn_flags & MPROC__CONN_UNIX))
        set_tcp_nodelay(fd);
    if (l->key == NULL) {
        int r = make_blocking(fd);
        if (r != 0) {
            close(fd);
            return r;
        }
        r = mproc__conn_wrap(c, fd, l->conn_flags);
        return r == 0 ? 1 : r;
    }
    if (l->npending == MAX_PENDING)
        pending_remove(l, 0, 1); /* the oldest has had longest */
    struct pending *p = &l->pending[l->npending];
    memset(p, 0, sizeof *p);
    p->fd = fd;
    p->state = HS_ANSWER;
    p->deadline = mproc__monotonic() + l->handshake_timeout;
    int r = mproc__auth_challenge(p->challenge, &p->challenge_len);
    if (r == 0)
        r = send_message(fd, p->challenge, p->challenge_len);
    if (r != 0) {
        close(fd);
        return handshake_error(r);
    }
    l->npending++;
    return 0;
}

int mproc_listener_accept(mproc_listener_t *l, mproc_conn_t **c, double timeout)
{
    if (l == NULL || c == NULL)
        return MPROC_EINVAL;
    mproc__deadline_t d;
    int r = mproc__deadline_init(&d, timeout);
    if (r != 0)
        return r;
    double until = isinf(timeout) || timeout < 0 ? -1 : mproc__monotonic() + timeout;
    for (;;) {
        /* handshakes whose time is up: one failure reported per call */
        double now = mproc__monotonic(), next = -1;
        for (unsigned i = 0; i < l->npending; i++) {
            if (now >= l->pending[i].deadline) {
                pending_remove(l, i, 1);
                return MPROC_EAUTH;
            }
            if (next < 0 || l->pending[i].deadline < next)
                next = l->pending[i].deadline;
        }
        struct pollfd pfd[1 + MAX_PENDING];
        pfd[0] = (struct pollfd){ .fd = l->fd, .events = POLLIN };
        for (unsigned i = 0; i < l->npending; i++)
            pfd[1 + i] = (struct pollfd){ .fd = l->pending[i].fd, .events = POLLIN };
        double wait = until < 0 ? -1 : until > now ? until - now : 0; /* -1: no end */
        if (next >= 0 && (wait < 0 || next - now < wait))
            wait = next - now;
        int ms = wait < 0 ? -1 : (int)ceil(wait * 1000.0);
        int n = poll(pfd, 1 + l->npending, ms);
        if (n < 0 && errno != EINTR)
            return mproc__errno(errno);
        /* the handshakes first: they were here before any new client */
        for (unsigned i = l->npending; n > 0 && i-- > 0;) {
            if (pfd[1 + i].revents == 0)
                continue;
            struct pending *p = &l->pending[i];
            r = step(l, p);
            if (r == 0)
                continue;
            int fd = p->fd;
            pending_remove(l, i, r < 0);
            if (r < 0)
                return MPROC_EAUTH;
            if ((r = make_blocking(fd)) != 0) {
                close(fd);
                return r;
            }
            return mproc__conn_wrap(c, fd, l->conn_flags);
        }
        if (n > 0 && (pfd[0].revents & POLLIN)) {
            int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (fd >= 0) {
                r = take_client(l, fd, c);
                if (r != 0)
                    return r == 1 ? 0 : r;
                continue; /* its handshake may already have more to read */
            }
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                return mproc__errno(errno);
        }
        if (until >= 0 && mproc__monotonic() >= until)
            return MPROC_ETIMEDOUT;
    }
}

int mproc_listener_close(mproc_listener_t *l)
{
    if (l == NULL)
        return MPROC_EINVAL;
    if (l->fd >= 0)
        close(l->fd);
    while (l->npending > 0)
        pending_remove(l, l->npending - 1, 1);
    if (getpid() == l->creator) {
        if (l->socket_path != NULL)
            unlink(l->socket_path);
        if (l->private_dir != NULL)
            rmdir(l->private_dir);
    }
    free(l->socket_path);
    free(l->private_dir);
    free(l->address);
    free_key(l->key, l->keylen);
    free(l);
    return 0;
}

/* ---- Client ---------------------------------------------------------------- */

/* Connections are blocking; a client's socket is non-blocking only while it
 * connects, so the connect can be timed. */
static int make_blocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0)
        return mproc__errno(errno);
    return 0;
}

/* Connects a non-blocking socket, waiting for completion until d. */
static int connect_until(int fd, const struct sockaddr *sa, socklen_t len, const mproc__deadline_t *d)
{
    for (;;) {
        if (connect(fd, sa, len) == 0 || errno == EISCONN)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN && sa->sa_family == AF_UNIX) {
            /* The listener's backlog is full. Unix sockets cannot be polled
             * for this; try again shortly, within the deadline. */
            if (mproc__deadline_expired(d))
                return MPROC_ETIMEDOUT;
            struct timespec step = { 0, 1000000 };
            nanosleep(&step, NULL);
            continue;
        }
        if (errno != EINPROGRESS)
            return mproc__errno(errno);
        int r = mproc__fd_wait(fd, POLLOUT, d);
        if (r != 0)
            return r;
        int err = 0;
        socklen_t elen = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
        return err == 0 ? 0 : mproc__errno(err);
    }
}

static int connect_unix(const mproc__address_t *a, const mproc__deadline_t *d, int *out)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return mproc__errno(errno);
    int r = connect_until(fd, (const struct sockaddr *)&a->un, a->un_len, d);
    if (r == 0)
        r = make_blocking(fd);
    if (r != 0) {
        close(fd);
        return r;
    }
    *out = fd;
    return 0;
}

static int connect_blocking(int fd, const struct addrinfo *ai, const void *deadline)
{
    int r = connect_until(fd, ai->ai_addr, ai->ai_addrlen, deadline);
    if (r == 0)
        r = make_blocking(fd);
    if (r == 0)
        set_tcp_nodelay(fd);
    return r;
}

static int connect_tcp(const mproc__address_t *a, const mproc__deadline_t *d, int *out)
{
    return each_address(a, 0, connect_blocking, d, out);
}

int mproc_client_timeout(mproc_conn_t **c, const char *address, const void *authkey, size_t keylen,
                         double timeout)
{
    mproc__address_t a;
    if (c == NULL || mproc__address_parse(address, &a) != 0)
        return MPROC_EINVAL;
    mproc__deadline_t d;
    int r = mproc__deadline_init(&d, timeout);
    if (r != 0)
        return r;
    int fd = -1;
    r = a.is_unix ? connect_unix(&a, &d, &fd) : connect_tcp(&a, &d, &fd);
    if (r != 0)
        return r;
    unsigned flags = MPROC__CONN_RECV | MPROC__CONN_SEND | MPROC__CONN_SOCKET;
    if (a.is_unix)
        flags |= MPROC__CONN_UNIX;
    mproc_conn_t *conn;
    r = mproc__conn_wrap(&conn, fd, flags);
    if (r != 0)
        return r;
    if (authkey != NULL) {
        r = mproc__auth_answer(conn, authkey, keylen, &d);
        if (r == 0)
            r = mproc__auth_deliver(conn, authkey, keylen, &d);
        if (r != 0) {
            mproc_conn_close(conn);
            return r == MPROC_EMSGSIZE ? MPROC_EPROTO : r;
        }
    }
    *c = conn;
    return 0;
}

int mproc_client(mproc_conn_t **c, const char *address, const void *authkey, size_t keylen)
{
    return mproc_client_timeout(c, address, authkey, keylen, MPROC_FOREVER);
}
