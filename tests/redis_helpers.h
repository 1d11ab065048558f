/* Redis servers for the tests: redis-server processes on free loopback
 * ports or on sockets in private temporary directories, stopped (and their
 * directories removed) by redis_stop, and killed by the kernel if the test
 * program dies first (PR_SET_PDEATHSIG). Administrative commands go through
 * hiredis. Only built with the Redis backend (HAVE_HIREDIS). */
#ifndef MPROC_TEST_REDIS_HELPERS_H
#define MPROC_TEST_REDIS_HELPERS_H

#include <sys/types.h>

#define TEST_REDIS_MAX_NODES 6

typedef struct {
    int nodes;                            /* 1, or the masters of a cluster */
    pid_t pid[TEST_REDIS_MAX_NODES];
    int port[TEST_REDIS_MAX_NODES];       /* 0 for a Unix socket */
    char dir[128];                        /* the private temporary directory */
    char socket[192];                     /* the Unix socket, or "" */
    char password[32];                    /* "" for none */
    char address[256];                    /* what mproc_manager_connect takes */
} test_redis_t;

/* Whether redis-server (and redis-cli) can be run. */
int redis_available(void);
/* Starts a standalone server: on a Unix socket (unix 1) or a loopback TCP
 * port, with a password if given. 0, or -1 (with a message on stderr). */
int redis_start(test_redis_t *r, int unix_socket, const char *password);
/* Starts a cluster of n masters (no replicas) and waits until it is ready. */
int redis_start_cluster(test_redis_t *r, int n);
/* Starts a cluster of n masters, nodes 0 to n-1, each with one replica
 * (nodes n to 2n-1, r->nodes is 2n), and waits until it is ready and every
 * replica is in sync with its master. */
int redis_start_cluster_replicas(test_redis_t *r, int n);
/* Stops every server of r (SIGTERM, then SIGKILL after 5 s) and removes its
 * directory. Harmless on a zeroed or stopped r. */
void redis_stop(test_redis_t *r);
/* Stops node i (SIGKILL) and starts it again on the same port or socket and
 * directory (its data is gone: no persistence). 0 or -1. */
int redis_restart(test_redis_t *r, int i, int keep_down);
/* FLUSHALL on every master. 0 or -1. */
int redis_flush(test_redis_t *r);
/* Empties r (redis_flush) and connects a Manager handle to it, with its
 * password if it has one: mproc_manager_connect's result. */
struct mproc_manager;
int redis_manager_connect(test_redis_t *r, struct mproc_manager **m);
/* Runs a command (printf-like, as redisCommand) on the node of r that
 * holds key's slot (or on the only node); the reply as text into out
 * (arrays as their elements, one per line; errors as "ERR ..."); 0 or -1. */
int redis_admin(test_redis_t *r, const char *key, char *out, size_t cap, const char *fmt, ...);
/* The same on node i. */
int redis_admin_node(test_redis_t *r, int i, char *out, size_t cap, const char *fmt, ...);
/* Node index of r that holds key (0 for standalone), -1 on error. */
int redis_node_of(test_redis_t *r, const char *key);
/* The cluster node id of node i into id[41]. 0 or -1. */
int redis_node_id(test_redis_t *r, int i, char *id);

#endif
