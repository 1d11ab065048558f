/* A parent hands jobs to forked workers over duplex pipes and collects the
 * results as they come (poll on the connections' descriptors). Each job is a
 * range of numbers; a worker answers with how many primes it holds. An empty
 * message tells a worker to stop. Prints "primes below 1000000: 78498". */
#include <mproc.h>

#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#define WORKERS 3
#define LIMIT 1000000
#define STEP 50000

struct job { int64_t from, to; };

static int is_prime(int64_t n)
{
    if (n < 2)
        return 0;
    for (int64_t d = 2; d * d <= n; d++)
        if (n % d == 0)
            return 0;
    return 1;
}

/* A worker: answer every job on conn until the empty message. */
static int work(mproc_conn_t *conn)
{
    for (;;) {
        struct job job;
        size_t len;
        if (mproc_conn_recv(conn, &job, sizeof job, &len, MPROC_FOREVER) != 0)
            return 1;
        if (len == 0)
            return 0;
        int64_t count = 0;
        for (int64_t n = job.from; n < job.to; n++)
            count += is_prime(n);
        if (mproc_conn_send(conn, &count, sizeof count) != 0)
            return 1;
    }
}

/* Sends the next job to conn, or the stop message when none is left. */
static int hand_out(mproc_conn_t *conn, int64_t *next)
{
    if (*next >= LIMIT)
        return mproc_conn_send(conn, NULL, 0);
    struct job job = { *next, *next + STEP < LIMIT ? *next + STEP : LIMIT };
    *next = job.to;
    return mproc_conn_send(conn, &job, sizeof job);
}

int main(void)
{
    mproc_conn_t *mine[WORKERS];
    pid_t pids[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        mproc_conn_t *theirs;
        if (mproc_pipe(&mine[i], &theirs, 1) != 0)
            return 1;
        pids[i] = fork();
        if (pids[i] == 0) {
            for (int j = 0; j <= i; j++)
                mproc_conn_close(mine[j]); /* a worker keeps only its own end */
            _exit(work(theirs));
        }
        mproc_conn_close(theirs);
    }

    int64_t next = 0, primes = 0;
    int working[WORKERS], busy = 0;
    for (int i = 0; i < WORKERS; i++) {
        working[i] = next < LIMIT;
        busy += working[i];
        hand_out(mine[i], &next);
    }
    while (busy > 0) {
        struct pollfd fds[WORKERS];
        for (int i = 0; i < WORKERS; i++) /* a negative fd: poll skips it */
            fds[i] = (struct pollfd){ .fd = working[i] ? mproc_conn_fileno(mine[i]) : -1, .events = POLLIN };
        poll(fds, WORKERS, -1);
        for (int i = 0; i < WORKERS; i++) {
            if (!working[i] || !(fds[i].revents & (POLLIN | POLLHUP)))
                continue;
            int64_t count;
            size_t len;
            if (mproc_conn_recv(mine[i], &count, sizeof count, &len, 0) != 0) {
                fprintf(stderr, "worker %d: lost\n", i);
                return 1;
            }
            primes += count;
            working[i] = next < LIMIT;
            busy -= !working[i];
            hand_out(mine[i], &next);
        }
    }
    int ok = 1;
    for (int i = 0; i < WORKERS; i++) {
        int status;
        waitpid(pids[i], &status, 0);
        ok &= WIFEXITED(status) && WEXITSTATUS(status) == 0;
        mproc_conn_close(mine[i]);
    }
    printf("primes below %d: %lld\n", LIMIT, (long long)primes);
    return ok && primes == 78498 ? 0 : 1;
}
