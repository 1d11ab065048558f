/* Tour: a bounded Queue from a producer process to the parent. */
#include <mproc.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    mproc_queue_opts_t opts = { .maxsize = 2 };       /* put waits while 2 wait */
    mproc_queue_t *q;
    mproc_queue_create(&q, NULL, &opts);
    if (fork() == 0) {
        const char *msgs[] = { "one", "two", "three" };
        for (int i = 0; i < 3; i++)
            mproc_queue_put(q, msgs[i], strlen(msgs[i]), MPROC_FOREVER);
        _exit(0);
    }
    char buf[16];
    size_t len;
    while (mproc_queue_get(q, buf, sizeof buf, &len, 1.0) == 0)   /* MPROC_EEMPTY ends it */
        printf("got %.*s\n", (int)len, buf);
    wait(NULL);
    mproc_queue_close(q);
    return 0;
}
