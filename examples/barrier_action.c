/* Three forked workers step through three phases in lockstep; at each
 * barrier the last to arrive runs an action that prints the phase summary
 * before anyone moves on. Prints "phase 1 done: 3 workers" ... "phase 3". */
#include <mproc.h>

#include <stdio.h>
#include <sys/mman.h>

struct shared {
    mproc_barrier_t barrier;
    int phase;
    int arrived[4];
};

static int summarise(void *arg)
{
    struct shared *s = arg;
    s->phase++;
    printf("phase %d done: %d workers\n", s->phase, s->arrived[s->phase]);
    fflush(stdout);
    return 0; /* non-zero would break the barrier for everyone */
}

static int worker(void *arg)
{
    struct shared *s = arg;
    for (int phase = 1; phase <= 3; phase++) {
        __atomic_add_fetch(&s->arrived[phase], 1, __ATOMIC_SEQ_CST);
        int index = mproc_barrier_wait_action(&s->barrier, 10, summarise, s);
        if (index < 0 || s->phase < phase) /* the action ran before release */
            return 1;
    }
    return 0;
}

int main(void)
{
    struct shared *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED || mproc_barrier_init(&s->barrier, 3) != 0)
        return 1;
    mproc_process_t *workers[3];
    for (int i = 0; i < 3; i++)
        mproc_process_start(&workers[i], worker, s);
    int ok = 1;
    for (int i = 0; i < 3; i++) {
        int code;
        mproc_process_join(workers[i], MPROC_FOREVER, &code);
        ok &= code == 0;
        mproc_process_free(workers[i]);
    }
    return ok && s->phase == 3 ? 0 : 1;
}
