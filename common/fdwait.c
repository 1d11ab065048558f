/* Waiting for a descriptor to become readable or writable, until a deadline. */
#include "internal.h"

#include <poll.h>
#include <signal.h>

int mproc__fd_wait(int fd, short events, const mproc__deadline_t *d)
{
    for (;;) {
        struct timespec left = { 0, 0 };
        const struct timespec *limit = &left;
        if (d->kind == MPROC__FOREVER) {
            limit = NULL;
        } else if (d->kind == MPROC__UNTIL) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            left.tv_sec = d->at.tv_sec - now.tv_sec;
            left.tv_nsec = d->at.tv_nsec - now.tv_nsec;
            if (left.tv_nsec < 0) {
                left.tv_sec -= 1;
                left.tv_nsec += 1000000000L;
            }
            if (left.tv_sec < 0)
                left.tv_sec = left.tv_nsec = 0;
        }
        struct pollfd pfd = { .fd = fd, .events = events };
        int n = ppoll(&pfd, 1, limit, NULL);
        if (n > 0)
            return 0;
        if (n == 0)
            return MPROC_ETIMEDOUT;
        if (errno != EINTR)
            return mproc__errno(errno);
    }
}
