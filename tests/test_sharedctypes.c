/* Value and Array: typecodes, zero-initialisation, atomic add with and
 * without a lock, bounds, slices that never tear, named objects, and a lock
 * holder killed with SIGKILL. */
#include "helpers.h"

#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

static const char TYPECODES[] = "cbBhHiIlLqQfd";

START_TEST(every_typecode_starts_at_zero_and_round_trips)
{
    for (const char *t = TYPECODES; *t; t++) {
        for (int lock = 0; lock <= 1; lock++) {
            mproc_value_t *v;
            ck_assert_int_eq(mproc_value_create(&v, NULL, *t, lock), 0);
            size_t size = mproc_typesize(*t);
            unsigned char zero[8] = { 0 }, out[8], in[8];
            ck_assert_int_eq(mproc_value_get(v, out), 0);
            ck_assert_mem_eq(out, zero, size);
            memset(in, 0x5a, sizeof in);
            ck_assert_int_eq(mproc_value_set(v, in), 0);
            ck_assert_int_eq(mproc_value_get(v, out), 0);
            ck_assert_mem_eq(out, in, size);
            ck_assert_mem_eq(mproc_value_ptr(v), in, size);
            ck_assert(lock ? mproc_value_get_lock(v) != NULL : mproc_value_get_lock(v) == NULL);
            ck_assert_int_eq(mproc_value_close(v), 0);
        }
    }
}
END_TEST

START_TEST(raw_values_take_and_fill_unaligned_buffers)
{
    /* The caller's buffer need not be aligned: only the shared slot is
     * accessed atomically (UBSan's alignment check catches the contrary). */
    for (const char *t = TYPECODES; *t; t++) {
        mproc_value_t *v;
        mproc_array_t *a;
        ck_assert_int_eq(mproc_value_create(&v, NULL, *t, 0), 0);
        ck_assert_int_eq(mproc_array_create(&a, NULL, *t, 3, 0), 0);
        size_t size = mproc_typesize(*t);
        _Alignas(8) unsigned char in[16], out[16];
        for (size_t i = 0; i < sizeof in; i++)
            in[i] = (unsigned char)(i * 7 + 1);
        memset(out, 0, sizeof out);
        ck_assert_int_eq(mproc_value_set(v, in + 1), 0);
        ck_assert_int_eq(mproc_value_get(v, out + 3), 0);
        ck_assert_mem_eq(out + 3, in + 1, size);
        ck_assert_int_eq(mproc_array_set(a, 2, in + 5), 0);
        ck_assert_int_eq(mproc_array_get(a, 2, out + 1), 0);
        ck_assert_mem_eq(out + 1, in + 5, size);
        mproc_value_close(v);
        mproc_array_close(a);
    }
}
END_TEST

START_TEST(bad_parameters)
{
    mproc_value_t *v;
    mproc_array_t *a;
    ck_assert_int_eq(mproc_value_create(&v, NULL, 'x', 1), MPROC_EINVAL);
    ck_assert_int_eq(mproc_value_create(&v, NULL, 'i', 2), MPROC_EINVAL);
    ck_assert_int_eq(mproc_array_create(&a, NULL, 'i', 0, 1), MPROC_EINVAL);
    ck_assert_int_eq(mproc_array_create(&a, NULL, 'u', 4, 1), MPROC_EINVAL);
    ck_assert_int_eq(mproc_array_create(&a, NULL, 'd', SIZE_MAX / 4, 0), MPROC_ENOMEM);
    ck_assert_int_eq(mproc_value_create(&v, NULL, 'c', 0), 0);
    char one = 1;
    ck_assert_int_eq(mproc_value_add(v, &one, NULL), MPROC_EINVAL); /* a char is not a number */
    mproc_value_close(v);
}
END_TEST

START_TEST(add_returns_the_new_value_and_wraps_like_c)
{
    mproc_value_t *v;
    ck_assert_int_eq(mproc_value_create(&v, NULL, 'i', 1), 0);
    int d = 5, r = 0;
    ck_assert_int_eq(mproc_value_add(v, &d, &r), 0);
    ck_assert_int_eq(r, 5);
    d = -7;
    ck_assert_int_eq(mproc_value_add(v, &d, &r), 0);
    ck_assert_int_eq(r, -2);
    mproc_value_close(v);

    ck_assert_int_eq(mproc_value_create(&v, NULL, 'B', 0), 0);
    unsigned char b = 250, br;
    mproc_value_set(v, &b);
    b = 10;
    ck_assert_int_eq(mproc_value_add(v, &b, &br), 0);
    ck_assert_int_eq(br, 4); /* 260 mod 256 */
    mproc_value_close(v);

    for (int lock = 0; lock <= 1; lock++) {
        ck_assert_int_eq(mproc_value_create(&v, NULL, 'd', lock), 0);
        double x = 0.25, xr;
        ck_assert_int_eq(mproc_value_add(v, &x, &xr), 0);
        ck_assert_int_eq(mproc_value_add(v, &x, NULL), 0);
        ck_assert_int_eq(mproc_value_get(v, &xr), 0);
        ck_assert(xr == 0.5);
        mproc_value_close(v);
        ck_assert_int_eq(mproc_value_create(&v, NULL, 'f', lock), 0);
        float f = 1.5f, fr;
        ck_assert_int_eq(mproc_value_add(v, &f, &fr), 0);
        ck_assert(fr == 1.5f);
        mproc_value_close(v);
    }
}
END_TEST

#define ADDS 20000

static int add_many(void *arg)
{
    long one = 1;
    double half = 0.5;
    mproc_value_t **vs = arg;
    for (int i = 0; i < ADDS; i++)
        if (mproc_value_add(vs[0], &one, NULL) != 0 || mproc_value_add(vs[1], &one, NULL) != 0 ||
            mproc_value_add(vs[2], &half, NULL) != 0)
            return 1;
    return 0;
}

START_TEST(add_is_atomic_across_processes_with_and_without_a_lock)
{
    mproc_value_t *vs[3];
    ck_assert_int_eq(mproc_value_create(&vs[0], NULL, 'l', 1), 0);
    ck_assert_int_eq(mproc_value_create(&vs[1], NULL, 'l', 0), 0);
    ck_assert_int_eq(mproc_value_create(&vs[2], NULL, 'd', 0), 0);
    pid_t kids[3];
    for (int i = 0; i < 3; i++)
        kids[i] = fork_child(add_many, vs);
    ck_assert_int_eq(add_many(vs), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(wait_child(kids[i], 60), 0);
    long locked, raw;
    double floating;
    mproc_value_get(vs[0], &locked);
    mproc_value_get(vs[1], &raw);
    mproc_value_get(vs[2], &floating);
    ck_assert_int_eq(locked, 4L * ADDS);
    ck_assert_int_eq(raw, 4L * ADDS);
    ck_assert(floating == 2.0 * ADDS);
    for (int i = 0; i < 3; i++)
        mproc_value_close(vs[i]);
}
END_TEST

START_TEST(array_bounds_and_slices)
{
    mproc_array_t *a;
    ck_assert_int_eq(mproc_array_create(&a, NULL, 'q', 10, 1), 0);
    ck_assert_uint_eq(mproc_array_len(a), 10);
    ck_assert_int_eq(mproc_array_typecode(a), 'q');
    long long v = 0;
    for (size_t i = 0; i < 10; i++) {
        ck_assert_int_eq(mproc_array_get(a, i, &v), 0);
        ck_assert_int_eq(v, 0);
        v = (long long)i * 11;
        ck_assert_int_eq(mproc_array_set(a, i, &v), 0);
    }
    ck_assert_int_eq(mproc_array_get(a, 10, &v), MPROC_EINDEX);
    ck_assert_int_eq(mproc_array_set(a, 10, &v), MPROC_EINDEX);
    long long slice[4];
    ck_assert_int_eq(mproc_array_read(a, 3, 4, slice), 0);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(slice[i], (3 + i) * 11);
    long long fresh[3] = { -1, -2, -3 };
    ck_assert_int_eq(mproc_array_write(a, 7, 3, fresh), 0);
    ck_assert_int_eq(mproc_array_get(a, 9, &v), 0);
    ck_assert_int_eq(v, -3);
    /* ranges past the end, or wrapping around SIZE_MAX, change nothing */
    ck_assert_int_eq(mproc_array_write(a, 8, 3, fresh), MPROC_EINDEX);
    ck_assert_int_eq(mproc_array_read(a, 11, 0, slice), MPROC_EINDEX);
    ck_assert_int_eq(mproc_array_read(a, 2, SIZE_MAX, slice), MPROC_EINDEX);
    ck_assert_int_eq(mproc_array_write(a, SIZE_MAX, 2, fresh), MPROC_EINDEX);
    ck_assert_int_eq(mproc_array_read(a, 10, 0, slice), 0); /* empty, at the end */
    ck_assert_int_eq(mproc_array_get(a, 8, &v), 0);
    ck_assert_int_eq(v, -2);
    ck_assert_ptr_nonnull(mproc_array_get_lock(a));
    ck_assert_int_eq(((long long *)mproc_array_ptr(a))[1], 11);
    mproc_array_close(a);
}
END_TEST

#define SLICE 512
#define READS 3000

struct tearing {
    mproc_array_t *array;
    mproc_event_t stop;
};

/* Writes the whole array, all items k, for k = 1, 2, ... until told to stop. */
static int write_until_stopped(void *arg)
{
    struct tearing *t = arg;
    static int fill[SLICE];
    for (int k = 1; !mproc_event_is_set(&t->stop); k++) {
        for (int i = 0; i < SLICE; i++)
            fill[i] = k;
        if (mproc_array_write(t->array, 0, SLICE, fill) != 0)
            return 1;
    }
    return 0;
}

START_TEST(a_reader_never_sees_half_of_a_concurrent_write)
{
    struct tearing *t = shared_alloc(sizeof *t);
    ck_assert_int_eq(mproc_array_create(&t->array, NULL, 'i', SLICE, 1), 0);
    mproc_event_init(&t->stop);
    pid_t writer = fork_child(write_until_stopped, t);
    static int seen[SLICE];
    int last = 0;
    for (int r = 0; r < READS; r++) {
        ck_assert_int_eq(mproc_array_read(t->array, 0, SLICE, seen), 0);
        for (int i = 1; i < SLICE; i++)
            ck_assert_int_eq(seen[i], seen[0]);
        ck_assert_int_ge(seen[0], last);
        last = seen[0];
    }
    mproc_event_set(&t->stop);
    ck_assert_int_eq(wait_child(writer, 30), 0);
    mproc_array_close(t->array);
}
END_TEST

static int open_and_add(void *arg)
{
    mproc_value_t *v;
    if (mproc_value_open(&v, arg) != 0)
        return 1;
    int d = 40, r;
    if (mproc_value_add(v, &d, &r) != 0 || r != 42)
        return 2;
    return mproc_value_close(v);
}

START_TEST(named_values_and_arrays_check_their_type)
{
    const char *vname = test_name("value"), *aname = test_name("array");
    mproc_value_t *v;
    mproc_array_t *a;
    ck_assert_int_eq(mproc_value_create(&v, vname, 'i', 1), 0);
    int two = 2;
    mproc_value_set(v, &two);
    ck_assert_int_eq(wait_child(fork_child(open_and_add, (void *)vname), 5), 0);
    int got;
    mproc_value_get(v, &got);
    ck_assert_int_eq(got, 42);
    ck_assert_int_eq(mproc_array_create(&a, aname, 'd', 3, 0), 0);
    mproc_array_t *wrong_a;
    mproc_value_t *wrong_v;
    ck_assert_int_eq(mproc_array_open(&wrong_a, vname), MPROC_ETYPE);
    ck_assert_int_eq(mproc_value_open(&wrong_v, aname), MPROC_ETYPE);
    ck_assert_int_eq(mproc_array_open(&wrong_a, aname), 0);
    ck_assert_uint_eq(mproc_array_len(wrong_a), 3);
    ck_assert_ptr_null(mproc_array_get_lock(wrong_a));
    mproc_array_close(wrong_a);
    ck_assert_int_eq(mproc_value_create(&v, vname, 'i', 1), MPROC_EEXIST);
    mproc_value_close(v);
    mproc_array_close(a);
    mproc_unlink(vname);
    mproc_unlink(aname);
}
END_TEST

struct victim {
    mproc_value_t *value;
    mproc_array_t *array;
    mproc_sem_t ready;
};

static int die_holding_the_locks(void *arg)
{
    struct victim *w = arg;
    if (mproc_rlock_acquire(mproc_value_get_lock(w->value), 0) != 0 ||
        mproc_rlock_acquire(mproc_array_get_lock(w->array), 0) != 0)
        return 1;
    *(int *)mproc_value_ptr(w->value) = 7; /* mid-update */
    mproc_sem_release(&w->ready, 1);
    for (;;)
        pause();
    return 0;
}

START_TEST(a_holder_killed_with_the_lock_leaves_the_data_readable)
{
    struct victim *w = shared_alloc(sizeof *w);
    ck_assert_int_eq(mproc_value_create(&w->value, NULL, 'i', 1), 0);
    ck_assert_int_eq(mproc_array_create(&w->array, NULL, 'i', 4, 1), 0);
    mproc_sem_init(&w->ready, 0, 0);
    pid_t kid = fork_child(die_holding_the_locks, w);
    ck_assert_int_eq(mproc_sem_acquire(&w->ready, 5), 0);
    kill_child(kid);
    int got = 0;
    ck_assert_int_eq(mproc_value_get(w->value, &got), MPROC_EOWNERDEAD);
    ck_assert_int_eq(got, 7);
    ck_assert_int_eq(mproc_value_get(w->value, &got), 0); /* and normal again */
    int d = 1;
    ck_assert_int_eq(mproc_value_add(w->value, &d, &got), 0);
    ck_assert_int_eq(got, 8);
    int slice[4];
    ck_assert_int_eq(mproc_array_read(w->array, 0, 4, slice), MPROC_EOWNERDEAD);
    ck_assert_int_eq(mproc_array_read(w->array, 0, 4, slice), 0);
}
END_TEST

static Suite *sharedctypes_suite(void)
{
    Suite *s = suite_create("sharedctypes");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, every_typecode_starts_at_zero_and_round_trips);
    tcase_add_test(tc, bad_parameters);
    tcase_add_test(tc, raw_values_take_and_fill_unaligned_buffers);
    tcase_add_test(tc, add_returns_the_new_value_and_wraps_like_c);
    tcase_add_test(tc, add_is_atomic_across_processes_with_and_without_a_lock);
    tcase_add_test(tc, array_bounds_and_slices);
    tcase_add_test(tc, a_reader_never_sees_half_of_a_concurrent_write);
    tcase_add_test(tc, named_values_and_arrays_check_their_type);
    tcase_add_test(tc, a_holder_killed_with_the_lock_leaves_the_data_readable);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(sharedctypes_suite());
}
