/* The `mproc` command (ls, info, rm, gc), run against objects made here. */
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char output[65536];

/* Runs `mproc ARGS`; its exit status, its stdout (and stderr) in output. */
static int tool(const char *args)
{
    const char *path = getenv("MPROC_TOOL");
    char command[1024];
    snprintf(command, sizeof command, "%s %s 2>&1", path ? path : "tools/mproc", args);
    FILE *p = popen(command, "r");
    ck_assert_ptr_nonnull(p);
    size_t n = fread(output, 1, sizeof output - 1, p);
    output[n] = 0;
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The line of output that begins with `start`, or NULL. */
static const char *line_of(const char *start)
{
    for (const char *l = output; l != NULL && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (strncmp(l, start, strlen(start)) == 0)
            return l;
    return NULL;
}

START_TEST(ls_lists_objects_and_blocks_with_their_facts)
{
    const char *lock_name = test_name("toollock");
    char block_name[96];
    snprintf(block_name, sizeof block_name, "%s", test_name("toolblock"));
    mproc_lock_t *l;
    mproc_shm_t *m;
    ck_assert_int_eq(mproc_lock_create(&l, lock_name), 0);
    ck_assert_int_eq(mproc_shm_create(&m, block_name, 5000), 0);
    ck_assert_int_eq(tool("ls"), 0);
    const char *row = line_of(lock_name);
    ck_assert_ptr_nonnull(row);
    char expect[256];
    snprintf(expect, sizeof expect, "%-32s %-8s %12d %8d  yes", lock_name, "lock", 64, (int)getpid());
    ck_assert_int_eq(strncmp(row, expect, strlen(expect)), 0);
    row = line_of(block_name);
    ck_assert_ptr_nonnull(row);
    snprintf(expect, sizeof expect, "%-32s %-8s %12d %8s  yes", block_name, "block", 5000, "-");
    ck_assert_int_eq(strncmp(row, expect, strlen(expect)), 0);

    ck_assert_int_eq(tool("ls --json"), 0);
    snprintf(expect, sizeof expect,
             "{\"name\": \"%s\", \"type\": \"lock\", \"size\": 64, \"creator_pid\": %d, \"in_use\": true}",
             lock_name, (int)getpid());
    ck_assert_ptr_nonnull(strstr(output, expect));
    ck_assert_int_eq(output[0], '[');
    mproc_lock_close(l);
    mproc_shm_close(m);
    mproc_unlink(lock_name);
    mproc_unlink(block_name);
}
END_TEST

START_TEST(info_shows_type_specific_state)
{
    const char *lock_name = test_name("infolock"), *queue_name = test_name("infoqueue");
    const char *value_name = test_name("infovalue");
    mproc_lock_t *l;
    mproc_queue_t *q;
    mproc_value_t *v;
    mproc_queue_opts_t o = { .maxsize = 9, .order = MPROC_LIFO };
    ck_assert_int_eq(mproc_lock_create(&l, lock_name), 0);
    ck_assert_int_eq(mproc_queue_create(&q, queue_name, &o), 0);
    ck_assert_int_eq(mproc_value_create(&v, value_name, 'd', 1), 0);
    mproc_lock_acquire(l, 0);
    mproc_queue_put(q, "a", 1, 0);
    mproc_queue_put(q, "bc", 2, 0);
    double x = 2.5;
    mproc_value_set(v, &x);
    char args[256], expect[64];

    snprintf(args, sizeof args, "info %s", lock_name);
    ck_assert_int_eq(tool(args), 0);
    snprintf(expect, sizeof expect, "holder       %d\n", (int)getpid()); /* the holder's thread id */
    ck_assert_ptr_nonnull(strstr(output, expect));
    mproc_lock_release(l);
    ck_assert_int_eq(tool(args), 0);
    ck_assert_ptr_nonnull(strstr(output, "holder       none\n"));

    snprintf(args, sizeof args, "info --json /%s", queue_name);
    ck_assert_int_eq(tool(args), 0);
    ck_assert_ptr_nonnull(strstr(output, "\"type\": \"queue\""));
    ck_assert_ptr_nonnull(strstr(output, "\"order\": \"lifo\", \"items\": 2, \"maxsize\": 9, \"bytes_used\": 80"));
    ck_assert_ptr_nonnull(strstr(output, "\"unfinished\": 2}"));

    /* bytes_used counts the queued records, not the hole a PRIORITY get
     * leaves in the middle of the ring (80, not 120) */
    const char *prio_name = test_name("infoprio");
    mproc_queue_t *pq;
    mproc_queue_opts_t po = { .order = MPROC_PRIORITY };
    ck_assert_int_eq(mproc_queue_create(&pq, prio_name, &po), 0);
    ck_assert_int_eq(mproc_queue_put_prio(pq, "x", 1, 1, 0), 0);
    ck_assert_int_eq(mproc_queue_put_prio(pq, "y", 1, 0, 0), 0);
    ck_assert_int_eq(mproc_queue_put_prio(pq, "z", 1, 1, 0), 0);
    char got[8];
    size_t n;
    ck_assert_int_eq(mproc_queue_get(pq, got, sizeof got, &n, 0), 0);
    ck_assert_int_eq(got[0], 'y');
    snprintf(args, sizeof args, "info --json /%s", prio_name);
    ck_assert_int_eq(tool(args), 0);
    ck_assert_ptr_nonnull(strstr(output, "\"items\": 2, \"maxsize\": 0, \"bytes_used\": 80"));
    mproc_queue_close(pq);
    mproc_unlink(prio_name);

    snprintf(args, sizeof args, "info %s", value_name);
    ck_assert_int_eq(tool(args), 0);
    ck_assert_ptr_nonnull(strstr(output, "typecode     d\n"));
    ck_assert_ptr_nonnull(strstr(output, "value        2.5\n"));

    ck_assert_int_eq(tool("info no-such-object-here"), 1);
    ck_assert_ptr_nonnull(strstr(output, "no such name"));
    ck_assert_int_eq(tool("info a/b"), 1);
    mproc_lock_close(l);
    mproc_queue_close(q);
    mproc_value_close(v);
    mproc_unlink(lock_name);
    mproc_unlink(queue_name);
    mproc_unlink(value_name);
}
END_TEST

START_TEST(rm_removes_names_and_reports_missing_ones)
{
    const char *a = test_name("rma");
    char b[96];
    snprintf(b, sizeof b, "%s", test_name("rmb"));
    mproc_event_t *e;
    ck_assert_int_eq(mproc_event_create(&e, a), 0);
    mproc_event_close(e);
    ck_assert_int_eq(mproc_event_create(&e, b), 0);
    mproc_event_close(e);
    char args[256];
    snprintf(args, sizeof args, "rm %s %s", a, b);
    ck_assert_int_eq(tool(args), 0);
    ck_assert_int_eq(mproc_event_open(&e, a), MPROC_ENOENT);
    ck_assert_int_eq(mproc_event_open(&e, b), MPROC_ENOENT);
    ck_assert_int_eq(tool(args), 1);
    ck_assert_ptr_nonnull(strstr(output, "no such name"));
}
END_TEST

static const char *orphan_name;

static int make_orphan(void *arg)
{
    (void)arg;
    mproc_sem_t *s;
    return mproc_sem_create(&s, orphan_name, 1, 0) == 0 ? 0 : 1; /* exits without closing */
}

START_TEST(gc_removes_only_what_nobody_uses)
{
    char orphan[96], kept[96], block[96];
    snprintf(orphan, sizeof orphan, "%s", test_name("orphan"));
    snprintf(kept, sizeof kept, "%s", test_name("kept"));
    snprintf(block, sizeof block, "%s", test_name("gcblock"));
    orphan_name = orphan;
    ck_assert_int_eq(wait_child(fork_child(make_orphan, NULL), 5), 0);
    mproc_sem_t *s;
    mproc_shm_t *m;
    ck_assert_int_eq(mproc_sem_create(&s, kept, 0, 0), 0);
    ck_assert_int_eq(mproc_shm_create(&m, block, 100), 0);
    mproc_shm_close(m); /* a raw block nobody maps */

    /* Real collections name their objects: tests running alongside this one
     * have blocks of their own that are briefly mapped by nobody. */
    char only[400], args[512];
    snprintf(only, sizeof only, "%s %s %s", orphan, kept, block);
    ck_assert_int_eq(tool("gc --dry-run"), 0);
    char expect[160];
    snprintf(expect, sizeof expect, "would remove %s (sem)", orphan);
    ck_assert_ptr_nonnull(strstr(output, expect));
    ck_assert_int_eq(mproc_sem_open(&s, orphan), 0); /* a dry run removes nothing */
    mproc_sem_close(s);

    snprintf(args, sizeof args, "gc %s", only);
    ck_assert_int_eq(tool(args), 0);
    ck_assert_int_eq(mproc_sem_open(&s, orphan), MPROC_ENOENT);
    ck_assert_ptr_null(strstr(output, kept));
    ck_assert_int_eq(mproc_shm_open(&m, block), 0); /* blocks only with --blocks */
    mproc_shm_close(m);
    snprintf(args, sizeof args, "gc --blocks %s", only);
    ck_assert_int_eq(tool(args), 0);
    ck_assert_int_eq(mproc_shm_open(&m, block), MPROC_ENOENT);
    ck_assert_int_eq(mproc_sem_open(&s, kept), 0); /* mapped here: kept */
    mproc_sem_close(s);
    mproc_unlink(kept);
}
END_TEST

START_TEST(usage_errors_and_help)
{
    ck_assert_int_eq(tool(""), 2);
    ck_assert_int_eq(tool("frobnicate"), 2);
    ck_assert_int_eq(tool("ls --bogus"), 2);
    ck_assert_int_eq(tool("info"), 2);
    ck_assert_int_eq(tool("--help"), 0);
    ck_assert_ptr_nonnull(strstr(output, "usage: mproc ls"));
}
END_TEST

static Suite *tool_suite(void)
{
    Suite *s = suite_create("tool");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, ls_lists_objects_and_blocks_with_their_facts);
    tcase_add_test(tc, info_shows_type_specific_state);
    tcase_add_test(tc, rm_removes_names_and_reports_missing_ones);
    tcase_add_test(tc, gc_removes_only_what_nobody_uses);
    tcase_add_test(tc, usage_errors_and_help);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(tool_suite());
}
