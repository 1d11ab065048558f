/* A semaphore created at 0 (the "null semaphore") lets blocked workers
 * through one at a time: each release(1) wakes exactly one of them.
 * Prints "released 1: 1 through" ... "released 3: 3 through". */
#include <mproc.h>

#include <stdio.h>
#include <sys/mman.h>

struct shared {
    mproc_sem_t gate;
    mproc_sem_t through; /* counts workers that got past the gate */
};

static int worker(void *arg)
{
    struct shared *s = arg;
    if (mproc_sem_acquire(&s->gate, 10) != 0)
        return 1;
    mproc_sem_release(&s->through, 1);
    return 0;
}

int main(void)
{
    struct shared *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED || mproc_sem_init(&s->gate, 0, 0) != 0 ||
        mproc_sem_init(&s->through, 0, 0) != 0)
        return 1;
    mproc_process_t *workers[3];
    for (int i = 0; i < 3; i++)
        mproc_process_start(&workers[i], worker, s);
    int ok = 1;
    for (int n = 1; n <= 3; n++) {
        mproc_sem_release(&s->gate, 1);
        mproc_sem_acquire(&s->through, MPROC_FOREVER); /* one got through */
        printf("released %d: %d through\n", n, n);
        ok &= mproc_sem_value(&s->gate) == 0;
    }
    for (int i = 0; i < 3; i++) {
        int code;
        mproc_process_join(workers[i], MPROC_FOREVER, &code);
        ok &= code == 0;
        mproc_process_free(workers[i]);
    }
    return ok ? 0 : 1;
}
