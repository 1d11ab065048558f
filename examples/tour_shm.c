/* Tour: a named shared-memory block, as Python's SharedMemory sees it. */
#include <mproc.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    mproc_shm_t *m, *again;
    mproc_shm_create(&m, NULL, 4096);               /* a fresh name like "psm_1a2b3c4d" */
    strcpy(mproc_shm_buf(m), "hello");
    mproc_shm_open(&again, mproc_shm_name(m));      /* what another process would do */
    printf("%s reads: %s\n", mproc_shm_name(again), (char *)mproc_shm_buf(again));
    mproc_unlink(mproc_shm_name(m));                /* blocks live until unlinked */
    mproc_shm_close(again);
    mproc_shm_close(m);
    return 0;
}
