/* The caller's kernel thread id, without a system call per use.
 *
 * Robust mutexes record their holder's kernel tid in the lock word; RLock and
 * Condition compare it with the caller's. gettid() is a system call, so the
 * value is cached per thread. A forked child's thread inherits its parent's
 * cache, so the cache is cleared in the child. */
#include "internal.h"

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
