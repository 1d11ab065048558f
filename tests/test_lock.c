/* Lock: exclusion across threads and processes, timeouts, ownership, and a
 * holder killed with SIGKILL. After CPython's Lib/test/lock_tests.py. */
#include "helpers.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

static mproc_lock_t *shared_lock(void)
{
    mproc_lock_t *l;
    ck_assert_int_eq(mproc_lock_create(&l, NULL), 0);
    return l;
}

START_TEST(acquire_release_and_locked)
{
    mproc_lock_t l;
    ck_assert_int_eq(mproc_lock_init(&l), 0);
    ck_assert_int_eq(mproc_lock_locked(&l), 0);
    ck_assert_int_eq(mproc_lock_acquire(&l, MPROC_FOREVER), 0);
    ck_assert_int_eq(mproc_lock_locked(&l), 1);
    ck_assert_int_eq(mproc_lock_destroy(&l), MPROC_EBUSY);
    ck_assert_int_eq(mproc_lock_release(&l), 0);
    ck_assert_int_eq(mproc_lock_locked(&l), 0);
    ck_assert_int_eq(mproc_lock_destroy(&l), 0);
    ck_assert_int_eq(mproc_lock_init(NULL), MPROC_EINVAL);
}
END_TEST

START_TEST(not_reentrant_the_holder_times_out)
{
    mproc_lock_t l;
    mproc_lock_init(&l);
    ck_assert_int_eq(mproc_lock_acquire(&l, 0), 0);
    ck_assert_int_eq(mproc_lock_acquire(&l, 0), MPROC_ETIMEDOUT);
    double t0 = now();
    ck_assert_int_eq(mproc_lock_acquire(&l, 0.05), MPROC_ETIMEDOUT);
    ck_assert_double_ge(now() - t0, 0.045);
    ck_assert_int_eq(mproc_lock_release(&l), 0);
}
END_TEST

static void *release_from_thread(void *arg)
{
    return (void *)(intptr_t)mproc_lock_release(arg);
}

static void *try_from_thread(void *arg)
{
    return (void *)(intptr_t)mproc_lock_acquire(arg, 0);
}

START_TEST(only_the_holder_releases)
{
    mproc_lock_t l;
    mproc_lock_init(&l);
    ck_assert_int_eq(mproc_lock_release(&l), MPROC_EPERM); /* not held at all */
    ck_assert_int_eq(mproc_lock_acquire(&l, 0), 0);
    ck_assert_int_eq(in_thread(release_from_thread, &l), MPROC_EPERM);
    ck_assert_int_eq(in_thread(try_from_thread, &l), MPROC_ETIMEDOUT);
    ck_assert_int_eq(mproc_lock_locked(&l), 1);
    ck_assert_int_eq(mproc_lock_release(&l), 0);
    ck_assert_int_eq(in_thread(try_from_thread, &l), 0);
}
END_TEST

static int child_release_and_try(void *arg)
{
    if (mproc_lock_release(arg) != MPROC_EPERM)
        return 1;
    if (mproc_lock_acquire(arg, 0) != MPROC_ETIMEDOUT)
        return 2;
    double t0 = now();
    if (mproc_lock_acquire(arg, 0.2) != MPROC_ETIMEDOUT)
        return 3;
    double waited = now() - t0;
    return waited >= 0.19 && waited < 2.0 ? 0 : 4;
}

START_TEST(another_process_cannot_release_or_take_it)
{
    mproc_lock_t *l = shared_lock();
    ck_assert_int_eq(mproc_lock_acquire(l, 0), 0);
    ck_assert_int_eq(wait_child(fork_child(child_release_and_try, l), 5), 0);
    ck_assert_int_eq(mproc_lock_release(l), 0);
    mproc_lock_close(l);
}
END_TEST

struct counter {
    mproc_lock_t lock;
    volatile long value;
};

#define ROUNDS 20000

static int count_under_lock(void *arg)
{
    struct counter *c = arg;
    for (int i = 0; i < ROUNDS; i++) {
        if (mproc_lock_acquire(&c->lock, MPROC_FOREVER) != 0)
            return 1;
        long v = c->value; /* a torn read-modify-write if exclusion failed */
        if (i % 256 == 0)
            sched_yield();
        c->value = v + 1;
        if (mproc_lock_release(&c->lock) != 0)
            return 2;
    }
    return 0;
}

static void *count_in_thread(void *arg)
{
    return (void *)(intptr_t)count_under_lock(arg);
}

START_TEST(mutual_exclusion_across_processes_and_threads)
{
    struct counter *c = shared_alloc(sizeof *c);
    ck_assert_int_eq(mproc_lock_init(&c->lock), 0);
    pid_t kids[3];
    for (int i = 0; i < 3; i++)
        kids[i] = fork_child(count_under_lock, c);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, count_in_thread, c), 0);
    ck_assert_int_eq(count_under_lock(c), 0);
    void *result;
    pthread_join(t, &result);
    ck_assert_int_eq((intptr_t)result, 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(wait_child(kids[i], 30), 0);
    ck_assert_int_eq(c->value, 5L * ROUNDS);
}
END_TEST

struct handshake {
    mproc_lock_t lock;
    mproc_sem_t ready;
};

static int hold_until_killed(void *arg)
{
    struct handshake *h = arg;
    if (mproc_lock_acquire(&h->lock, 0) != 0)
        return 1;
    mproc_sem_release(&h->ready, 1);
    for (;;)
        pause();
}

static int wait_for_lock(void *arg)
{
    struct handshake *h = arg;
    mproc_sem_release(&h->ready, 1);
    int r = mproc_lock_acquire(&h->lock, 10);
    if (r != MPROC_EOWNERDEAD)
        return 1;
    return mproc_lock_release(&h->lock) == 0 ? 0 : 2;
}

START_TEST(a_killed_holder_gives_eownerdead_then_the_lock_works)
{
    struct handshake *h = shared_alloc(sizeof *h);
    mproc_lock_init(&h->lock);
    mproc_sem_init(&h->ready, 0, 0);
    pid_t holder = fork_child(hold_until_killed, h);
    ck_assert_int_eq(mproc_sem_acquire(&h->ready, 5), 0);
    ck_assert_int_eq(mproc_lock_locked(&h->lock), 1);
    /* a second process blocks on the lock; the holder dies under it */
    pid_t waiter = fork_child(wait_for_lock, h);
    ck_assert_int_eq(mproc_sem_acquire(&h->ready, 5), 0);
    ck_assert(wait_sleeping(waiter, 5));
    kill_child(holder);
    ck_assert_int_eq(wait_child(waiter, 10), 0);
    /* the lock is usable again, and nobody holds it */
    ck_assert_int_eq(mproc_lock_locked(&h->lock), 0);
    ck_assert_int_eq(mproc_lock_acquire(&h->lock, 0), 0);
    ck_assert_int_eq(mproc_lock_release(&h->lock), 0);
    ck_assert_int_eq(mproc_lock_acquire(&h->lock, 0), 0);
    ck_assert_int_eq(mproc_lock_release(&h->lock), 0);
}
END_TEST

START_TEST(a_holder_that_exits_without_release_is_seen_by_the_next_try)
{
    struct handshake *h = shared_alloc(sizeof *h);
    mproc_lock_init(&h->lock);
    mproc_sem_init(&h->ready, 0, 0);
    pid_t holder = fork_child(hold_until_killed, h);
    ck_assert_int_eq(mproc_sem_acquire(&h->ready, 5), 0);
    kill_child(holder);
    ck_assert_int_eq(mproc_lock_locked(&h->lock), 0);
    ck_assert_int_eq(mproc_lock_acquire(&h->lock, 0), MPROC_EOWNERDEAD);
    ck_assert_int_eq(mproc_lock_locked(&h->lock), 1);
    ck_assert_int_eq(mproc_lock_release(&h->lock), 0);
    ck_assert_int_eq(mproc_lock_acquire(&h->lock, 1), 0);
    ck_assert_int_eq(mproc_lock_release(&h->lock), 0);
}
END_TEST

static int acquire_named(void *arg)
{
    mproc_lock_t *l;
    if (mproc_lock_open(&l, arg) != 0)
        return 1;
    int r = mproc_lock_acquire(l, 5);
    if (r != 0)
        return 2;
    mproc_lock_release(l);
    return mproc_lock_close(l) == 0 ? 0 : 3;
}

START_TEST(named_lock_between_unrelated_openers)
{
    const char *name = test_name("lock");
    mproc_lock_t *l;
    ck_assert_int_eq(mproc_lock_create(&l, name), 0);
    ck_assert_int_eq(mproc_lock_acquire(l, 0), 0);
    pid_t kid = fork_child(acquire_named, (void *)name);
    ck_assert(wait_sleeping(kid, 5));
    ck_assert_int_eq(mproc_lock_release(l), 0);
    ck_assert_int_eq(wait_child(kid, 10), 0);
    mproc_lock_close(l);
    mproc_unlink(name);
}
END_TEST

static Suite *lock_suite(void)
{
    Suite *s = suite_create("lock");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, acquire_release_and_locked);
    tcase_add_test(tc, not_reentrant_the_holder_times_out);
    tcase_add_test(tc, only_the_holder_releases);
    tcase_add_test(tc, another_process_cannot_release_or_take_it);
    tcase_add_test(tc, mutual_exclusion_across_processes_and_threads);
    tcase_add_test(tc, a_killed_holder_gives_eownerdead_then_the_lock_works);
    tcase_add_test(tc, a_holder_that_exits_without_release_is_seen_by_the_next_try);
    tcase_add_test(tc, named_lock_between_unrelated_openers);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(lock_suite());
}
