/* Connection benchmark, in one run:
 *   one-way 64-byte messages from a forked writer: mproc_pipe (one-way and
 *   duplex) next to a hand-written framed pipe loop (one write of length and
 *   payload; the reader reads the length, then the payload) and the same
 *   loop on a one-way socketpair;
 *   round trips over a duplex pipe next to a raw socketpair ping-pong.
 * Each figure is the median of RUNS. `make bench` adds Python's Connection. */
#include <mproc.h>

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MESSAGES 400000L
#define ROUND_TRIPS 100000L
#define SIZE 64
#define RUNS 5

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double median(double *v)
{
    for (int i = 1; i < RUNS; i++)
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return v[RUNS / 2];
}

static void die(const char *what)
{
    fprintf(stderr, "bench_conn: %s failed\n", what);
    exit(1);
}

/* ---- the hand-written baseline ---- */

static void read_exactly(int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r <= 0)
            die("read");
        p += r;
        n -= (size_t)r;
    }
}

/* kind 0: a pipe; 1: a socketpair shut down one way, sent to with
 * MSG_NOSIGNAL (what a one-way mproc_pipe is underneath), so the cost of the
 * socket itself shows apart from mproc's. */
static double raw_rate(int kind)
{
    int fds[2];
    if (kind == 0 ? pipe(fds) != 0
                  : socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0 || shutdown(fds[0], SHUT_WR) != 0 ||
                        shutdown(fds[1], SHUT_RD) != 0)
        die("pipe");
    double t0 = now();
    pid_t kid = fork();
    if (kid == 0) {
        close(fds[0]);
        unsigned char frame[4 + SIZE] = { 0, 0, 0, SIZE };
        for (long i = 0; i < MESSAGES; i++)
            if ((kind == 0 ? write(fds[1], frame, sizeof frame) : send(fds[1], frame, sizeof frame, MSG_NOSIGNAL)) !=
                (ssize_t)sizeof frame)
                _exit(1);
        _exit(0);
    }
    close(fds[1]);
    unsigned char header[4], body[SIZE];
    for (long i = 0; i < MESSAGES; i++) {
        read_exactly(fds[0], header, 4);
        uint32_t n = (uint32_t)header[0] << 24 | header[1] << 16 | header[2] << 8 | header[3];
        if (n != SIZE)
            die("framing");
        read_exactly(fds[0], body, n);
    }
    waitpid(kid, NULL, 0);
    close(fds[0]);
    return MESSAGES / (now() - t0);
}

/* duplex 0: one-way; 1: duplex; 2: one-way with the SIGPIPE guard off
 * (SIGPIPE ignored, as a program may do). */
static double mproc_rate(int duplex)
{
    mproc_conn_t *r, *w;
    if (mproc_pipe(&r, &w, duplex == 1) != 0)
        die("mproc_pipe");
    if (duplex == 2 && mproc_conn_set_sigpipe_guard(w, 0) != 0)
        die("mproc_conn_set_sigpipe_guard");
    double t0 = now();
    pid_t kid = fork();
    if (kid == 0) {
        mproc_conn_close(r);
        unsigned char body[SIZE] = { 0 };
        for (long i = 0; i < MESSAGES; i++)
            if (mproc_conn_send(w, body, SIZE) != 0)
                _exit(1);
        _exit(0);
    }
    mproc_conn_close(w);
    unsigned char body[SIZE];
    size_t n;
    for (long i = 0; i < MESSAGES; i++)
        if (mproc_conn_recv(r, body, sizeof body, &n, MPROC_FOREVER) != 0 || n != SIZE)
            die("mproc_conn_recv");
    waitpid(kid, NULL, 0);
    mproc_conn_close(r);
    return MESSAGES / (now() - t0);
}

/* ---- round trips ---- */

static double raw_round_trip_us(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        die("socketpair");
    unsigned char buf[SIZE] = { 0 };
    pid_t kid = fork();
    if (kid == 0) {
        close(sv[0]);
        for (long i = 0; i < ROUND_TRIPS; i++) {
            read_exactly(sv[1], buf, SIZE);
            if (write(sv[1], buf, SIZE) != SIZE)
                _exit(1);
        }
        _exit(0);
    }
    close(sv[1]);
    double t0 = now();
    for (long i = 0; i < ROUND_TRIPS; i++) {
        if (write(sv[0], buf, SIZE) != SIZE)
            die("write");
        read_exactly(sv[0], buf, SIZE);
    }
    double us = (now() - t0) / ROUND_TRIPS * 1e6;
    waitpid(kid, NULL, 0);
    close(sv[0]);
    return us;
}

static double mproc_round_trip_us(void)
{
    mproc_conn_t *a, *b;
    if (mproc_pipe(&a, &b, 1) != 0)
        die("mproc_pipe");
    unsigned char buf[SIZE] = { 0 };
    size_t n;
    pid_t kid = fork();
    if (kid == 0) {
        mproc_conn_close(a);
        for (long i = 0; i < ROUND_TRIPS; i++)
            if (mproc_conn_recv(b, buf, sizeof buf, &n, MPROC_FOREVER) != 0 ||
                mproc_conn_send(b, buf, n) != 0)
                _exit(1);
        _exit(0);
    }
    mproc_conn_close(b);
    double t0 = now();
    for (long i = 0; i < ROUND_TRIPS; i++)
        if (mproc_conn_send(a, buf, SIZE) != 0 || mproc_conn_recv(a, buf, sizeof buf, &n, MPROC_FOREVER) != 0)
            die("round trip");
    double us = (now() - t0) / ROUND_TRIPS * 1e6;
    waitpid(kid, NULL, 0);
    mproc_conn_close(a);
    return us;
}

int main(void)
{
    double raw[RUNS], raw_socket[RUNS], one_way[RUNS], duplex[RUNS], unguarded[RUNS];
    for (int i = 0; i < RUNS; i++) { /* interleaved, so drift hits all alike */
        raw[i] = raw_rate(0);
        raw_socket[i] = raw_rate(1);
        one_way[i] = mproc_rate(0);
        duplex[i] = mproc_rate(1);
        signal(SIGPIPE, SIG_IGN);
        unguarded[i] = mproc_rate(2);
        signal(SIGPIPE, SIG_DFL);
    }
    double base = median(raw);
    printf("one-way %d-byte messages, writer and reader processes (median of %d):\n", SIZE, RUNS);
    printf("  %-36s %8.2f M msgs/s\n", "framed pipe loop by hand (baseline)", base / 1e6);
    double m = median(raw_socket);
    printf("  %-36s %8.2f M msgs/s  %5.2fx baseline\n", "the same loop on a one-way socketpair", m / 1e6,
           m / base);
    double sock = m;
    m = median(one_way);
    printf("  %-36s %8.2f M msgs/s  %5.2fx baseline  %5.2fx socketpair loop\n", "mproc_pipe one-way (socketpair)",
           m / 1e6, m / base, m / sock);
    m = median(duplex);
    printf("  %-36s %8.2f M msgs/s  %5.2fx baseline\n", "mproc_pipe duplex (socketpair)", m / 1e6, m / base);
    m = median(unguarded);
    printf("  %-36s %8.2f M msgs/s  %5.2fx baseline\n", "one-way, SIGPIPE ignored, no guard", m / 1e6,
           m / base);

    double raw_rt[RUNS], mproc_rt[RUNS];
    for (int i = 0; i < RUNS; i++) {
        raw_rt[i] = raw_round_trip_us();
        mproc_rt[i] = mproc_round_trip_us();
    }
    double b = median(raw_rt);
    m = median(mproc_rt);
    printf("round trip of %d bytes between two processes (median of %d):\n", SIZE, RUNS);
    printf("  %-36s %8.2f us\n", "raw socketpair write/read", b);
    printf("  %-36s %8.2f us      %5.2fx raw\n", "mproc duplex pipe send/recv", m, m / b);
    return 0;
}
