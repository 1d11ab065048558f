/* The caller's kernel thread id, without a system call per use.
 *
 * Robust mutexes record their holder's kernel tid in the lock word; RLock and
 * Condition compare it with the caller's. gettid() is a system call, so the
 * value is cached per thread. A forked child's thread inherits its parent's
 * cache, so the cache is cleared in the child. */
#include "internal.h"

#include <errno.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

static __thread pid_t cached_tid;

static void forget_tid_in_child(void)
{
    cached_tid = 0;
}

__attribute__((constructor)) static void register_fork_handler(void)
{
    pthread_atfork(NULL, NULL, forget_tid_in_child);
}

pid_t mproc__tid(void)
{
    if (cached_tid == 0)
        cached_tid = gettid();
    return cached_tid;
}

int mproc__process_ended(pid_t pid)
{
    if (pid <= 0 || pid == getpid())
        return 0;
    /* A pidfd is readable once the process has exited, zombie or reaped;
     * kill(pid, 0) would take a zombie for alive. */
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0)
        return errno == ESRCH;
    struct pollfd p = { .fd = fd, .events = POLLIN };
    int ended = poll(&p, 1, 0) == 1;
    close(fd);
    return ended;
}
