/* The library's version, as linked. */
#include "internal.h"

#define MPROC__STR2(x) #x
#define MPROC__STR(x) MPROC__STR2(x)

const char *mproc_version_string(void)
{
    return MPROC__STR(MPROC_VERSION_MAJOR) "." MPROC__STR(MPROC_VERSION_MINOR) "."
           MPROC__STR(MPROC_VERSION_PATCH);
}
