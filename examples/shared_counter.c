/* A shared counter: four forked workers add to one named Value. With the
 * Value's lock, `get` and `set` are each safe but "get, add one, set" is not;
 * mproc_value_add does the whole read-modify-write atomically (unlike
 * Python's `v.value += 1`). For several steps at once, hold get_lock().
 * Prints "counter 40000, doubled under the lock 80000". */
#include <mproc.h>

#include <stdio.h>
#include <unistd.h>

static char name[64];

static int worker(void *arg)
{
    (void)arg;
    mproc_value_t *counter; /* opened by name, as an unrelated process would */
    if (mproc_value_open(&counter, name) != 0)
        return 1;
    for (int i = 0; i < 10000; i++) {
        int one = 1;
        mproc_value_add(counter, &one, NULL);
    }
    return mproc_value_close(counter);
}

int main(void)
{
    snprintf(name, sizeof name, "mproc-example-counter-%d", (int)getpid());
    mproc_value_t *counter;
    int r = mproc_value_create(&counter, name, 'i', 1);
    if (r != 0) {
        fprintf(stderr, "value: %s\n", mproc_strerror(r));
        return 1;
    }
    mproc_process_t *workers[4];
    for (int i = 0; i < 4; i++)
        mproc_process_start(&workers[i], worker, NULL);
    for (int i = 0; i < 4; i++) {
        mproc_process_join(workers[i], MPROC_FOREVER, NULL);
        mproc_process_free(workers[i]);
    }
    /* several steps as one: take the Value's lock around them */
    mproc_rlock_t *lock = mproc_value_get_lock(counter);
    mproc_rlock_acquire(lock, MPROC_FOREVER);
    int value, doubled;
    mproc_value_get(counter, &value); /* the RLock lets get take it again */
    doubled = 2 * value;
    mproc_value_set(counter, &doubled);
    mproc_rlock_release(lock);
    printf("counter %d, doubled under the lock %d\n", value, doubled);
    mproc_value_close(counter);
    mproc_unlink(name);
    return value == 40000 ? 0 : 1;
}
