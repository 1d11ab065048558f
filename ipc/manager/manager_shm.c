/* mproc_manager_shm: a shared-memory block owned by the Manager's server
 * (Python's SharedMemoryManager.SharedMemory). The server makes the block
 * and sends its name (server/blocks.c); the client opens it by that name.
 * Until the open, the block is the server's alone, so a client killed in
 * between leaves nothing the server will not unlink. */
#include "manager/client.h"

#include <stdlib.h>
#include <string.h>

int mproc_manager_shm(mproc_manager_t *m, mproc_shm_t **blk, size_t size)
{
    if (m == NULL || blk == NULL || size == 0)
        return MPROC_EINVAL;
    if ((uint64_t)size > (uint64_t)INT64_MAX)
        return MPROC_ENOMEM;
    void *name = NULL;
    size_t nlen = 0;
    mproc__mgr_req_t req = { .op = MPROC__OP_MANAGER_SHM, .num = (int64_t)size };
    mproc__mgr_res_t res = { .val = &name, .vlen = &nlen };
    int r = mproc__mgr_call(m, &req, &res);
    if (r != 0)
        return r;
    /* a name with a NUL inside, or one that is not a server's block name,
     * is a reply that makes no sense */
    size_t prefix = strlen(MPROC__MGR_BLOCK_PREFIX);
    if (strlen(name) != nlen || nlen <= prefix || strncmp(name, MPROC__MGR_BLOCK_PREFIX, prefix) != 0)
        r = MPROC_EPROTO;
    mproc_shm_t *b = NULL;
    if (r == 0)
        r = mproc_shm_open(&b, name);
    if (r == MPROC_EINVAL)
        r = MPROC_EPROTO; /* a name mproc_shm_open refuses came from the server */
    if (r == 0 && mproc_shm_size(b) != size) {
        mproc_shm_close(b);
        r = MPROC_EPROTO;
    }
    free(name);
    if (r == 0)
        *blk = b;
    return r;
}
