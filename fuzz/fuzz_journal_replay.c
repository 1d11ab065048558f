/* libFuzzer target: the Manager's journal reader. Every input is a journal
 * file as a crash, a disk or a hostile hand may leave it: corrupt, torn,
 * truncated. Replaying it must never crash, leak or hit undefined
 * behaviour; it either refuses (damage) or replays a prefix, and that prefix
 * (what the server keeps after cutting a torn tail) must replay again to
 * the same data in full: nothing past a bad checksum is ever applied.
 * Built by `make fuzz`; `make fuzz-run` runs it briefly from
 * fuzz/corpus_journal (journals the daemon wrote). */
#include "manager/server/journal.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mproc__store_t *s = mproc__store_new(), *again = mproc__store_new();
    if (s == NULL || again == NULL)
        __builtin_trap();
    size_t keep, keep2, at;
    const char *why;
    int r = mproc__journal_replay(s, data, size, &keep, &why, &at);
    if (r == 0) {
        if (keep > size)
            __builtin_trap();
        /* the kept prefix is a whole journal: it replays in full, the same */
        if (mproc__journal_replay(again, data, keep, &keep2, &why, &at) != 0 || keep2 != keep)
            __builtin_trap();
        mproc__wbuf_t a = { 0 }, b = { 0 };
        if (mproc__store_save(s, &a) == 0 && mproc__store_save(again, &b) == 0 &&
            (a.len != b.len || memcmp(a.data, b.data, a.len) != 0))
            __builtin_trap();
        mproc__wbuf_free(&a);
        mproc__wbuf_free(&b);
    } else if (r == MPROC_EPROTO && why == NULL) {
        __builtin_trap(); /* a refusal always says why */
    }
    mproc__store_free(s);
    mproc__store_free(again);
    return 0;
}
