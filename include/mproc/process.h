/* mproc/process.h: forking worker processes (multiprocessing.Process).
 * Include <mproc.h>, not this file. */
#ifndef MPROC_PROCESS_H
#define MPROC_PROCESS_H

#include <mproc/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mproc_process mproc_process_t;

/* Forks a child that runs fn(arg) and exits with its return value (0..255;
 * stdio buffers are flushed first, atexit handlers are not run). Pending
 * stdio output is flushed before the fork so it is not written twice.
 * 0, MPROC_EINVAL (fn NULL), MPROC_ENOMEM, MPROC_EAGAIN (process limit).
 * The caller must eventually join (or free) the process. */
MPROC_API int mproc_process_start(mproc_process_t **p, int (*fn)(void *arg), void *arg);
/* The child's process id (it stays valid as a number after the child ends). */
MPROC_API pid_t mproc_process_pid(mproc_process_t *p);
/* Waits for the child to end and reaps it. 0 once ended, with *exitcode (if
 * exitcode is not NULL) = fn's return value, or -signal if a signal killed
 * it; MPROC_ETIMEDOUT. Joining an ended process again returns the same. */
MPROC_API int mproc_process_join(mproc_process_t *p, double timeout, int *exitcode);
/* 1 while the child runs, 0 once it has ended. */
MPROC_API int mproc_process_is_alive(mproc_process_t *p);
/* Sends SIGTERM / SIGKILL. 0 (also when the child has already ended). */
MPROC_API int mproc_process_terminate(mproc_process_t *p);
MPROC_API int mproc_process_kill(mproc_process_t *p);
/* Frees the handle. A child that has not been joined is not waited for: it
 * runs on, and is reaped when the caller waits for its children or exits. */
MPROC_API void mproc_process_free(mproc_process_t *p);

#ifdef __cplusplus
}
#endif
#endif
