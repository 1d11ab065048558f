/* RLock: recursion, ownership per thread, and a holder killed at depth. */
#include "helpers.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

START_TEST(recursion_counts)
{
    mproc_rlock_t l;
    ck_assert_int_eq(mproc_rlock_init(&l), 0);
    ck_assert_int_eq(mproc_rlock_owned(&l), 0);
    for (int depth = 1; depth <= 3; depth++) {
        ck_assert_int_eq(mproc_rlock_acquire(&l, 0), 0);
        ck_assert_int_eq(mproc_rlock_owned(&l), 1);
    }
    ck_assert_int_eq(mproc_rlock_destroy(&l), MPROC_EBUSY);
    for (int depth = 3; depth >= 1; depth--) {
        ck_assert_int_eq(mproc_rlock_owned(&l), 1);
        ck_assert_int_eq(mproc_rlock_release(&l), 0);
    }
    ck_assert_int_eq(mproc_rlock_owned(&l), 0);
    ck_assert_int_eq(mproc_rlock_release(&l), MPROC_EPERM);
    ck_assert_int_eq(mproc_rlock_destroy(&l), 0);
}
END_TEST

static void *other_thread_view(void *arg)
{
    mproc_rlock_t *l = arg;
    if (mproc_rlock_owned(l))
        return (void *)1;
    if (mproc_rlock_release(l) != MPROC_EPERM)
        return (void *)2;
    if (mproc_rlock_acquire(l, 0) != MPROC_ETIMEDOUT)
        return (void *)3;
    if (mproc_rlock_acquire(l, 0.05) != MPROC_ETIMEDOUT)
        return (void *)4;
    return NULL;
}

static void *take_and_give_back(void *arg)
{
    mproc_rlock_t *l = arg;
    if (mproc_rlock_acquire(l, 1) != 0 || !mproc_rlock_owned(l))
        return (void *)1;
    return (void *)(intptr_t)mproc_rlock_release(l);
}

START_TEST(other_threads_neither_own_nor_release_it)
{
    mproc_rlock_t l;
    mproc_rlock_init(&l);
    mproc_rlock_acquire(&l, 0);
    mproc_rlock_acquire(&l, 0);
    ck_assert_int_eq(in_thread(other_thread_view, &l), 0);
    /* the other thread's failed release took no level away */
    ck_assert_int_eq(mproc_rlock_release(&l), 0);
    ck_assert_int_eq(in_thread(other_thread_view, &l), 0);
    ck_assert_int_eq(mproc_rlock_release(&l), 0);
    ck_assert_int_eq(in_thread(take_and_give_back, &l), 0);
}
END_TEST

static int other_process_view(void *arg)
{
    return (intptr_t)other_thread_view(arg) == 0 ? 0 : 1;
}

START_TEST(other_processes_neither_own_nor_release_it)
{
    mproc_rlock_t *l;
    ck_assert_int_eq(mproc_rlock_create(&l, NULL), 0);
    mproc_rlock_acquire(l, 0);
    ck_assert_int_eq(wait_child(fork_child(other_process_view, l), 5), 0);
    ck_assert_int_eq(mproc_rlock_owned(l), 1);
    mproc_rlock_release(l);
    mproc_rlock_close(l);
}
END_TEST

struct shared {
    mproc_rlock_t lock;
    mproc_sem_t ready;
    volatile long value;
};

static int hold_deep_until_killed(void *arg)
{
    struct shared *s = arg;
    for (int i = 0; i < 3; i++)
        if (mproc_rlock_acquire(&s->lock, 0) != 0)
            return 1;
    mproc_sem_release(&s->ready, 1);
    for (;;)
        pause();
}

START_TEST(a_killed_holder_at_depth_gives_eownerdead_at_depth_one)
{
    struct shared *s = shared_alloc(sizeof *s);
    mproc_rlock_init(&s->lock);
    mproc_sem_init(&s->ready, 0, 0);
    pid_t kid = fork_child(hold_deep_until_killed, s);
    ck_assert_int_eq(mproc_sem_acquire(&s->ready, 5), 0);
    ck_assert_int_eq(mproc_rlock_acquire(&s->lock, 0), MPROC_ETIMEDOUT);
    kill_child(kid);
    ck_assert_int_eq(mproc_rlock_acquire(&s->lock, 1), MPROC_EOWNERDEAD);
    ck_assert_int_eq(mproc_rlock_owned(&s->lock), 1);
    ck_assert_int_eq(mproc_rlock_release(&s->lock), 0); /* depth 1: one release frees it */
    ck_assert_int_eq(mproc_rlock_owned(&s->lock), 0);
    ck_assert_int_eq(mproc_rlock_acquire(&s->lock, 0), 0); /* and it works normally again */
    ck_assert_int_eq(wait_child(fork_child(other_process_view, &s->lock), 5), 0);
    ck_assert_int_eq(mproc_rlock_release(&s->lock), 0);
}
END_TEST

#define ROUNDS 10000

static int count_nested(void *arg)
{
    struct shared *s = arg;
    for (int i = 0; i < ROUNDS; i++) {
        if (mproc_rlock_acquire(&s->lock, MPROC_FOREVER) != 0 || mproc_rlock_acquire(&s->lock, 0) != 0)
            return 1;
        long v = s->value;
        s->value = v + 1;
        if (mproc_rlock_release(&s->lock) != 0 || mproc_rlock_release(&s->lock) != 0)
            return 2;
    }
    return 0;
}

START_TEST(mutual_exclusion_with_nesting_across_processes)
{
    struct shared *s = shared_alloc(sizeof *s);
    mproc_rlock_init(&s->lock);
    pid_t a = fork_child(count_nested, s), b = fork_child(count_nested, s);
    ck_assert_int_eq(count_nested(s), 0);
    ck_assert_int_eq(wait_child(a, 30), 0);
    ck_assert_int_eq(wait_child(b, 30), 0);
    ck_assert_int_eq(s->value, 3L * ROUNDS);
}
END_TEST

static int open_named_and_check(void *arg)
{
    mproc_rlock_t *l;
    if (mproc_rlock_open(&l, arg) != 0)
        return 1;
    if (mproc_rlock_acquire(l, 0) != MPROC_ETIMEDOUT)
        return 2;
    return mproc_rlock_close(l);
}

START_TEST(named_rlock)
{
    const char *name = test_name("rlock");
    mproc_rlock_t *l;
    ck_assert_int_eq(mproc_rlock_create(&l, name), 0);
    mproc_rlock_acquire(l, 0);
    ck_assert_int_eq(wait_child(fork_child(open_named_and_check, (void *)name), 5), 0);
    mproc_rlock_release(l);
    ck_assert_int_eq(mproc_rlock_close(l), 0);
    mproc_unlink(name);
}
END_TEST

static Suite *rlock_suite(void)
{
    Suite *s = suite_create("rlock");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, recursion_counts);
    tcase_add_test(tc, other_threads_neither_own_nor_release_it);
    tcase_add_test(tc, other_processes_neither_own_nor_release_it);
    tcase_add_test(tc, a_killed_holder_at_depth_gives_eownerdead_at_depth_one);
    tcase_add_test(tc, mutual_exclusion_with_nesting_across_processes);
    tcase_add_test(tc, named_rlock);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(rlock_suite());
}
