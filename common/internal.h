/* The library's internal interface: shared by its .c files, never installed.
 * Internal symbols are prefixed mproc__ and hidden (-fvisibility=hidden). */
#ifndef MPROC_INTERNAL_H
#define MPROC_INTERNAL_H

#include "config.h"

#include <mproc.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

/* A private implementation struct must fit the public opaque one. */
#define MPROC__FITS(impl, pub)                                                 \
    _Static_assert(sizeof(impl) <= sizeof(pub) && _Alignof(impl) <= _Alignof(pub), \
                   #impl " must fit in " #pub)

/* ---- crash points (crash.c, crash_points.h) ----
 * MPROC__CRASH(ID) marks a place between two shared-memory stores that
 * matter. With --enable-crash-points a process may arm one point (by name and
 * occurrence: the n-th time it passes) and is killed with SIGKILL there; the
 * two functions are exported only in such a build, for the tests. Without
 * the option the macro is empty: zero cost. */
#include "crash_points.h"
#ifdef MPROC_CRASH_POINTS
/* 0, or MPROC_EINVAL for an unknown name; name NULL disarms. */
MPROC_API int mproc__crash_arm(const char *name, unsigned occurrence);
/* As mproc__crash_arm, but the process stops there (SIGSTOP), once; the
 * test then resumes it (SIGCONT) or kills it. */
MPROC_API int mproc__crash_arm_stop(const char *name, unsigned occurrence);
/* How often this process passed the named point. */
MPROC_API unsigned mproc__crash_passed(const char *name);
void mproc__crash_point(int id);
#define MPROC__CRASH(id) mproc__crash_point(MPROC__CP_##id)
#else
#define MPROC__CRASH(id) ((void)0)
#endif

/* ---- errors (error.c) ---- */
/* Maps an errno from a system call to the library's code (negative). */
int mproc__errno(int e);

/* ---- deadlines (deadline.c) ----
 * A timeout becomes an absolute CLOCK_MONOTONIC deadline once, at the start of
 * an operation; every wait inside it uses what remains. */
typedef struct {
    enum { MPROC__FOREVER, MPROC__NOWAIT, MPROC__UNTIL } kind;
    struct timespec at; /* for MPROC__UNTIL */
} mproc__deadline_t;

/* 0, MPROC_EINVAL (NaN). Huge timeouts count as forever. */
int mproc__deadline_init(mproc__deadline_t *d, double timeout);
/* 1 once the deadline has passed (always for NOWAIT, never for FOREVER). */
int mproc__deadline_expired(const mproc__deadline_t *d);
/* Seconds on CLOCK_MONOTONIC (a vDSO call: no system call). */
double mproc__monotonic(void);

/* ---- waiting on a descriptor (fdwait.c) ---- */
/* Waits until fd reports one of events (or an error or hang-up, which the
 * next read or write reports) or d passes. 0; MPROC_ETIMEDOUT; another
 * error of ppoll. EINTR resumes with the time left. */
int mproc__fd_wait(int fd, short events, const mproc__deadline_t *d);

/* ---- spinning (spin.c) ---- */
/* Whether waiting by polling can pay: more than one CPU is online, so the
 * awaited party can run meanwhile. Cached after the first call. */
int mproc__spin_worthwhile(void);

/* ---- thread ids (tid.c) ---- */
/* The kernel thread id of the caller, cached per thread (reset across fork). */
pid_t mproc__tid(void);
/* 1 if process pid has ended (exited or killed; reaped or a zombie), else 0
 * (alive, not ours to see, or pid <= 0 or the caller). Two system calls. */
int mproc__process_ended(pid_t pid);

/* ---- futex waiting (futex.c) ----
 * Waits on 32-bit words in shared memory (non-private futexes). */
/* Sleeps while *word == expected, until woken or the deadline. 0 (woken, the
 * word differed, or a signal arrived: the caller re-checks its condition) or
 * MPROC_ETIMEDOUT. */
int mproc__futex_wait(_Atomic uint32_t *word, uint32_t expected, const mproc__deadline_t *d);
/* Wakes up to n sleepers on word (INT32_MAX for all). */
void mproc__futex_wake(_Atomic uint32_t *word, int n);

/* A wait queue: a sequence counter that every wake-up bumps, and a count of
 * sleepers so wakers skip the system call when nobody sleeps. Nothing is kept
 * per waiter: a waiter killed while asleep leaves at most an inflated count
 * behind (which costs a futex call per wake-up, never a lost one). */
typedef struct {
    _Atomic uint32_t seq;
    _Atomic uint32_t sleepers;
} mproc__waitq_t;

/* Waiter protocol:  s = mproc__waitq_prepare(q); re-check the condition;
 * if it still holds, mproc__waitq_sleep(q, s, d); loop; finally
 * mproc__waitq_finish(q). A wake-up between prepare and sleep is not lost. */
uint32_t mproc__waitq_prepare(mproc__waitq_t *q);
int mproc__waitq_sleep(mproc__waitq_t *q, uint32_t seq, const mproc__deadline_t *d);
void mproc__waitq_finish(mproc__waitq_t *q);
/* The whole waiter protocol for waiters that hold no lock: 0 once
 * ready(arg) != 0 (checked first, after counting as a sleeper, after every
 * wake-up, and once more at the deadline), else MPROC_ETIMEDOUT. ready may
 * act (take a unit, say) when it returns 1. woken_point: the crash point
 * (MPROC__CP_*) passed after each sleep, before the re-check; -1 for none. */
int mproc__waitq_wait_for(mproc__waitq_t *q, int (*ready)(void *arg), void *arg,
                          const mproc__deadline_t *d, int woken_point);
/* Makes a state change visible to waiters (call after the change): bumps the
 * sequence and wakes every sleeper (a woken waiter that dies before acting
 * must not leave the others asleep). Sleeps are cut into 0.5 s slices, so a
 * waker killed between its change and this call delays a waiter by at most
 * one slice (futex.c). */
void mproc__waitq_wake(mproc__waitq_t *q);

/* ---- robust process-shared mutexes (mutex.c) ---- */
int mproc__mutex_init(pthread_mutex_t *m);
/* 0, MPROC_ETIMEDOUT, or MPROC_EOWNERDEAD: acquired, the holder had died, and
 * the mutex is already marked consistent again. */
int mproc__mutex_lock(pthread_mutex_t *m, const mproc__deadline_t *d);
/* 0 or MPROC_EPERM (not held by the caller). */
int mproc__mutex_unlock(pthread_mutex_t *m);
/* 0 or MPROC_EBUSY (held). */
int mproc__mutex_destroy(pthread_mutex_t *m);
/* Kernel tid of the live holder, 0 if free (or its holder died). */
pid_t mproc__mutex_owner(pthread_mutex_t *m);

/* The RLock's shared state; Condition embeds one as its lock. */
struct mproc__rlock {
    pthread_mutex_t mutex;
    uint32_t depth; /* written only by the holder */
};

/* For `mproc info`: a queue's order, items, bytes in use, capacity, maxsize,
 * and items not yet marked task_done. */
struct mproc__queue_state {
    int order;
    uint32_t items, unfinished, capacity, used;
    uint64_t maxsize;
};
void mproc__queue_state(mproc_queue_t *q, struct mproc__queue_state *out);

/* For `mproc info`: a semaphore's bound (0: none), a Value's typecode. */
unsigned mproc__sem_bound(mproc_sem_t *s);
char mproc__value_typecode(mproc_value_t *v);

/* ---- names (name.c) ---- */
#define MPROC__NAME_MAX 200
/* Validates a user name and writes "/name" (with exactly one leading slash)
 * to path, which holds MPROC__NAME_MAX + 2 bytes. 0 or MPROC_EINVAL. */
int mproc__name_path(const char *name, char *path);
/* Directory where the system keeps POSIX shared memory. */
#define MPROC__SHM_DIR "/dev/shm"

/* ---- segments (segment.c) ----
 * Every object made by mproc_T_create lives in a segment: a header, then the
 * payload. Named segments are built under a temporary name and renamed into
 * place only when complete; opening checks the header. */
enum mproc__type {
    MPROC__TYPE_LOCK = 1,
    MPROC__TYPE_RLOCK,
    MPROC__TYPE_COND,
    MPROC__TYPE_EVENT,
    MPROC__TYPE_SEM,
    MPROC__TYPE_BARRIER,
    MPROC__TYPE_QUEUE,
    MPROC__TYPE_VALUE,
    MPROC__TYPE_ARRAY,
};
/* Initialises a fresh payload; returns 0 or a code (creation then fails). */
typedef int (*mproc__init_fn)(void *payload, const void *arg);

/* Maps a new segment of type `type` with a payload of `size` bytes, runs init
 * on it, and (name != NULL) publishes it under name. *payload on success. */
int mproc__segment_create(void **payload, const char *name, int type, size_t size,
                          mproc__init_fn init, const void *arg);
/* Maps an existing named segment; MPROC_ETYPE unless it is a complete segment
 * of this type and layout whose payload is `size` bytes (size 0: any). */
int mproc__segment_open(void **payload, const char *name, int type, size_t size);
/* Sizes a fresh shared-memory file to `size` bytes, reserving the pages now
 * so that a full /dev/shm is MPROC_ENOMEM here rather than SIGBUS at first
 * touch. 0 or a code. */
int mproc__shm_reserve(int fd, size_t size);
/* What a file in MPROC__SHM_DIR is, from its header alone (for the `mproc`
 * command): type 0 if it is not a complete mproc segment of this layout. */
struct mproc__segment_info {
    int type;
    uint64_t payload_size;
    int32_t creator_pid;
};
void mproc__segment_peek(int fd, struct mproc__segment_info *info);
/* The name of a type, "block" for 0. */
const char *mproc__type_name(int type);
/* Prefix of the temporary names segments are built under. */
#define MPROC__BUILD_PREFIX ".mproc-build-"
/* A temporary build name, "/.mproc-build-PID-KIND-<16 random hex digits>",
 * in out[cap] (64 bytes suffice). The pid comes first so `mproc ls` can name
 * the builder; the random part makes the name unguessable, so another local
 * user cannot take it first and make a create fail with a false EEXIST (a
 * caller retries on EEXIST with a new name). */
void mproc__build_name(char *out, size_t cap, const char *kind);
/* How often a create retries with a new build name after EEXIST. */
#define MPROC__BUILD_TRIES 8
/* Payload bytes of a segment mapped by create/open. */
size_t mproc__segment_payload_size(const void *payload);
/* Unmaps a segment mapped by create/open in this process; MPROC_EINVAL if
 * payload is not one (or not of this type). */
int mproc__segment_close(void *payload, int type);

#endif
