/* Robust, process-shared pthread mutexes: the mutual exclusion under every
 * primitive. A holder's death is reported to the next acquirer (EOWNERDEAD)
 * by the kernel's robust-list walk at thread exit. */
#include "internal.h"

#include <errno.h>
#include <linux/futex.h>
#include <time.h>

int mproc__mutex_init(pthread_mutex_t *m)
{
    pthread_mutexattr_t attr;
    int r = pthread_mutexattr_init(&attr);
    if (r != 0)
        return -r;
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    /* NORMAL, not ERRORCHECK: relocking by the holder waits (and times out),
     * as Python's Lock does. Robust mutexes check ownership on unlock anyway. */
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_NORMAL);
    r = pthread_mutex_init(m, &attr);
    pthread_mutexattr_destroy(&attr);
    return -r;
}

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MPROC__TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define MPROC__TSAN 1
#endif

#ifdef MPROC__TSAN
/* GCC 12's libtsan has no pthread_mutex_clocklock interceptor, so a timed
 * acquisition would look like no acquisition at all and every access it
 * guards like a data race. In a ThreadSanitizer build only, a timed lock
 * polls trylock (which is intercepted) every 100 us until the deadline. */
static int timed_lock(pthread_mutex_t *m, const struct timespec *at)
{
    for (;;) {
        int r = pthread_mutex_trylock(m);
        if (r != EBUSY)
            return r;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec > at->tv_sec || (now.tv_sec == at->tv_sec && now.tv_nsec >= at->tv_nsec))
            return ETIMEDOUT;
        struct timespec step = { 0, 100000 };
        nanosleep(&step, NULL);
    }
}
#else
static int timed_lock(pthread_mutex_t *m, const struct timespec *at)
{
    return pthread_mutex_clocklock(m, CLOCK_MONOTONIC, at);
}
#endif

int mproc__mutex_lock(pthread_mutex_t *m, const mproc__deadline_t *d)
{
    int r;
    switch (d->kind) {
    case MPROC__FOREVER:
        r = pthread_mutex_lock(m);
        break;
    case MPROC__NOWAIT:
        r = pthread_mutex_trylock(m);
        if (r == EBUSY)
            r = ETIMEDOUT;
        break;
    default:
        r = timed_lock(m, &d->at);
        break;
    }
    if (r == EOWNERDEAD) {
        /* We hold it now. Mark it usable at once: the caller is told, and
         * decides about the data; the lock itself must never be left
         * unrecoverable. */
        pthread_mutex_consistent(m);
        return MPROC_EOWNERDEAD;
    }
    return -r;
}

int mproc__mutex_unlock(pthread_mutex_t *m)
{
    /* glibc refuses another thread's unlock of a robust mutex too, but the
     * check here keeps that promise explicit (and keeps sanitizers, which
     * treat any foreign unlock as a bug, out of the way). */
    if (mproc__mutex_owner(m) != mproc__tid())
        return MPROC_EPERM;
    return -pthread_mutex_unlock(m);
}

int mproc__mutex_destroy(pthread_mutex_t *m)
{
    if (mproc__mutex_owner(m) != 0)
        return MPROC_EBUSY;
    return -pthread_mutex_destroy(m);
}

pid_t mproc__mutex_owner(pthread_mutex_t *m)
{
    /* glibc keeps the holder's kernel tid in the low 30 bits of the lock word
     * (FUTEX_TID_MASK); the kernel clears them when the holder dies. */
    return (pid_t)(__atomic_load_n(&m->__data.__lock, __ATOMIC_RELAXED) & FUTEX_TID_MASK);
}
