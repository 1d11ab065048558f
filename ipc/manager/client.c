/* The Manager's handle: starting and attaching to a server, and handing
 * each dict or list operation to the handle's backend (backend.h), chosen by
 * the address: mproc's own server, or Redis.
 *
 * A handle's connection belongs to the process that opened it. Handles are
 * kept in a registry so that a fork handler can tell every backend in the
 * child: the child's first call drops its inherited copy of the connection
 * (the parent's stays open) and connects anew. A mutex per handle lets
 * several threads share it, one request at a time. */
#include "manager/byte_table.h"
#include "connection/conn_internal.h"
#include "manager/client.h"
#include "manager/server/server.h"

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define RANDOM_KEY_BYTES 32
#define START_TIMEOUT_MS 10000
#define SHUTDOWN_WAIT_MS 10000

struct mproc_manager {
    pthread_mutex_t lock;
    char *address;
    unsigned char *key; /* NULL: no handshake */
    size_t keylen;
    const mproc__backend_t *backend;
    void *state; /* the backend's */
    pid_t server, starter; /* the server this process started, and this process */
    int server_pidfd;      /* readable once that server has exited; -1: none */
    struct mproc_manager *prev, *next;
};


/* ---- the registry and fork ---- */

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mproc_manager *registry;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void before_fork(void) { pthread_mutex_lock(&registry_lock); }
static void after_fork_parent(void) { pthread_mutex_unlock(&registry_lock); }

/* In the child only the forking thread exists: no lock can be held by
 * anyone running, so each is made anew. */
static void after_fork_child(void)
{
    pthread_mutex_init(&registry_lock, NULL);
    for (struct mproc_manager *m = registry; m != NULL; m = m->next) {
        pthread_mutex_init(&m->lock, NULL);
        m->backend->forked(m->state);
    }
}

static void install_atfork(void)
{
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

static void register_handle(struct mproc_manager *m)
{
    pthread_once(&atfork_once, install_atfork);
    pthread_mutex_lock(&registry_lock);
    m->next = registry;
    if (registry != NULL)
        registry->prev = m;
    registry = m;
    pthread_mutex_unlock(&registry_lock);
}

static void unregister_handle(struct mproc_manager *m)
{
    pthread_mutex_lock(&registry_lock);
    if (m->prev != NULL)
        m->prev->next = m->next;
    else
        registry = m->next;
    if (m->next != NULL)
        m->next->prev = m->prev;
    pthread_mutex_unlock(&registry_lock);
}

/* ---- operations (see client.h) ---- */

int mproc__mgr_call(mproc_manager_t *m, const mproc__mgr_req_t *req, mproc__mgr_res_t *res)
{
    mproc__mgr_res_t ignored = { 0 };
    pthread_mutex_lock(&m->lock);
    int r = m->backend->call(m->state, req, res != NULL ? res : &ignored);
    pthread_mutex_unlock(&m->lock);
    return r;
}

const mproc__backend_t *mproc__mgr_backend(mproc_manager_t *m, const char **address, const void **key,
                                           size_t *keylen)
{
    *address = m->address;
    *key = m->key;
    *keylen = m->keylen;
    return m->backend;
}

/* ---- starting, attaching, stopping ---- */

/* A descriptor that becomes readable when pid exits, or -1. */
static int pidfd_of(pid_t pid)
{
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    return -1;
#endif
}

static void close_range_or_loop(unsigned first, unsigned last)
{
#ifdef HAVE_CLOSE_RANGE
    if (close_range(first, last, 0) == 0)
        return;
#endif
    long max = sysconf(_SC_OPEN_MAX);
    for (long fd = first; fd <= (long)last && fd < max; fd++)
        close((int)fd);
}

static int new_handle(mproc_manager_t **mp, const char *address, const void *key, size_t keylen)
{
    struct mproc_manager *m = calloc(1, sizeof *m);
    if (m == NULL)
        return MPROC_ENOMEM;
    pthread_mutex_init(&m->lock, NULL);
    m->server_pidfd = -1;
    m->keylen = keylen;
    m->starter = getpid();
    if ((m->address = strdup(address)) == NULL ||
        (key != NULL && (m->key = malloc(keylen > 0 ? keylen : 1)) == NULL)) {
        free(m->address);
        free(m);
        return MPROC_ENOMEM;
    }
    if (key != NULL)
        memcpy(m->key, key, keylen);
    *mp = m;
    return 0;
}

static void free_handle(struct mproc_manager *m)
{
    if (m->backend != NULL) {
        unregister_handle(m);
        m->backend->close(m->state);
    }
    if (m->key != NULL) {
        explicit_bzero(m->key, m->keylen);
        free(m->key);
    }
    free(m->address);
    if (m->server_pidfd >= 0)
        close(m->server_pidfd);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

int mproc__is_redis_address(const char *address)
{
    return strncmp(address, "redis://", 8) == 0 || strncmp(address, "redis+unix://", 13) == 0;
}

int mproc_manager_connect(mproc_manager_t **mp, const char *address, const void *authkey, size_t keylen)
{
    if (mp == NULL || address == NULL || (authkey == NULL && keylen > 0))
        return MPROC_EINVAL;
    const mproc__backend_t *backend = &mproc__backend_server;
    mproc__address_t a;
    if (mproc__is_redis_address(address)) {
        backend = mproc__backend_redis;
        if (backend == NULL)
            return MPROC_ENOTSUP; /* built without hiredis */
    } else if (mproc__address_parse(address, &a) != 0) {
        return MPROC_EINVAL;
    }
    mproc_manager_t *m;
    int r = new_handle(&m, address, authkey, keylen);
    if (r != 0)
        return r;
    /* the backend connects once now, so a wrong address or key shows here */
    r = backend->open(&m->state, address, m->key, m->keylen);
    if (r != 0) {
        free_handle(m);
        return r;
    }
    m->backend = backend;
    register_handle(m);
    *mp = m;
    return 0;
}

/* How the server reports to its starter: "OK pid address" or "ERR code". */
static void report_ready(const char *address, void *arg)
{
    dprintf(*(int *)arg, "OK %d %s\n", (int)getpid(), address);
}

static void report_error(int err, const char *what, void *arg)
{
    (void)what;
    dprintf(*(int *)arg, "ERR %d\n", err);
}

/* Closes every descriptor but stdio, a and b (either may be -1). */
static void close_all_but(int a, int b)
{
    int keep[2] = { a < b ? a : b, a < b ? b : a };
    unsigned from = 3;
    for (int i = 0; i < 2; i++) {
        if (keep[i] < (int)from)
            continue;
        if ((unsigned)keep[i] > from)
            close_range_or_loop(from, (unsigned)keep[i] - 1);
        from = (unsigned)keep[i] + 1;
    }
    close_range_or_loop(from, ~0u);
}

static int read_report(int fd, char *line, size_t size)
{
    size_t n = 0;
    while (n + 1 < size) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        if (poll(&pfd, 1, START_TIMEOUT_MS) <= 0)
            return MPROC_ETIMEDOUT;
        ssize_t r = read(fd, line + n, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return MPROC_EPROTO; /* the server died before it reported */
        if (line[n] == '\n')
            break;
        n++;
    }
    line[n] = '\0';
    return 0;
}

/* The server is forked twice, so it is nobody's child: a starter that reaps
 * its children with wait() never waits for it (and never leaves it a
 * zombie). The middle process opens a pidfd of the starter while the starter
 * surely lives (it is waiting for the middle one), and the server watches it. */
static void run_server(const char *address, const void *key, size_t keylen, int report,
                       const mproc_manager_opts_t *opts)
{
    pid_t starter = getppid();
    int watch = pidfd_of(starter);
    pid_t server = fork();
    if (server != 0)
        _exit(server > 0 ? 0 : 1);
    setsid(); /* its own session: the starter's terminal signals are not for it */
    close_all_but(report, watch);
    struct mproc__server_opts o = {
        .address = address, .key = key, .keylen = keylen, .watch_pid = starter, .watch_fd = watch,
        .on_ready = report_ready, .on_error = report_error, .arg = &report,
        .max_memory = opts->max_memory, .max_clients = opts->max_clients,
        .journal = opts->journal, .fsync = opts->fsync,
    };
    _exit(mproc__manager_serve(&o) == 0 ? 0 : 1);
}

int mproc_manager_start(mproc_manager_t **mp, const char *address, const void *authkey, size_t keylen)
{
    return mproc_manager_start_opts(mp, address, authkey, keylen, NULL);
}

int mproc_manager_start_opts(mproc_manager_t **mp, const char *address, const void *authkey,
                             size_t keylen, const mproc_manager_opts_t *opts)
{
    static const mproc_manager_opts_t defaults;
    if (opts == NULL)
        opts = &defaults;
    mproc__address_t a;
    if (mp == NULL || (address != NULL && mproc__address_parse(address, &a) != 0) ||
        opts->fsync < MPROC_FSYNC_EVERYSEC || opts->fsync > MPROC_FSYNC_NO)
        return MPROC_EINVAL;
    unsigned char random_key[RANDOM_KEY_BYTES];
    if (authkey == NULL) {
        if (getrandom(random_key, sizeof random_key, 0) != (ssize_t)sizeof random_key)
            return mproc__errno(errno);
        authkey = random_key;
        keylen = sizeof random_key;
    }
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0)
        return mproc__errno(errno);
    pid_t middle = fork();
    if (middle == 0) {
        close(report[0]);
        run_server(address, authkey, keylen, report[1], opts);
    }
    close(report[1]);
    if (middle < 0) {
        close(report[0]);
        return mproc__errno(errno);
    }
    while (waitpid(middle, NULL, 0) < 0 && errno == EINTR)
        ;
    char line[512];
    int r = read_report(report[0], line, sizeof line);
    close(report[0]);
    int server = 0, skip = 0;
    if (r == 0 && strncmp(line, "ERR ", 4) == 0)
        r = atoi(line + 4) < 0 ? atoi(line + 4) : MPROC_EPROTO;
    else if (r == 0 && (sscanf(line, "OK %d %n", &server, &skip) != 1 || skip == 0))
        r = MPROC_EPROTO;
    mproc_manager_t *m = NULL;
    if (r == 0)
        r = mproc_manager_connect(&m, line + skip, authkey, keylen);
    explicit_bzero(random_key, sizeof random_key);
    if (r != 0) {
        if (server > 0)
            kill(server, SIGKILL);
        return r;
    }
    m->server = server;
    m->server_pidfd = pidfd_of(server);
    *mp = m;
    return 0;
}

const char *mproc_manager_address(mproc_manager_t *m)
{
    return m == NULL ? NULL : m->address;
}

const void *mproc_manager_authkey(mproc_manager_t *m, size_t *len)
{
    if (m == NULL)
        return NULL;
    if (len != NULL)
        *len = m->keylen;
    return m->key;
}

int mproc_manager_close(mproc_manager_t *m)
{
    if (m == NULL)
        return MPROC_EINVAL;
    free_handle(m);
    return 0;
}

int mproc_manager_shutdown(mproc_manager_t *m)
{
    if (m == NULL)
        return MPROC_EINVAL;
    /* on Redis this does nothing: Redis is never stopped */
    mproc__mgr_req_t req = { .op = MPROC__OP_SHUTDOWN };
    int r = mproc__mgr_call(m, &req, NULL);
    /* the server this process started: wait until it is gone (it is not
     * our child, so by its pidfd, or by asking the kernel) */
    if (m->server > 0 && getpid() == m->starter) {
        if (m->server_pidfd >= 0) {
            struct pollfd pfd = { .fd = m->server_pidfd, .events = POLLIN };
            while (poll(&pfd, 1, SHUTDOWN_WAIT_MS) < 0 && errno == EINTR)
                ;
        } else {
            for (int i = 0; i < SHUTDOWN_WAIT_MS && kill(m->server, 0) == 0; i++) {
                struct timespec ms = { 0, 1000000 };
                nanosleep(&ms, NULL);
            }
        }
    }
    free_handle(m);
    return r;
}
