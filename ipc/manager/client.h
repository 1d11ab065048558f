/* Shared by the Manager's client files: the handle hands each operation to
 * its backend (backend.h), one at a time. Not installed. */
#ifndef MPROC_MANAGER_CLIENT_H
#define MPROC_MANAGER_CLIENT_H

#include "manager/backend.h"

struct mproc_dict { mproc_manager_t *m; size_t nlen; char name[MPROC__MGR_NAME_MAX + 1]; };
struct mproc_list { mproc_manager_t *m; size_t nlen; char name[MPROC__MGR_NAME_MAX + 1]; };

/* Runs one operation on m's backend under m's lock: 0 or a negative code.
 * res may be NULL when the operation returns nothing. */
int mproc__mgr_call(mproc_manager_t *m, const mproc__mgr_req_t *req, mproc__mgr_res_t *res);
/* Manager queues: m's backend and its copy of the address and key, so that
 * a queue handle opens a connection of its own (queue.c). */
const mproc__backend_t *mproc__mgr_backend(mproc_manager_t *m, const char **address, const void **key,
                                           size_t *keylen);
/* 0; MPROC_EINVAL (p NULL with n > 0); MPROC_EMSGSIZE (n > max). */
int mproc__mgr_check_bytes(const void *p, size_t n, size_t max);

/* Argument checks that return their error from the calling function. */
#define CHECK(expr)                                                                          \
    do {                                                                                     \
        int check_ = (expr);                                                                 \
        if (check_ != 0)                                                                     \
            return check_;                                                                   \
    } while (0)
#define CHECK_KEY(k, n) CHECK(mproc__mgr_check_bytes((k), (n), MPROC__MGR_KEY_MAX))
#define CHECK_VALUE(v, n) CHECK(mproc__mgr_check_bytes((v), (n), MPROC__MGR_VALUE_MAX))

#endif
