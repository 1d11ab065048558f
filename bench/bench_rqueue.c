/* Manager queues on mproc's server: put + get + task_done from one client
 * (three round trips), as bench/python_rqueue.py measures Python's
 * Manager().JoinableQueue(). Median and spread of 5 runs. */
#include <mproc.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define OPS 20000
#define RUNS 5

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

int main(void)
{
    mproc_manager_t *m;
    mproc_rqueue_t *q;
    if (mproc_manager_start(&m, NULL, NULL, 0) != 0 || mproc_manager_queue(m, "bench", 0, &q) != 0)
        return 1;
    double rate[RUNS];
    for (int r = 0; r < RUNS; r++) {
        double t0 = now();
        for (int i = 0; i < OPS; i++) {
            void *d;
            if (mproc_rqueue_put(q, "item-000000", 11, -1) != 0 || mproc_rqueue_get(q, &d, NULL, -1) != 0)
                return 1;
            free(d);
            if (mproc_rqueue_task_done(q) != 0)
                return 1;
        }
        rate[r] = OPS / (now() - t0);
    }
    qsort(rate, RUNS, sizeof rate[0], cmp);
    printf("  %-40s %8.0f items/s (put+get+task_done; %d runs: %.0f .. %.0f)\n",
           "mproc Manager queue, mproc's server", rate[RUNS / 2], RUNS, rate[0], rate[RUNS - 1]);
    mproc_rqueue_close(q);
    mproc_manager_shutdown(m);
    return 0;
}
