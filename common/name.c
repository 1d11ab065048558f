/* Names of shared objects, and the calls that act on a name alone. */
#include "internal.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

int mproc__name_path(const char *name, char *path)
{
    if (name == NULL)
        return MPROC_EINVAL;
    if (name[0] == '/')
        name++;
    size_t len = strnlen(name, MPROC__NAME_MAX + 1);
    if (len == 0 || len > MPROC__NAME_MAX || memchr(name, '/', len) != NULL)
        return MPROC_EINVAL;
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return MPROC_EINVAL;
    path[0] = '/';
    memcpy(path + 1, name, len + 1);
    return 0;
}

int mproc_unlink(const char *name)
{
    char path[MPROC__NAME_MAX + 2];
    int r = mproc__name_path(name, path);
    if (r != 0)
        return r;
    return shm_unlink(path) == 0 ? 0 : mproc__errno(errno);
}

int mproc_chmod(const char *name, mode_t mode)
{
    char path[MPROC__NAME_MAX + 2];
    int r = mproc__name_path(name, path);
    if (r != 0)
        return r;
    if (mode & ~(mode_t)0777)
        return MPROC_EINVAL;
    char file[sizeof MPROC__SHM_DIR + sizeof path];
    memcpy(file, MPROC__SHM_DIR, sizeof MPROC__SHM_DIR - 1);
    strcpy(file + sizeof MPROC__SHM_DIR - 1, path);
    return chmod(file, mode) == 0 ? 0 : mproc__errno(errno);
}

void mproc__build_name(char *out, size_t cap, const char *kind)
{
    uint64_t bits;
    if (getrandom(&bits, sizeof bits, GRND_NONBLOCK) != (ssize_t)sizeof bits) {
        /* no entropy yet (early boot): unique still, if guessable */
        static _Atomic uint64_t mix;
        bits = ((uint64_t)getpid() << 32 ^ (uint64_t)time(NULL)) * 0x9e3779b97f4a7c15u ^
               atomic_fetch_add(&mix, 0x9e3779b97f4a7c15u);
    }
    snprintf(out, cap, "/" MPROC__BUILD_PREFIX "%d-%s-%016llx", (int)getpid(), kind,
             (unsigned long long)bits);
}
