/* Shared by the Manager's client files: one request at a time over a
 * handle's connection. Not installed. */
#ifndef MPROC_MANAGER_CLIENT_H
#define MPROC_MANAGER_CLIENT_H

#include "manager/protocol.h"

struct mproc_dict { mproc_manager_t *m; size_t nlen; char name[MPROC__MGR_NAME_MAX + 1]; };
struct mproc_list { mproc_manager_t *m; size_t nlen; char name[MPROC__MGR_NAME_MAX + 1]; };

/* Locks m and starts a request for op on the object name (NULL: none); the
 * caller appends the arguments to the buffer returned. */
mproc__wbuf_t *mproc__mgr_begin(mproc_manager_t *m, unsigned op, const char *name, size_t nlen);
/* Sends the request (connecting first if needed: after a fork, or after an
 * error) and waits for the reply: its status (0 or an mproc code), with
 * *reply positioned at the results. */
int mproc__mgr_run(mproc_manager_t *m, mproc__rbuf_t *reply);
/* Unlocks m; the reply is no longer valid. */
void mproc__mgr_end(mproc_manager_t *m);
/* A malloc'ed, NUL-terminated copy of the next bytes of the reply (val NULL:
 * skip them). 0, MPROC_EPROTO, MPROC_ENOMEM. */
int mproc__mgr_take_bytes(mproc__rbuf_t *reply, void **val, size_t *vlen);
int mproc__mgr_take_u64(mproc__rbuf_t *reply, uint64_t *out);
/* keys/items/slice results: count, then count byte strings (pairs when
 * pairs is 1) into a fresh array. */
int mproc__mgr_take_sequence(mproc__rbuf_t *reply, int pairs, void **out, size_t *n);
/* 0; MPROC_EINVAL (p NULL with n > 0); MPROC_EMSGSIZE (n > max). */
int mproc__mgr_check_bytes(const void *p, size_t n, size_t max);
/* A request of the name alone, answered with a u64 into *out (NULL: none). */
int mproc__mgr_name_request(mproc_manager_t *m, unsigned op, const char *name, size_t nlen, size_t *out);

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
