/* Tour: a Value counter and an Array, shared by forked processes. */
#include <mproc.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    mproc_value_t *hits;
    mproc_array_t *squares;
    mproc_value_create(&hits, NULL, 'l', 1);                /* with its lock */
    mproc_array_create(&squares, NULL, 'd', 4, 1);
    for (int i = 0; i < 4; i++)
        if (fork() == 0) {
            long one = 1;
            double sq = (double)i * i;
            mproc_value_add(hits, &one, NULL);              /* atomic */
            mproc_array_set(squares, (size_t)i, &sq);
            _exit(0);
        }
    while (wait(NULL) > 0)
        ;
    long n;
    double all[4];
    mproc_value_get(hits, &n);
    mproc_array_read(squares, 0, 4, all);                   /* one atomic slice */
    printf("hits %ld, squares %g %g %g %g\n", n, all[0], all[1], all[2], all[3]);
    mproc_array_close(squares);
    mproc_value_close(hits);
    return n == 4 ? 0 : 1;
}
