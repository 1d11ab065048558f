/* Blocks owned by a Manager (mproc_manager_shm, Python's
 * SharedMemoryManager): zero-filled, usable from forked children, and gone
 * from /dev/shm on every way its server stops: shutdown, its starter's
 * death (SIGKILL too), the daemon's SIGTERM or shutdown request; `mproc gc`
 * for a server killed with SIGKILL. */
#include "config.h"
#include "daemon.h"
#include "helpers.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef HAVE_HIREDIS
#include "redis_helpers.h"
#endif

#define BLOCK_PREFIX "mproc_mgr_"

/* Whether the block name exists in /dev/shm. */
static int block_exists(const char *name)
{
    char path[300];
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    return access(path, F_OK) == 0;
}

static int block_gone(void *name)
{
    return !block_exists(name);
}

static int all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return 0;
    return 1;
}

/* ---- the embedded server ---- */

struct child_args {
    mproc_manager_t *m;
    unsigned char *buf; /* the parent's block, inherited */
    char *name;         /* shared memory: the child's own block's name */
};

/* A forked child writes to the parent's block and asks for a block of its
 * own through the inherited handle. */
static int child_uses_blocks(void *arg)
{
    struct child_args *a = arg;
    memset(a->buf, 0xAB, 100);
    mproc_shm_t *own;
    if (mproc_manager_shm(a->m, &own, 4096) != 0)
        return 1;
    if (!all_zero(mproc_shm_buf(own), 4096))
        return 2;
    memcpy(mproc_shm_buf(own), "from the child", 15);
    snprintf(a->name, 256, "%s", mproc_shm_name(own));
    mproc_shm_close(own);
    return 0;
}

START_TEST(blocks_are_zero_filled_shared_and_gone_after_shutdown)
{
    mproc_manager_t *m;
    ck_assert_int_eq(mproc_manager_start(&m, NULL, NULL, 0), 0);
    mproc_shm_t *a, *b;
    ck_assert_int_eq(mproc_manager_shm(m, &a, 1 << 20), 0);
    ck_assert_int_eq(mproc_manager_shm(m, &b, 1), 0);
    ck_assert_uint_eq(mproc_shm_size(a), 1 << 20);
    ck_assert_uint_eq(mproc_shm_size(b), 1);
    ck_assert(all_zero(mproc_shm_buf(a), 1 << 20));
    ck_assert(all_zero(mproc_shm_buf(b), 1));
    ck_assert_str_ne(mproc_shm_name(a), mproc_shm_name(b));
    ck_assert_int_eq(strncmp(mproc_shm_name(a), BLOCK_PREFIX, strlen(BLOCK_PREFIX)), 0);
    char name_a[256], name_b[256];
    snprintf(name_a, sizeof name_a, "%s", mproc_shm_name(a));
    snprintf(name_b, sizeof name_b, "%s", mproc_shm_name(b));
    ck_assert(block_exists(name_a));

    struct child_args args = { m, mproc_shm_buf(a), shared_alloc(256) };
    ck_assert_int_eq(wait_child(fork_child(child_uses_blocks, &args), 20), 0);
    ck_assert_uint_eq(((unsigned char *)mproc_shm_buf(a))[99], 0xAB);
    /* the child's block is the server's too: it outlives the child */
    mproc_shm_t *c;
    ck_assert_int_eq(mproc_shm_open(&c, args.name), 0);
    ck_assert_str_eq(mproc_shm_buf(c), "from the child");
    mproc_shm_close(c);

    ck_assert_int_eq(mproc_manager_shutdown(m), 0);
    /* gone when shutdown returns, all three; the mappings stay usable */
    ck_assert(!block_exists(name_a));
    ck_assert(!block_exists(name_b));
    ck_assert(!block_exists(args.name));
    ck_assert_int_eq(mproc_shm_open(&c, name_a), MPROC_ENOENT);
    ((unsigned char *)mproc_shm_buf(a))[0] = 1;
    mproc_shm_close(a);
    mproc_shm_close(b);
}
END_TEST

/* Another process's handle shuts the server down: the blocks are gone when
 * its shutdown returns, though it did not start the server. */
START_TEST(shutdown_from_a_connected_handle_unlinks_first)
{
    mproc_manager_t *m, *other;
    ck_assert_int_eq(mproc_manager_start(&m, NULL, NULL, 0), 0);
    size_t keylen;
    const void *key = mproc_manager_authkey(m, &keylen);
    ck_assert_int_eq(mproc_manager_connect(&other, mproc_manager_address(m), key, keylen), 0);
    mproc_shm_t *blk;
    ck_assert_int_eq(mproc_manager_shm(m, &blk, 64), 0);
    char name[256];
    snprintf(name, sizeof name, "%s", mproc_shm_name(blk));
    mproc_shm_close(blk);
    ck_assert_int_eq(mproc_manager_shutdown(other), 0);
    ck_assert(!block_exists(name));
    ck_assert_int_eq(mproc_manager_close(m), 0);
}
END_TEST

START_TEST(bad_arguments_change_nothing)
{
    mproc_manager_t *m;
    ck_assert_int_eq(mproc_manager_start(&m, NULL, NULL, 0), 0);
    mproc_shm_t *blk = NULL;
    ck_assert_int_eq(mproc_manager_shm(m, &blk, 0), MPROC_EINVAL);
    ck_assert_int_eq(mproc_manager_shm(NULL, &blk, 10), MPROC_EINVAL);
    ck_assert_int_eq(mproc_manager_shm(m, NULL, 10), MPROC_EINVAL);
    ck_assert_int_eq(mproc_manager_shm(m, &blk, SIZE_MAX), MPROC_ENOMEM);
    /* a size /dev/shm cannot hold: the server's error, and no block left */
    int r = mproc_manager_shm(m, &blk, (size_t)1 << 60);
    ck_assert_int_lt(r, 0);
    ck_assert_ptr_null(blk);
    ck_assert_int_eq(mproc_manager_shm(m, &blk, 8), 0); /* the server lives on */
    mproc_shm_close(blk);
    ck_assert_int_eq(mproc_manager_shutdown(m), 0);
}
END_TEST

/* A child starts a Manager, makes blocks, reports their names and waits to
 * be killed. */
static int starter_child(void *arg)
{
    int fd = *(int *)arg;
    mproc_manager_t *m;
    if (mproc_manager_start(&m, NULL, NULL, 0) != 0)
        return 1;
    for (int i = 0; i < 3; i++) {
        mproc_shm_t *blk;
        if (mproc_manager_shm(m, &blk, 4096) != 0)
            return 2;
        dprintf(fd, "%s\n", mproc_shm_name(blk));
    }
    close(fd);
    for (;;)
        pause();
}

START_TEST(starter_killed_blocks_gone_within_seconds)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t pid = fork_child(starter_child, &p[1]);
    close(p[1]);
    FILE *f = fdopen(p[0], "r");
    char names[3][256];
    for (int i = 0; i < 3; i++) {
        ck_assert_ptr_nonnull(fgets(names[i], sizeof names[i], f));
        names[i][strcspn(names[i], "\n")] = 0;
        ck_assert(block_exists(names[i]));
    }
    fclose(f);
    kill_child(pid);
    for (int i = 0; i < 3; i++)
        ck_assert_msg(poll_until(block_gone, names[i], 10), "%s outlived its Manager's starter", names[i]);
}
END_TEST

/* ---- the daemon ---- */

/* A daemon with one block of ours; its name in name. */
static pid_t daemon_with_block(char *address, mproc_manager_t **m, char *name)
{
    snprintf(address, 128, "@%s", test_name("mgrshm"));
    const char *args[] = { "--listen", address, NULL };
    pid_t pid = daemon_start(args, 0);
    ck_assert_int_eq(mproc_manager_connect(m, address, NULL, 0), 0);
    mproc_shm_t *blk;
    ck_assert_int_eq(mproc_manager_shm(*m, &blk, 10000), 0);
    snprintf(name, 256, "%s", mproc_shm_name(blk));
    char pidpart[64];
    snprintf(pidpart, sizeof pidpart, BLOCK_PREFIX "%d_", (int)pid);
    ck_assert_int_eq(strncmp(name, pidpart, strlen(pidpart)), 0); /* the server's pid in the name */
    mproc_shm_close(blk);
    ck_assert(block_exists(name));
    return pid;
}

START_TEST(daemon_sigterm_and_sigint_unlink)
{
    static const int signals[] = { SIGTERM, SIGINT };
    for (int i = 0; i < 2; i++) {
        char address[128], name[256];
        mproc_manager_t *m;
        pid_t pid = daemon_with_block(address, &m, name);
        kill(pid, signals[i]);
        ck_assert_int_eq(wait_child(pid, 20), 0);
        ck_assert_msg(!block_exists(name), "signal %d left %s", signals[i], name);
        mproc_manager_close(m);
    }
}
END_TEST

START_TEST(daemon_shutdown_request_unlinks)
{
    char address[128], name[256];
    mproc_manager_t *m;
    pid_t pid = daemon_with_block(address, &m, name);
    ck_assert_int_eq(mproc_manager_shutdown(m), 0);
    ck_assert(!block_exists(name)); /* already when shutdown returns */
    ck_assert_int_eq(wait_child(pid, 20), 0);
}
END_TEST

static char output[65536];

/* Runs `mproc ARGS`; its exit status, its output in output. */
static int tool(const char *args)
{
    char command[1024];
    snprintf(command, sizeof command, "%s %s 2>&1", getenv("MPROC_TOOL"), args);
    FILE *p = popen(command, "r");
    ck_assert_ptr_nonnull(p);
    size_t n = fread(output, 1, sizeof output - 1, p);
    output[n] = 0;
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* `mproc info` and `ls --json` name the owning server; `gc --blocks` leaves
 * a live server's block alone; a server killed with SIGKILL cannot unlink,
 * and `gc` (without --blocks) then removes its block. */
START_TEST(tool_shows_the_owner_and_gc_cleans_after_a_killed_daemon)
{
    char address[128], name[256], args[512], expect[128];
    mproc_manager_t *m;
    pid_t pid = daemon_with_block(address, &m, name);
    snprintf(args, sizeof args, "info %s", name);
    ck_assert_int_eq(tool(args), 0);
    snprintf(expect, sizeof expect, "Manager server %d\n", (int)pid);
    ck_assert_msg(strstr(output, expect) != NULL, "%s", output);
    ck_assert_int_eq(tool("ls --json"), 0);
    snprintf(expect, sizeof expect, "\"manager_pid\": %d", (int)pid);
    ck_assert_msg(strstr(output, expect) != NULL, "%s", output);

    snprintf(args, sizeof args, "gc --blocks %s", name);
    ck_assert_int_eq(tool(args), 0);
    ck_assert(block_exists(name)); /* its live server's */

    kill_child(pid);
    ck_assert(block_exists(name)); /* SIGKILL: nobody could unlink */
    snprintf(args, sizeof args, "info %s", name);
    ck_assert_int_eq(tool(args), 0);
    ck_assert_ptr_nonnull(strstr(output, "(gone"));
    snprintf(args, sizeof args, "gc %s", name);
    ck_assert_int_eq(tool(args), 0);
    ck_assert(!block_exists(name));
    mproc_manager_close(m);
}
END_TEST

/* ---- Redis ---- */

START_TEST(redis_backend_is_not_supported)
{
#ifdef HAVE_HIREDIS
    if (!redis_available())
        return;
    test_redis_t r = { 0 };
    ck_assert_int_eq(redis_start(&r, 1, NULL), 0);
    mproc_manager_t *m;
    int c = mproc_manager_connect(&m, r.address, NULL, 0);
    mproc_shm_t *blk = NULL;
    int e = c == 0 ? mproc_manager_shm(m, &blk, 100) : 0;
    if (c == 0)
        mproc_manager_close(m);
    redis_stop(&r);
    ck_assert_int_eq(c, 0);
    ck_assert_int_eq(e, MPROC_ENOTSUP);
    ck_assert_ptr_null(blk);
#endif
}
END_TEST

int main(void)
{
    Suite *s = suite_create("manager_shm");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, blocks_are_zero_filled_shared_and_gone_after_shutdown);
    tcase_add_test(tc, shutdown_from_a_connected_handle_unlinks_first);
    tcase_add_test(tc, bad_arguments_change_nothing);
    tcase_add_test(tc, starter_killed_blocks_gone_within_seconds);
    tcase_add_test(tc, daemon_sigterm_and_sigint_unlink);
    tcase_add_test(tc, daemon_shutdown_request_unlinks);
    tcase_add_test(tc, tool_shows_the_owner_and_gc_cleans_after_a_killed_daemon);
    tcase_add_test(tc, redis_backend_is_not_supported);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
