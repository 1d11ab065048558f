/* Process: fork a worker that runs a function, and wait for it with a
 * timeout. The wait uses a pidfd (poll with a timeout, no SIGCHLD handler
 * needed); where the kernel has none, it polls waitpid in short steps. */
#include "internal.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

struct mproc_process {
    pid_t pid;
    int pidfd;     /* -1 if the kernel has no pidfd_open */
    int ended;     /* reaped: exitcode is valid */
    int exitcode;  /* fn's return value, or -signal */
};

int mproc_process_start(mproc_process_t **p, int (*fn)(void *arg), void *arg)
{
    if (p == NULL || fn == NULL)
        return MPROC_EINVAL;
    struct mproc_process *proc = calloc(1, sizeof *proc);
    if (proc == NULL)
        return MPROC_ENOMEM;
    fflush(NULL); /* or buffered output would be written by both processes */
    pid_t pid = fork();
    if (pid < 0) {
        int r = mproc__errno(errno);
        free(proc);
        return r;
    }
    if (pid == 0) {
        int code = fn(arg);
        fflush(NULL);
        _exit(code);
    }
    proc->pid = pid;
    proc->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    *p = proc;
    return 0;
}

pid_t mproc_process_pid(mproc_process_t *p)
{
    return p->pid;
}

/* Reaps the child if it has ended. 1 if ended, 0 if still running. */
static int reap(struct mproc_process *p)
{
    if (p->ended)
        return 1;
    int status;
    pid_t r;
    do
        r = waitpid(p->pid, &status, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == 0)
        return 0;
    if (r < 0) {
        p->exitcode = 0; /* reaped by someone else: its status is lost */
    } else {
        p->exitcode = WIFSIGNALED(status) ? -WTERMSIG(status) : WEXITSTATUS(status);
    }
    p->ended = 1;
    if (p->pidfd >= 0) {
        close(p->pidfd);
        p->pidfd = -1;
    }
    return 1;
}

int mproc_process_join(mproc_process_t *p, double timeout, int *exitcode)
{
    mproc__deadline_t d;
    int r = mproc__deadline_init(&d, timeout);
    if (r != 0)
        return r;
    if (p == NULL)
        return MPROC_EINVAL;
    while (!reap(p)) {
        if (mproc__deadline_expired(&d))
            return MPROC_ETIMEDOUT;
        if (p->pidfd >= 0) {
            mproc__fd_wait(p->pidfd, POLLIN, &d); /* the loop re-checks */
        } else {
            struct timespec step = { 0, 2000000 }; /* no pidfd: poll every 2 ms */
            nanosleep(&step, NULL);
        }
    }
    if (exitcode != NULL)
        *exitcode = p->exitcode;
    return 0;
}

int mproc_process_is_alive(mproc_process_t *p)
{
    return !reap(p);
}

static int send_signal(struct mproc_process *p, int sig)
{
    /* Never signal a reaped pid: it may belong to another process by now. */
    if (reap(p))
        return 0;
    if (kill(p->pid, sig) != 0 && errno != ESRCH)
        return mproc__errno(errno);
    return 0;
}

int mproc_process_terminate(mproc_process_t *p)
{
    return send_signal(p, SIGTERM);
}

int mproc_process_kill(mproc_process_t *p)
{
    return send_signal(p, SIGKILL);
}

void mproc_process_free(mproc_process_t *p)
{
    if (p == NULL)
        return;
    if (p->pidfd >= 0)
        close(p->pidfd);
    free(p);
}
