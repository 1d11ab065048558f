/* Manager benchmark, in one run:
 *   one client doing dict set/get round trips, over a Unix socket and TCP
 *   loopback (each op one request and one reply);
 *   batched update of 1000 items (items per second);
 *   4 client processes at once (total ops per second);
 *   set with a journal: --fsync always with 1 and 8 clients, everysec with
 *   1 and 8 (median of 3 runs and their spread; the journal in a directory
 *   under the current one, on a real disk, as Redis's is in the baseline).
 * `make bench` prints Redis (redis-benchmark; appendonly yes with
 * appendfsync always and everysec for the journal figures) and Python's
 * Manager().dict() next to these when they are installed. */
#include <mproc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define OPS 40000L
#define BATCH 1000
#define BATCHES 200
#define CLIENTS 4
#define RUNS 3

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void check(int r, const char *what)
{
    if (r != 0) {
        fprintf(stderr, "bench_manager: %s: %s\n", what, mproc_strerror(r));
        exit(1);
    }
}

/* ops alternating set and get of small keys and values, as redis-benchmark's
 * SET and GET tests do; ops per second. */
static double set_get_rate(mproc_manager_t *m, long ops)
{
    mproc_dict_t *d;
    check(mproc_manager_dict(m, "bench", &d), "dict");
    char key[32], value[] = "xxx";
    double t0 = now();
    for (long i = 0; i < ops; i += 2) {
        int n = snprintf(key, sizeof key, "key:%06ld", i % 10000);
        check(mproc_dict_set(d, key, (size_t)n, value, 3), "set");
        void *v;
        size_t vlen;
        check(mproc_dict_get(d, key, (size_t)n, &v, &vlen), "get");
        free(v);
    }
    double rate = ops / (now() - t0);
    mproc_dict_close(d);
    return rate;
}

static double best_of(mproc_manager_t *m)
{
    double best = 0;
    for (int i = 0; i < RUNS; i++) {
        double r = set_get_rate(m, OPS);
        if (r > best)
            best = r;
    }
    return best;
}

static double update_rate(mproc_manager_t *m)
{
    mproc_dict_t *d;
    check(mproc_manager_dict(m, "batch", &d), "dict");
    static mproc_item_t items[BATCH];
    static char keys[BATCH][16];
    for (int i = 0; i < BATCH; i++) {
        int n = snprintf(keys[i], sizeof keys[i], "item:%d", i);
        items[i] = (mproc_item_t){ { keys[i], (size_t)n }, { "value", 5 } };
    }
    double t0 = now();
    for (int b = 0; b < BATCHES; b++)
        check(mproc_dict_update(d, items, BATCH), "update");
    double rate = (double)BATCH * BATCHES / (now() - t0);
    mproc_dict_close(d);
    return rate;
}

static double concurrent_rate(const char *address, const void *key, size_t keylen)
{
    double t0 = now();
    pid_t pids[CLIENTS];
    for (int c = 0; c < CLIENTS; c++) {
        pids[c] = fork();
        if (pids[c] == 0) {
            mproc_manager_t *m;
            check(mproc_manager_connect(&m, address, key, keylen), "connect");
            set_get_rate(m, OPS / 2);
            mproc_manager_close(m);
            _exit(0);
        }
    }
    for (int c = 0; c < CLIENTS; c++)
        waitpid(pids[c], NULL, 0);
    return CLIENTS * (OPS / 2) / (now() - t0);
}

#define JOURNAL_OPS 1200L

/* ops sets of small keys and values from `clients` processes at once; ops
 * per second in total. */
static double set_rate(const char *address, const void *key, size_t keylen, int clients, long ops)
{
    double t0 = now();
    pid_t pids[16];
    for (int c = 0; c < clients; c++) {
        pids[c] = fork();
        if (pids[c] == 0) {
            mproc_manager_t *m;
            mproc_dict_t *d;
            check(mproc_manager_connect(&m, address, key, keylen), "connect");
            check(mproc_manager_dict(m, "bench", &d), "dict");
            char k[32];
            for (long i = 0; i < ops / clients; i++) {
                int n = snprintf(k, sizeof k, "key:%d:%06ld", c, i % 10000);
                check(mproc_dict_set(d, k, (size_t)n, "xxx", 3), "set");
            }
            mproc_dict_close(d);
            mproc_manager_close(m);
            _exit(0);
        }
    }
    for (int c = 0; c < clients; c++)
        waitpid(pids[c], NULL, 0);
    return (double)(ops / clients) * clients / (now() - t0);
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* A Manager with a journal in a fresh directory here; the set rate with
 * `clients` clients: median of RUNS, and the spread (min..max). */
static void journal_rates(int fsync, const char *label)
{
    static const int counts[] = { 1, 8 };
    for (int i = 0; i < 2; i++) {
        char dir[] = "bench-journal-XXXXXX", path[64];
        if (mkdtemp(dir) == NULL) {
            perror("mkdtemp");
            exit(1);
        }
        snprintf(path, sizeof path, "%s/journal", dir);
        mproc_manager_opts_t o = { .journal = path, .fsync = fsync };
        mproc_manager_t *m;
        check(mproc_manager_start_opts(&m, NULL, NULL, 0, &o), "start (journal)");
        size_t keylen;
        const void *key = mproc_manager_authkey(m, &keylen);
        double r[RUNS];
        long ops = fsync == MPROC_FSYNC_ALWAYS ? JOURNAL_OPS : OPS / 2;
        for (int k = 0; k < RUNS; k++)
            r[k] = set_rate(mproc_manager_address(m), key, keylen, counts[i], ops);
        qsort(r, RUNS, sizeof r[0], by_value);
        char what[80];
        snprintf(what, sizeof what, "mproc Manager set, %s, -c %d", label, counts[i]);
        printf("  %-40s %8.0f ops/s (%.0f..%.0f)\n", what, r[RUNS / 2], r[0], r[RUNS - 1]);
        check(mproc_manager_shutdown(m), "shutdown");
        unlink(path);
        snprintf(path, sizeof path, "%s/journal.lock", dir); /* the server's lock beside it */
        unlink(path);
        rmdir(dir);
    }
}

int main(void)
{
    mproc_manager_t *unix_m, *tcp_m;
    check(mproc_manager_start(&unix_m, NULL, NULL, 0), "start (Unix)");
    check(mproc_manager_start(&tcp_m, "127.0.0.1:0", "bench", 5), "start (TCP)");
    printf("one client, dict set and get alternating, one round trip each (best of %d):\n", RUNS);
    printf("  %-40s %8.0f ops/s\n", "mproc Manager, Unix socket", best_of(unix_m));
    printf("  %-40s %8.0f ops/s\n", "mproc Manager, TCP 127.0.0.1", best_of(tcp_m));
    printf("batched update, %d items per request:\n", BATCH);
    printf("  %-40s %8.0f items/s\n", "mproc_dict_update, Unix socket", update_rate(unix_m));
    printf("%d client processes at once, set/get:\n", CLIENTS);
    size_t keylen;
    const void *key = mproc_manager_authkey(unix_m, &keylen);
    printf("  %-40s %8.0f ops/s in total\n", "mproc Manager, Unix socket",
           concurrent_rate(mproc_manager_address(unix_m), key, keylen));
    check(mproc_manager_shutdown(tcp_m), "shutdown");
    check(mproc_manager_shutdown(unix_m), "shutdown");
    printf("set with a journal (Unix socket; median of %d, min..max):\n", RUNS);
    journal_rates(MPROC_FSYNC_ALWAYS, "fsync always");
    journal_rates(MPROC_FSYNC_EVERYSEC, "fsync everysec");
    return 0;
}
