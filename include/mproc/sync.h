/* mproc/sync.h: Lock, RLock, Condition, Event, Semaphore, Barrier, thread-local
 * data. Include <mproc.h>, not this file.
 *
 * Every primitive here works between threads and between processes. The
 * fixed-size types are plain structs, like pthread_mutex_t: put one in memory
 * that the processes share (a named block, a struct in an anonymous MAP_SHARED
 * mapping made before fork) and mproc_T_init it there once; or let the library
 * place it with mproc_T_create (name NULL: anonymous memory inherited by
 * children forked afterwards; a name: a segment any process opens with
 * mproc_T_open). mproc_T_close unmaps what create/open mapped (MPROC_EINVAL for
 * anything else); mproc_T_destroy ends an object made by mproc_T_init.
 *
 * Their contents are private and may change between versions; their size will
 * not within a major version.
 *
 * Robustness: when a process dies holding a Lock, RLock or Condition, the next
 * acquirer gets MPROC_EOWNERDEAD: it holds the lock, the lock works normally
 * again, and the caller decides whether the data it guards is consistent.
 * Event, Semaphore and Barrier recover silently from a death inside them. A
 * process killed while waiting, or woken and killed before it acts, leaves
 * nothing behind: every wake-up wakes every sleeper, so none is swallowed
 * (timed waits and FOREVER alike). A waker killed between its change and its
 * wake-up delays the waiters by at most half a second: every sleep is cut
 * into 0.5 s slices after which the waiter re-checks (so an idle waiter
 * wakes twice a second; no kernel mechanism reports that death to it).
 */
#ifndef MPROC_SYNC_H
#define MPROC_SYNC_H

#include <mproc/common.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MPROC__OPAQUE(bytes) union { unsigned char __size[bytes]; long long __align; } __opaque

typedef struct mproc_lock    { MPROC__OPAQUE(64);  } mproc_lock_t;
typedef struct mproc_rlock   { MPROC__OPAQUE(64);  } mproc_rlock_t;
typedef struct mproc_cond    { MPROC__OPAQUE(128); } mproc_cond_t;
typedef struct mproc_event   { MPROC__OPAQUE(32);  } mproc_event_t;
typedef struct mproc_sem     { MPROC__OPAQUE(32);  } mproc_sem_t;
typedef struct mproc_barrier { MPROC__OPAQUE(128); } mproc_barrier_t;
typedef struct mproc_local   { MPROC__OPAQUE(128); } mproc_local_t;

/* ---- Lock (threading.Lock, multiprocessing.Lock) --------------------------
 * A mutual-exclusion lock owned by the thread that acquired it: only that
 * thread releases it. Not re-entrant: the holder acquiring it again blocks
 * (and with a timeout, times out), as in Python. */

/* Initialises *l in place (unlocked). 0, MPROC_EINVAL (l NULL). */
MPROC_API int mproc_lock_init(mproc_lock_t *l);
/* Ends a lock made by mproc_lock_init. 0; MPROC_EBUSY if it is held. */
MPROC_API int mproc_lock_destroy(mproc_lock_t *l);
/* Creates an unlocked lock. name NULL: anonymous, shared with children forked
 * later; else a new named object (MPROC_EEXIST if the name is taken).
 * 0, MPROC_EINVAL, MPROC_EEXIST, MPROC_EACCES, MPROC_ENOMEM, MPROC_EMFILE. */
MPROC_API int mproc_lock_create(mproc_lock_t **l, const char *name);
/* Opens a named lock. 0, MPROC_EINVAL, MPROC_ENOENT, MPROC_EACCES,
 * MPROC_ETYPE (the name is not a lock of this layout version). */
MPROC_API int mproc_lock_open(mproc_lock_t **l, const char *name);
/* Unmaps a lock from create/open in this process; the object lives on until
 * unlinked and unmapped everywhere. 0, MPROC_EINVAL (not from create/open). */
MPROC_API int mproc_lock_close(mproc_lock_t *l);
/* Acquires. 0; MPROC_ETIMEDOUT (not acquired in time; timeout 0: held by
 * someone); MPROC_EOWNERDEAD (acquired: the previous holder died holding it);
 * MPROC_EINVAL (NaN timeout). Thread- and process-safe. */
MPROC_API int mproc_lock_acquire(mproc_lock_t *l, double timeout);
/* Releases. 0; MPROC_EPERM if the calling thread does not hold it. */
MPROC_API int mproc_lock_release(mproc_lock_t *l);
/* 1 if some live thread holds the lock, else 0. A snapshot: it may change at once. */
MPROC_API int mproc_lock_locked(mproc_lock_t *l);

/* ---- RLock (threading.RLock, multiprocessing.RLock) ----------------------
 * Re-entrant: the owning thread may acquire it again and must release it as
 * many times. Threads are told apart by their kernel thread id, cached per
 * thread and forgotten in a child made by fork() (a pthread_atfork handler).
 * A child made by _Fork() or a raw clone(), which skip those handlers, would
 * take its parent thread's id for its own: use fork() in programs that use
 * an RLock or Condition in the child (not fixed: checking the id on every
 * call would cost a system call each time). */
MPROC_API int mproc_rlock_init(mproc_rlock_t *l);
MPROC_API int mproc_rlock_destroy(mproc_rlock_t *l);              /* MPROC_EBUSY if held */
MPROC_API int mproc_rlock_create(mproc_rlock_t **l, const char *name);
MPROC_API int mproc_rlock_open(mproc_rlock_t **l, const char *name);
MPROC_API int mproc_rlock_close(mproc_rlock_t *l);
/* 0 (acquired, or depth + 1 if the caller already holds it), MPROC_ETIMEDOUT,
 * MPROC_EOWNERDEAD (acquired at depth 1; the previous owner died holding it),
 * MPROC_EOVERFLOW (recursion deeper than 2^32 - 1). */
MPROC_API int mproc_rlock_acquire(mproc_rlock_t *l, double timeout);
/* Drops one level; the lock is free when the depth reaches 0.
 * 0; MPROC_EPERM if the calling thread does not hold it. */
MPROC_API int mproc_rlock_release(mproc_rlock_t *l);
/* 1 if the calling thread holds it (at any depth), else 0. */
MPROC_API int mproc_rlock_owned(mproc_rlock_t *l);

/* ---- Condition (threading.Condition with its default RLock) --------------
 * A condition variable that carries its own re-entrant lock. Waiters are
 * woken in the order they began to wait (each takes a ticket; notify(n)
 * grants the n oldest). A waiter that times out withdraws its ticket (if more
 * than 64 waiters began before it, a later notify may still grant it in
 * vain). A waiter that dies while waiting (or woken, before it re-acquires
 * the lock) keeps its ticket; when a notify grants it, a live waiter that
 * was already waiting then takes the grant over, at once if awake, else
 * within one 0.5 s sleep slice, so the notify reaches a live waiter, as in
 * multiprocessing.Condition. Never to a waiter that began to wait after the
 * notify. Limit: the fixed 128 bytes watch only 4 waiters (the first 4
 * waiting at a time); a waiter that died without a watch slot, or whose pid
 * a new process has taken, may still absorb a notify. */
MPROC_API int mproc_cond_init(mproc_cond_t *c);
MPROC_API int mproc_cond_destroy(mproc_cond_t *c);               /* MPROC_EBUSY if its lock is held */
MPROC_API int mproc_cond_create(mproc_cond_t **c, const char *name);
MPROC_API int mproc_cond_open(mproc_cond_t **c, const char *name);
MPROC_API int mproc_cond_close(mproc_cond_t *c);
/* As mproc_rlock_acquire / mproc_rlock_release on the condition's lock. */
MPROC_API int mproc_cond_acquire(mproc_cond_t *c, double timeout);
MPROC_API int mproc_cond_release(mproc_cond_t *c);
/* The caller must hold the lock (at any depth), else MPROC_EPERM. Releases it
 * fully, waits for a notify, then re-acquires it to the same depth (without
 * limit: the timeout bounds only the wait). 0 notified; MPROC_ETIMEDOUT;
 * MPROC_EOWNERDEAD (notified or timed out: re-acquiring found the lock's
 * holder dead; the caller holds it; mproc_cond_wait_status tells which).
 * Never returns 0 without a notify. */
MPROC_API int mproc_cond_wait(mproc_cond_t *c, double timeout);
/* As mproc_cond_wait, with both facts told apart: 0 notified or
 * MPROC_ETIMEDOUT (or MPROC_EPERM, MPROC_EINVAL for a NaN timeout or
 * owner_died NULL), and *owner_died = 1 if re-acquiring the lock found its
 * holder dead (the caller holds it; the guarded data may be inconsistent),
 * else 0. */
MPROC_API int mproc_cond_wait_status(mproc_cond_t *c, double timeout, int *owner_died);
/* Waits until pred(arg) != 0: checks it first, then after each wake-up, with
 * the lock held; the deadline is computed once. 0 once pred is true,
 * MPROC_ETIMEDOUT if it is still false at the deadline, MPROC_EPERM. */
MPROC_API int mproc_cond_wait_for(mproc_cond_t *c, int (*pred)(void *arg), void *arg, double timeout);
/* Wakes the n longest-waiting waiters (fewer if fewer wait); the caller must
 * hold the lock, else MPROC_EPERM. 0. */
MPROC_API int mproc_cond_notify(mproc_cond_t *c, unsigned n);
/* Wakes every waiter; the caller must hold the lock, else MPROC_EPERM. 0. */
MPROC_API int mproc_cond_notify_all(mproc_cond_t *c);

/* ---- Event (threading.Event, multiprocessing.Event) ---------------------- */
MPROC_API int mproc_event_init(mproc_event_t *e);
MPROC_API int mproc_event_destroy(mproc_event_t *e);
MPROC_API int mproc_event_create(mproc_event_t **e, const char *name);
MPROC_API int mproc_event_open(mproc_event_t **e, const char *name);
MPROC_API int mproc_event_close(mproc_event_t *e);
/* Sets the flag and wakes every waiter. 0. */
MPROC_API int mproc_event_set(mproc_event_t *e);
/* Clears the flag. A waiter blocked when the flag was set still returns 0. 0. */
MPROC_API int mproc_event_clear(mproc_event_t *e);
MPROC_API int mproc_event_is_set(mproc_event_t *e);              /* 1 or 0 */
/* 0 once the flag is set (at once if it is), MPROC_ETIMEDOUT. */
MPROC_API int mproc_event_wait(mproc_event_t *e, double timeout);

/* ---- Semaphore / BoundedSemaphore ----------------------------------------
 * bound 0: unbounded (threading.Semaphore); else the value never exceeds
 * bound (threading.BoundedSemaphore). value > bound is MPROC_EINVAL. The
 * value is at most INT_MAX. */
MPROC_API int mproc_sem_init(mproc_sem_t *s, unsigned value, unsigned bound);
MPROC_API int mproc_sem_destroy(mproc_sem_t *s);
MPROC_API int mproc_sem_create(mproc_sem_t **s, const char *name, unsigned value, unsigned bound);
MPROC_API int mproc_sem_open(mproc_sem_t **s, const char *name);
MPROC_API int mproc_sem_close(mproc_sem_t *s);
/* Decrements the value, waiting while it is 0. 0, MPROC_ETIMEDOUT. */
MPROC_API int mproc_sem_acquire(mproc_sem_t *s, double timeout);
/* Adds n (n >= 1) and wakes up to n waiters. MPROC_EOVERFLOW (nothing
 * changed) if that would pass the bound or INT_MAX; MPROC_EINVAL if n == 0. */
MPROC_API int mproc_sem_release(mproc_sem_t *s, unsigned n);
/* The current value (a snapshot). */
MPROC_API int mproc_sem_value(mproc_sem_t *s);

/* ---- Barrier (threading.Barrier, multiprocessing.Barrier) ----------------
 * parties >= 1. Parties that arrive while a finished round is still waking
 * its members belong to the next round.
 * A party that dies while waiting (or inside the action) breaks the barrier:
 * no round ever completes with a dead party counted, and the others get
 * MPROC_EBROKEN within a second, whatever their timeout (FOREVER included).
 * reset makes it usable again. Limits: a party is watched by its process id
 * (pid reuse within one round could hide a death); only the first 14 waiting
 * parties of a round are watched (no room for more in 128 bytes); a waiter
 * that sleeps through 64 further rounds could misread how its round ended
 * (the outcomes of the last 64 rounds are kept). The last arrival checks the
 * others are alive before completing a round (a pidfd per waiting party). */
MPROC_API int mproc_barrier_init(mproc_barrier_t *b, unsigned parties);
MPROC_API int mproc_barrier_destroy(mproc_barrier_t *b);
MPROC_API int mproc_barrier_create(mproc_barrier_t **b, const char *name, unsigned parties);
MPROC_API int mproc_barrier_open(mproc_barrier_t **b, const char *name);
MPROC_API int mproc_barrier_close(mproc_barrier_t *b);
/* Waits until `parties` callers have arrived. >= 0: this caller's arrival
 * index, 0..parties-1, each once per round; MPROC_EBROKEN if the barrier is
 * or becomes broken (abort, reset, another's timeout, a failed action);
 * MPROC_ETIMEDOUT, and the barrier is then broken for everyone. */
MPROC_API int mproc_barrier_wait(mproc_barrier_t *b, double timeout);
/* As wait; the last party to arrive runs action(arg) before anyone is
 * released; a non-zero result breaks the barrier and every party of the round
 * (the last one too) gets MPROC_EBROKEN. */
MPROC_API int mproc_barrier_wait_action(mproc_barrier_t *b, double timeout,
                                        int (*action)(void *arg), void *arg);
/* Breaks the barrier: current and future waiters get MPROC_EBROKEN until reset. 0. */
MPROC_API int mproc_barrier_abort(mproc_barrier_t *b);
/* Back to the empty, unbroken state; parties waiting now get MPROC_EBROKEN. 0. */
MPROC_API int mproc_barrier_reset(mproc_barrier_t *b);
/* The number of parties it was made for. */
MPROC_API int mproc_barrier_parties(mproc_barrier_t *b);
/* Parties waiting in the current round (0 while broken). */
MPROC_API int mproc_barrier_n_waiting(mproc_barrier_t *b);
MPROC_API int mproc_barrier_broken(mproc_barrier_t *b);           /* 1 or 0 */

/* ---- Thread-local data (threading.local) ---------------------------------
 * Private to one process: each thread gets its own block of `size` bytes,
 * made on its first mproc_local_get (zeroed, then init(data) if init is not
 * NULL) and passed to destroy(data) (if not NULL), then freed, when the thread
 * exits. A child forked later starts with a copy of the forking thread's
 * block. */
/* 0; MPROC_EINVAL (size 0); MPROC_ENOMEM (out of thread-specific keys). */
MPROC_API int mproc_local_init(mproc_local_t *l, size_t size,
                               void (*init)(void *data), void (*destroy)(void *data));
/* This thread's block; NULL if it cannot be allocated. */
MPROC_API void *mproc_local_get(mproc_local_t *l);
/* Destroys and frees the blocks of every thread, then l itself. No thread may
 * use l, or exit with a block of it, while this runs. 0. */
MPROC_API int mproc_local_destroy(mproc_local_t *l);

#ifdef __cplusplus
}
#endif
#endif
