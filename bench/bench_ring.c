/* Queue throughput against the limit, in one run (`make bench`):
 *   1 producer -> 1 consumer process, 64-byte messages, FIFO: the bare SPSC
 *   ring (bench_ring.h), mproc Queue, Boost.Interprocess message_queue (when
 *   configure found Boost: bench_boost_mq, run between our runs), POSIX mq
 *   and a framed pipe; mproc Queue's LIFO and PRIORITY orders next to FIFO;
 *   2 producers / 2 consumers and 4 / 4 for mproc Queue and Boost; and
 *   1P1C again with two CPU-bound processes competing for the cores.
 * Every figure is the median of RUNS runs, with the slowest and fastest;
 * the runs of all contenders are interleaved, so drift in the machine's
 * load hits them alike. Only mproc's public API is used.
 *
 *   bench_ring [--boost PROGRAM] [--sizes]
 * --sizes: MB/s of the ring and Boost against message size, for
 * `make bench-plot`. */
#include <mproc.h>

#include "bench_ring.h"

#include <fcntl.h>
#include <mqueue.h>

#define RUNS 7
#define SIZE 64

static const char *boost_program; /* NULL: Boost not built */

/* ---- contenders: each returns messages per second ---- */

static double ring_rate(size_t size, long count)
{
    uint64_t nslots = 16;
    size_t slot = (size + 63) / 64 * 64;
    while ((nslots * 2) * slot <= (256u << 10))
        nslots *= 2;
    size_t mapped;
    struct bench_ring *r = bench_ring_create(size, nslots, &mapped);
    bench_gate_t gate;
    bench_gate_init(&gate);
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        if ((kids[k] = fork()) < 0)
            bench_die("fork");
        if (kids[k] == 0) {
            struct bench_ring_end e = { 0, 0 };
            unsigned char *buf = calloc(1, size);
            bench_gate_wait(&gate);
            for (long i = 0; i < count; i++) {
                if (k == 0)
                    bench_ring_put(r, &e, buf, size);
                else
                    bench_ring_get(r, &e, buf, size);
            }
            _exit(0);
        }
    }
    double t0 = bench_now();
    bench_gate_open(&gate);
    bench_reap(kids, 2);
    double secs = bench_now() - t0;
    munmap(r, mapped);
    return (double)count / secs;
}

static double queue_rate(size_t size, long count, int producers, int consumers, int order)
{
    mproc_queue_opts_t o = { .capacity = size > 4096 ? 16 * size : 1u << 20, .order = order };
    mproc_queue_t *q;
    if (mproc_queue_create(&q, NULL, &o) != 0)
        bench_die("mproc_queue_create");
    bench_gate_t gate;
    bench_gate_init(&gate);
    pid_t kids[16];
    int n = producers + consumers;
    for (int k = 0; k < n; k++) {
        if ((kids[k] = fork()) < 0)
            bench_die("fork");
        if (kids[k] == 0) {
            unsigned char *buf = calloc(1, size);
            size_t len;
            bench_gate_wait(&gate);
            if (k < producers) {
                for (long i = 0; i < count / producers; i++)
                    if (mproc_queue_put_prio(q, buf, size, order == MPROC_PRIORITY ? (int64_t)(i & 7) : 0,
                                             MPROC_FOREVER) != 0)
                        _exit(1);
            } else {
                for (long i = 0; i < count / consumers; i++)
                    if (mproc_queue_get(q, buf, size, &len, MPROC_FOREVER) != 0 || len != size)
                        _exit(1);
            }
            _exit(0);
        }
    }
    double t0 = bench_now();
    bench_gate_open(&gate);
    bench_reap(kids, n);
    double secs = bench_now() - t0;
    mproc_queue_close(q);
    return (double)count / secs;
}

static double mq_rate(size_t size, long count)
{
    char name[64];
    snprintf(name, sizeof name, "/mproc-bench-ring-%d", (int)getpid());
    struct mq_attr attr = { .mq_maxmsg = 10, .mq_msgsize = (long)size };
    mq_unlink(name);
    mqd_t mq = mq_open(name, O_CREAT | O_RDWR, 0600, &attr);
    if (mq == (mqd_t)-1)
        bench_die("mq_open");
    bench_gate_t gate;
    bench_gate_init(&gate);
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        if ((kids[k] = fork()) < 0)
            bench_die("fork");
        if (kids[k] == 0) {
            char *buf = calloc(1, size);
            bench_gate_wait(&gate);
            for (long i = 0; i < count; i++) {
                if (k == 0 ? mq_send(mq, buf, size, 0) != 0 : mq_receive(mq, buf, size, NULL) != (ssize_t)size)
                    _exit(1);
            }
            _exit(0);
        }
    }
    double t0 = bench_now();
    bench_gate_open(&gate);
    bench_reap(kids, 2);
    double secs = bench_now() - t0;
    mq_close(mq);
    mq_unlink(name);
    return (double)count / secs;
}

static int io_full(int fd, void *buf, size_t n, int writing)
{
    char *p = buf;
    while (n > 0) {
        ssize_t r = writing ? write(fd, p, n) : read(fd, p, n);
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* A pipe with a 4-byte length before each message, header and body in one
 * write, as a careful C programmer writes it. */
static double pipe_rate(size_t size, long count)
{
    int fds[2];
    if (pipe(fds) != 0)
        bench_die("pipe");
    bench_gate_t gate;
    bench_gate_init(&gate);
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        if ((kids[k] = fork()) < 0)
            bench_die("fork");
        if (kids[k] == 0) {
            char *buf = calloc(1, size + 4);
            uint32_t len = (uint32_t)size;
            memcpy(buf, &len, 4);
            close(fds[k == 0 ? 0 : 1]);
            bench_gate_wait(&gate);
            for (long i = 0; i < count; i++) {
                if (k == 0) {
                    if (io_full(fds[1], buf, size + 4, 1) != 0)
                        _exit(1);
                } else if (io_full(fds[0], &len, 4, 0) != 0 || len != size || io_full(fds[0], buf, len, 0) != 0) {
                    _exit(1);
                }
            }
            _exit(0);
        }
    }
    close(fds[0]);
    close(fds[1]);
    double t0 = bench_now();
    bench_gate_open(&gate);
    bench_reap(kids, 2);
    return (double)count / (bench_now() - t0);
}

/* Runs bench_boost_mq for one measurement. */
static double boost_rate(size_t size, long count, int producers, int consumers)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "'%s' %zu %ld %d %d", boost_program, size, count, producers, consumers);
    FILE *f = popen(cmd, "r");
    if (f == NULL)
        bench_die("popen");
    double rate = 0;
    int ok = fscanf(f, "%lf", &rate) == 1;
    if (pclose(f) != 0 || !ok) {
        fprintf(stderr, "bench_ring: %s failed\n", boost_program);
        exit(1);
    }
    return rate;
}

/* ---- reporting ---- */

typedef struct {
    const char *name;
    double v[RUNS]; /* sorted after the runs */
} series_t;

static double med(const series_t *s)
{
    return s->v[RUNS / 2];
}

static void sort_series(series_t *s, int n)
{
    for (int i = 0; i < n; i++)
        bench_sort(s[i].v, RUNS);
}

/* One line: median, min to max, and ratios to the medians of up to two references. */
static void line(const series_t *s, const series_t *ref1, const char *ref1_name, const series_t *ref2,
                 const char *ref2_name)
{
    printf("  %-34s %7.2f M msgs/s  (%6.2f to %6.2f)", s->name, med(s) / 1e6, s->v[0] / 1e6,
           s->v[RUNS - 1] / 1e6);
    if (ref1 != NULL && ref1 != s)
        printf("  %5.2fx %s", med(s) / med(ref1), ref1_name);
    if (ref2 != NULL && ref2 != s)
        printf("  %5.2fx %s", med(s) / med(ref2), ref2_name);
    printf("\n");
}

static void one_to_one(void)
{
    enum { RING, QUEUE, BOOST, MQ, PIPE, N };
    series_t s[N] = {
        [RING] = { .name = "bare SPSC ring (the limit)" },
        [QUEUE] = { .name = "mproc Queue" },
        [BOOST] = { .name = "Boost.Interprocess message_queue" },
        [MQ] = { .name = "POSIX mq_send/mq_receive" },
        [PIPE] = { .name = "pipe, 4-byte length framing" },
    };
    for (int i = 0; i < RUNS; i++) {
        s[RING].v[i] = ring_rate(SIZE, 10000000);
        s[QUEUE].v[i] = queue_rate(SIZE, 2000000, 1, 1, MPROC_FIFO);
        if (boost_program != NULL)
            s[BOOST].v[i] = boost_rate(SIZE, 1000000, 1, 1);
        s[MQ].v[i] = mq_rate(SIZE, 200000);
        s[PIPE].v[i] = pipe_rate(SIZE, 200000);
    }
    sort_series(s, N);
    printf("1 producer -> 1 consumer process, %d-byte messages, FIFO\n", SIZE);
    printf("(median of %d interleaved runs, slowest to fastest run in brackets)\n", RUNS);
    for (int k = 0; k < N; k++) {
        if (k == BOOST && boost_program == NULL) {
            printf("  %-34s skipped: configure found no Boost headers\n", s[k].name);
            continue;
        }
        line(&s[k], &s[RING], "ring", k == QUEUE || boost_program == NULL ? NULL : &s[QUEUE], "mproc");
    }
    printf("  mproc Queue: %.2fx the ring's median; its slowest run %.2fx its median\n",
           med(&s[QUEUE]) / med(&s[RING]), s[QUEUE].v[0] / med(&s[QUEUE]));
    if (boost_program != NULL)
        printf("  mproc Queue / Boost message_queue: %.2fx\n", med(&s[QUEUE]) / med(&s[BOOST]));
}

static void orders(void)
{
    series_t s[3] = { { .name = "mproc Queue FIFO" }, { .name = "mproc Queue LIFO" },
                      { .name = "mproc Queue PRIORITY (prio 0..7)" } };
    static const int order[3] = { MPROC_FIFO, MPROC_LIFO, MPROC_PRIORITY };
    for (int i = 0; i < RUNS; i++)
        for (int k = 0; k < 3; k++)
            s[k].v[i] = queue_rate(SIZE, 2000000, 1, 1, order[k]);
    sort_series(s, 3);
    printf("\nmproc Queue orders, 1 producer -> 1 consumer, %d-byte messages (median of %d)\n", SIZE, RUNS);
    for (int k = 0; k < 3; k++)
        line(&s[k], &s[0], "FIFO", NULL, NULL);
}

static void many_to_many(void)
{
    static const int procs[3] = { 1, 2, 4 };
    series_t q[3] = { { .name = "mproc Queue 1P/1C" }, { .name = "mproc Queue 2P/2C" }, { .name = "mproc Queue 4P/4C" } };
    series_t b[3] = { { .name = "Boost message_queue 1P/1C" }, { .name = "Boost message_queue 2P/2C" },
                      { .name = "Boost message_queue 4P/4C" } };
    for (int i = 0; i < RUNS; i++)
        for (int k = 0; k < 3; k++) {
            q[k].v[i] = queue_rate(SIZE, 2000000, procs[k], procs[k], MPROC_FIFO);
            if (boost_program != NULL)
                b[k].v[i] = boost_rate(SIZE, 1000000, procs[k], procs[k]);
        }
    sort_series(q, 3);
    sort_series(b, 3);
    printf("\nproducers / consumers, %d-byte messages, FIFO (median of %d; x: against 1P/1C)\n", SIZE, RUNS);
    for (int k = 0; k < 3; k++)
        line(&q[k], &q[0], "1P/1C", boost_program != NULL ? &b[k] : NULL, "Boost");
    if (boost_program != NULL)
        for (int k = 0; k < 3; k++)
            line(&b[k], &b[0], "1P/1C", NULL, NULL);
}

static void competing(void)
{
    series_t q = { .name = "mproc Queue" }, b = { .name = "Boost message_queue" };
    pid_t burners[2];
    bench_burners_start(burners, 2);
    for (int i = 0; i < RUNS; i++) {
        q.v[i] = queue_rate(SIZE, 1000000, 1, 1, MPROC_FIFO);
        if (boost_program != NULL)
            b.v[i] = boost_rate(SIZE, 500000, 1, 1);
    }
    bench_burners_stop(burners, 2);
    bench_sort(q.v, RUNS);
    bench_sort(b.v, RUNS);
    printf("\n1 producer -> 1 consumer, %d-byte messages, with two CPU-bound processes\n", SIZE);
    printf("competing for the cores (median of %d)\n", RUNS);
    line(&q, boost_program != NULL ? &b : NULL, "Boost", NULL, NULL);
    if (boost_program != NULL)
        line(&b, NULL, NULL, NULL, NULL);
    else
        printf("  %-34s skipped: configure found no Boost headers\n", b.name);
}

/* For `make bench-plot`: size, MB/s of the ring and of Boost ("-" without it). */
static int print_sizes(void)
{
    static const size_t sizes[] = { 16, 64, 256, 1024, 4096, 16384, 65536 };
    printf("# size ring_MBps boost_MBps (median of 3)\n");
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t size = sizes[i];
        long count = (long)(512e6 / (double)size);
        if (count > 8000000)
            count = 8000000;
        double r[3], b[3];
        for (int k = 0; k < 3; k++) {
            r[k] = ring_rate(size, count) * (double)size / 1e6;
            if (boost_program != NULL)
                b[k] = boost_rate(size, count / 8, 1, 1) * (double)size / 1e6;
        }
        bench_sort(r, 3);
        bench_sort(b, 3);
        printf("%zu %.1f ", size, r[1]);
        if (boost_program != NULL)
            printf("%.1f\n", b[1]);
        else
            printf("-\n");
        fflush(stdout);
    }
    return 0;
}

int main(int argc, char **argv)
{
    int sizes = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--sizes") == 0) {
            sizes = 1;
        } else if (strcmp(argv[i], "--boost") == 0 && i + 1 < argc) {
            boost_program = *argv[++i] != '\0' ? argv[i] : NULL;
        } else {
            fprintf(stderr, "usage: bench_ring [--boost PROGRAM] [--sizes]\n");
            return 2;
        }
    }
    if (boost_program != NULL && access(boost_program, X_OK) != 0)
        boost_program = NULL;
    if (sizes)
        return print_sizes();
    one_to_one();
    orders();
    many_to_many();
    competing();
    return 0;
}
