/* Helpers shared by the Check suites: unique names, shared memory, forking
 * children that report through exit codes, and bounded polling. */
#ifndef MPROC_TEST_HELPERS_H
#define MPROC_TEST_HELPERS_H

#include <mproc.h>

#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Exit code a child reports when an assertion of its own failed. */
#define CHILD_FAILED 99
/* What wait_child returns for a child that did not end in time (it is killed). */
#define CHILD_HUNG 1000

/* A fresh object name unique to this process, e.g. "mproc-test-123-lock-4". */
const char *test_name(const char *tag);
/* Removes directory dir and everything in it: 0, or -1 (said on stderr). */
int remove_tree(const char *dir);
/* Zeroed anonymous shared memory, inherited by children forked afterwards. */
void *shared_alloc(size_t size);

/* Forks a child running fn(arg) and _exit()ing with its result. */
pid_t fork_child(int (*fn)(void *arg), void *arg);
/* Waits at most `seconds` for pid: its exit code, -signal if killed by one,
 * or CHILD_HUNG (after killing it) if it did not end in time. */
int wait_child(pid_t pid, double seconds);
/* Kills pid with SIGKILL and reaps it. */
void kill_child(pid_t pid);
/* Polls until the process (or thread) `pid` is asleep in the kernel (state S),
 * at most `seconds`. 1 if it is, 0 if not in time. */
int wait_sleeping(pid_t pid, double seconds);
/* Polls until pred(arg) != 0, at most `seconds`. 1 if it became true. */
int poll_until(int (*pred)(void *arg), void *arg, double seconds);

/* Lets a random 0..max_us microseconds pass (a random moment to kill a
 * child at, never a way to wait for something). Seeded the same every run. */
void pause_random_us(unsigned max_us);

/* Seconds on CLOCK_MONOTONIC. */
double now(void);

/* Runs fn(arg) in a new thread of this process and returns its result. */
intptr_t in_thread(void *(*fn)(void *), void *arg);

/* Runs the suite, returns the process exit status for main(). */
int run_suite(Suite *s);

#endif
