/* Starting the `mproc manager` daemon ($MPROC_TOOL) from a test. */
#ifndef MPROC_TEST_DAEMON_H
#define MPROC_TEST_DAEMON_H

#include <sys/resource.h>
#include <sys/types.h>

/* Starts `mproc manager` with args (NULL-terminated, after "manager"),
 * with at most nofile descriptors (0: as inherited); waits until it
 * listens. Its pid. */
pid_t daemon_start(const char *const *args, rlim_t nofile);

#endif
