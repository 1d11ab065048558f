/* Shared-memory blocks: raw POSIX shared memory, the same bytes Python's
 * multiprocessing.shared_memory.SharedMemory maps under the same name. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

struct mproc_shm {
    void *buf;
    size_t size;
    char name[MPROC__NAME_MAX + 2]; /* with the leading slash */
};

/* "/psm_" and 8 random hex digits: Python's own form, short enough for
 * every platform's name limit. */
static void fresh_name(char *path)
{
    unsigned char bytes[4];
    if (getrandom(bytes, sizeof bytes, 0) != (ssize_t)sizeof bytes) {
        unsigned seed = (unsigned)getpid() ^ (unsigned)(uintptr_t)path ^ (unsigned)time(NULL);
        for (size_t i = 0; i < sizeof bytes; i++)
            bytes[i] = (unsigned char)rand_r(&seed);
    }
    snprintf(path, MPROC__NAME_MAX + 2, "/psm_%02x%02x%02x%02x", bytes[0], bytes[1], bytes[2], bytes[3]);
}

/* Maps fd at size bytes into a new handle named path. */
static int map_block(mproc_shm_t **m, int fd, size_t size, const char *path)
{
    struct mproc_shm *shm = malloc(sizeof *shm);
    if (shm == NULL)
        return MPROC_ENOMEM;
    shm->buf = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (shm->buf == MAP_FAILED) {
        int r = mproc__errno(errno);
        free(shm);
        return r;
    }
    shm->size = size;
    strcpy(shm->name, path);
    *m = shm;
    return 0;
}

int mproc_shm_create(mproc_shm_t **m, const char *name, size_t size)
{
    char path[MPROC__NAME_MAX + 2];
    if (m == NULL || size == 0)
        return MPROC_EINVAL;
    if (size > (size_t)INT64_MAX)
        return MPROC_ENOMEM;
    int r, fd;
    if (name != NULL) {
        if ((r = mproc__name_path(name, path)) != 0)
            return r;
        fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    } else {
        do { /* a fresh name; on the rare clash, another */
            fresh_name(path);
            fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        } while (fd < 0 && errno == EEXIST);
    }
    if (fd < 0)
        return mproc__errno(errno);
    if (fchmod(fd, 0600) != 0 || (r = mproc__shm_reserve(fd, size)) != 0 ||
        (r = map_block(m, fd, size, path)) != 0) {
        if (r == 0)
            r = mproc__errno(errno);
        shm_unlink(path); /* nothing is left behind */
        close(fd);
        return r;
    }
    close(fd);
    return 0;
}

int mproc_shm_open(mproc_shm_t **m, const char *name)
{
    char path[MPROC__NAME_MAX + 2];
    if (m == NULL)
        return MPROC_EINVAL;
    int r = mproc__name_path(name, path);
    if (r != 0)
        return r;
    int fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0)
        return mproc__errno(errno);
    struct stat st;
    if (fstat(fd, &st) != 0)
        r = mproc__errno(errno);
    else if (!S_ISREG(st.st_mode) || st.st_size <= 0)
        r = MPROC_EINVAL; /* nothing to map */
    else
        r = map_block(m, fd, (size_t)st.st_size, path);
    close(fd);
    return r;
}

void *mproc_shm_buf(mproc_shm_t *m)
{
    return m->buf;
}

size_t mproc_shm_size(mproc_shm_t *m)
{
    return m->size;
}

const char *mproc_shm_name(mproc_shm_t *m)
{
    return m->name + 1;
}

int mproc_shm_close(mproc_shm_t *m)
{
    if (m == NULL)
        return MPROC_EINVAL;
    munmap(m->buf, m->size);
    free(m);
    return 0;
}
