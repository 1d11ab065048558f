/* Five waiters released together by notify_all: first five threads, then
 * five forked processes, on the same Condition. Each waiter waits until the
 * shared `ready` flag is up (wait_for re-checks it after every wake-up).
 * Prints one line per released waiter and "threads: 5 released",
 * "processes: 5 released". */
#include <mproc.h>

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mman.h>

struct shared {
    mproc_cond_t cond;
    int ready;
    int waiting;
    int released;
};

static struct shared *s;

static int is_ready(void *arg)
{
    (void)arg;
    return s->ready;
}

static int waiter(void *arg)
{
    const char *who = arg;
    mproc_cond_acquire(&s->cond, MPROC_FOREVER);
    s->waiting++;
    int r = mproc_cond_wait_for(&s->cond, is_ready, NULL, 10);
    if (r == 0)
        s->released++;
    mproc_cond_release(&s->cond);
    printf("%s released\n", who);
    fflush(stdout);
    return r == 0 ? 0 : 1;
}

static void *thread_waiter(void *arg)
{
    waiter(arg);
    return NULL;
}

static int waiting_count(void)
{
    mproc_cond_acquire(&s->cond, MPROC_FOREVER);
    int n = s->waiting;
    mproc_cond_release(&s->cond);
    return n;
}

/* Raise the flag once all five wait, and wake them all. */
static void release_all(void)
{
    while (waiting_count() < 5)
        sched_yield();
    mproc_cond_acquire(&s->cond, MPROC_FOREVER);
    s->ready = 1;
    mproc_cond_notify_all(&s->cond);
    mproc_cond_release(&s->cond);
}

static void reset(void)
{
    s->ready = s->waiting = s->released = 0;
}

int main(void)
{
    s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED || mproc_cond_init(&s->cond) != 0)
        return 1;

    static const char *names[5] = { "waiter 1", "waiter 2", "waiter 3", "waiter 4", "waiter 5" };
    pthread_t threads[5];
    for (int i = 0; i < 5; i++)
        pthread_create(&threads[i], NULL, thread_waiter, (void *)names[i]);
    release_all();
    for (int i = 0; i < 5; i++)
        pthread_join(threads[i], NULL);
    printf("threads: %d released\n", s->released);
    int threads_ok = s->released == 5;

    reset();
    mproc_process_t *procs[5];
    for (int i = 0; i < 5; i++)
        mproc_process_start(&procs[i], waiter, (void *)names[i]);
    release_all();
    for (int i = 0; i < 5; i++) {
        mproc_process_join(procs[i], MPROC_FOREVER, NULL);
        mproc_process_free(procs[i]);
    }
    printf("processes: %d released\n", s->released);
    return threads_ok && s->released == 5 ? 0 : 1;
}
