/* libFuzzer target: ShareableList blocks as another process may leave them.
 * `make fuzz-run` runs it from fuzz/corpus_shlist (blocks written by Python
 * 3.8 and 3.9+, see fuzz/make_shlist_corpus.py).
 *
 * The input is a block: the layout check must refuse it or accept it without
 * reading outside it (the copy is exactly its size, so ASan sees any stray
 * byte), and every item of an accepted block must read or give MPROC_ETYPE.
 * Then a set of every type into every item must stay inside the block and
 * read back as written, as Python would read it. */
#include "shlist_layout.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_item(const struct mproc__sl_layout *lay, const unsigned char *buf, size_t i,
                       const mproc_sl_item_t *want)
{
    mproc_sl_item_t got;
    if (mproc__sl_get(lay, buf, i, &got) != 0)
        abort();
    if (got.type != want->type)
        abort();
    switch (want->type) {
    case MPROC_SL_INT:
    case MPROC_SL_BOOL:
        if (got.i != want->i)
            abort();
        break;
    case MPROC_SL_FLOAT:
        if (memcmp(&got.f, &want->f, sizeof got.f) != 0)
            abort();
        break;
    case MPROC_SL_STR:
    case MPROC_SL_BYTES: {
        size_t len = want->len; /* trailing NULs read back stripped */
        while (len > 0 && ((const unsigned char *)want->data)[len - 1] == 0)
            len--;
        if (got.len != len || memcmp(got.data, want->data, len) != 0)
            abort();
        break;
    }
    default:
        break;
    }
    free(got.data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a private copy, exactly size bytes (malloc: 8-byte aligned, as a
     * mapping is) */
    unsigned char *buf = malloc(size ? size : 1);
    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    struct mproc__sl_layout lay;
    if (mproc__sl_parse(buf, size, &lay) != 0) {
        free(buf);
        return 0;
    }
    if (lay.end > size)
        abort();
    for (size_t i = 0; i < lay.n; i++) {
        mproc_sl_item_t it;
        int r = mproc__sl_get(&lay, buf, i, &it);
        if (r == 0)
            free(it.data);
        else if (r != MPROC_ETYPE)
            abort();
    }
    static const char text[] = "0123456789abcdef\0\0";
    mproc_sl_item_t values[] = {
        {.type = MPROC_SL_INT, .i = INT64_MIN}, {.type = MPROC_SL_FLOAT, .f = -0.0},
        {.type = MPROC_SL_BOOL, .i = 1},        {.type = MPROC_SL_NONE},
        {.type = MPROC_SL_STR, .data = (void *)text, .len = 9},
        {.type = MPROC_SL_BYTES, .data = (void *)text, .len = 18},
    };
    for (size_t i = 0; i < lay.n && i < 64; i++)
        for (size_t k = 0; k < sizeof values / sizeof values[0]; k++) {
            uint64_t slot = lay.offsets[i + 1] - lay.offsets[i];
            int r = mproc__sl_set(&lay, buf, i, &values[k]);
            int fits = values[k].type < MPROC_SL_STR || values[k].len <= slot;
            if (r != (fits ? 0 : MPROC_EINVAL))
                abort();
            if (r == 0)
                check_item(&lay, buf, i, &values[k]);
        }
    /* the block, rewritten, is still one */
    struct mproc__sl_layout again;
    if (mproc__sl_parse(buf, size, &again) != 0 || again.n != lay.n)
        abort();
    mproc__sl_layout_free(&again);
    mproc__sl_layout_free(&lay);
    free(buf);
    return 0;
}
