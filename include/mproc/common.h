/* mproc/common.h: error codes, timeouts, names and the calls every type shares.
 * Include <mproc.h>, not this file. */
#ifndef MPROC_COMMON_H
#define MPROC_COMMON_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the exported API; everything else in libmproc is hidden. */
#if defined(__GNUC__)
#define MPROC_API __attribute__((visibility("default")))
#else
#define MPROC_API
#endif

#define MPROC_VERSION_MAJOR 0
#define MPROC_VERSION_MINOR 1
#define MPROC_VERSION_PATCH 0

/* Timeouts. Every `double timeout` is in seconds: < 0 waits without limit,
 * 0 tries once without blocking, > 0 waits at most that long, measured on
 * CLOCK_MONOTONIC (immune to changes of the wall clock). A NaN timeout is
 * MPROC_EINVAL. EINTR never reaches the caller: a wait interrupted by a signal
 * resumes with the time that remains. */
#define MPROC_FOREVER (-1.0)

/* Error codes. Every call returns 0 (or a documented non-negative value) on
 * success and one of these negative codes on failure. Where an errno fits, the
 * code is that errno negated, so MPROC_ETIMEDOUT == -ETIMEDOUT; the library's
 * own conditions sit outside the errno range. One list, used for the constants
 * and for mproc_strerror's messages:  X(name, value, message). */
#define MPROC_ERROR_MAP(X)                                                            \
    X(EINVAL,          -EINVAL,          "invalid argument")                          \
    X(ENOMEM,          -ENOMEM,          "out of memory or shared-memory space")       \
    X(EEXIST,          -EEXIST,          "name already exists")                       \
    X(ENOENT,          -ENOENT,          "no such name")                              \
    X(EACCES,          -EACCES,          "permission denied")                         \
    X(EPERM,           -EPERM,           "operation not permitted to the caller")     \
    X(ETIMEDOUT,       -ETIMEDOUT,       "timed out")                                 \
    X(EOWNERDEAD,      -EOWNERDEAD,      "acquired; the previous holder died holding it") \
    X(EMSGSIZE,        -EMSGSIZE,        "message too large")                         \
    X(EOVERFLOW,       -EOVERFLOW,       "released or completed more often than acquired") \
    X(EPIPE,           -EPIPE,           "peer has gone")                             \
    X(EBUSY,           -EBUSY,           "object is in use")                          \
    X(EMFILE,          -EMFILE,          "too many open files")                       \
    X(EAGAIN,          -EAGAIN,          "resource temporarily unavailable")          \
    X(ENOTRECOVERABLE, -ENOTRECOVERABLE, "state not recoverable")                     \
    X(EEMPTY,          -5001,            "empty: nothing arrived in time")            \
    X(EFULL,           -5002,            "full: no room came in time")                \
    X(EBROKEN,         -5003,            "barrier is broken or was aborted")          \
    X(EOF,             -5004,            "end of file: peer closed")                  \
    X(ETYPE,           -5005,            "named object is of another type, layout version, or not initialised") \
    X(EAUTH,           -5006,            "authentication failed")                     \
    X(EPROTO,          -5007,            "malformed frame or reply")                  \
    X(EKEY,            -5008,            "no such key")                               \
    X(EVALUE,          -5009,            "no such value")                             \
    X(EINDEX,          -5010,            "index out of range")                        \
    X(ESHUTDOWN,       -5011,            "queue was shut down")                       \
    X(ENOTSUP,         -ENOTSUP,         "operation not supported by this backend")

enum {
#define MPROC__ERROR_ENUM(name, value, message) MPROC_##name = (value),
    MPROC_ERROR_MAP(MPROC__ERROR_ENUM)
#undef MPROC__ERROR_ENUM
};

/* A message for every code above (and for any other negated errno);
 * "unknown error" otherwise. The string is static: never free it. Thread-safe. */
MPROC_API const char *mproc_strerror(int err);

/* "MAJOR.MINOR.PATCH" of the library actually linked. */
MPROC_API const char *mproc_version_string(void);

/* Size in bytes of one item of a Python array/ctypes typecode:
 * 'c' 'b' 'B' 'h' 'H' 'i' 'I' 'l' 'L' 'q' 'Q' 'f' 'd'; 0 for any other. */
MPROC_API size_t mproc_typesize(char typecode);

/* Names. "jobs" and "/jobs" name the same object; names are reported without
 * the slash. A name is 1..200 bytes (not counting a leading slash), contains
 * no '/' after the first byte and is not "." or "..": otherwise MPROC_EINVAL.
 * Named objects are created exclusively with mode 0600 (owner only). */

/* Removes the name of a named object or shared-memory block. Processes that
 * have it open keep using it; the memory goes when the last one closes it.
 * 0, MPROC_EINVAL (bad name), MPROC_ENOENT, MPROC_EACCES. */
MPROC_API int mproc_unlink(const char *name);

/* Sets the permission bits of a named object or block (e.g. 0660 to share it
 * with a group). mode may hold only permission bits (0777), else MPROC_EINVAL.
 * 0, MPROC_EINVAL, MPROC_ENOENT, MPROC_EPERM (not the owner). */
MPROC_API int mproc_chmod(const char *name, mode_t mode);

#ifdef __cplusplus
}
#endif
#endif
