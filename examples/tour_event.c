/* Tour: an Event starts three workers at once. */
#include <mproc.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    mproc_event_t *go;
    mproc_event_create(&go, NULL);
    for (int i = 0; i < 3; i++)
        if (fork() == 0)
            _exit(mproc_event_wait(go, 10.0) == 0 ? 0 : 1);   /* 0 once set */
    mproc_event_set(go);
    int ok = 1;
    for (int i = 0; i < 3; i++) {
        int status;
        wait(&status);
        ok &= WEXITSTATUS(status) == 0;
    }
    printf("3 workers started: %s\n", ok ? "yes" : "no");
    mproc_event_close(go);
    return ok ? 0 : 1;
}
