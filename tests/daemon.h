/* Starting the `mproc manager` daemon ($MPROC_TOOL) from a test. */
#ifndef MPROC_TEST_DAEMON_H
#define MPROC_TEST_DAEMON_H

#include <stddef.h>
#include <sys/resource.h>
#include <sys/types.h>

/* Starts `mproc manager` with args (NULL-terminated, after "manager"),
 * with at most nofile descriptors (0: as inherited); waits until it
 * listens. Its pid. */
pid_t daemon_start(const char *const *args, rlim_t nofile);

/* As daemon_start, but a daemon that exits instead of listening is an
 * outcome, not a failure: then 0, with *status its exit status (as
 * wait_child gives it) and err what it wrote on stderr (NUL-terminated,
 * at most errsize - 1 bytes). A daemon that listens: its pid (its stderr
 * is then the test's). */
pid_t daemon_try_start(const char *const *args, rlim_t nofile, int *status, char *err, size_t errsize);

#endif
