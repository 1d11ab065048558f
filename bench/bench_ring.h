/* What bench_ring.c and bench_latency.c share: clocks, statistics, a start
 * gate for forked workers, CPU burners, and the bare single-producer /
 * single-consumer ring that is the limit baseline.
 *
 * The ring is what a programmer writes who needs nothing but speed between
 * two processes: fixed slots in shared memory, one index written by each
 * side (each on its own cache line), each side caching the other's index and
 * reading it again only when its cached copy says full (producer) or empty
 * (consumer), and spinning while it waits. It has no crash safety, no
 * variable sizes, no sleeping, one producer and one consumer: the bound the
 * hardware sets for moving fixed messages between two cores. */
#ifndef BENCH_RING_H
#define BENCH_RING_H

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void bench_die(const char *what)
{
    fprintf(stderr, "bench: %s failed: %s\n", what, strerror(errno));
    exit(1);
}

static inline void *bench_shared(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        bench_die("mmap");
    return p;
}

static int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v; its median then is v[n / 2], min v[0], max v[n - 1]. */
static inline void bench_sort(double *v, size_t n)
{
    qsort(v, n, sizeof v[0], bench_cmp_double);
}

/* The p-th percentile (0..100) of sorted v, nearest rank. */
static inline double bench_percentile(const double *v, size_t n, double p)
{
    size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return v[rank - 1];
}

static inline void bench_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* A spinning wait gives the CPU away now and then: with more runnable
 * processes than cores (a loaded machine) the other side may not be running
 * at all, and pure spinning would burn the time slice it needs. */
static inline void bench_spin(unsigned *spins)
{
    if (++*spins % 256 == 0)
        sched_yield();
    else
        bench_pause();
}

/* ---- a start gate: workers block until the measuring process opens it ---- */

typedef struct {
    int fd[2];
} bench_gate_t;

static inline void bench_gate_init(bench_gate_t *g)
{
    if (pipe(g->fd) != 0)
        bench_die("pipe");
}

/* In a forked worker: waits for the gate to open. */
static inline void bench_gate_wait(bench_gate_t *g)
{
    char c;
    close(g->fd[1]);
    while (read(g->fd[0], &c, 1) < 0 && errno == EINTR)
        ;
    close(g->fd[0]);
}

/* In the measuring process: opens the gate for every worker at once. */
static inline void bench_gate_open(bench_gate_t *g)
{
    close(g->fd[0]);
    close(g->fd[1]);
}

/* Waits for n workers; exits if one failed. */
static inline void bench_reap(const pid_t *kids, int n)
{
    int failed = 0;
    for (int i = 0; i < n; i++) {
        int st;
        if (waitpid(kids[i], &st, 0) != kids[i] || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            failed = 1;
    }
    if (failed) {
        fprintf(stderr, "bench: a worker process failed\n");
        exit(1);
    }
}

/* ---- CPU burners: processes that only compute, competing for the cores ---- */

static inline void bench_burners_start(pid_t *kids, int n)
{
    for (int i = 0; i < n; i++) {
        kids[i] = fork();
        if (kids[i] < 0)
            bench_die("fork");
        if (kids[i] == 0) {
            volatile uint64_t x = 1;
            for (;;)
                x = x * 6364136223846793005u + 1442695040888963407u;
        }
    }
}

static inline void bench_burners_stop(pid_t *kids, int n)
{
    for (int i = 0; i < n; i++)
        kill(kids[i], SIGKILL);
    for (int i = 0; i < n; i++)
        waitpid(kids[i], NULL, 0);
}

/* ---- the bare SPSC ring ---- */

struct bench_ring {
    _Alignas(64) _Atomic uint64_t tail; /* written by the producer only */
    _Alignas(64) _Atomic uint64_t head; /* written by the consumer only */
    _Alignas(64) size_t slot;           /* bytes per slot (a multiple of 64) */
    uint64_t nslots;                    /* a power of two */
    _Alignas(64) unsigned char slots[];
};

/* One side's private view: its own index and its cached copy of the other's. */
struct bench_ring_end {
    uint64_t mine, theirs;
};

/* A ring in anonymous shared memory (inherited by children forked after)
 * with nslots (a power of two) slots of at least msg bytes. */
static inline struct bench_ring *bench_ring_create(size_t msg, uint64_t nslots, size_t *mapped)
{
    size_t slot = (msg + 63) / 64 * 64;
    if (slot == 0)
        slot = 64;
    *mapped = sizeof(struct bench_ring) + (size_t)nslots * slot;
    struct bench_ring *r = bench_shared(*mapped);
    r->slot = slot;
    r->nslots = nslots;
    return r;
}

static inline void bench_ring_put(struct bench_ring *r, struct bench_ring_end *e, const void *msg,
                                  size_t len)
{
    unsigned spins = 0;
    while (e->mine - e->theirs >= r->nslots) {
        /* acquire: the consumer's copy out of the slot is done before we reuse it */
        e->theirs = atomic_load_explicit(&r->head, memory_order_acquire);
        if (e->mine - e->theirs >= r->nslots)
            bench_spin(&spins);
    }
    memcpy(r->slots + (size_t)(e->mine & (r->nslots - 1)) * r->slot, msg, len);
    e->mine++;
    /* release: the slot's bytes are visible before the consumer sees the index */
    atomic_store_explicit(&r->tail, e->mine, memory_order_release);
}

static inline void bench_ring_get(struct bench_ring *r, struct bench_ring_end *e, void *buf, size_t len)
{
    unsigned spins = 0;
    while (e->mine == e->theirs) {
        /* acquire: pairs with the producer's release of tail */
        e->theirs = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (e->mine == e->theirs)
            bench_spin(&spins);
    }
    memcpy(buf, r->slots + (size_t)(e->mine & (r->nslots - 1)) * r->slot, len);
    e->mine++;
    /* release: our copy is done before the producer may overwrite the slot */
    atomic_store_explicit(&r->head, e->mine, memory_order_release);
}

#endif
