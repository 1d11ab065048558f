/* Crash points (./configure --enable-crash-points): a process arms one point
 * by name and occurrence, and raises SIGKILL the moment it passes it for the
 * occurrence-th time; or, armed to stop, raises SIGSTOP there (once), so a
 * test can freeze it exactly at the point, run another process's operation,
 * and then SIGCONT or SIGKILL it. Without the option this file compiles to nothing and
 * MPROC__CRASH expands to nothing, so a normal build pays not one
 * instruction. */
#include "internal.h"

#ifdef MPROC_CRASH_POINTS
#include <signal.h>
#include <string.h>
#include <unistd.h>

static const char *const point_names[MPROC__CP_COUNT] = {
#define MPROC__CRASH_NAME(id, object, name) name,
    MPROC__CRASH_POINTS(MPROC__CRASH_NAME)
#undef MPROC__CRASH_NAME
};

/* Per process (a forked child inherits the parent's arming, which is what a
 * test wants when it arms and then forks its victim). */
static _Atomic int armed = -1;
static _Atomic int action = SIGKILL; /* or SIGSTOP */
static _Atomic unsigned remaining;
static _Atomic unsigned passed[MPROC__CP_COUNT];

static int arm(const char *name, unsigned occurrence, int sig)
{
    if (name == NULL) {
        atomic_store(&armed, -1);
        return 0;
    }
    for (int i = 0; i < MPROC__CP_COUNT; i++) {
        if (strcmp(point_names[i], name) == 0) {
            atomic_store(&armed, -1);
            atomic_store(&remaining, occurrence == 0 ? 1 : occurrence);
            atomic_store(&action, sig);
            atomic_store(&armed, i);
            return 0;
        }
    }
    return MPROC_EINVAL;
}

int mproc__crash_arm(const char *name, unsigned occurrence)
{
    return arm(name, occurrence, SIGKILL);
}

int mproc__crash_arm_stop(const char *name, unsigned occurrence)
{
    return arm(name, occurrence, SIGSTOP);
}

unsigned mproc__crash_passed(const char *name)
{
    for (int i = 0; i < MPROC__CP_COUNT; i++)
        if (strcmp(point_names[i], name) == 0)
            return atomic_load(&passed[i]);
    return 0;
}

void mproc__crash_point(int id)
{
    atomic_fetch_add(&passed[id], 1);
    if (atomic_load(&armed) == id && atomic_fetch_sub(&remaining, 1) == 1) {
        int sig = atomic_load(&action);
        if (sig == SIGSTOP)
            atomic_store(&armed, -1); /* once: after SIGCONT it goes on */
        raise(sig);
    }
}
#endif
