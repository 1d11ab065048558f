/* Tour: Process: start a worker function, join it with a timeout. */
#include <mproc.h>
#include <stdio.h>

static int work(void *arg)
{
    return *(int *)arg * 2;                         /* the exit code */
}

int main(void)
{
    int x = 21, code;
    mproc_process_t *p;
    mproc_process_start(&p, work, &x);
    int r = mproc_process_join(p, 10.0, &code);    /* MPROC_ETIMEDOUT if still running */
    printf("worker %d exited with %d\n", (int)mproc_process_pid(p), code);
    mproc_process_free(p);
    return r == 0 && code == 42 ? 0 : 1;
}
