/* Timeouts as absolute CLOCK_MONOTONIC deadlines. */
#include "internal.h"

#include <math.h>

/* Beyond this a timeout is "forever": it avoids time_t overflow, and nobody
 * can tell a wait of 2^40 seconds from one without limit. */
#define MPROC__MAX_TIMEOUT 1099511627776.0

int mproc__deadline_init(mproc__deadline_t *d, double timeout)
{
    if (isnan(timeout))
        return MPROC_EINVAL;
    if (timeout < 0 || timeout > MPROC__MAX_TIMEOUT) {
        d->kind = MPROC__FOREVER;
        return 0;
    }
    if (timeout == 0) {
        d->kind = MPROC__NOWAIT;
        return 0;
    }
    d->kind = MPROC__UNTIL;
    clock_gettime(CLOCK_MONOTONIC, &d->at);
    double whole = floor(timeout);
    d->at.tv_sec += (time_t)whole;
    d->at.tv_nsec += (long)((timeout - whole) * 1e9);
    if (d->at.tv_nsec >= 1000000000L) {
        d->at.tv_sec += 1;
        d->at.tv_nsec -= 1000000000L;
    }
    return 0;
}

int mproc__deadline_expired(const mproc__deadline_t *d)
{
    if (d->kind == MPROC__FOREVER)
        return 0;
    if (d->kind == MPROC__NOWAIT)
        return 1;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > d->at.tv_sec ||
           (now.tv_sec == d->at.tv_sec && now.tv_nsec >= d->at.tv_nsec);
}

double mproc__monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
