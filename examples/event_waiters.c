/* Five forked workers wait on one named Event until the parent sets it.
 * Prints "5 workers waiting", "set", then "worker N went" five times and
 * "all 5 went". */
#include <mproc.h>

#include <stdio.h>
#include <unistd.h>

static char name[64], waiting_name[64];

static int worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    mproc_event_t *go;
    mproc_sem_t *waiting;
    /* An unrelated process would do the same: open the objects by name. */
    if (mproc_event_open(&go, name) != 0 || mproc_sem_open(&waiting, waiting_name) != 0)
        return 2;
    mproc_sem_release(waiting, 1);
    int r = mproc_event_wait(go, 10);
    printf("worker %d went\n", id);
    return r == 0 ? 0 : 1;
}

int main(void)
{
    snprintf(name, sizeof name, "mproc-example-go-%d", (int)getpid());
    snprintf(waiting_name, sizeof waiting_name, "mproc-example-waiting-%d", (int)getpid());
    mproc_event_t *go;
    mproc_sem_t *waiting;
    int r = mproc_event_create(&go, name);
    if (r == 0)
        r = mproc_sem_create(&waiting, waiting_name, 0, 0);
    if (r != 0) {
        fprintf(stderr, "create: %s\n", mproc_strerror(r));
        return 1;
    }
    mproc_process_t *workers[5];
    for (int i = 0; i < 5; i++)
        mproc_process_start(&workers[i], worker, (void *)(intptr_t)(i + 1));
    for (int i = 0; i < 5; i++)
        mproc_sem_acquire(waiting, MPROC_FOREVER);
    printf("5 workers waiting\nset\n");
    fflush(stdout);
    mproc_event_set(go);
    int went = 0;
    for (int i = 0; i < 5; i++) {
        int code;
        mproc_process_join(workers[i], MPROC_FOREVER, &code);
        went += code == 0;
        mproc_process_free(workers[i]);
    }
    printf("all %d went\n", went);
    mproc_event_close(go);
    mproc_sem_close(waiting);
    mproc_unlink(name);
    mproc_unlink(waiting_name);
    return went == 5 ? 0 : 1;
}
