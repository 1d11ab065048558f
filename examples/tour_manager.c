/* Tour: a Manager dict that forked workers increment exactly. */
#include <mproc.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    mproc_manager_t *m;
    mproc_dict_t *d;
    mproc_manager_start(&m, NULL, NULL, 0);         /* private socket, random key */
    mproc_manager_dict(m, "stats", &d);
    for (int i = 0; i < 4; i++)
        if (fork() == 0) {                          /* a child gets its own connection */
            for (int k = 0; k < 100; k++)
                mproc_dict_incr(d, "hits", 4, 1, NULL);
            _exit(0);
        }
    while (wait(NULL) > 0)
        ;
    int64_t hits;
    mproc_dict_incr(d, "hits", 4, 0, &hits);
    printf("hits: %lld\n", (long long)hits);
    mproc_dict_close(d);
    mproc_manager_shutdown(m);
    return hits == 400 ? 0 : 1;
}
