/* libFuzzer target: the Manager's request decoder and store. Every input is
 * executed as one request against a store that lives across inputs (reset
 * now and then to bound its memory), so sequences of operations are explored
 * too. A crash, a leak or undefined behaviour here is a hostile client taking
 * the server down. Built by `make fuzz` with clang; `make fuzz-run` runs it
 * briefly from fuzz/corpus (valid requests of every kind). */
#include "manager/server/store.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static mproc__store_t *store;
    static unsigned runs;
    if (store == NULL || ++runs % 4096 == 0) {
        mproc__store_free(store);
        store = mproc__store_new();
    }
    mproc__wbuf_t reply = { 0 };
    int shutdown = 0;
    int r = mproc__store_execute(store, data, size, &reply, &shutdown);
    if (r == 0 && (reply.len < 5 || reply.data[0] != MPROC__MGR_VERSION))
        __builtin_trap(); /* every accepted request gets a well-formed reply */
    mproc__wbuf_free(&reply);
    return 0;
}
