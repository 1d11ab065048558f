/* Whether a brief busy wait can pay off on this machine. */
#include "internal.h"

#include <unistd.h>

int mproc__spin_worthwhile(void)
{
    static _Atomic int cached = -1; /* -1: not asked yet */
    int v = atomic_load_explicit(&cached, memory_order_relaxed);
    if (v < 0) {
        v = sysconf(_SC_NPROCESSORS_ONLN) > 1;
        atomic_store_explicit(&cached, v, memory_order_relaxed);
    }
    return v;
}
