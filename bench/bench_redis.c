/* The Manager on Redis against its baselines, in the same run, on one Redis
 * server this program starts on a Unix socket:
 *   dict set / get through mproc       vs  a raw hiredis loop (HSET / HGET)
 *                                      vs  redis-benchmark -c 1 (HSET / HGET)
 *   dict_update of 1000 items          vs  one raw HSET of 1000 fields
 *                                      vs  redis-benchmark -P 1000 (HSET)
 * Each figure is the median of ROUNDS runs, with the spread (min..max). */
#include <mproc.h>

#include <hiredis/hiredis.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 7
#define OPS 10000
#define BATCH 1000
#define BATCHES 40

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median rate and its spread; against a baseline, the median of the
 * rounds' ratios too (each round runs both back to back, so a ratio is
 * steadier than the rates on a noisy machine). */
static void report(const char *what, double *rates, const char *unit, const double *baseline)
{
    double ratio[ROUNDS];
    for (int k = 0; k < ROUNDS && baseline != NULL; k++)
        ratio[k] = rates[k] / baseline[k];
    qsort(rates, ROUNDS, sizeof *rates, cmp);
    printf("  %-40s %10.0f %s  (%.0f..%.0f)", what, rates[ROUNDS / 2], unit, rates[0], rates[ROUNDS - 1]);
    if (baseline != NULL) {
        qsort(ratio, ROUNDS, sizeof *ratio, cmp);
        printf("  %.2fx (%.2f..%.2f)", ratio[ROUNDS / 2], ratio[0], ratio[ROUNDS - 1]);
    }
    printf("\n");
}

static char sock[256];

static redisContext *raw(void)
{
    redisContext *c = redisConnectUnix(sock);
    if (c == NULL || c->err) {
        fprintf(stderr, "bench_redis: cannot connect to %s\n", sock);
        exit(1);
    }
    return c;
}

static double raw_loop(int get)
{
    redisContext *c = raw();
    double t0 = now();
    for (int i = 0; i < OPS; i++) {
        redisReply *r = get ? redisCommand(c, "HGET mproc:dict:{raw} key%d", i % 100)
                            : redisCommand(c, "HSET mproc:dict:{raw} key%d value", i % 100);
        if (r == NULL)
            exit(1);
        freeReplyObject(r);
    }
    double rate = OPS / (now() - t0);
    redisFree(c);
    return rate;
}

static double mproc_loop(mproc_dict_t *d, int get)
{
    char key[16];
    double t0 = now();
    for (int i = 0; i < OPS; i++) {
        int n = snprintf(key, sizeof key, "key%d", i % 100);
        if (get) {
            void *v;
            size_t len;
            if (mproc_dict_get(d, key, (size_t)n, &v, &len) != 0)
                exit(1);
            free(v);
        } else if (mproc_dict_set(d, key, (size_t)n, "value", 5) != 0) {
            exit(1);
        }
    }
    return OPS / (now() - t0);
}

static mproc_item_t items[BATCH];
static char keys[BATCH][16];

static double mproc_batches(mproc_dict_t *d)
{
    double t0 = now();
    for (int b = 0; b < BATCHES; b++)
        if (mproc_dict_update(d, items, BATCH) != 0)
            exit(1);
    return (double)BATCHES * BATCH / (now() - t0);
}

static double raw_batches(void)
{
    redisContext *c = raw();
    const char *argv[2 + 2 * BATCH];
    size_t len[2 + 2 * BATCH];
    argv[0] = "HSET";
    len[0] = 4;
    argv[1] = "mproc:dict:{rawbatch}";
    len[1] = strlen(argv[1]);
    for (int i = 0; i < BATCH; i++) {
        argv[2 + 2 * i] = keys[i];
        len[2 + 2 * i] = strlen(keys[i]);
        argv[3 + 2 * i] = "value";
        len[3 + 2 * i] = 5;
    }
    double t0 = now();
    for (int b = 0; b < BATCHES; b++) {
        redisReply *r = redisCommandArgv(c, 2 + 2 * BATCH, argv, len);
        if (r == NULL)
            exit(1);
        freeReplyObject(r);
    }
    double rate = (double)BATCHES * BATCH / (now() - t0);
    redisFree(c);
    return rate;
}

/* redis-benchmark's requests per second for one command line. */
static double redis_benchmark(const char *args)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "redis-benchmark -s '%s' -q %s 2>/dev/null | tr '\\r' '\\n' | tail -2", sock, args);
    FILE *f = popen(cmd, "r");
    double rate = 0;
    char line[512];
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        char *p = strstr(line, ": ");
        if (p != NULL && strstr(line, "requests per second") != NULL)
            rate = atof(p + 2);
    }
    if (f != NULL)
        pclose(f);
    return rate;
}

int main(void)
{
    if (system("command -v redis-server >/dev/null 2>&1 && command -v redis-benchmark >/dev/null 2>&1") != 0) {
        printf("  (redis-server or redis-benchmark not installed: skipped)\n");
        return 0;
    }
    char dir[] = "/tmp/mproc-bench-redis-XXXXXX";
    if (mkdtemp(dir) == NULL)
        return 1;
    snprintf(sock, sizeof sock, "%s/redis.sock", dir);
    pid_t server = fork();
    if (server == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        freopen("/dev/null", "w", stdout);
        execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", sock, "--save", "",
               "--appendonly", "no", "--dir", dir, (char *)NULL);
        _exit(127);
    }
    mproc_manager_t *m = NULL;
    char address[300];
    snprintf(address, sizeof address, "redis+unix://%s", sock);
    for (int i = 0; i < 200 && mproc_manager_connect(&m, address, NULL, 0) != 0; i++)
        usleep(20000); /* until the server listens */
    if (m == NULL) {
        fprintf(stderr, "bench_redis: redis-server did not start\n");
        return 1;
    }
    mproc_dict_t *d, *batch;
    if (mproc_manager_dict(m, "bench", &d) != 0 || mproc_manager_dict(m, "batch", &batch) != 0)
        return 1;
    for (int i = 0; i < BATCH; i++) {
        snprintf(keys[i], sizeof keys[i], "key%d", i);
        items[i] = (mproc_item_t){ { keys[i], strlen(keys[i]) }, { "value", 5 } };
    }

    double r_set[ROUNDS], r_get[ROUNDS], m_set[ROUNDS], m_get[ROUNDS], b_set[ROUNDS], b_get[ROUNDS];
    double r_batch[ROUNDS], m_batch[ROUNDS], b_batch[ROUNDS];
    char args[128];
    for (int k = 0; k < ROUNDS; k++) {
        /* interleaved, so that the machine's noise falls on all alike */
        r_set[k] = raw_loop(0);
        m_set[k] = mproc_loop(d, 0);
        r_get[k] = raw_loop(1);
        m_get[k] = mproc_loop(d, 1);
        snprintf(args, sizeof args, "-c 1 -n %d hset mproc:dict:{rb} key value", OPS);
        b_set[k] = redis_benchmark(args);
        snprintf(args, sizeof args, "-c 1 -n %d hget mproc:dict:{rb} key", OPS);
        b_get[k] = redis_benchmark(args);
        r_batch[k] = raw_batches();
        m_batch[k] = mproc_batches(batch);
        snprintf(args, sizeof args, "-c 1 -P %d -n %d -r %d hset mproc:dict:{rbp} key__rand_int__ value",
                 BATCH, BATCHES * BATCH, BATCH);
        b_batch[k] = redis_benchmark(args);
    }
    printf("  Redis on a Unix socket, one client; median of %d rounds (min..max); x: median of the\n"
           "  rounds' ratios to the raw hiredis loop of the same round\n", ROUNDS);
    report("mproc_dict_set through Redis", m_set, "ops/s", r_set);
    report("redis-benchmark -c 1 HSET", b_set, "ops/s", r_set);
    report("raw hiredis loop, HSET", r_set, "ops/s", NULL);
    report("mproc_dict_get through Redis", m_get, "ops/s", r_get);
    report("redis-benchmark -c 1 HGET", b_get, "ops/s", r_get);
    report("raw hiredis loop, HGET", r_get, "ops/s", NULL);
    report("mproc_dict_update of 1000 items", m_batch, "items/s", r_batch);
    report("redis-benchmark -P 1000 HSET", b_batch, "items/s", r_batch);
    report("raw hiredis, one HSET of 1000 fields", r_batch, "items/s", NULL);

    mproc_dict_close(d);
    mproc_dict_close(batch);
    mproc_manager_close(m);
    kill(server, SIGTERM);
    waitpid(server, NULL, 0);
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf '%s'", dir);
    return system(rm) == 0 ? 0 : 1;
}
