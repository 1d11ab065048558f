/* The Manager backend on Redis / Valkey (docs/redis-layout.md). */
#include "manager/backend.h"

/* Built without hiredis: a redis:// address is MPROC_ENOTSUP. */
const mproc__backend_t *const mproc__backend_redis = NULL;
