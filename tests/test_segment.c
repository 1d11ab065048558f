/* The segment layer under every named and anonymous object: exclusive
 * create, open checks, close, unlink, permissions, foreign files. */
#include "helpers.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void write_shm_file(const char *name, const void *bytes, size_t len)
{
    char path[256];
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, bytes, len), (ssize_t)len);
    close(fd);
}

/* Count of /dev/shm entries whose name starts with prefix. */
static int count_shm(const char *prefix)
{
    DIR *d = opendir("/dev/shm");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

START_TEST(named_create_is_exclusive_and_keeps_the_original)
{
    const char *name = test_name("excl");
    mproc_sem_t *s, *again;
    ck_assert_int_eq(mproc_sem_create(&s, name, 7, 0), 0);
    ck_assert_int_eq(mproc_sem_create(&again, name, 1, 0), MPROC_EEXIST);
    ck_assert_int_eq(mproc_lock_create((mproc_lock_t **)&again, name), MPROC_EEXIST);
    ck_assert_int_eq(mproc_sem_open(&again, name), 0);
    ck_assert_int_eq(mproc_sem_value(again), 7);
    mproc_sem_close(again);
    mproc_sem_close(s);
    mproc_unlink(name);
}
END_TEST

START_TEST(no_build_files_are_left_behind)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, ".mproc-build-%d-", (int)getpid());
    const char *name = test_name("build");
    mproc_event_t *e, *e2;
    ck_assert_int_eq(mproc_event_create(&e, name), 0);
    ck_assert_int_eq(mproc_event_create(&e2, name), MPROC_EEXIST);
    ck_assert_int_eq(count_shm(prefix), 0);
    mproc_event_close(e);
    mproc_unlink(name);
}
END_TEST

START_TEST(open_checks_the_type)
{
    const char *name = test_name("type");
    mproc_lock_t *l;
    ck_assert_int_eq(mproc_lock_create(&l, name), 0);
    mproc_rlock_t *rl;
    mproc_cond_t *c;
    mproc_event_t *e;
    mproc_sem_t *s;
    mproc_barrier_t *b;
    ck_assert_int_eq(mproc_rlock_open(&rl, name), MPROC_ETYPE);
    ck_assert_int_eq(mproc_cond_open(&c, name), MPROC_ETYPE);
    ck_assert_int_eq(mproc_event_open(&e, name), MPROC_ETYPE);
    ck_assert_int_eq(mproc_sem_open(&s, name), MPROC_ETYPE);
    ck_assert_int_eq(mproc_barrier_open(&b, name), MPROC_ETYPE);
    mproc_lock_close(l);
    mproc_unlink(name);
}
END_TEST

START_TEST(foreign_files_are_etype_not_a_crash)
{
    const char *name = test_name("foreign");
    mproc_lock_t *l;
    /* empty, short, garbage of a plausible size */
    write_shm_file(name, "", 0);
    ck_assert_int_eq(mproc_lock_open(&l, name), MPROC_ETYPE);
    write_shm_file(name, "hello", 5);
    ck_assert_int_eq(mproc_lock_open(&l, name), MPROC_ETYPE);
    unsigned char junk[128];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)(i * 37 + 11);
    write_shm_file(name, junk, sizeof junk);
    ck_assert_int_eq(mproc_lock_open(&l, name), MPROC_ETYPE);
    mproc_unlink(name);
}
END_TEST

/* Copies a real segment with one header field changed: a segment of another
 * layout version, an unfinished one, or a truncated one is refused. */
static void reopen_altered(size_t offset, const void *bytes, size_t len, size_t truncate_to)
{
    const char *name = test_name("alter"), *copy = test_name("altered");
    mproc_lock_t *l;
    ck_assert_int_eq(mproc_lock_create(&l, name), 0);
    char path[256];
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    unsigned char image[4096];
    int fd = open(path, O_RDONLY);
    ssize_t n = read(fd, image, sizeof image);
    close(fd);
    ck_assert_int_gt(n, 64);
    memcpy(image + offset, bytes, len);
    write_shm_file(copy, image, truncate_to ? truncate_to : (size_t)n);
    mproc_lock_t *other;
    ck_assert_int_eq(mproc_lock_open(&other, copy), MPROC_ETYPE);
    /* the untouched original still opens */
    ck_assert_int_eq(mproc_lock_open(&other, name), 0);
    mproc_lock_close(other);
    mproc_lock_close(l);
    mproc_unlink(name);
    mproc_unlink(copy);
}

START_TEST(other_layouts_and_unfinished_segments_are_etype)
{
    uint32_t version = 999, zero = 0;
    reopen_altered(8, &version, sizeof version, 0); /* layout version */
    reopen_altered(36, &zero, sizeof zero, 0);      /* ready flag */
    reopen_altered(0, "NOTMPROC", 8, 0);            /* magic */
    reopen_altered(0, "MPROCSEG", 8, 80);           /* truncated payload */
}
END_TEST

START_TEST(open_of_a_missing_name_is_enoent)
{
    mproc_lock_t *l;
    ck_assert_int_eq(mproc_lock_open(&l, test_name("nothing")), MPROC_ENOENT);
}
END_TEST

START_TEST(close_refuses_what_it_did_not_map)
{
    mproc_lock_t in_place;
    ck_assert_int_eq(mproc_lock_init(&in_place), 0);
    ck_assert_int_eq(mproc_lock_close(&in_place), MPROC_EINVAL);
    ck_assert_int_eq(mproc_lock_close(NULL), MPROC_EINVAL);
    mproc_lock_t *l;
    ck_assert_int_eq(mproc_lock_create(&l, NULL), 0);
    ck_assert_int_eq(mproc_event_close((mproc_event_t *)l), MPROC_EINVAL); /* wrong type */
    ck_assert_int_eq(mproc_lock_close(l), 0);
    ck_assert_int_eq(mproc_lock_close(l), MPROC_EINVAL); /* twice */
}
END_TEST

static const char *child_name;

static int child_takes_named_lock(void *arg)
{
    (void)arg;
    mproc_lock_t *l;
    if (mproc_lock_open(&l, child_name) != 0)
        return 1;
    if (mproc_lock_acquire(l, 0) != 0)
        return 2;
    return 0; /* exits holding it */
}

START_TEST(a_named_object_outlives_close_and_unlink_while_mapped)
{
    child_name = test_name("outlive");
    mproc_lock_t *l;
    ck_assert_int_eq(mproc_lock_create(&l, child_name), 0);
    ck_assert_int_eq(wait_child(fork_child(child_takes_named_lock, NULL), 5), 0);
    mproc_lock_t *again;
    ck_assert_int_eq(mproc_lock_open(&again, child_name), 0);
    ck_assert_int_eq(mproc_unlink(child_name), 0);
    ck_assert_int_eq(mproc_lock_open(&l, child_name), MPROC_ENOENT);
    /* still mapped here, and the child's death is seen through it */
    ck_assert_int_eq(mproc_lock_acquire(again, 0), MPROC_EOWNERDEAD);
    ck_assert_int_eq(mproc_lock_release(again), 0);
    ck_assert_int_eq(mproc_lock_close(again), 0);
}
END_TEST

static int child_holds_anonymous_lock(void *arg)
{
    return mproc_lock_acquire(arg, 0) == 0 ? 0 : 1;
}

START_TEST(anonymous_objects_are_shared_with_forked_children)
{
    mproc_lock_t *l;
    ck_assert_int_eq(mproc_lock_create(&l, NULL), 0);
    ck_assert_int_eq(wait_child(fork_child(child_holds_anonymous_lock, l), 5), 0);
    ck_assert_int_eq(mproc_lock_acquire(l, 0), MPROC_EOWNERDEAD);
    ck_assert_int_eq(mproc_lock_release(l), 0);
    ck_assert_int_eq(mproc_lock_close(l), 0);
}
END_TEST

static int child_as_nobody_opens(void *arg)
{
    (void)arg;
    if (setgid(65534) != 0 || setuid(65534) != 0)
        return 3;
    mproc_lock_t *l;
    int r = mproc_lock_open(&l, child_name);
    if (r != MPROC_EACCES)
        return 1;
    return mproc_unlink(child_name) == MPROC_EACCES || mproc_unlink(child_name) == MPROC_EPERM ? 0 : 2;
}

START_TEST(other_users_cannot_open_a_0600_object)
{
    if (geteuid() != 0)
        return; /* needs root to become another user */
    child_name = test_name("perm");
    mproc_lock_t *l;
    ck_assert_int_eq(mproc_lock_create(&l, child_name), 0);
    ck_assert_int_eq(wait_child(fork_child(child_as_nobody_opens, NULL), 5), 0);
    mproc_lock_close(l);
    mproc_unlink(child_name);
}
END_TEST

START_TEST(create_validates_arguments)
{
    mproc_sem_t *s;
    mproc_barrier_t *b;
    ck_assert_int_eq(mproc_sem_create(&s, NULL, 5, 2), MPROC_EINVAL);
    ck_assert_int_eq(mproc_barrier_create(&b, NULL, 0), MPROC_EINVAL);
    ck_assert_int_eq(mproc_lock_create(NULL, NULL), MPROC_EINVAL);
    ck_assert_int_eq(mproc_lock_open(NULL, "x"), MPROC_EINVAL);
}
END_TEST

static Suite *segment_suite(void)
{
    Suite *s = suite_create("segment");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, named_create_is_exclusive_and_keeps_the_original);
    tcase_add_test(tc, no_build_files_are_left_behind);
    tcase_add_test(tc, open_checks_the_type);
    tcase_add_test(tc, foreign_files_are_etype_not_a_crash);
    tcase_add_test(tc, other_layouts_and_unfinished_segments_are_etype);
    tcase_add_test(tc, open_of_a_missing_name_is_enoent);
    tcase_add_test(tc, close_refuses_what_it_did_not_map);
    tcase_add_test(tc, a_named_object_outlives_close_and_unlink_while_mapped);
    tcase_add_test(tc, anonymous_objects_are_shared_with_forked_children);
    tcase_add_test(tc, other_users_cannot_open_a_0600_object);
    tcase_add_test(tc, create_validates_arguments);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(segment_suite());
}
