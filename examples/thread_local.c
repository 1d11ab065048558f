/* Thread-local data (threading.local): each of three threads counts into its
 * own block of one mproc_local_t; the blocks never mix. Prints
 * "thread 0 counted 1000", "thread 1 counted 2000", "thread 2 counted 3000". */
#include <mproc.h>

#include <pthread.h>
#include <stdio.h>

static mproc_local_t counters; /* one long per thread */

static void *count(void *arg)
{
    long id = (long)arg;
    for (long i = 0; i < 1000 * (id + 1); i++)
        ++*(long *)mproc_local_get(&counters); /* this thread's own, zeroed at first */
    printf("thread %ld counted %ld\n", id, *(long *)mproc_local_get(&counters));
    return NULL;
}

int main(void)
{
    if (mproc_local_init(&counters, sizeof(long), NULL, NULL) != 0)
        return 1;
    pthread_t threads[3];
    for (long i = 0; i < 3; i++) {
        pthread_create(&threads[i], NULL, count, (void *)i);
        pthread_join(threads[i], NULL); /* one at a time: the output stays in order */
    }
    mproc_local_destroy(&counters);
    return 0;
}
