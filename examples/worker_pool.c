/* A pool of four forked workers fed through a queue: the parent puts 100 jobs
 * (sum the integers 1..n for n = 1..100), workers put their answers on a
 * second queue, and the parent adds them up. Shutting the job queue down
 * ends the workers. Prints "jobs done by worker N: K" for each worker and
 * "total 171700 (expected 171700)". */
#include <mproc.h>

#include <stdio.h>

#define WORKERS 4
#define JOBS 100

struct answer {
    int worker;
    long value;
};

static mproc_queue_t *jobs, *answers;

static int worker(void *arg)
{
    int me = (int)(intptr_t)arg;
    for (;;) {
        long n;
        size_t len;
        int r = mproc_queue_get(jobs, &n, sizeof n, &len, MPROC_FOREVER);
        if (r == MPROC_ESHUTDOWN)
            return 0;
        if (r != 0)
            return 1;
        struct answer a = { me, n * (n + 1) / 2 };
        mproc_queue_put(answers, &a, sizeof a, MPROC_FOREVER);
    }
}

int main(void)
{
    if (mproc_queue_create(&jobs, NULL, NULL) != 0 || mproc_queue_create(&answers, NULL, NULL) != 0)
        return 1;
    mproc_process_t *pool[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        mproc_process_start(&pool[i], worker, (void *)(intptr_t)i);

    long expected = 0;
    for (long n = 1; n <= JOBS; n++) {
        mproc_queue_put(jobs, &n, sizeof n, MPROC_FOREVER);
        expected += n * (n + 1) / 2;
    }
    long total = 0;
    int per_worker[WORKERS] = { 0 };
    for (int i = 0; i < JOBS; i++) {
        struct answer a;
        size_t len;
        if (mproc_queue_get(answers, &a, sizeof a, &len, 30) != 0)
            return 1;
        total += a.value;
        per_worker[a.worker]++;
    }
    mproc_queue_shutdown(jobs, 0);
    int ok = 1;
    for (int i = 0; i < WORKERS; i++) {
        int code;
        mproc_process_join(pool[i], MPROC_FOREVER, &code);
        mproc_process_free(pool[i]);
        printf("jobs done by worker %d: %d\n", i, per_worker[i]);
        ok &= code == 0;
    }
    printf("total %ld (expected %ld)\n", total, expected);
    return ok && total == expected ? 0 : 1;
}
