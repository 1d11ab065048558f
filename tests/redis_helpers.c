/* Redis servers for the tests (see redis_helpers.h). */
#include "config.h"

#ifdef HAVE_HIREDIS

#include "redis_helpers.h"
#include "helpers.h"

#include <hiredis/hiredis.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define READY_SECONDS 15.0

static int can_bind(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* A free loopback port (and port + 10000 free too, for a cluster's bus). */
static int free_port(void)
{
    for (int tries = 0; tries < 100; tries++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof a;
        if (fd < 0)
            return -1;
        int port = -1;
        if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
            getsockname(fd, (struct sockaddr *)&a, &len) == 0)
            port = ntohs(a.sin_port);
        close(fd);
        if (port > 0 && port < 55000 && can_bind(port + 10000))
            return port;
    }
    return -1;
}

static int spawn(const char *const argv[], const char *log)
{
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the tests */
        int fd = open(log != NULL ? log : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

int redis_available(void)
{
    const char *const argv[] = { "redis-server", "--version", NULL };
    pid_t pid = spawn(argv, NULL);
    if (pid < 0)
        return 0;
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static redisContext *connect_node(test_redis_t *r, int i)
{
    struct timeval tv = { 2, 0 };
    redisContext *c = r->port[i] == 0 ? redisConnectUnixWithTimeout(r->socket, tv)
                                      : redisConnectWithTimeout("127.0.0.1", r->port[i], tv);
    if (c == NULL || c->err) {
        if (c != NULL)
            redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    if (r->password[0] != '\0') {
        redisReply *rep = redisCommand(c, "AUTH %s", r->password);
        int ok = rep != NULL && rep->type != REDIS_REPLY_ERROR;
        if (rep != NULL)
            freeReplyObject(rep);
        if (!ok) {
            redisFree(c);
            return NULL;
        }
    }
    return c;
}

static void reply_text(const redisReply *rep, char *out, size_t cap)
{
    size_t used = strlen(out);
    switch (rep->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        snprintf(out + used, cap - used, "%.*s", (int)rep->len, rep->str);
        break;
    case REDIS_REPLY_INTEGER:
        snprintf(out + used, cap - used, "%lld", rep->integer);
        break;
    case REDIS_REPLY_NIL:
        snprintf(out + used, cap - used, "(nil)");
        break;
    case REDIS_REPLY_ARRAY:
        for (size_t i = 0; i < rep->elements; i++) {
            if (i > 0)
                snprintf(out + strlen(out), cap - strlen(out), "\n");
            reply_text(rep->element[i], out, cap);
        }
        break;
    }
}

/* One command on node i; its reply as text. 0 or -1. */
static int command_on(test_redis_t *r, int i, char *out, size_t cap, const char *fmt, va_list ap)
{
    redisContext *c = connect_node(r, i);
    if (c == NULL)
        return -1;
    redisReply *rep = redisvCommand(c, fmt, ap);
    redisFree(c);
    if (rep == NULL)
        return -1;
    if (out != NULL && cap > 0) {
        out[0] = '\0';
        reply_text(rep, out, cap);
    }
    freeReplyObject(rep);
    return 0;
}

static int command(test_redis_t *r, int i, char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = command_on(r, i, out, cap, fmt, ap);
    va_end(ap);
    return rc;
}

/* Polls node i until it answers PING, at most READY_SECONDS; -1 if its
 * process ended first. */
static int wait_ready(test_redis_t *r, int i)
{
    double until = now() + READY_SECONDS;
    while (now() < until) {
        char text[64];
        if (command(r, i, text, sizeof text, "PING") == 0 && strcmp(text, "PONG") == 0)
            return 0;
        if (waitpid(r->pid[i], NULL, WNOHANG) == r->pid[i]) {
            r->pid[i] = 0;
            return -1;
        }
        struct timespec ms = { 0, 20000000 };
        nanosleep(&ms, NULL);
    }
    return -1;
}

static int start_node(test_redis_t *r, int i, int cluster)
{
    char port[16], conf[192], log[192];
    snprintf(port, sizeof port, "%d", r->port[i]);
    snprintf(conf, sizeof conf, "%s/nodes-%d.conf", r->dir, i);
    snprintf(log, sizeof log, "%s/redis-%d.log", r->dir, i);
    const char *argv[32] = { "redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", r->dir, "--daemonize", "no" };
    int n = 13;
    if (r->port[i] == 0) {
        argv[n++] = "--unixsocket";
        argv[n++] = r->socket;
        argv[n++] = "--unixsocketperm";
        argv[n++] = "700";
    }
    if (r->password[0] != '\0') {
        argv[n++] = "--requirepass";
        argv[n++] = r->password;
    }
    if (cluster) {
        argv[n++] = "--cluster-enabled";
        argv[n++] = "yes";
        argv[n++] = "--cluster-config-file";
        argv[n++] = conf;
        argv[n++] = "--cluster-node-timeout";
        argv[n++] = "2000";
    }
    argv[n] = NULL;
    r->pid[i] = spawn(argv, log);
    return r->pid[i] > 0 ? wait_ready(r, i) : -1;
}

static int make_dir(test_redis_t *r)
{
    snprintf(r->dir, sizeof r->dir, "/tmp/mproc-redis-XXXXXX");
    if (mkdtemp(r->dir) == NULL) {
        perror("mkdtemp");
        return -1;
    }
    return 0;
}

int redis_start(test_redis_t *r, int unix_socket, const char *password)
{
    memset(r, 0, sizeof *r);
    if (make_dir(r) != 0)
        return -1;
    r->nodes = 1;
    snprintf(r->password, sizeof r->password, "%s", password != NULL ? password : "");
    for (int tries = 0; tries < 5; tries++) {
        if (unix_socket) {
            snprintf(r->socket, sizeof r->socket, "%s/redis.sock", r->dir);
            snprintf(r->address, sizeof r->address, "redis+unix://%s", r->socket);
        } else {
            r->port[0] = free_port();
            snprintf(r->address, sizeof r->address, "redis://127.0.0.1:%d", r->port[0]);
        }
        if (start_node(r, 0, 0) == 0)
            return 0;
        redis_stop(r); /* a port taken in between: another one */
        if (make_dir(r) != 0)
            return -1;
    }
    fprintf(stderr, "redis_helpers: redis-server did not start (see %s)\n", r->dir);
    return -1;
}

static int start_cluster(test_redis_t *r, int n, int replicas);

int redis_start_cluster(test_redis_t *r, int n)
{
    return start_cluster(r, n, 0);
}

/* Polls until every replica of r reports its link to its master up. */
static int replicas_in_sync(test_redis_t *r, int masters)
{
    double until = now() + READY_SECONDS;
    for (int i = masters; i < r->nodes;) {
        char info[4096];
        if (command(r, i, info, sizeof info, "INFO replication") == 0 &&
            strstr(info, "master_link_status:up") != NULL) {
            i++;
            continue;
        }
        if (now() > until) {
            fprintf(stderr, "redis_helpers: replica %d did not sync\n", i);
            return -1;
        }
        struct timespec ms = { 0, 50000000 };
        nanosleep(&ms, NULL);
    }
    return 0;
}

int redis_start_cluster_replicas(test_redis_t *r, int n)
{
    if (2 * n > TEST_REDIS_MAX_NODES)
        return -1;
    if (start_cluster(r, 2 * n, 1) != 0)
        return -1;
    if (replicas_in_sync(r, n) != 0) {
        redis_stop(r);
        return -1;
    }
    return 0;
}

static int start_cluster(test_redis_t *r, int n, int replicas)
{
    memset(r, 0, sizeof *r);
    if (n > TEST_REDIS_MAX_NODES || make_dir(r) != 0)
        return -1;
    r->nodes = n;
    char hosts[TEST_REDIS_MAX_NODES][32];
    const char *argv[8 + TEST_REDIS_MAX_NODES] = { "redis-cli", "--cluster", "create" };
    int argc = 3;
    for (int i = 0; i < n; i++) {
        r->port[i] = free_port();
        if (r->port[i] < 0 || start_node(r, i, 1) != 0) {
            fprintf(stderr, "redis_helpers: cluster node %d did not start\n", i);
            redis_stop(r);
            return -1;
        }
        snprintf(hosts[i], sizeof hosts[i], "127.0.0.1:%d", r->port[i]);
        argv[argc++] = hosts[i];
    }
    snprintf(r->address, sizeof r->address, "redis://127.0.0.1:%d", r->port[0]);
    argv[argc++] = "--cluster-replicas";
    argv[argc++] = replicas ? "1" : "0";
    argv[argc++] = "--cluster-yes";
    argv[argc] = NULL;
    char log[192];
    snprintf(log, sizeof log, "%s/create.log", r->dir);
    pid_t pid = spawn(argv, log);
    int status = -1;
    if (pid > 0)
        waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "redis_helpers: redis-cli --cluster create failed (see %s)\n", log);
        redis_stop(r);
        return -1;
    }
    /* every node must see the whole cluster before the tests start */
    double until = now() + READY_SECONDS;
    for (int i = 0; i < n;) {
        char info[4096];
        if (command(r, i, info, sizeof info, "CLUSTER INFO") == 0 &&
            strstr(info, "cluster_state:ok") != NULL && strstr(info, "cluster_slots_ok:16384") != NULL) {
            i++;
            continue;
        }
        if (now() > until) {
            fprintf(stderr, "redis_helpers: the cluster did not become ready\n");
            redis_stop(r);
            return -1;
        }
        struct timespec ms = { 0, 50000000 };
        nanosleep(&ms, NULL);
    }
    return 0;
}

static void stop_node(test_redis_t *r, int i)
{
    if (r->pid[i] <= 0)
        return;
    kill(r->pid[i], SIGKILL); /* nothing of theirs is kept: no need to be gentle */
    waitpid(r->pid[i], NULL, 0);
    r->pid[i] = 0;
}

void redis_stop(test_redis_t *r)
{
    for (int i = 0; i < r->nodes && i < TEST_REDIS_MAX_NODES; i++)
        stop_node(r, i);
    if (r->dir[0] != '\0') {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", r->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "redis_helpers: could not remove %s\n", r->dir);
        r->dir[0] = '\0';
    }
}

int redis_restart(test_redis_t *r, int i, int keep_down)
{
    stop_node(r, i);
    if (r->port[i] == 0)
        unlink(r->socket);
    return keep_down ? 0 : start_node(r, i, 0);
}

int redis_manager_connect(test_redis_t *r, mproc_manager_t **m)
{
    if (redis_flush(r) != 0)
        return -1;
    const char *pw = r->password;
    return mproc_manager_connect(m, r->address, pw[0] ? pw : NULL, strlen(pw));
}

int redis_flush(test_redis_t *r)
{
    for (int i = 0; i < r->nodes; i++)
        if (command(r, i, NULL, 0, "FLUSHALL") != 0)
            return -1;
    return 0;
}

int redis_node_of(test_redis_t *r, const char *key)
{
    if (r->nodes == 1)
        return 0;
    for (int i = 0; i < r->nodes; i++) {
        char text[256];
        if (command(r, i, text, sizeof text, "EXISTS %b", key, strlen(key)) == 0 &&
            strncmp(text, "MOVED", 5) != 0 && strncmp(text, "ASK", 3) != 0)
            return i;
    }
    return -1;
}

int redis_admin(test_redis_t *r, const char *key, char *out, size_t cap, const char *fmt, ...)
{
    int i = key != NULL ? redis_node_of(r, key) : 0;
    if (i < 0)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    int rc = command_on(r, i, out, cap, fmt, ap);
    va_end(ap);
    return rc;
}

int redis_admin_node(test_redis_t *r, int i, char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = command_on(r, i, out, cap, fmt, ap);
    va_end(ap);
    return rc;
}

int redis_node_id(test_redis_t *r, int i, char *id)
{
    char text[64];
    if (command(r, i, text, sizeof text, "CLUSTER MYID") != 0 || strlen(text) != 40)
        return -1;
    memcpy(id, text, 41);
    return 0;
}

#endif
