/* White-box checks of the wait queue (common/futex.c, compiled in here):
 * what a sleep reports once its deadline has passed. It makes no system
 * call then, but must answer as the kernel's value check would: a wake-up
 * since the caller read the sequence is reported, not swallowed as a
 * timeout (Condition hands on a grant meant for a dead waiter only when it
 * is woken: sync/cond.c). */
#include "helpers.h"
#include "internal.h"

static mproc__deadline_t passed_deadline(void)
{
    mproc__deadline_t d;
    ck_assert_int_eq(mproc__deadline_init(&d, 1e-6), 0);
    ck_assert_int_eq(d.kind, MPROC__UNTIL);
    while (!mproc__deadline_expired(&d))
        ;
    return d;
}

START_TEST(a_sleep_past_its_deadline_reports_a_wakeup_it_missed)
{
    mproc__waitq_t q = { 0 };
    uint32_t seq = mproc__waitq_prepare(&q);
    mproc__deadline_t d = passed_deadline();
    mproc__waitq_wake(&q); /* a wake-up between the read and the sleep */
    ck_assert_int_eq(mproc__waitq_sleep(&q, seq, &d), 0);
    mproc__waitq_finish(&q);
}
END_TEST

START_TEST(a_sleep_past_its_deadline_with_nothing_new_times_out_at_once)
{
    mproc__waitq_t q = { 0 };
    uint32_t seq = mproc__waitq_prepare(&q);
    mproc__deadline_t d = passed_deadline();
    double t0 = now();
    ck_assert_int_eq(mproc__waitq_sleep(&q, seq, &d), MPROC_ETIMEDOUT);
    double secs = now() - t0;
    mproc__waitq_finish(&q);
    /* not a sleep: far below a sleep slice (0.5 s), whatever the load */
    ck_assert_double_lt(secs, 0.25);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("waitq");
    TCase *t = tcase_create("deadline");
    tcase_add_test(t, a_sleep_past_its_deadline_reports_a_wakeup_it_missed);
    tcase_add_test(t, a_sleep_past_its_deadline_with_nothing_new_times_out_at_once);
    suite_add_tcase(s, t);
    return run_suite(s);
}
