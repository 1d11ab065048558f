/* Condition: wait/notify across processes, exact notify(n), recursion depth,
 * wait_for, timeouts, and waiters or holders killed with SIGKILL. */
#include "helpers.h"

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

struct state {
    mproc_cond_t cond;
    mproc_sem_t ready;
    int entered; /* waiters that began to wait (under the lock) */
    int woken;   /* waiters that returned 0 (under the lock) */
    int value;   /* for wait_for predicates */
};

static struct state *new_state(void)
{
    struct state *s = shared_alloc(sizeof *s);
    ck_assert_int_eq(mproc_cond_init(&s->cond), 0);
    ck_assert_int_eq(mproc_sem_init(&s->ready, 0, 0), 0);
    return s;
}

static double waiter_timeout = 10;

/* Waits once; exit 0 if notified, 1 on timeout, 2 on anything else. */
static int waiter(void *arg)
{
    struct state *s = arg;
    if (mproc_cond_acquire(&s->cond, MPROC_FOREVER) != 0)
        return 2;
    s->entered++;
    int r = mproc_cond_wait(&s->cond, waiter_timeout);
    if (r == 0)
        s->woken++;
    if (mproc_cond_release(&s->cond) != 0)
        return 2;
    return r == 0 ? 0 : r == MPROC_ETIMEDOUT ? 1 : 2;
}

/* Reads a counter under the condition's lock. */
static int read_locked(struct state *s, int *field)
{
    mproc_cond_acquire(&s->cond, MPROC_FOREVER);
    int v = *field;
    mproc_cond_release(&s->cond);
    return v;
}

struct wait_arg {
    struct state *s;
    int *field;
    int want;
};

static int reached(void *arg)
{
    struct wait_arg *w = arg;
    return read_locked(w->s, w->field) == w->want;
}

/* Polls until *field == want; a waiter counted in `entered` holds a ticket,
 * since it counted itself and began to wait under one hold of the lock. */
static int settle(struct state *s, int *field, int want)
{
    struct wait_arg w = { s, field, want };
    return poll_until(reached, &w, 10);
}

/* Holding for `seconds`, *field stays at want (nothing more happens). */
static int stays(struct state *s, int *field, int want, double seconds)
{
    double end = now() + seconds;
    while (now() < end)
        if (read_locked(s, field) != want)
            return 0;
    return 1;
}

/* notify(n) (n = 0: notify_all) with the lock held, as required. */
static void notify_locked(struct state *s, unsigned n)
{
    ck_assert_int_eq(mproc_cond_acquire(&s->cond, MPROC_FOREVER), 0);
    ck_assert_int_eq(n == 0 ? mproc_cond_notify_all(&s->cond) : mproc_cond_notify(&s->cond, n), 0);
    ck_assert_int_eq(mproc_cond_release(&s->cond), 0);
}

START_TEST(wait_and_notify_need_the_lock)
{
    struct state *s = new_state();
    ck_assert_int_eq(mproc_cond_wait(&s->cond, 0), MPROC_EPERM);
    ck_assert_int_eq(mproc_cond_notify(&s->cond, 1), MPROC_EPERM);
    ck_assert_int_eq(mproc_cond_notify_all(&s->cond), MPROC_EPERM);
    ck_assert_int_eq(mproc_cond_wait_for(&s->cond, reached, NULL, 0), MPROC_EPERM);
    ck_assert_int_eq(mproc_cond_release(&s->cond), MPROC_EPERM);
    ck_assert_int_eq(mproc_cond_destroy(&s->cond), 0);
}
END_TEST

START_TEST(notify_n_wakes_exactly_n)
{
    struct state *s = new_state();
    pid_t kids[5];
    for (int i = 0; i < 5; i++)
        kids[i] = fork_child(waiter, s);
    ck_assert(settle(s, &s->entered, 5));

    notify_locked(s, 2);
    ck_assert(settle(s, &s->woken, 2));
    ck_assert(stays(s, &s->woken, 2, 0.2));

    mproc_cond_acquire(&s->cond, MPROC_FOREVER);
    ck_assert_int_eq(mproc_cond_notify(&s->cond, 1), 0);
    ck_assert_int_eq(mproc_cond_notify(&s->cond, 0), 0); /* wakes nobody */
    mproc_cond_release(&s->cond);
    ck_assert(settle(s, &s->woken, 3));
    ck_assert(stays(s, &s->woken, 3, 0.2));

    notify_locked(s, 100); /* more than wait */
    ck_assert(settle(s, &s->woken, 5));
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(wait_child(kids[i], 10), 0);
}
END_TEST

START_TEST(notify_all_wakes_everyone_waiting_and_nobody_later)
{
    struct state *s = new_state();
    pid_t kids[5];
    for (int i = 0; i < 5; i++)
        kids[i] = fork_child(waiter, s);
    ck_assert(settle(s, &s->entered, 5));
    notify_locked(s, 0);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(wait_child(kids[i], 10), 0);
    ck_assert_int_eq(s->woken, 5);
    /* a notification is not stored for waiters that come later */
    mproc_cond_acquire(&s->cond, MPROC_FOREVER);
    ck_assert_int_eq(mproc_cond_wait(&s->cond, 0.05), MPROC_ETIMEDOUT);
    ck_assert_int_eq(mproc_cond_notify(&s->cond, 1), 0);
    ck_assert_int_eq(mproc_cond_wait(&s->cond, 0.05), MPROC_ETIMEDOUT);
    mproc_cond_release(&s->cond);
}
END_TEST

START_TEST(a_waiter_that_began_after_a_notify_is_not_woken_by_it)
{
    struct state *s = new_state();
    pid_t early = fork_child(waiter, s);
    ck_assert(settle(s, &s->entered, 1));
    mproc_cond_acquire(&s->cond, MPROC_FOREVER);
    ck_assert_int_eq(mproc_cond_notify(&s->cond, 1), 0);
    /* still holding the lock: the early waiter cannot have left yet, and a
     * late waiter starting now must not take its wake-up */
    waiter_timeout = 0.3;
    pid_t late = fork_child(waiter, s);
    mproc_cond_release(&s->cond);
    ck_assert_int_eq(wait_child(early, 10), 0);
    ck_assert_int_eq(wait_child(late, 10), 1);
    ck_assert_int_eq(s->woken, 1);
}
END_TEST

struct deep_arg {
    mproc_cond_t cond;
    int notified;
};

static void *notify_from_thread(void *arg)
{
    struct deep_arg *d = arg;
    /* succeeds only because wait released every level */
    if (mproc_cond_acquire(&d->cond, 5) != 0)
        return (void *)1;
    d->notified = 1;
    mproc_cond_notify(&d->cond, 1);
    return (void *)(intptr_t)mproc_cond_release(&d->cond);
}

START_TEST(wait_releases_every_level_and_restores_them)
{
    struct deep_arg d = { .notified = 0 };
    ck_assert_int_eq(mproc_cond_init(&d.cond), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(mproc_cond_acquire(&d.cond, 0), 0);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, notify_from_thread, &d), 0);
    while (!d.notified)
        ck_assert_int_eq(mproc_cond_wait(&d.cond, 10), 0);
    void *result;
    pthread_join(t, &result);
    ck_assert_ptr_null(result);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(mproc_cond_release(&d.cond), 0);
    ck_assert_int_eq(mproc_cond_release(&d.cond), MPROC_EPERM);
}
END_TEST

START_TEST(wait_times_out_and_holds_the_lock_again)
{
    struct state *s = new_state();
    mproc_cond_acquire(&s->cond, 0);
    mproc_cond_acquire(&s->cond, 0);
    double t0 = now();
    ck_assert_int_eq(mproc_cond_wait(&s->cond, 0.1), MPROC_ETIMEDOUT);
    double waited = now() - t0;
    ck_assert_double_ge(waited, 0.095);
    ck_assert_double_lt(waited, 2.0);
    ck_assert_int_eq(mproc_cond_wait(&s->cond, 0), MPROC_ETIMEDOUT);
    ck_assert_int_eq(mproc_cond_release(&s->cond), 0);
    ck_assert_int_eq(mproc_cond_release(&s->cond), 0);
    ck_assert_int_eq(mproc_cond_release(&s->cond), MPROC_EPERM);
}
END_TEST

START_TEST(timed_out_waiters_do_not_absorb_notifications)
{
    struct state *s = new_state();
    waiter_timeout = 0.1;
    pid_t quick1 = fork_child(waiter, s);
    ck_assert(settle(s, &s->entered, 1));
    pid_t quick2 = fork_child(waiter, s);
    ck_assert(settle(s, &s->entered, 2));
    waiter_timeout = 10;
    pid_t patient = fork_child(waiter, s);
    ck_assert(settle(s, &s->entered, 3));
    ck_assert_int_eq(wait_child(quick1, 10), 1);
    ck_assert_int_eq(wait_child(quick2, 10), 1);
    /* the two withdrawn tickets sit before the patient one: skipped */
    notify_locked(s, 1);
    ck_assert_int_eq(wait_child(patient, 5), 0);
}
END_TEST

static int value_at_least_3(void *arg)
{
    return ((struct state *)arg)->value >= 3;
}

static int wait_for_three(void *arg)
{
    struct state *s = arg;
    mproc_cond_acquire(&s->cond, MPROC_FOREVER);
    s->entered++;
    int r = mproc_cond_wait_for(&s->cond, value_at_least_3, s, 10);
    int ok = r == 0 && s->value >= 3;
    mproc_cond_release(&s->cond);
    return ok ? 0 : 1;
}

START_TEST(wait_for_rechecks_the_predicate_after_each_wakeup)
{
    struct state *s = new_state();
    pid_t kid = fork_child(wait_for_three, s);
    ck_assert(settle(s, &s->entered, 1));
    for (int i = 0; i < 3; i++) {
        mproc_cond_acquire(&s->cond, MPROC_FOREVER);
        s->value++;
        mproc_cond_release(&s->cond);
        notify_locked(s, 0);
    }
    ck_assert_int_eq(wait_child(kid, 10), 0);
    /* true at once: returns without waiting, even with timeout 0 */
    mproc_cond_acquire(&s->cond, 0);
    ck_assert_int_eq(mproc_cond_wait_for(&s->cond, value_at_least_3, s, 0), 0);
    ck_assert_int_eq(mproc_cond_wait_for(&s->cond, NULL, s, 0), MPROC_EINVAL);
    mproc_cond_release(&s->cond);
}
END_TEST

static int never(void *arg)
{
    (void)arg;
    return 0;
}

static void *keep_notifying(void *arg)
{
    struct state *s = arg;
    double end = now() + 0.6;
    while (now() < end) {
        mproc_cond_acquire(&s->cond, MPROC_FOREVER);
        mproc_cond_notify_all(&s->cond);
        mproc_cond_release(&s->cond);
        struct timespec step = { 0, 10000000 };
        nanosleep(&step, NULL);
    }
    return NULL;
}

START_TEST(wait_for_computes_its_deadline_once)
{
    struct state *s = new_state();
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, keep_notifying, s), 0);
    mproc_cond_acquire(&s->cond, MPROC_FOREVER);
    double t0 = now();
    ck_assert_int_eq(mproc_cond_wait_for(&s->cond, never, NULL, 0.2), MPROC_ETIMEDOUT);
    double waited = now() - t0;
    mproc_cond_release(&s->cond);
    pthread_join(t, NULL);
    /* woken every 10 ms, yet it gives up after the 0.2 s it was given */
    ck_assert_double_ge(waited, 0.19);
    ck_assert_double_lt(waited, 0.45);
}
END_TEST

START_TEST(a_killed_waiter_leaves_no_hang_and_no_lost_wakeup)
{
    struct state *s = new_state();
    pid_t doomed = fork_child(waiter, s);
    ck_assert(settle(s, &s->entered, 1));
    ck_assert(wait_sleeping(doomed, 5));
    kill_child(doomed);
    /* wake "it": its notification goes nowhere, and nothing hangs */
    notify_locked(s, 1);
    /* then a live waiter is woken by the next notify */
    pid_t live = fork_child(waiter, s);
    ck_assert(settle(s, &s->entered, 2));
    notify_locked(s, 1);
    ck_assert_int_eq(wait_child(live, 5), 0);

    /* several dead waiters, then notify_all reaches every live one */
    pid_t dead[3], alive[2];
    for (int i = 0; i < 3; i++)
        dead[i] = fork_child(waiter, s);
    ck_assert(settle(s, &s->entered, 5));
    for (int i = 0; i < 2; i++)
        alive[i] = fork_child(waiter, s);
    ck_assert(settle(s, &s->entered, 7));
    for (int i = 0; i < 3; i++)
        kill_child(dead[i]);
    notify_locked(s, 0);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(wait_child(alive[i], 5), 0);
    /* and destroy does not hang after dead waiters */
    ck_assert_int_eq(mproc_cond_destroy(&s->cond), 0);
}
END_TEST

/* Waits once without a timeout; exit 0 if notified, 2 on anything else. */
static int waiter_forever(void *arg)
{
    struct state *s = arg;
    if (mproc_cond_acquire(&s->cond, MPROC_FOREVER) != 0)
        return 2;
    s->entered++;
    int r = mproc_cond_wait(&s->cond, MPROC_FOREVER);
    if (r == 0)
        s->woken++;
    if (mproc_cond_release(&s->cond) != 0)
        return 2;
    return r == 0 ? 0 : 2;
}

/* A waiter killed while waiting FOREVER, another FOREVER waiter behind it:
 * notify(1) reaches the live one, promptly, and only it. The dead one is left
 * a zombie (not reaped) until the end: its death must be seen all the same. */
START_TEST(a_killed_waiter_does_not_absorb_a_notify_a_live_one_needs)
{
    struct state *s = new_state();
    pid_t dead = fork_child(waiter_forever, s);
    ck_assert(settle(s, &s->entered, 1));
    ck_assert(wait_sleeping(dead, 5));
    pid_t live = fork_child(waiter_forever, s);
    ck_assert(settle(s, &s->entered, 2));
    ck_assert(wait_sleeping(live, 5));
    ck_assert_int_eq(kill(dead, SIGKILL), 0);
    siginfo_t info;
    ck_assert_int_eq(waitid(P_PID, (id_t)dead, &info, WEXITED | WNOWAIT), 0);
    double t0 = now();
    notify_locked(s, 1);
    ck_assert_int_eq(wait_child(live, 5), 0);
    ck_assert_double_lt(now() - t0, 1.0);
    ck_assert_int_eq(read_locked(s, &s->woken), 1);

    /* A waiter that begins after that notify is not woken by it, and the next
     * notify(1) reaches it. */
    pid_t late = fork_child(waiter_forever, s);
    ck_assert(settle(s, &s->entered, 3));
    ck_assert(stays(s, &s->woken, 1, 0.7));
    notify_locked(s, 1);
    ck_assert_int_eq(wait_child(late, 5), 0);
    ck_assert_int_eq(read_locked(s, &s->woken), 2);
    ck_assert_int_eq(wait_child(dead, 5), -SIGKILL);
    ck_assert_int_eq(mproc_cond_destroy(&s->cond), 0);
}
END_TEST

static int wait_expect_ownerdead(void *arg)
{
    struct state *s = arg;
    mproc_cond_acquire(&s->cond, MPROC_FOREVER);
    s->entered++;
    int r = mproc_cond_wait(&s->cond, 10);
    if (r != MPROC_EOWNERDEAD || mproc_cond_release(&s->cond) != 0)
        return 1;
    return 0;
}

static int notify_then_die_holding(void *arg)
{
    struct state *s = arg;
    mproc_cond_acquire(&s->cond, MPROC_FOREVER);
    mproc_cond_notify(&s->cond, 1);
    mproc_sem_release(&s->ready, 1);
    for (;;)
        pause();
    return 0; /* not reached */
}

START_TEST(a_holder_killed_with_the_lock_gives_waiters_eownerdead)
{
    struct state *s = new_state();
    pid_t w = fork_child(wait_expect_ownerdead, s);
    ck_assert(settle(s, &s->entered, 1));
    pid_t h = fork_child(notify_then_die_holding, s);
    ck_assert_int_eq(mproc_sem_acquire(&s->ready, 5), 0);
    kill_child(h);
    ck_assert_int_eq(wait_child(w, 10), 0);
    /* usable again */
    ck_assert_int_eq(mproc_cond_acquire(&s->cond, 0), 0);
    ck_assert_int_eq(mproc_cond_release(&s->cond), 0);
}
END_TEST

static int named_waiter(void *arg)
{
    mproc_cond_t *c;
    if (mproc_cond_open(&c, arg) != 0)
        return 2;
    mproc_cond_acquire(c, MPROC_FOREVER);
    int r = mproc_cond_wait(c, 10);
    mproc_cond_release(c);
    mproc_cond_close(c);
    return r == 0 ? 0 : 1;
}

START_TEST(named_condition_between_processes)
{
    const char *name = test_name("cond");
    mproc_cond_t *c;
    ck_assert_int_eq(mproc_cond_create(&c, name), 0);
    pid_t kid = fork_child(named_waiter, (void *)name);
    ck_assert(wait_sleeping(kid, 5)); /* asleep in wait: its only blocking call */
    mproc_cond_acquire(c, MPROC_FOREVER);
    mproc_cond_notify(c, 1);
    mproc_cond_release(c);
    ck_assert_int_eq(wait_child(kid, 5), 0);
    mproc_cond_close(c);
    mproc_unlink(name);
}
END_TEST

static int take_and_die(void *arg)
{
    mproc_cond_t *c = arg;
    int r = mproc_cond_acquire(c, 10);
    if (r != 0 && r != MPROC_EOWNERDEAD)
        return 1;
    raise(SIGKILL); /* dies holding the lock */
    return 2;
}

START_TEST(wait_status_tells_a_timeout_from_a_notify_when_the_holder_died)
{
    mproc_cond_t *c;
    ck_assert_int_eq(mproc_cond_create(&c, NULL), 0);
    ck_assert_int_eq(mproc_cond_acquire(c, 0), 0);
    pid_t k = fork_child(take_and_die, c); /* takes the lock once we wait, dies */
    int owner_died = -1;
    ck_assert_int_eq(mproc_cond_wait_status(c, 0.5, &owner_died), MPROC_ETIMEDOUT);
    ck_assert_int_eq(owner_died, 1);
    ck_assert_int_eq(wait_child(k, 5), -SIGKILL);
    ck_assert_int_eq(mproc_cond_wait_status(c, 0.01, &owner_died), MPROC_ETIMEDOUT);
    ck_assert_int_eq(owner_died, 0);
    ck_assert_int_eq(mproc_cond_wait_status(c, 0.01, NULL), MPROC_EINVAL);
    ck_assert_int_eq(mproc_cond_release(c), 0);
    ck_assert_int_eq(mproc_cond_wait_status(c, 0.01, &owner_died), MPROC_EPERM);
    mproc_cond_close(c);
}
END_TEST

static Suite *cond_suite(void)
{
    Suite *s = suite_create("cond");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, wait_and_notify_need_the_lock);
    tcase_add_test(tc, notify_n_wakes_exactly_n);
    tcase_add_test(tc, notify_all_wakes_everyone_waiting_and_nobody_later);
    tcase_add_test(tc, a_waiter_that_began_after_a_notify_is_not_woken_by_it);
    tcase_add_test(tc, wait_releases_every_level_and_restores_them);
    tcase_add_test(tc, wait_times_out_and_holds_the_lock_again);
    tcase_add_test(tc, timed_out_waiters_do_not_absorb_notifications);
    tcase_add_test(tc, wait_for_rechecks_the_predicate_after_each_wakeup);
    tcase_add_test(tc, wait_for_computes_its_deadline_once);
    tcase_add_test(tc, a_killed_waiter_leaves_no_hang_and_no_lost_wakeup);
    tcase_add_test(tc, a_killed_waiter_does_not_absorb_a_notify_a_live_one_needs);
    tcase_add_test(tc, a_holder_killed_with_the_lock_gives_waiters_eownerdead);
    tcase_add_test(tc, named_condition_between_processes);
    tcase_add_test(tc, wait_status_tells_a_timeout_from_a_notify_when_the_holder_died);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(cond_suite());
}
