/* The classic producer/consumer: a bounded queue of 5 between a producer (the
 * parent) and a consumer process; the producer's join() returns once every
 * item has been marked task_done. Prints "put item 1" ... "consumed item 10"
 * and finally "all 10 items processed". */
#include <mproc.h>

#include <stdio.h>

static int consumer(void *arg)
{
    mproc_queue_t *q = arg;
    for (;;) {
        int item;
        size_t len;
        int r = mproc_queue_get(q, &item, sizeof item, &len, MPROC_FOREVER);
        if (r == MPROC_ESHUTDOWN)
            return 0; /* the producer is done and the queue is empty */
        if (r != 0)
            return 1;
        printf("consumed item %d\n", item);
        fflush(stdout);
        mproc_queue_task_done(q);
    }
}

int main(void)
{
    mproc_queue_opts_t opts = { .maxsize = 5 }; /* put blocks while 5 items wait */
    mproc_queue_t *q;
    int r = mproc_queue_create(&q, NULL, &opts);
    if (r != 0) {
        fprintf(stderr, "queue: %s\n", mproc_strerror(r));
        return 1;
    }
    mproc_process_t *worker;
    mproc_process_start(&worker, consumer, q);

    for (int item = 1; item <= 10; item++) {
        mproc_queue_put(q, &item, sizeof item, MPROC_FOREVER);
        printf("put item %d\n", item);
        fflush(stdout);
    }
    mproc_queue_join(q, MPROC_FOREVER); /* every item is task_done */
    printf("all 10 items processed\n");

    mproc_queue_shutdown(q, 0); /* the consumer's next get fails: it exits */
    int code;
    mproc_process_join(worker, MPROC_FOREVER, &code);
    mproc_process_free(worker);
    mproc_queue_close(q);
    return code;
}
