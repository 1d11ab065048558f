/* Errors, version, typecodes, names, unlink and chmod. */
#include "helpers.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

START_TEST(every_code_has_its_own_message)
{
    static const int codes[] = {
#define CODE(name, value, message) MPROC_##name,
        MPROC_ERROR_MAP(CODE)
#undef CODE
    };
    size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_lt(codes[i], 0);
        const char *msg = mproc_strerror(codes[i]);
        ck_assert_ptr_nonnull(msg);
        ck_assert_str_ne(msg, "unknown error");
        for (size_t j = 0; j < i; j++) {
            ck_assert_int_ne(codes[i], codes[j]);
            ck_assert_str_ne(msg, mproc_strerror(codes[j]));
        }
    }
    ck_assert_int_eq(MPROC_ETIMEDOUT, -ETIMEDOUT);
    ck_assert_int_eq(MPROC_EOWNERDEAD, -EOWNERDEAD);
    /* the library's own codes are outside the errno range */
    ck_assert_int_lt(MPROC_EEMPTY, -4095);
    ck_assert_int_lt(MPROC_EINDEX, -4095);
}
END_TEST

START_TEST(unknown_codes_are_named_unknown)
{
    ck_assert_str_eq(mproc_strerror(1), "unknown error");
    ck_assert_str_eq(mproc_strerror(-99999), "unknown error");
    ck_assert_str_eq(mproc_strerror(MPROC_ETIMEDOUT), "timed out");
    /* another errno passed up from the system is described, not "unknown" */
    ck_assert_str_ne(mproc_strerror(-ENOSPC), "unknown error");
}
END_TEST

START_TEST(version_string_matches_macros)
{
    char expect[32];
    snprintf(expect, sizeof expect, "%d.%d.%d", MPROC_VERSION_MAJOR, MPROC_VERSION_MINOR,
             MPROC_VERSION_PATCH);
    ck_assert_str_eq(mproc_version_string(), expect);
}
END_TEST

START_TEST(typesize_follows_python_typecodes)
{
    ck_assert_uint_eq(mproc_typesize('c'), 1);
    ck_assert_uint_eq(mproc_typesize('b'), 1);
    ck_assert_uint_eq(mproc_typesize('B'), 1);
    ck_assert_uint_eq(mproc_typesize('h'), 2);
    ck_assert_uint_eq(mproc_typesize('H'), 2);
    ck_assert_uint_eq(mproc_typesize('i'), 4);
    ck_assert_uint_eq(mproc_typesize('I'), 4);
    ck_assert_uint_eq(mproc_typesize('l'), sizeof(long));
    ck_assert_uint_eq(mproc_typesize('L'), sizeof(long));
    ck_assert_uint_eq(mproc_typesize('q'), 8);
    ck_assert_uint_eq(mproc_typesize('Q'), 8);
    ck_assert_uint_eq(mproc_typesize('f'), 4);
    ck_assert_uint_eq(mproc_typesize('d'), 8);
    ck_assert_uint_eq(mproc_typesize('x'), 0);
    ck_assert_uint_eq(mproc_typesize('u'), 0);
    ck_assert_uint_eq(mproc_typesize(0), 0);
}
END_TEST

START_TEST(bad_names_are_einval_and_create_nothing)
{
    char longest[202], too_long[203];
    memset(longest, 'a', 200);
    longest[200] = 0;
    memset(too_long, 'b', 201);
    too_long[201] = 0;
    const char *bad[] = { "", "/", "a/b", "/a/b", "//a", ".", "..", "/..", too_long };
    mproc_lock_t *l;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(mproc_lock_create(&l, bad[i]), MPROC_EINVAL);
        ck_assert_int_eq(mproc_lock_open(&l, bad[i]), MPROC_EINVAL);
        ck_assert_int_eq(mproc_unlink(bad[i]), MPROC_EINVAL);
        ck_assert_int_eq(mproc_chmod(bad[i], 0600), MPROC_EINVAL);
    }
    ck_assert_int_eq(mproc_unlink(NULL), MPROC_EINVAL);
    /* 200 bytes is allowed, with or without the slash */
    ck_assert_int_eq(mproc_lock_create(&l, longest), 0);
    ck_assert_int_eq(mproc_lock_close(l), 0);
    char slashed[203] = "/";
    strcat(slashed, longest);
    ck_assert_int_eq(mproc_unlink(slashed), 0);
}
END_TEST

START_TEST(slash_and_no_slash_name_the_same_object)
{
    const char *name = test_name("slash");
    char slashed[128];
    snprintf(slashed, sizeof slashed, "/%s", name);
    mproc_event_t *a, *b;
    ck_assert_int_eq(mproc_event_create(&a, slashed), 0);
    ck_assert_int_eq(mproc_event_open(&b, name), 0);
    mproc_event_set(a);
    ck_assert_int_eq(mproc_event_is_set(b), 1);
    ck_assert_int_eq(mproc_event_create(&b, name), MPROC_EEXIST);
    mproc_event_close(a);
    mproc_event_close(b);
    ck_assert_int_eq(mproc_unlink(name), 0);
    ck_assert_int_eq(mproc_unlink(slashed), MPROC_ENOENT);
}
END_TEST

START_TEST(unlink_and_chmod_report_missing_names)
{
    const char *name = test_name("missing");
    ck_assert_int_eq(mproc_unlink(name), MPROC_ENOENT);
    ck_assert_int_eq(mproc_chmod(name, 0600), MPROC_ENOENT);
}
END_TEST

START_TEST(chmod_sets_permission_bits_only)
{
    const char *name = test_name("chmod");
    mproc_sem_t *s;
    ck_assert_int_eq(mproc_sem_create(&s, name, 1, 0), 0);
    char path[256];
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    ck_assert_int_eq(mproc_chmod(name, 0660), 0);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0660);
    ck_assert_int_eq(mproc_chmod(name, 04755), MPROC_EINVAL);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0660);
    mproc_sem_close(s);
    mproc_unlink(name);
}
END_TEST

START_TEST(nan_timeouts_are_einval)
{
    mproc_lock_t l;
    mproc_sem_t s;
    mproc_event_t e;
    ck_assert_int_eq(mproc_lock_init(&l), 0);
    ck_assert_int_eq(mproc_sem_init(&s, 0, 0), 0);
    ck_assert_int_eq(mproc_event_init(&e), 0);
    ck_assert_int_eq(mproc_lock_acquire(&l, NAN), MPROC_EINVAL);
    ck_assert_int_eq(mproc_lock_locked(&l), 0);
    ck_assert_int_eq(mproc_sem_acquire(&s, NAN), MPROC_EINVAL);
    ck_assert_int_eq(mproc_event_wait(&e, NAN), MPROC_EINVAL);
    /* an infinite timeout is "forever", and a huge one is not an overflow */
    ck_assert_int_eq(mproc_lock_acquire(&l, INFINITY), 0);
    ck_assert_int_eq(mproc_lock_release(&l), 0);
    ck_assert_int_eq(mproc_lock_acquire(&l, 1e300), 0);
    ck_assert_int_eq(mproc_lock_release(&l), 0);
}
END_TEST

static Suite *common_suite(void)
{
    Suite *s = suite_create("common");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, every_code_has_its_own_message);
    tcase_add_test(tc, unknown_codes_are_named_unknown);
    tcase_add_test(tc, version_string_matches_macros);
    tcase_add_test(tc, typesize_follows_python_typecodes);
    tcase_add_test(tc, bad_names_are_einval_and_create_nothing);
    tcase_add_test(tc, slash_and_no_slash_name_the_same_object);
    tcase_add_test(tc, unlink_and_chmod_report_missing_names);
    tcase_add_test(tc, chmod_sets_permission_bits_only);
    tcase_add_test(tc, nan_timeouts_are_einval);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(common_suite());
}
