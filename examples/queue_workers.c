/* A distributed worker pool on a Manager queue: jobs (ranges of numbers)
 * go into the queue "jobs"; workers, separate processes that attach by
 * address, count the primes in each and file the count under the job's
 * number in the dict "primes". A worker killed in the middle of a job
 * never acknowledged it, so the Manager hands the job to another worker:
 * no job is lost (Python's Manager().Queue() would lose it).
 *
 *   queue_workers [ADDRESS]           the whole demo in one run: on a Manager
 *                                     of its own, or on the one at ADDRESS (a
 *                                     `mproc manager` daemon, or Redis:
 *                                     "redis://127.0.0.1:6379")
 *   queue_workers worker ADDRESS      one worker (runs until the stop job)
 *   queue_workers produce ADDRESS N   N jobs, waits for them, prints the count,
 *                                     then stops N workers */
#include <mproc.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define JOBS 100
#define SPAN 10000 /* numbers per job: JOBS * SPAN = 1000000 */

static int is_prime(long n)
{
    if (n < 2)
        return 0;
    for (long d = 2; d * d <= n; d++)
        if (n % d == 0)
            return 0;
    return 1;
}

/* Serves jobs until an empty one (stop). report: a pipe told each job's
 * number as it starts (-1: none). */
static int worker(const char *address, const void *key, size_t keylen, int report)
{
    mproc_manager_t *m;
    mproc_rqueue_t *jobs;
    mproc_dict_t *primes;
    if (mproc_manager_connect(&m, address, key, keylen) != 0 ||
        mproc_manager_queue(m, "jobs", 0, &jobs) != 0 || mproc_manager_dict(m, "primes", &primes) != 0)
        return 1;
    for (;;) {
        void *job;
        size_t len;
        if (mproc_rqueue_get(jobs, &job, &len, MPROC_FOREVER) != 0)
            return 1;
        if (len == 0) { /* stop */
            free(job);
            mproc_rqueue_task_done(jobs);
            break;
        }
        int n = atoi(job);
        free(job);
        if (report >= 0 && write(report, &n, sizeof n) != (ssize_t)sizeof n)
            return 1;
        long count = 0;
        for (long x = (long)n * SPAN; x < (long)(n + 1) * SPAN; x++)
            count += is_prime(x);
        char k[16], v[24];
        snprintf(k, sizeof k, "%d", n);
        snprintf(v, sizeof v, "%ld", count);
        /* the result is filed under the job: doing a job twice changes nothing */
        if (mproc_dict_set(primes, k, strlen(k), v, strlen(v)) != 0 || mproc_rqueue_task_done(jobs) != 0)
            return 1;
    }
    mproc_rqueue_close(jobs);
    mproc_dict_close(primes);
    mproc_manager_close(m);
    return 0;
}

static int produce(mproc_manager_t *m, int stops)
{
    mproc_rqueue_t *jobs;
    mproc_dict_t *primes;
    if (mproc_manager_queue(m, "jobs", 0, &jobs) != 0 || mproc_manager_dict(m, "primes", &primes) != 0)
        return 1;
    for (int i = 0; i < JOBS; i++) {
        char job[16];
        snprintf(job, sizeof job, "%d", i);
        mproc_rqueue_put(jobs, job, strlen(job), MPROC_FOREVER);
    }
    if (mproc_rqueue_join(jobs, MPROC_FOREVER) != 0)
        return 1;
    long total = 0;
    for (int i = 0; i < JOBS; i++) {
        char k[16];
        void *v;
        snprintf(k, sizeof k, "%d", i);
        if (mproc_dict_get(primes, k, strlen(k), &v, NULL) != 0)
            return 1;
        total += atol(v);
        free(v);
    }
    printf("primes below %d: %ld\n", JOBS * SPAN, total);
    fflush(stdout);
    for (int i = 0; i < stops; i++)
        mproc_rqueue_put(jobs, NULL, 0, MPROC_FOREVER);
    mproc_rqueue_close(jobs);
    mproc_dict_close(primes);
    return 0;
}

/* A worker process that attaches to m's address, as one on another
 * machine would. */
static pid_t spawn(mproc_manager_t *m, const char *address, int report)
{
    size_t keylen = 0;
    const void *key = address == NULL ? mproc_manager_authkey(m, &keylen) : NULL;
    pid_t pid = fork();
    if (pid == 0)
        _exit(worker(address != NULL ? address : mproc_manager_address(m), key, keylen, report));
    return pid;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "worker") == 0)
        return worker(argv[2], NULL, 0, -1);
    if (argc == 4 && strcmp(argv[1], "produce") == 0) {
        mproc_manager_t *m;
        if (mproc_manager_connect(&m, argv[2], NULL, 0) != 0)
            return 1;
        int r = produce(m, atoi(argv[3]));
        mproc_manager_close(m);
        return r;
    }
    if (argc > 2) {
        fprintf(stderr, "usage: queue_workers [ADDRESS | worker ADDRESS | produce ADDRESS WORKERS]\n");
        return 2;
    }
    const char *address = argc == 2 ? argv[1] : NULL;
    mproc_manager_t *m;
    int r = address != NULL ? mproc_manager_connect(&m, address, NULL, 0) : mproc_manager_start(&m, NULL, NULL, 0);
    if (r != 0) {
        fprintf(stderr, "queue_workers: %s\n", mproc_strerror(r));
        return 1;
    }
    int fds[2];
    if (pipe(fds) != 0)
        return 1;
    pid_t victim = spawn(m, address, fds[1]); /* reports its jobs: it is killed in its third */
    pid_t others[2] = { spawn(m, address, -1), spawn(m, address, -1) };
    pid_t prod = fork();
    if (prod == 0)
        _exit(produce(m, 3));
    int job = -1;
    for (int i = 0; i < 3; i++)
        if (read(fds[0], &job, sizeof job) != (ssize_t)sizeof job)
            return 1;
    kill(victim, SIGKILL);
    waitpid(victim, NULL, 0);
    printf("worker killed in the middle of job %d; a new worker takes its place\n", job);
    fflush(stdout);
    pid_t replacement = spawn(m, address, -1);
    int status, ok = 1;
    waitpid(prod, &status, 0);
    ok &= WIFEXITED(status) && WEXITSTATUS(status) == 0;
    pid_t rest[3] = { others[0], others[1], replacement };
    for (int i = 0; i < 3; i++) {
        waitpid(rest[i], &status, 0);
        ok &= WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    printf("every job done, the killed worker's job %d too\n", job);
    if (address != NULL)
        mproc_manager_close(m); /* the server (or Redis) runs on */
    else
        mproc_manager_shutdown(m);
    return ok ? 0 : 1;
}
