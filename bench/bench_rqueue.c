/* Manager queues against their baselines, in the same run:
 *   on mproc's server: put + get + task_done from one client (three round
 *     trips), as bench/python_rqueue.py measures Python's
 *     Manager().JoinableQueue();
 *   on Redis (a redis-server this program starts on a free loopback port;
 *     skipped with a message when there is none, or without hiredis):
 *     round trip, one client: put + get through mproc against a raw hiredis
 *     LPUSH + BRPOP loop (two round trips each), and put + get + task_done;
 *     throughput, one producer process and one consumer process: mproc's
 *     put against get (+ task_done) vs raw LPUSH against BRPOP.
 * Each figure is the median of RUNS runs with the spread (min .. max); the
 * Redis rounds interleave mproc and the raw loop, and the ratio given is the
 * median of the rounds' ratios. */
#include "config.h"

#include <mproc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef HAVE_HIREDIS
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

#define OPS 20000
#define RUNS 5
#define ITEM "item-000000"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void report(const char *what, const char *how, double *rate, const double *base)
{
    double ratio[RUNS];
    for (int i = 0; base != NULL && i < RUNS; i++)
        ratio[i] = rate[i] / base[i];
    qsort(rate, RUNS, sizeof rate[0], cmp);
    printf("  %-44s %8.0f items/s (%s; %d runs: %.0f .. %.0f)", what, rate[RUNS / 2], how, RUNS, rate[0],
           rate[RUNS - 1]);
    if (base != NULL) {
        qsort(ratio, RUNS, sizeof ratio[0], cmp);
        printf(" %.2fx the raw loop (%.2f .. %.2f)", ratio[RUNS / 2], ratio[0], ratio[RUNS - 1]);
    }
    printf("\n");
}

/* put + get (+ task_done) ops times from one handle: items/s, or -1. */
static double round_trips(mproc_rqueue_t *q, int ops, int ack)
{
    double t0 = now();
    for (int i = 0; i < ops; i++) {
        void *d;
        if (mproc_rqueue_put(q, ITEM, sizeof ITEM - 1, -1) != 0 || mproc_rqueue_get(q, &d, NULL, -1) != 0)
            return -1;
        free(d);
        if (ack && mproc_rqueue_task_done(q) != 0)
            return -1;
    }
    double rate = ops / (now() - t0);
    for (int i = 0; !ack && i < ops; i++) /* untimed: the gets are acknowledged */
        if (mproc_rqueue_task_done(q) != 0)
            return -1;
    return rate;
}

static void bench_server(void)
{
    mproc_manager_t *m;
    mproc_rqueue_t *q;
    if (mproc_manager_start(&m, NULL, NULL, 0) != 0 || mproc_manager_queue(m, "bench", 0, &q) != 0)
        exit(1);
    double rate[RUNS];
    for (int r = 0; r < RUNS; r++)
        if ((rate[r] = round_trips(q, OPS, 1)) < 0)
            exit(1);
    report("mproc Manager queue, mproc's server", "put+get+task_done", rate, NULL);
    mproc_rqueue_close(q);
    mproc_manager_shutdown(m);
}

#ifdef HAVE_HIREDIS
static int port;

/* A loopback port nobody listens on (the kernel's pick, released). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        return -1;
    close(fd);
    return ntohs(a.sin_port);
}

static redisContext *raw_connect(void)
{
    redisContext *c = redisConnect("127.0.0.1", port);
    if (c == NULL || c->err)
        exit(1);
    return c;
}

static void raw_cmd(redisContext *c, const char *fmt, const char *arg)
{
    redisReply *rep = redisCommand(c, fmt, arg);
    if (rep == NULL || rep->type == REDIS_REPLY_ERROR)
        exit(1);
    freeReplyObject(rep);
}

/* The raw loop: LPUSH + BRPOP ops times from one connection. */
static double raw_round_trips(int ops)
{
    redisContext *c = raw_connect();
    double t0 = now();
    for (int i = 0; i < ops; i++) {
        raw_cmd(c, "LPUSH raw %s", ITEM);
        raw_cmd(c, "BRPOP raw %s", "0");
    }
    double rate = ops / (now() - t0);
    redisFree(c);
    return rate;
}

/* One producer process, one consumer (this one): ops items from the first
 * put to the last get. raw: LPUSH / BRPOP; else mproc, the consumer
 * acknowledging each get when ack. */
static double throughput(mproc_manager_t *m, int raw, int ack, int ops)
{
    mproc_rqueue_t *q = NULL;
    redisContext *c = NULL;
    if (raw)
        c = raw_connect();
    else if (mproc_manager_queue(m, "bench-tp", 0, &q) != 0)
        exit(1);
    fflush(stdout);
    double t0 = now();
    pid_t p = fork();
    if (p == 0) {
        mproc_rqueue_t *pq;
        redisContext *pc = raw ? raw_connect() : NULL;
        if (!raw && mproc_manager_queue(m, "bench-tp", 0, &pq) != 0)
            _exit(1);
        for (int i = 0; i < ops; i++) {
            if (raw)
                raw_cmd(pc, "LPUSH tp %s", ITEM);
            else if (mproc_rqueue_put(pq, ITEM, sizeof ITEM - 1, -1) != 0)
                _exit(1);
        }
        _exit(0);
    }
    for (int i = 0; i < ops; i++) {
        if (raw) {
            raw_cmd(c, "BRPOP tp %s", "0");
            continue;
        }
        void *d;
        if (mproc_rqueue_get(q, &d, NULL, -1) != 0)
            exit(1);
        free(d);
        if (ack && mproc_rqueue_task_done(q) != 0)
            exit(1);
    }
    double rate = ops / (now() - t0);
    int status;
    waitpid(p, &status, 0);
    for (int i = 0; !raw && !ack && i < ops; i++)
        mproc_rqueue_task_done(q);
    if (raw)
        redisFree(c);
    else
        mproc_rqueue_close(q);
    return rate;
}

static void bench_redis(void)
{
    if (system("command -v redis-server >/dev/null 2>&1") != 0) {
        printf("  (redis-server not installed: the Redis figures are skipped)\n");
        return;
    }
    char dir[] = "/tmp/mproc-bench-rqueue-XXXXXX";
    if (mkdtemp(dir) == NULL || (port = free_port()) < 0)
        exit(1);
    char portarg[16];
    snprintf(portarg, sizeof portarg, "%d", port);
    fflush(stdout); /* a child's freopen must not print it again */
    pid_t server = fork();
    if (server == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (freopen("/dev/null", "w", stdout) == NULL)
            _exit(127);
        execlp("redis-server", "redis-server", "--port", portarg, "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", dir, (char *)NULL);
        _exit(127);
    }
    char address[64];
    snprintf(address, sizeof address, "redis://127.0.0.1:%d", port);
    mproc_manager_t *m = NULL;
    for (int i = 0; i < 250 && mproc_manager_connect(&m, address, NULL, 0) != 0; i++)
        usleep(20000); /* until the server listens */
    mproc_rqueue_t *q;
    if (m == NULL || mproc_manager_queue(m, "bench", 0, &q) != 0) {
        fprintf(stderr, "bench_rqueue: redis-server did not start\n");
        kill(server, SIGKILL);
        exit(1);
    }
    const int ops = OPS / 2;
    double raw_rt[RUNS], m_rt[RUNS], m_rt_ack[RUNS], raw_tp[RUNS], m_tp[RUNS], m_tp_ack[RUNS];
    for (int r = 0; r < RUNS; r++) {
        /* interleaved, so that the machine's noise falls on all alike */
        raw_rt[r] = raw_round_trips(ops);
        if ((m_rt[r] = round_trips(q, ops, 0)) < 0 || (m_rt_ack[r] = round_trips(q, ops, 1)) < 0)
            exit(1);
        raw_tp[r] = throughput(m, 1, 0, ops);
        m_tp[r] = throughput(m, 0, 0, ops);
        m_tp_ack[r] = throughput(m, 0, 1, ops);
    }
    printf("  round trip, one client (Redis on loopback TCP):\n");
    report("raw hiredis loop, LPUSH + BRPOP", "2 round trips", raw_rt, NULL);
    report("mproc Manager queue on Redis, put + get", "2 round trips", m_rt, raw_rt);
    report("mproc on Redis, put + get + task_done", "3 round trips", m_rt_ack, raw_rt);
    printf("  throughput, one producer and one consumer process:\n");
    report("raw hiredis, LPUSH vs BRPOP", "BRPOP side", raw_tp, NULL);
    report("mproc on Redis, put vs get", "get side", m_tp, raw_tp);
    report("mproc on Redis, put vs get + task_done", "get side", m_tp_ack, raw_tp);
    mproc_rqueue_close(q);
    mproc_manager_close(m);
    kill(server, SIGTERM);
    waitpid(server, NULL, 0);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_rqueue: could not remove %s\n", dir);
}
#endif

int main(void)
{
    bench_server();
#ifdef HAVE_HIREDIS
    bench_redis();
#else
    printf("  (built without hiredis: the Redis figures are skipped)\n");
#endif
    return 0;
}
