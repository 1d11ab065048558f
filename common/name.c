/* Names of shared objects, and the calls that act on a name alone. */
#include "internal.h"

#include <errno.h>
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
