/* The smallest mproc program: four forked workers add to one counter in
 * shared memory under an mproc Lock. Prints "counter = 400000". */
#include <mproc.h>

#include <stdio.h>
#include <sys/mman.h>

struct shared {
    mproc_lock_t lock;
    long counter;
};

static int worker(void *arg)
{
    struct shared *s = arg;
    for (int i = 0; i < 100000; i++) {
        mproc_lock_acquire(&s->lock, MPROC_FOREVER);
        s->counter++;
        mproc_lock_release(&s->lock);
    }
    return 0;
}

int main(void)
{
    /* Memory the children inherit and share: MAP_SHARED before fork. */
    struct shared *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED || mproc_lock_init(&s->lock) != 0)
        return 1;

    mproc_process_t *workers[4];
    for (int i = 0; i < 4; i++) {
        int r = mproc_process_start(&workers[i], worker, s);
        if (r != 0) {
            fprintf(stderr, "start: %s\n", mproc_strerror(r));
            return 1;
        }
    }
    for (int i = 0; i < 4; i++) {
        mproc_process_join(workers[i], MPROC_FOREVER, NULL);
        mproc_process_free(workers[i]);
    }
    printf("counter = %ld\n", s->counter);
    return s->counter == 400000 ? 0 : 1;
}
