/* Why mproc does not wait on pthread_cond_t: the reproduction of glibc bug
 * 21422, side by side with the same scenario on mproc_cond_t.
 *
 * Scenario: a waiter is killed while blocked; a signal goes "to" it; a live
 * waiter blocks; a second signal. On glibc 2.25..2.40 the second
 * pthread_cond_signal never returns: it waits for the dead waiter to leave
 * its group. Each scenario runs in a child that the test bounds in time. */
#include "helpers.h"

#include <gnu/libc-version.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

struct pthread_state {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
};

static int pthread_waiter(void *arg)
{
    struct pthread_state *s = arg;
    pthread_mutex_lock(&s->mutex);
    struct timespec at;
    clock_gettime(CLOCK_REALTIME, &at);
    at.tv_sec += 10;
    int r = pthread_cond_timedwait(&s->cond, &s->mutex, &at);
    pthread_mutex_unlock(&s->mutex);
    return r == 0 ? 0 : 1;
}

/* Returns 0 when the whole scenario completes. */
static int pthread_scenario(void *arg)
{
    (void)arg;
    struct pthread_state *s = shared_alloc(sizeof *s);
    pthread_mutexattr_t ma;
    pthread_condattr_t ca;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
    pthread_mutex_init(&s->mutex, &ma);
    pthread_condattr_init(&ca);
    pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
    pthread_cond_init(&s->cond, &ca);

    pid_t doomed = fork_child(pthread_waiter, s);
    if (!wait_sleeping(doomed, 5))
        return 2;
    kill_child(doomed);
    pthread_mutex_lock(&s->mutex);
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mutex);

    pid_t live = fork_child(pthread_waiter, s);
    if (!wait_sleeping(live, 5))
        return 3;
    pthread_mutex_lock(&s->mutex);
    pthread_cond_signal(&s->cond); /* hangs on affected glibc */
    pthread_mutex_unlock(&s->mutex);
    return wait_child(live, 5) == 0 ? 0 : 4;
}

static int mproc_waiter(void *arg)
{
    mproc_cond_t *c = arg;
    mproc_cond_acquire(c, MPROC_FOREVER);
    int r = mproc_cond_wait(c, 10);
    mproc_cond_release(c);
    return r == 0 ? 0 : 1;
}

static int mproc_scenario(void *arg)
{
    (void)arg;
    mproc_cond_t *c;
    if (mproc_cond_create(&c, NULL) != 0)
        return 1;
    pid_t doomed = fork_child(mproc_waiter, c);
    if (!wait_sleeping(doomed, 5))
        return 2;
    kill_child(doomed);
    mproc_cond_acquire(c, MPROC_FOREVER);
    mproc_cond_notify(c, 1);
    mproc_cond_release(c);

    pid_t live = fork_child(mproc_waiter, c);
    if (!wait_sleeping(live, 5))
        return 3;
    mproc_cond_acquire(c, MPROC_FOREVER);
    mproc_cond_notify(c, 1);
    mproc_cond_release(c);
    if (wait_child(live, 5) != 0)
        return 4;
    return mproc_cond_destroy(c) == 0 ? 0 : 5;
}

static int glibc_is_affected(void)
{
    int major = 0, minor = 0;
    sscanf(gnu_get_libc_version(), "%d.%d", &major, &minor);
    return major == 2 && minor >= 25 && minor < 41;
}

START_TEST(pthread_cond_hangs_after_a_killed_waiter_on_affected_glibc)
{
    int code = wait_child(fork_child(pthread_scenario, NULL), 3);
    fprintf(stderr, "glibc %s: pthread_cond scenario %s\n", gnu_get_libc_version(),
            code == CHILD_HUNG ? "hung (bug 21422)" : "completed");
    if (glibc_is_affected())
        ck_assert_int_eq(code, CHILD_HUNG);
    else
        ck_assert_int_eq(code, 0);
}
END_TEST

START_TEST(mproc_cond_survives_the_same_scenario)
{
    ck_assert_int_eq(wait_child(fork_child(mproc_scenario, NULL), 10), 0);
}
END_TEST

static Suite *glibc_cond_suite(void)
{
    Suite *s = suite_create("glibc_cond");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, pthread_cond_hangs_after_a_killed_waiter_on_affected_glibc);
    tcase_add_test(tc, mproc_cond_survives_the_same_scenario);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(glibc_cond_suite());
}
