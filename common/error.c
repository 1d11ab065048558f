/* Error messages and the mapping of system errors to mproc codes. */
#include "internal.h"

#include <string.h>

const char *mproc_strerror(int err)
{
    switch (err) {
#define MPROC__ERROR_CASE(name, value, message) case MPROC_##name: return message;
    MPROC_ERROR_MAP(MPROC__ERROR_CASE)
#undef MPROC__ERROR_CASE
    default:
        break;
    }
#ifdef HAVE_STRERRORDESC_NP
    /* Another negated errno that a system call passed up: libc's text for it
     * (strerrordesc_np returns static text, unlike strerror). */
    if (err < 0 && err > -4096) {
        const char *text = strerrordesc_np(-err);
        if (text != NULL)
            return text;
    }
#endif
    return "unknown error";
}

int mproc__errno(int e)
{
    switch (e) {
    case 0:
        return MPROC_EINVAL; /* a failure that set no errno: should not happen */
    case ENOSPC:
    case EFBIG:
        return MPROC_ENOMEM;  /* no room in /dev/shm is out of shared memory */
    case ENFILE:
        return MPROC_EMFILE;
    case ENAMETOOLONG:
        return MPROC_EINVAL;
    default:
        return -e;
    }
}
