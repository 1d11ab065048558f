/* One-way latency of a 64-byte message between two processes, in one run
 * (`make bench`): the time from just before the producer's send to just
 * after the consumer has the message, both read from CLOCK_MONOTONIC (one
 * clock for every core). The producer sends the next message only after the
 * consumer has acknowledged the last (outside the timed path), so each
 * message meets an empty queue:
 *   consumer spinning:  the bare SPSC ring (bench_ring.h) and mproc Queue
 *                       (mproc_queue_get with timeout 0, retried);
 *   consumer polling:   mproc Queue, a blocking mproc_queue_get that meets
 *                       the message while it polls before sleeping (what a
 *                       lone message costs a FIFO consumer that waits for
 *                       batches: see queue.c, spin_while_empty);
 *   consumer asleep:    mproc Queue (mproc_queue_get, MPROC_FOREVER) and a
 *                       futex ping-pong (each side sleeps in FUTEX_WAIT and
 *                       wakes the other with FUTEX_WAKE), the producer
 *                       waiting GAP_US first, so the consumer has gone to
 *                       sleep (checked in /proc: the count is printed).
 * p50 and p99 per round; the median round of ROUNDS, and the range. Only
 * mproc's public API is used. */
#include <mproc.h>

#include "bench_ring.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/syscall.h>

#define SIZE 64
#define ROUNDS 3
#define SPIN_SAMPLES 20000
#define SLEEP_SAMPLES 600
#define GAP_US 500
#define WARMUP 50

enum { RING_SPIN, QUEUE_SPIN, QUEUE_POLL, QUEUE_SLEEP, FUTEX_SLEEP, MODES };

static const char *const mode_name[MODES] = {
    [RING_SPIN] = "bare SPSC ring, consumer spinning",
    [QUEUE_SPIN] = "mproc Queue, consumer spinning",
    [QUEUE_POLL] = "mproc Queue, consumer polling in get",
    [QUEUE_SLEEP] = "mproc Queue, consumer asleep in get",
    [FUTEX_SLEEP] = "futex ping-pong, consumer asleep",
};

struct shared {
    _Alignas(64) _Atomic uint32_t ack; /* messages the consumer has taken; a futex word */
    _Alignas(64) _Atomic uint32_t seq; /* futex ping-pong: messages posted; a futex word */
    uint64_t stamp;                    /* futex ping-pong: the send time */
    _Alignas(64) double ns[SPIN_SAMPLES];
};

static void futex_wait(_Atomic uint32_t *word, uint32_t val)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, val, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *word)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* Whether process pid is asleep (state S) now. */
static int asleep(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    return p != NULL && p[1] == ' ' && p[2] == 'S';
}

static void consumer(int mode, struct shared *sh, struct bench_ring *ring, mproc_queue_t *q, int samples)
{
    struct bench_ring_end e = { 0, 0 };
    unsigned char msg[SIZE];
    for (int i = 0; i < samples; i++) {
        uint64_t stamp;
        size_t len;
        unsigned spins = 0;
        switch (mode) {
        case RING_SPIN:
            bench_ring_get(ring, &e, msg, SIZE);
            break;
        case QUEUE_SPIN:
            while (mproc_queue_get(q, msg, SIZE, &len, 0) == MPROC_EEMPTY)
                bench_spin(&spins);
            break;
        case QUEUE_POLL:
        case QUEUE_SLEEP:
            if (mproc_queue_get(q, msg, SIZE, &len, MPROC_FOREVER) != 0)
                _exit(1);
            break;
        case FUTEX_SLEEP:
            /* acquire: the stamp stored before seq is visible */
            while (atomic_load_explicit(&sh->seq, memory_order_acquire) == (uint32_t)i)
                futex_wait(&sh->seq, (uint32_t)i);
            break;
        }
        uint64_t t = bench_now_ns();
        if (mode == FUTEX_SLEEP)
            stamp = sh->stamp;
        else
            memcpy(&stamp, msg, sizeof stamp);
        sh->ns[i] = (double)(t - stamp);
        /* release: the sample is written before the producer (and, at the
         * end, the parent) reads on */
        atomic_store_explicit(&sh->ack, (uint32_t)i + 1, memory_order_release);
        if (mode == QUEUE_SLEEP || mode == FUTEX_SLEEP)
            futex_wake(&sh->ack);
    }
}

/* One round of one mode: fills sorted[] with the samples after warm-up and
 * returns their count; *slept = how many sends found the consumer asleep. */
static int one_round(int mode, double *sorted, int *slept)
{
    int sleeping = mode == QUEUE_SLEEP || mode == FUTEX_SLEEP;
    int samples = sleeping ? SLEEP_SAMPLES : SPIN_SAMPLES;
    struct shared *sh = bench_shared(sizeof *sh);
    size_t ring_size = 0;
    struct bench_ring *ring = mode == RING_SPIN ? bench_ring_create(SIZE, 4096, &ring_size) : NULL;
    mproc_queue_t *q = NULL;
    if ((mode == QUEUE_SPIN || mode == QUEUE_POLL || mode == QUEUE_SLEEP) &&
        mproc_queue_create(&q, NULL, NULL) != 0)
        bench_die("mproc_queue_create");
    pid_t kid = fork();
    if (kid < 0)
        bench_die("fork");
    if (kid == 0) {
        consumer(mode, sh, ring, q, samples);
        _exit(0);
    }
    struct bench_ring_end e = { 0, 0 };
    unsigned char msg[SIZE] = { 0 };
    *slept = 0;
    for (int i = 0; i < samples; i++) {
        unsigned spins = 0;
        /* acquire: pairs with the consumer's release of ack */
        while (atomic_load_explicit(&sh->ack, memory_order_acquire) != (uint32_t)i) {
            if (sleeping)
                futex_wait(&sh->ack, atomic_load_explicit(&sh->ack, memory_order_relaxed));
            else
                bench_spin(&spins);
        }
        if (sleeping) {
            struct timespec gap = { 0, GAP_US * 1000 };
            nanosleep(&gap, NULL);
            *slept += asleep(kid);
        }
        uint64_t stamp = bench_now_ns();
        switch (mode) {
        case RING_SPIN:
            memcpy(msg, &stamp, sizeof stamp);
            bench_ring_put(ring, &e, msg, SIZE);
            break;
        case QUEUE_SPIN:
        case QUEUE_POLL:
        case QUEUE_SLEEP:
            memcpy(msg, &stamp, sizeof stamp);
            if (mproc_queue_put(q, msg, SIZE, MPROC_FOREVER) != 0)
                bench_die("mproc_queue_put");
            break;
        case FUTEX_SLEEP:
            sh->stamp = stamp;
            /* release: the stamp is visible before the new seq */
            atomic_store_explicit(&sh->seq, (uint32_t)i + 1, memory_order_release);
            futex_wake(&sh->seq);
            break;
        }
    }
    bench_reap(&kid, 1);
    int n = samples - WARMUP;
    memcpy(sorted, sh->ns + WARMUP, (size_t)n * sizeof sorted[0]);
    bench_sort(sorted, (size_t)n);
    if (q != NULL)
        mproc_queue_close(q);
    if (ring != NULL)
        munmap(ring, ring_size);
    munmap(sh, sizeof *sh);
    return n;
}

int main(void)
{
    static double samples[SPIN_SAMPLES];
    double p50[MODES][ROUNDS], p99[MODES][ROUNDS];
    int slept[MODES] = { 0 }, sent[MODES] = { 0 };
    for (int r = 0; r < ROUNDS; r++) /* interleaved, so drift hits all alike */
        for (int m = 0; m < MODES; m++) {
            int s;
            int n = one_round(m, samples, &s);
            p50[m][r] = bench_percentile(samples, (size_t)n, 50);
            p99[m][r] = bench_percentile(samples, (size_t)n, 99);
            slept[m] += s;
            sent[m] += n + WARMUP;
        }
    printf("one-way latency of a %d-byte message between two processes, ns\n", SIZE);
    printf("(median of %d rounds, range in brackets; %d samples a round spinning, %d asleep\n", ROUNDS,
           SPIN_SAMPLES - WARMUP, SLEEP_SAMPLES - WARMUP);
    printf(" with the producer pausing %d us before each send)\n", GAP_US);
    printf("  %-38s %22s %22s\n", "", "p50", "p99");
    for (int m = 0; m < MODES; m++) {
        bench_sort(p50[m], ROUNDS);
        bench_sort(p99[m], ROUNDS);
        printf("  %-38s %7.0f (%5.0f to %5.0f) %7.0f (%5.0f to %5.0f)", mode_name[m], p50[m][ROUNDS / 2],
               p50[m][0], p50[m][ROUNDS - 1], p99[m][ROUNDS / 2], p99[m][0], p99[m][ROUNDS - 1]);
        if (m == QUEUE_SLEEP || m == FUTEX_SLEEP)
            printf("  asleep at %d of %d sends", slept[m], sent[m]);
        printf("\n");
    }
    return 0;
}
