/* Event: set/clear/wait across processes, threading's guarantee for waiters
 * blocked at set(), and processes killed inside the primitive. */
#include "helpers.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

static mproc_event_t *new_event(void)
{
    mproc_event_t *e;
    ck_assert_int_eq(mproc_event_create(&e, NULL), 0);
    return e;
}

START_TEST(set_clear_is_set)
{
    mproc_event_t e;
    ck_assert_int_eq(mproc_event_init(&e), 0);
    ck_assert_int_eq(mproc_event_is_set(&e), 0);
    ck_assert_int_eq(mproc_event_wait(&e, 0), MPROC_ETIMEDOUT);
    ck_assert_int_eq(mproc_event_set(&e), 0);
    ck_assert_int_eq(mproc_event_set(&e), 0);
    ck_assert_int_eq(mproc_event_is_set(&e), 1);
    ck_assert_int_eq(mproc_event_wait(&e, 0), 0);
    ck_assert_int_eq(mproc_event_wait(&e, MPROC_FOREVER), 0);
    ck_assert_int_eq(mproc_event_clear(&e), 0);
    ck_assert_int_eq(mproc_event_is_set(&e), 0);
    double t0 = now();
    ck_assert_int_eq(mproc_event_wait(&e, 0.1), MPROC_ETIMEDOUT);
    ck_assert_double_ge(now() - t0, 0.095);
    ck_assert_int_eq(mproc_event_destroy(&e), 0);
    ck_assert_int_eq(mproc_event_init(NULL), MPROC_EINVAL);
}
END_TEST

static int wait_event(void *arg)
{
    return mproc_event_wait(arg, 10) == 0 ? 0 : 1;
}

START_TEST(set_releases_every_waiter)
{
    mproc_event_t *e = new_event();
    pid_t kids[5];
    for (int i = 0; i < 5; i++)
        kids[i] = fork_child(wait_event, e);
    for (int i = 0; i < 5; i++)
        ck_assert(wait_sleeping(kids[i], 5));
    ck_assert_int_eq(mproc_event_set(e), 0);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(wait_child(kids[i], 5), 0);
    mproc_event_close(e);
}
END_TEST

START_TEST(waiters_blocked_at_set_return_even_if_clear_follows_at_once)
{
    mproc_event_t *e = new_event();
    pid_t kids[3];
    for (int i = 0; i < 3; i++)
        kids[i] = fork_child(wait_event, e);
    for (int i = 0; i < 3; i++)
        ck_assert(wait_sleeping(kids[i], 5));
    mproc_event_set(e);
    mproc_event_clear(e);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(wait_child(kids[i], 5), 0);
    ck_assert_int_eq(mproc_event_is_set(e), 0);
    mproc_event_close(e);
}
END_TEST

START_TEST(a_killed_waiter_does_not_stop_the_others)
{
    mproc_event_t *e = new_event();
    pid_t doomed = fork_child(wait_event, e), live = fork_child(wait_event, e);
    ck_assert(wait_sleeping(doomed, 5));
    ck_assert(wait_sleeping(live, 5));
    kill_child(doomed);
    mproc_event_set(e);
    ck_assert_int_eq(wait_child(live, 5), 0);
    mproc_event_close(e);
}
END_TEST

static int toggle_forever(void *arg)
{
    for (;;) {
        mproc_event_set(arg);
        mproc_event_wait(arg, 0);
        mproc_event_clear(arg);
    }
    return 0;
}

START_TEST(processes_killed_inside_leave_it_working)
{
    mproc_event_t *e = new_event();
    for (int round = 0; round < 40; round++) {
        pid_t kid = fork_child(toggle_forever, e);
        pause_random_us(2000); /* a random moment to kill at */
        kill_child(kid);
        mproc_event_clear(e);
        ck_assert_int_eq(mproc_event_wait(e, 0), MPROC_ETIMEDOUT);
        pid_t waiter = fork_child(wait_event, e);
        ck_assert(wait_sleeping(waiter, 5));
        mproc_event_set(e);
        ck_assert_int_eq(wait_child(waiter, 5), 0);
    }
    mproc_event_close(e);
}
END_TEST

static int named_wait(void *arg)
{
    mproc_event_t *e;
    if (mproc_event_open(&e, arg) != 0)
        return 2;
    int r = mproc_event_wait(e, 10);
    mproc_event_close(e);
    return r == 0 ? 0 : 1;
}

START_TEST(named_event_between_processes)
{
    const char *name = test_name("event");
    mproc_event_t *e;
    ck_assert_int_eq(mproc_event_create(&e, name), 0);
    pid_t kid = fork_child(named_wait, (void *)name);
    ck_assert(wait_sleeping(kid, 5));
    mproc_event_set(e);
    ck_assert_int_eq(wait_child(kid, 5), 0);
    mproc_event_close(e);
    mproc_unlink(name);
}
END_TEST

static Suite *event_suite(void)
{
    Suite *s = suite_create("event");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, set_clear_is_set);
    tcase_add_test(tc, set_releases_every_waiter);
    tcase_add_test(tc, waiters_blocked_at_set_return_even_if_clear_follows_at_once);
    tcase_add_test(tc, a_killed_waiter_does_not_stop_the_others);
    tcase_add_test(tc, processes_killed_inside_leave_it_working);
    tcase_add_test(tc, named_event_between_processes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(event_suite());
}
