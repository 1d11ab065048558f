/* Tour: a duplex Pipe between the parent and a forked worker. */
#include <mproc.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    mproc_conn_t *parent, *child;
    mproc_pipe(&parent, &child, 1);
    if (fork() == 0) {
        char job[32];
        size_t len;
        mproc_conn_recv(child, job, sizeof job, &len, MPROC_FOREVER);
        mproc_conn_send(child, job, len);                   /* echo it back */
        _exit(0);
    }
    char reply[32];
    size_t len;
    mproc_conn_send(parent, "job 1", 5);
    int r = mproc_conn_recv(parent, reply, sizeof reply, &len, 5.0);   /* MPROC_ETIMEDOUT, MPROC_EOF */
    printf("reply: %.*s\n", (int)len, reply);
    wait(NULL);
    mproc_conn_close(child);
    mproc_conn_close(parent);
    return r;
}
