/* Tour: a Barrier of 3 processes; exactly one of them gets index 0. */
#include <mproc.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    mproc_barrier_t *b;
    mproc_barrier_create(&b, NULL, 3);
    for (int i = 0; i < 2; i++)
        if (fork() == 0)
            _exit(mproc_barrier_wait(b, 10.0));   /* 0, 1 or 2: the arrival index */
    int mine = mproc_barrier_wait(b, 10.0), zeros = mine == 0;
    for (int i = 0; i < 2; i++) {
        int status;
        wait(&status);
        zeros += WEXITSTATUS(status) == 0;
    }
    printf("all 3 passed; index 0 went to %d of them\n", zeros);
    mproc_barrier_close(b);
    return zeros == 1 ? 0 : 1;
}
