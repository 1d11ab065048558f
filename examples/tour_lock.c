/* Tour: a Lock shared by forked processes; one holder dies with it held. */
#include <mproc.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    mproc_lock_t *lock;
    mproc_lock_create(&lock, NULL);          /* anonymous: shared with children */
    if (fork() == 0) {
        mproc_lock_acquire(lock, MPROC_FOREVER);
        raise(SIGKILL);                      /* dies holding it */
    }
    wait(NULL);
    int r = mproc_lock_acquire(lock, 5.0);   /* MPROC_EOWNERDEAD: ours now */
    printf("acquired after a death: %s\n", r == MPROC_EOWNERDEAD ? "yes" : "no");
    mproc_lock_release(lock);
    mproc_lock_close(lock);
    return r == MPROC_EOWNERDEAD ? 0 : 1;
}
