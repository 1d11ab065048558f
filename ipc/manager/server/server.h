/* The Manager server: an event loop serving the store to many clients. Run
 * by the process mproc_manager_start forks, and by `mproc manager`. */
#ifndef MPROC_MANAGER_SERVER_H
#define MPROC_MANAGER_SERVER_H

#include "internal.h"

struct mproc__server_opts {
    const char *address;          /* NULL: a private Unix socket */
    const void *key;              /* NULL: no handshake (refused for TCP) */
    size_t keylen;
    pid_t watch_pid;              /* stop when this process (the starter) exits; 0: never */
    int watch_fd;                 /* a pidfd of watch_pid, opened while it surely lived; -1:
                                     none (then the loop looks at watch_pid every second) */
    const char *snapshot;         /* load at start, save at stop and on SIGUSR1; NULL: none */
    double handshake_timeout;     /* seconds a client has to authenticate; 0: 10 */
    size_t max_memory;            /* bytes of names, keys and values held; 0: no limit */
    unsigned max_clients;         /* connections at once; 0: 1024 (one more is refused at once) */
    unsigned max_handshakes;      /* connections still authenticating; 0: 256 (the oldest goes) */
    size_t output_limit;          /* bytes of replies waiting for clients that do not read them,
                                     beyond the one reply being sent; 0: 64 MiB */
    double idle_timeout;          /* seconds an authenticated client may stay silent; 0: forever */
    const char *journal;          /* append-only journal (journal.h); NULL: none */
    int fsync;                    /* MPROC_FSYNC_* */
    size_t rewrite_min;           /* journal bytes before compaction is considered; 0: 16 MiB */
    /* Called once: listening at address, or failed to start. */
    void (*on_ready)(const char *address, void *arg);
    void (*on_error)(int err, const char *what, void *arg);
    void *arg;
};

/* Serves until a SHUTDOWN request, SIGTERM, SIGINT (only without
 * watch_pid: a forked server ignores it, as Python's does), or the watched
 * process's exit; then removes its socket file and saves the snapshot.
 * 0, or the error that kept it from starting or saving (after on_error). */
int mproc__manager_serve(const struct mproc__server_opts *o);

#endif
