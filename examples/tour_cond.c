/* Tour: a Condition; the parent waits until a child has set a flag. */
#include <mproc.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

struct shared { mproc_cond_t cond; int ready; };

static int is_ready(void *arg) { return ((struct shared *)arg)->ready; }

int main(void)
{
    struct shared *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    mproc_cond_init(&s->cond);               /* in place, in shared memory */
    if (fork() == 0) {
        mproc_cond_acquire(&s->cond, MPROC_FOREVER);
        s->ready = 1;
        mproc_cond_notify_all(&s->cond);
        mproc_cond_release(&s->cond);
        _exit(0);
    }
    mproc_cond_acquire(&s->cond, MPROC_FOREVER);
    int r = mproc_cond_wait_for(&s->cond, is_ready, s, 10.0);
    mproc_cond_release(&s->cond);
    printf("ready: %d\n", s->ready);
    wait(NULL);
    mproc_cond_destroy(&s->cond);
    munmap(s, sizeof *s);
    return r;
}
