/* Shared-memory blocks: create/open/close, names, sizes, and real interop
 * with Python's multiprocessing.shared_memory in both directions. */
#include "helpers.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

START_TEST(create_is_exclusive_zero_filled_and_named)
{
    const char *name = test_name("shm");
    mproc_shm_t *m, *again;
    ck_assert_int_eq(mproc_shm_create(&m, name, 10000), 0);
    ck_assert_uint_eq(mproc_shm_size(m), 10000);
    ck_assert_str_eq(mproc_shm_name(m), name);
    unsigned char *p = mproc_shm_buf(m);
    for (int i = 0; i < 10000; i++)
        ck_assert_int_eq(p[i], 0);
    memcpy(p, "hello", 5);
    ck_assert_int_eq(mproc_shm_create(&again, name, 10), MPROC_EEXIST);
    char slashed[128];
    snprintf(slashed, sizeof slashed, "/%s", name);
    ck_assert_int_eq(mproc_shm_open(&again, slashed), 0);
    ck_assert_uint_eq(mproc_shm_size(again), 10000);
    ck_assert_str_eq(mproc_shm_name(again), name);
    ck_assert_mem_eq(mproc_shm_buf(again), "hello", 5);
    ck_assert_int_eq(mproc_shm_close(again), 0);
    ck_assert_int_eq(mproc_shm_close(m), 0);
    /* closing unlinks nothing: the bytes are still there */
    ck_assert_int_eq(mproc_shm_open(&m, name), 0);
    ck_assert_mem_eq(mproc_shm_buf(m), "hello", 5);
    mproc_shm_close(m);
    ck_assert_int_eq(mproc_unlink(name), 0);
    ck_assert_int_eq(mproc_shm_open(&m, name), MPROC_ENOENT);
}
END_TEST

START_TEST(generated_names_are_short_and_unique)
{
    mproc_shm_t *a, *b;
    ck_assert_int_eq(mproc_shm_create(&a, NULL, 1), 0);
    ck_assert_int_eq(mproc_shm_create(&b, NULL, 1), 0);
    ck_assert_str_ne(mproc_shm_name(a), mproc_shm_name(b));
    ck_assert_uint_lt(strlen(mproc_shm_name(a)), 14); /* Python's portable limit */
    ck_assert_int_eq(strncmp(mproc_shm_name(a), "psm_", 4), 0);
    mproc_unlink(mproc_shm_name(a));
    mproc_unlink(mproc_shm_name(b));
    mproc_shm_close(a);
    mproc_shm_close(b);
}
END_TEST

static int shm_files_named(const char *name)
{
    char path[256];
    struct stat st;
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    return stat(path, &st) == 0;
}

START_TEST(bad_sizes_and_names_leave_nothing_behind)
{
    const char *name = test_name("shmbad");
    mproc_shm_t *m;
    ck_assert_int_eq(mproc_shm_create(&m, name, 0), MPROC_EINVAL);
    ck_assert_int_eq(shm_files_named(name), 0);
    ck_assert_int_eq(mproc_shm_create(&m, name, (size_t)1 << 62), MPROC_ENOMEM);
    ck_assert_int_eq(shm_files_named(name), 0);
    ck_assert_int_eq(mproc_shm_create(&m, name, SIZE_MAX), MPROC_ENOMEM);
    ck_assert_int_eq(shm_files_named(name), 0);
    ck_assert_int_eq(mproc_shm_create(&m, "a/b", 10), MPROC_EINVAL);
    ck_assert_int_eq(mproc_shm_create(&m, "", 10), MPROC_EINVAL);
    ck_assert_int_eq(mproc_shm_open(&m, "/"), MPROC_EINVAL);
    ck_assert_int_eq(mproc_shm_close(NULL), MPROC_EINVAL);
    /* an empty file cannot be mapped */
    char path[256];
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    fclose(fopen(path, "w"));
    ck_assert_int_eq(mproc_shm_open(&m, name), MPROC_EINVAL);
    mproc_unlink(name);
}
END_TEST

static int child_writes(void *arg)
{
    mproc_shm_t *m;
    if (mproc_shm_open(&m, arg) != 0)
        return 1;
    strcpy(mproc_shm_buf(m), "from the child");
    return mproc_shm_close(m);
}

START_TEST(another_process_sees_the_same_bytes)
{
    const char *name = test_name("shmproc");
    mproc_shm_t *m;
    ck_assert_int_eq(mproc_shm_create(&m, name, 64), 0);
    ck_assert_int_eq(wait_child(fork_child(child_writes, (void *)name), 5), 0);
    ck_assert_str_eq(mproc_shm_buf(m), "from the child");
    mproc_shm_close(m);
    mproc_unlink(name);
}
END_TEST

/* ---- interop with Python ---- */

/* Runs python3 with a script and arguments; its exit status. */
static int run_python(const char *script, const char *arg)
{
    char path[] = "/tmp/mproc-test-py-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs(script, f);
    fclose(f);
    char command[512];
    snprintf(command, sizeof command, "python3 %s %s", path, arg);
    int status = system(command);
    unlink(path);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Python opens a block made here, checks it, answers in it. */
static const char *python_reads =
    "import sys\n"
    "from multiprocessing import shared_memory, resource_tracker\n"
    "shm = shared_memory.SharedMemory(name=sys.argv[1])\n"
    "resource_tracker.unregister(shm._name, 'shared_memory')  # not ours to unlink\n"
    "assert shm.size >= 4096, shm.size\n"
    "assert bytes(shm.buf[:12]) == b'made in C!!!', bytes(shm.buf[:12])\n"
    "assert all(shm.buf[i] == i % 251 for i in range(100, 4096))\n"
    "shm.buf[12:27] = b'python was here'\n"
    "shm.close()\n";

START_TEST(python_opens_a_block_made_in_c)
{
    const char *name = test_name("topy");
    mproc_shm_t *m;
    ck_assert_int_eq(mproc_shm_create(&m, name, 4096), 0);
    unsigned char *p = mproc_shm_buf(m);
    memcpy(p, "made in C!!!", 12);
    for (int i = 100; i < 4096; i++)
        p[i] = (unsigned char)(i % 251);
    ck_assert_int_eq(run_python(python_reads, mproc_shm_name(m)), 0);
    ck_assert_mem_eq(p + 12, "python was here", 15);
    mproc_shm_close(m);
    ck_assert_int_eq(mproc_unlink(name), 0); /* still there: Python did not unlink it */
}
END_TEST

/* Python makes a block, fills it, and leaves it for C. */
static const char *python_makes =
    "import sys\n"
    "from multiprocessing import shared_memory, resource_tracker\n"
    "shm = shared_memory.SharedMemory(name=sys.argv[1], create=True, size=1000)\n"
    "resource_tracker.unregister(shm._name, 'shared_memory')  # C unlinks it\n"
    "shm.buf[:1000] = bytes((i * 7) % 256 for i in range(1000))\n"
    "shm.close()\n";

START_TEST(c_opens_a_block_made_by_python)
{
    const char *name = test_name("frompy");
    ck_assert_int_eq(run_python(python_makes, name), 0);
    mproc_shm_t *m;
    ck_assert_int_eq(mproc_shm_open(&m, name), 0);
    ck_assert_uint_ge(mproc_shm_size(m), 1000);
    unsigned char *p = mproc_shm_buf(m);
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(p[i], (i * 7) % 256);
    /* an mproc object opener refuses it: a raw block has no header */
    mproc_lock_t *l;
    ck_assert_int_eq(mproc_lock_open(&l, name), MPROC_ETYPE);
    mproc_shm_close(m);
    ck_assert_int_eq(mproc_unlink(name), 0);
}
END_TEST

static Suite *shm_suite(void)
{
    Suite *s = suite_create("shm");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, create_is_exclusive_zero_filled_and_named);
    tcase_add_test(tc, generated_names_are_short_and_unique);
    tcase_add_test(tc, bad_sizes_and_names_leave_nothing_behind);
    tcase_add_test(tc, another_process_sees_the_same_bytes);
    TCase *py = tcase_create("python");
    tcase_set_timeout(py, 60);
    tcase_add_test(py, python_opens_a_block_made_in_c);
    tcase_add_test(py, c_opens_a_block_made_by_python);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, py);
    return s;
}

int main(void)
{
    return run_suite(shm_suite());
}
