/* Semaphore and BoundedSemaphore: counting, release(n) waking n, bounds,
 * the null semaphore, and processes killed while waiting or inside. */
#define _GNU_SOURCE /* sched_setaffinity */
#include "helpers.h"

#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <unistd.h>

static mproc_sem_t *new_sem(unsigned value, unsigned bound)
{
    mproc_sem_t *s;
    ck_assert_int_eq(mproc_sem_create(&s, NULL, value, bound), 0);
    return s;
}

START_TEST(counting_and_timeouts)
{
    mproc_sem_t s;
    ck_assert_int_eq(mproc_sem_init(&s, 2, 0), 0);
    ck_assert_int_eq(mproc_sem_value(&s), 2);
    ck_assert_int_eq(mproc_sem_acquire(&s, 0), 0);
    ck_assert_int_eq(mproc_sem_acquire(&s, MPROC_FOREVER), 0);
    ck_assert_int_eq(mproc_sem_value(&s), 0);
    ck_assert_int_eq(mproc_sem_acquire(&s, 0), MPROC_ETIMEDOUT);
    double t0 = now();
    ck_assert_int_eq(mproc_sem_acquire(&s, 0.1), MPROC_ETIMEDOUT);
    ck_assert_double_ge(now() - t0, 0.095);
    ck_assert_int_eq(mproc_sem_release(&s, 3), 0);
    ck_assert_int_eq(mproc_sem_value(&s), 3);
    ck_assert_int_eq(mproc_sem_release(&s, 0), MPROC_EINVAL);
    ck_assert_int_eq(mproc_sem_destroy(&s), 0);
}
END_TEST

START_TEST(invalid_parameters)
{
    mproc_sem_t s;
    ck_assert_int_eq(mproc_sem_init(&s, 3, 2), MPROC_EINVAL);
    ck_assert_int_eq(mproc_sem_init(&s, (unsigned)INT_MAX + 1, 0), MPROC_EINVAL);
    ck_assert_int_eq(mproc_sem_init(NULL, 0, 0), MPROC_EINVAL);
    ck_assert_int_eq(mproc_sem_init(&s, INT_MAX, 0), 0);
    ck_assert_int_eq(mproc_sem_release(&s, 1), MPROC_EOVERFLOW); /* past INT_MAX */
    ck_assert_int_eq(mproc_sem_value(&s), INT_MAX);
}
END_TEST

START_TEST(bounded_over_release_is_eoverflow_and_changes_nothing)
{
    mproc_sem_t s;
    ck_assert_int_eq(mproc_sem_init(&s, 1, 3), 0);
    ck_assert_int_eq(mproc_sem_release(&s, 3), MPROC_EOVERFLOW);
    ck_assert_int_eq(mproc_sem_value(&s), 1);
    ck_assert_int_eq(mproc_sem_release(&s, 2), 0);
    ck_assert_int_eq(mproc_sem_value(&s), 3);
    ck_assert_int_eq(mproc_sem_release(&s, 1), MPROC_EOVERFLOW);
    ck_assert_int_eq(mproc_sem_release(&s, UINT_MAX), MPROC_EOVERFLOW);
    ck_assert_int_eq(mproc_sem_value(&s), 3);
    ck_assert_int_eq(mproc_sem_acquire(&s, 0), 0);
    ck_assert_int_eq(mproc_sem_release(&s, 1), 0);
}
END_TEST

static int acquire_once(void *arg)
{
    return mproc_sem_acquire(arg, 10) == 0 ? 0 : 1;
}

/* Children of kids[] that have ended (reaped here), marking them -1. */
static int count_ended(pid_t *kids, int n)
{
    int ended = 0;
    for (int i = 0; i < n; i++) {
        if (kids[i] < 0) {
            ended++;
            continue;
        }
        int status;
        if (waitpid(kids[i], &status, WNOHANG) == kids[i]) {
            ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
            kids[i] = -1;
            ended++;
        }
    }
    return ended;
}

struct ended_arg {
    pid_t *kids;
    int n, want;
};

static int ended_reaches(void *arg)
{
    struct ended_arg *a = arg;
    return count_ended(a->kids, a->n) >= a->want;
}

START_TEST(release_n_wakes_n_waiters)
{
    mproc_sem_t *s = new_sem(0, 0);
    pid_t kids[5];
    for (int i = 0; i < 5; i++)
        kids[i] = fork_child(acquire_once, s);
    for (int i = 0; i < 5; i++)
        ck_assert(wait_sleeping(kids[i], 5));
    ck_assert_int_eq(mproc_sem_release(s, 3), 0);
    struct ended_arg a = { kids, 5, 3 };
    ck_assert(poll_until(ended_reaches, &a, 5));
    ck_assert_int_eq(mproc_sem_value(s), 0);
    ck_assert_int_eq(count_ended(kids, 5), 3);
    ck_assert_int_eq(mproc_sem_release(s, 2), 0);
    a.want = 5;
    ck_assert(poll_until(ended_reaches, &a, 5));
    ck_assert_int_eq(mproc_sem_value(s), 0);
    mproc_sem_close(s);
}
END_TEST

START_TEST(the_null_semaphore_releases_one_waiter_at_a_time)
{
    mproc_sem_t *s = new_sem(0, 0);
    pid_t kids[3];
    for (int i = 0; i < 3; i++)
        kids[i] = fork_child(acquire_once, s);
    for (int i = 0; i < 3; i++)
        ck_assert(wait_sleeping(kids[i], 5));
    for (int released = 1; released <= 3; released++) {
        mproc_sem_release(s, 1);
        struct ended_arg a = { kids, 3, released };
        ck_assert(poll_until(ended_reaches, &a, 5));
        ck_assert_int_eq(count_ended(kids, 3), released);
    }
    mproc_sem_close(s);
}
END_TEST

static int acquire_timed(void *arg)
{
    /* a finite timeout: the wake-up itself must arrive, not a periodic re-check */
    return mproc_sem_acquire(arg, 8) == 0 ? 0 : 1;
}

START_TEST(a_killed_waiter_does_not_swallow_the_wakeup)
{
    mproc_sem_t *s = new_sem(0, 0);
    pid_t doomed = fork_child(acquire_timed, s);
    ck_assert(wait_sleeping(doomed, 5));
    pid_t live = fork_child(acquire_timed, s);
    ck_assert(wait_sleeping(live, 5));
    kill_child(doomed);
    double t0 = now();
    mproc_sem_release(s, 1);
    ck_assert_int_eq(wait_child(live, 5), 0);
    ck_assert_double_lt(now() - t0, 2.0);
    ck_assert_int_eq(mproc_sem_value(s), 0);
    mproc_sem_close(s);
}
END_TEST

static int take_and_give_forever(void *arg)
{
    for (;;) {
        if (mproc_sem_acquire(arg, MPROC_FOREVER) == 0)
            mproc_sem_release(arg, 1);
    }
    return 0;
}

START_TEST(processes_killed_inside_leave_a_consistent_count)
{
    mproc_sem_t *s = new_sem(2, 2);
    for (int round = 0; round < 60; round++) {
        pid_t kid = fork_child(take_and_give_forever, s);
        pause_random_us(2000); /* a random moment to kill at */
        kill_child(kid);
        /* killed between acquire and release: one unit is gone with it */
        int v = mproc_sem_value(s);
        ck_assert(v == 2 || v == 1);
        if (v == 1)
            ck_assert_int_eq(mproc_sem_release(s, 1), 0);
        ck_assert_int_eq(mproc_sem_acquire(s, 0), 0);
        ck_assert_int_eq(mproc_sem_acquire(s, 0), 0);
        ck_assert_int_eq(mproc_sem_acquire(s, 0), MPROC_ETIMEDOUT);
        ck_assert_int_eq(mproc_sem_release(s, 2), 0);
    }
    mproc_sem_close(s);
}
END_TEST

struct counter {
    mproc_sem_t sem;
    volatile long value;
};

static int count_under_sem(void *arg)
{
    struct counter *c = arg;
    for (int i = 0; i < 10000; i++) {
        if (mproc_sem_acquire(&c->sem, MPROC_FOREVER) != 0)
            return 1;
        long v = c->value;
        c->value = v + 1;
        mproc_sem_release(&c->sem, 1);
    }
    return 0;
}

START_TEST(binary_semaphore_excludes_across_processes)
{
    struct counter *c = shared_alloc(sizeof *c);
    mproc_sem_init(&c->sem, 1, 1);
    pid_t a = fork_child(count_under_sem, c), b = fork_child(count_under_sem, c);
    ck_assert_int_eq(count_under_sem(c), 0);
    ck_assert_int_eq(wait_child(a, 30), 0);
    ck_assert_int_eq(wait_child(b, 30), 0);
    ck_assert_int_eq(c->value, 30000);
}
END_TEST

static int named_release(void *arg)
{
    mproc_sem_t *s;
    if (mproc_sem_open(&s, arg) != 0)
        return 1;
    int r = mproc_sem_release(s, 1);
    mproc_sem_close(s);
    return r == 0 ? 0 : 2;
}

START_TEST(named_semaphore_keeps_its_bound)
{
    const char *name = test_name("sem");
    mproc_sem_t *s;
    ck_assert_int_eq(mproc_sem_create(&s, name, 0, 1), 0);
    ck_assert_int_eq(wait_child(fork_child(named_release, (void *)name), 5), 0);
    ck_assert_int_eq(wait_child(fork_child(named_release, (void *)name), 5), 2);
    ck_assert_int_eq(mproc_sem_value(s), 1);
    mproc_sem_close(s);
    mproc_unlink(name);
}
END_TEST

static void on_cpu0(void)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    sched_setaffinity(0, sizeof one, &one);
}

static int acquire_forever_on_cpu0(void *arg)
{
    on_cpu0();
    return mproc_sem_acquire(arg, MPROC_FOREVER) == 0 ? 0 : 1;
}

START_TEST(a_woken_waiter_killed_before_acting_leaves_the_unit_to_a_timed_waiter)
{
    /* The first sleeper is the one a single wake-up reaches; it is killed
     * the moment after release, before it can run (all three processes
     * share one CPU, and the releaser does not yield in between). The
     * second sleeper has a finite timeout: no periodic re-check of FOREVER
     * waits rescues it; it must have been woken too. */
    for (int round = 0; round < 3; round++) {
        mproc_sem_t *s = new_sem(0, 0);
        pid_t first = fork_child(acquire_forever_on_cpu0, s);
        ck_assert(wait_sleeping(first, 5));
        pid_t second = fork_child(acquire_timed, s);
        ck_assert(wait_sleeping(second, 5));
        on_cpu0();
        /* Real-time for the two calls, so the woken one cannot preempt us. */
        struct sched_param fifo = { .sched_priority = 1 }, other = { 0 };
        int rt = sched_setscheduler(0, SCHED_FIFO, &fifo) == 0;
        double t0 = now();
        mproc_sem_release(s, 1);
        kill(first, SIGKILL);
        if (rt)
            sched_setscheduler(0, SCHED_OTHER, &other);
        int r = wait_child(second, 10);
        double took = now() - t0;
        waitpid(first, NULL, 0);
        ck_assert_int_eq(r, 0);
        ck_assert_msg(took < 2.0, "the live waiter got the unit after %.2f s", took);
        mproc_sem_close(s);
    }
}
END_TEST

static Suite *sem_suite(void)
{
    Suite *s = suite_create("sem");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, counting_and_timeouts);
    tcase_add_test(tc, invalid_parameters);
    tcase_add_test(tc, bounded_over_release_is_eoverflow_and_changes_nothing);
    tcase_add_test(tc, release_n_wakes_n_waiters);
    tcase_add_test(tc, the_null_semaphore_releases_one_waiter_at_a_time);
    tcase_add_test(tc, a_killed_waiter_does_not_swallow_the_wakeup);
    tcase_add_test(tc, a_woken_waiter_killed_before_acting_leaves_the_unit_to_a_timed_waiter);
    tcase_add_test(tc, processes_killed_inside_leave_a_consistent_count);
    tcase_add_test(tc, binary_semaphore_excludes_across_processes);
    tcase_add_test(tc, named_semaphore_keeps_its_bound);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(sem_suite());
}
