/* ShareableList: Python's multiprocessing.shared_memory.ShareableList in a
 * named block (the bytes themselves: shlist_layout.c).
 *
 * Creation builds the whole list in a block under a temporary name and only
 * then renames it to its real name (RENAME_NOREPLACE, the exclusive create),
 * so an opener never meets a half-written list: a zero-filled block would
 * pass for an empty list. A creator killed before the rename leaves only a
 * build file, which `mproc gc` removes. */
#include "internal.h"
#include "shlist_layout.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

struct mproc_shlist {
    mproc_shm_t *shm;
    unsigned char *buf;
    struct mproc__sl_layout lay;
    char name[MPROC__NAME_MAX + 1]; /* without the leading slash */
};

/* "psm_" and 8 random hex digits, the name Python gives a fresh block. */
static void fresh_name(char *name, size_t cap)
{
    uint32_t bits;
    if (getrandom(&bits, sizeof bits, 0) != (ssize_t)sizeof bits) {
        static _Atomic uint32_t mix;
        bits = (uint32_t)getpid() * 2654435761u ^ (uint32_t)time(NULL) ^
               atomic_fetch_add(&mix, 0x9e3779b9u);
    }
    snprintf(name, cap, "psm_%08x", (unsigned)bits);
}

/* Renames the built block to name, exclusively. */
static int publish(const char *tmp, const char *name)
{
    char from[sizeof MPROC__SHM_DIR + 64], to[sizeof MPROC__SHM_DIR + MPROC__NAME_MAX + 2];
    snprintf(from, sizeof from, "%s/%s", MPROC__SHM_DIR, tmp);
    snprintf(to, sizeof to, "%s/%s", MPROC__SHM_DIR, name);
    return renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0 ? 0 : mproc__errno(errno);
}

int mproc_shlist_create(mproc_shlist_t **l, const char *name, const mproc_sl_item_t *items, size_t n)
{
    char path[MPROC__NAME_MAX + 2], tmp[64];
    size_t size;
    int r;
    if (l == NULL)
        return MPROC_EINVAL;
    if (name != NULL && (r = mproc__name_path(name, path)) != 0)
        return r;
    struct mproc_shlist *sl = calloc(1, sizeof *sl);
    if (sl == NULL)
        return MPROC_ENOMEM;
    if ((r = mproc__sl_plan(items, n, &sl->lay, &size)) != 0)
        goto fail;

    /* hidden while it is built; the `mproc` command reads the pid after the
     * prefix */
    for (int tries = 0; tries < MPROC__BUILD_TRIES; tries++) {
        char slashed[64];
        mproc__build_name(slashed, sizeof slashed, "sl");
        snprintf(tmp, sizeof tmp, "%s", slashed + 1);
        if ((r = mproc_shm_create(&sl->shm, tmp, size)) != MPROC_EEXIST)
            break;
    }
    if (r != 0)
        goto fail;
    sl->buf = mproc_shm_buf(sl->shm);
    mproc__sl_build(&sl->lay, sl->buf, items);

    if (name != NULL) {
        snprintf(sl->name, sizeof sl->name, "%s", path + 1);
        r = publish(tmp, sl->name);
    } else {
        do { /* a fresh name; on the rare clash, another */
            fresh_name(sl->name, sizeof sl->name);
            r = publish(tmp, sl->name);
        } while (r == MPROC_EEXIST);
    }
    if (r != 0) {
        mproc_unlink(tmp);
        goto fail;
    }
    *l = sl;
    return 0;

fail:
    if (sl->shm != NULL)
        mproc_shm_close(sl->shm);
    mproc__sl_layout_free(&sl->lay);
    free(sl);
    return r;
}

int mproc_shlist_open(mproc_shlist_t **l, const char *name)
{
    char path[MPROC__NAME_MAX + 2];
    if (l == NULL)
        return MPROC_EINVAL;
    int r = mproc__name_path(name, path);
    if (r != 0)
        return r;
    struct mproc_shlist *sl = calloc(1, sizeof *sl);
    if (sl == NULL)
        return MPROC_ENOMEM;
    r = mproc_shm_open(&sl->shm, name);
    if (r == MPROC_EINVAL)
        r = MPROC_ETYPE; /* the name is valid: an empty block, not a list */
    if (r != 0)
        goto fail;
    sl->buf = mproc_shm_buf(sl->shm);
    if ((r = mproc__sl_parse(sl->buf, mproc_shm_size(sl->shm), &sl->lay)) != 0)
        goto fail;
    snprintf(sl->name, sizeof sl->name, "%s", mproc_shm_name(sl->shm));
    *l = sl;
    return 0;

fail:
    if (sl->shm != NULL)
        mproc_shm_close(sl->shm);
    free(sl);
    return r;
}

size_t mproc_shlist_len(mproc_shlist_t *l)
{
    return l->lay.n;
}

const char *mproc_shlist_name(mproc_shlist_t *l)
{
    return l->name;
}

/* index as Python takes it: < 0 counts from the end. */
static int position(mproc_shlist_t *l, ssize_t index, size_t *i)
{
    size_t n = l->lay.n;
    if (index < 0) {
        if ((size_t)-(index + 1) >= n) /* -(index + 1) cannot overflow */
            return MPROC_EINDEX;
        *i = n - (size_t)-(index + 1) - 1;
    } else {
        if ((size_t)index >= n)
            return MPROC_EINDEX;
        *i = (size_t)index;
    }
    return 0;
}

int mproc_shlist_get(mproc_shlist_t *l, ssize_t index, mproc_sl_item_t *out)
{
    size_t i;
    if (l == NULL || out == NULL)
        return MPROC_EINVAL;
    int r = position(l, index, &i);
    return r != 0 ? r : mproc__sl_get(&l->lay, l->buf, i, out);
}

int mproc_shlist_set(mproc_shlist_t *l, ssize_t index, const mproc_sl_item_t *item)
{
    size_t i;
    if (l == NULL || item == NULL)
        return MPROC_EINVAL;
    int r = position(l, index, &i);
    return r != 0 ? r : mproc__sl_set(&l->lay, l->buf, i, item);
}

int mproc_shlist_close(mproc_shlist_t *l)
{
    if (l == NULL)
        return MPROC_EINVAL;
    mproc_shm_close(l->shm);
    mproc__sl_layout_free(&l->lay);
    free(l);
    return 0;
}
