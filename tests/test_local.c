/* Thread-local data: one block per thread, made on first use, destroyed at
 * thread exit or by mproc_local_destroy. */
#include "helpers.h"

#include <pthread.h>
#include <string.h>

struct data {
    int initialised;
    int was_zero;
    pthread_t owner;
};

static int inits, destroys;
static pthread_mutex_t counts = PTHREAD_MUTEX_INITIALIZER;

static void init_data(void *p)
{
    struct data *d = p;
    d->was_zero = d->initialised == 0 && d->owner == 0;
    d->initialised = 1;
    d->owner = pthread_self();
    pthread_mutex_lock(&counts);
    inits++;
    pthread_mutex_unlock(&counts);
}

static void destroy_data(void *p)
{
    struct data *d = p;
    ck_assert(d->initialised);
    pthread_mutex_lock(&counts);
    destroys++;
    pthread_mutex_unlock(&counts);
}

static mproc_local_t local;

static void *use_local(void *arg)
{
    (void)arg;
    struct data *d = mproc_local_get(&local);
    if (d == NULL || !d->was_zero || !pthread_equal(d->owner, pthread_self()))
        return (void *)1;
    if (mproc_local_get(&local) != d) /* the same block on every call */
        return (void *)2;
    return NULL;
}

START_TEST(each_thread_gets_its_own_initialised_block)
{
    inits = destroys = 0;
    ck_assert_int_eq(mproc_local_init(&local, sizeof(struct data), init_data, destroy_data), 0);
    struct data *mine = mproc_local_get(&local);
    ck_assert_ptr_nonnull(mine);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, use_local, NULL), 0);
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        ck_assert_ptr_null(r);
    }
    /* four threads came and went: four blocks made, four destroyed */
    ck_assert_int_eq(inits, 5);
    ck_assert_int_eq(destroys, 4);
    ck_assert_ptr_eq(mproc_local_get(&local), mine);
    ck_assert(pthread_equal(mine->owner, pthread_self()));
    ck_assert_int_eq(mproc_local_destroy(&local), 0);
    ck_assert_int_eq(destroys, 5); /* the remaining block, this thread's */
}
END_TEST

static pthread_barrier_t parked;

static void *park_with_block(void *arg)
{
    (void)arg;
    mproc_local_get(&local);
    pthread_barrier_wait(&parked); /* has its block */
    pthread_barrier_wait(&parked); /* local destroyed meanwhile */
    return NULL;
}

START_TEST(destroy_frees_the_blocks_of_live_threads)
{
    inits = destroys = 0;
    ck_assert_int_eq(mproc_local_init(&local, 64, init_data, destroy_data), 0);
    pthread_barrier_init(&parked, NULL, 3);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, park_with_block, NULL);
    pthread_barrier_wait(&parked);
    ck_assert_int_eq(mproc_local_destroy(&local), 0);
    ck_assert_int_eq(destroys, 2);
    pthread_barrier_wait(&parked);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_eq(destroys, 2); /* not destroyed again at thread exit */
}
END_TEST

START_TEST(without_callbacks_blocks_are_zeroed)
{
    mproc_local_t l;
    ck_assert_int_eq(mproc_local_init(&l, 0, NULL, NULL), MPROC_EINVAL);
    ck_assert_int_eq(mproc_local_init(NULL, 8, NULL, NULL), MPROC_EINVAL);
    ck_assert_int_eq(mproc_local_init(&l, 1000, NULL, NULL), 0);
    unsigned char *p = mproc_local_get(&l);
    ck_assert_ptr_nonnull(p);
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(p[i], 0);
    memset(p, 7, 1000);
    ck_assert_ptr_eq(mproc_local_get(&l), p);
    ck_assert_int_eq(mproc_local_destroy(&l), 0);
}
END_TEST

static int child_sees_copy(void *arg)
{
    int *p = mproc_local_get(arg);
    return p != NULL && *p == 42 ? 0 : 1;
}

START_TEST(a_forked_child_has_a_copy_of_the_forking_threads_block)
{
    mproc_local_t l;
    ck_assert_int_eq(mproc_local_init(&l, sizeof(int), NULL, NULL), 0);
    *(int *)mproc_local_get(&l) = 42;
    ck_assert_int_eq(wait_child(fork_child(child_sees_copy, &l), 5), 0);
    mproc_local_destroy(&l);
}
END_TEST

static Suite *local_suite(void)
{
    Suite *s = suite_create("local");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, each_thread_gets_its_own_initialised_block);
    tcase_add_test(tc, destroy_frees_the_blocks_of_live_threads);
    tcase_add_test(tc, without_callbacks_blocks_are_zeroed);
    tcase_add_test(tc, a_forked_child_has_a_copy_of_the_forking_threads_block);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(local_suite());
}
