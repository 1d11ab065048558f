/* Manager: every dict and list operation and error, atomic incr from many
 * processes and threads, handles after fork, the server's lifetime, TCP with
 * keys, hostile clients next to a good one, the `mproc manager` daemon and
 * its snapshot. */
#include "config.h"

#include "helpers.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef HAVE_HIREDIS
#include "redis_helpers.h"
#endif

static mproc_manager_t *mgr;

/* The dict and list tests run one body against every backend (_i). */
enum { ON_MPROC, ON_REDIS_UNIX, ON_REDIS_TCP, ON_REDIS_CLUSTER, BACKENDS };
static const char *const backend_name[BACKENDS] = { "mproc's server", "Redis on a Unix socket",
                                                    "Redis on TCP with a password", "a Redis Cluster" };
static int on; /* the backend of the running test */
#ifdef HAVE_HIREDIS
static test_redis_t redis[BACKENDS]; /* started by main, stopped at exit */
static int redis_up[BACKENDS];
#endif

static void start_manager(void)
{
    ck_assert_int_eq(mproc_manager_start(&mgr, NULL, NULL, 0), 0);
}

static void stop_manager(void)
{
    ck_assert_int_eq(mproc_manager_shutdown(mgr), 0);
}

/* Connects mgr to backend b, emptied; 0 (with a message) if b is not there. */
static int start_backend(int b)
{
    on = b;
    if (b == ON_MPROC) {
        start_manager();
        return 1;
    }
#ifdef HAVE_HIREDIS
    if (!redis_up[b]) {
        fprintf(stderr, "test_manager: skipped on %s: redis-server not available\n", backend_name[b]);
        return 0;
    }
    ck_assert_int_eq(redis_manager_connect(&redis[b], &mgr), 0);
    return 1;
#else
    fprintf(stderr, "test_manager: skipped on %s: built without hiredis\n", backend_name[b]);
    return 0;
#endif
}
#define ON_BACKEND()                                                                         \
    do {                                                                                     \
        if (!start_backend(_i))                                                              \
            return;                                                                          \
    } while (0)

#ifdef HAVE_HIREDIS
/* A command on the current Redis backend, on the node holding key. */
#define ADMIN(out, key, ...)                                                                 \
    ck_assert_int_eq(redis_admin(&redis[on], (key), (out), sizeof(out), __VA_ARGS__), 0)
#endif

/* Gets key and checks it holds the NUL-terminated text expected. */
static void expect_value(mproc_dict_t *d, const char *key, const char *expected)
{
    void *v = NULL;
    size_t n;
    ck_assert_int_eq(mproc_dict_get(d, key, strlen(key), &v, &n), 0);
    ck_assert_uint_eq(n, strlen(expected));
    ck_assert_str_eq(v, expected); /* NUL-terminated past n */
    free(v);
}

START_TEST(dict_operations_and_their_errors)
{
    ON_BACKEND();
    mproc_dict_t *d;
    ck_assert_int_eq(mproc_manager_dict(mgr, "colours", &d), 0);
    size_t n = 99;
    ck_assert_int_eq(mproc_dict_len(d, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(mproc_dict_set(d, "sky", 3, "blue", 4), 0);
    ck_assert_int_eq(mproc_dict_set(d, "grass", 5, "green", 5), 0);
    ck_assert_int_eq(mproc_dict_set(d, "sea", 3, "grey", 4), 0);
    ck_assert_int_eq(mproc_dict_set(d, "sea", 3, "teal", 4), 0); /* replaces, keeps its place */
    ck_assert_int_eq(mproc_dict_set(d, "", 0, "", 0), 0);        /* empty key and value */
    expect_value(d, "sea", "teal");
    expect_value(d, "", "");
    ck_assert_int_eq(mproc_dict_contains(d, "sky", 3), 1);
    ck_assert_int_eq(mproc_dict_contains(d, "mud", 3), 0);
    void *v;
    ck_assert_int_eq(mproc_dict_get(d, "mud", 3, &v, &n), MPROC_EKEY);
    ck_assert_int_eq(mproc_dict_del(d, "mud", 3), MPROC_EKEY);
    ck_assert_int_eq(mproc_dict_pop(d, "mud", 3, &v, &n), MPROC_EKEY);

    mproc_buf_t *keys;
    ck_assert_int_eq(mproc_dict_keys(d, &keys, &n), 0);
    ck_assert_uint_eq(n, 4);
    const char *order[] = { "sky", "grass", "sea", "" };
    for (size_t i = 0; i < 4; i++) {
        size_t j = i;
        if (on != ON_MPROC) /* Redis's order: any */
            for (j = 0; j < 4 && strcmp(keys[j].data, order[i]) != 0; j++)
                ;
        ck_assert_uint_lt(j, 4);
        ck_assert_str_eq(keys[j].data, order[i]); /* insertion order, as Python */
    }
    mproc_bufs_free(keys, n);

    ck_assert_int_eq(mproc_dict_pop(d, "grass", 5, &v, &n), 0);
    ck_assert_str_eq(v, "green");
    free(v);
    ck_assert_int_eq(mproc_dict_del(d, "", 0), 0);
    ck_assert_int_eq(mproc_dict_pop(d, "sky", 3, NULL, NULL), 0);
    ck_assert_int_eq(mproc_dict_len(d, &n), 0);
    ck_assert_uint_eq(n, 1);

    ck_assert_int_eq(mproc_dict_setdefault(d, "sea", 3, "navy", 4, &v, &n), 0);
    ck_assert_str_eq(v, "teal");
    free(v);
    ck_assert_int_eq(mproc_dict_setdefault(d, "sun", 3, "yellow", 6, &v, &n), 0);
    ck_assert_str_eq(v, "yellow");
    free(v);

    mproc_item_t batch[3] = {
        { { "a", 1 }, { "1", 1 } }, { { "b", 1 }, { "2", 1 } }, { { "sea", 3 }, { "blue", 4 } },
    };
    ck_assert_int_eq(mproc_dict_update(d, batch, 3), 0);
    mproc_item_t *items;
    ck_assert_int_eq(mproc_dict_items(d, &items, &n), 0);
    ck_assert_uint_eq(n, 4);
    static const char *const after[4][2] = { { "sea", "blue" }, { "sun", "yellow" }, { "a", "1" }, { "b", "2" } };
    for (size_t i = 0; i < 4; i++) {
        size_t j = i;
        if (on != ON_MPROC)
            for (j = 0; j < 4 && strcmp(items[j].key.data, after[i][0]) != 0; j++)
                ;
        ck_assert_uint_lt(j, 4);
        ck_assert_str_eq(items[j].key.data, after[i][0]);
        ck_assert_str_eq(items[j].value.data, after[i][1]);
    }
    mproc_items_free(items, n);

    ck_assert_int_eq(mproc_dict_clear(d), 0);
    ck_assert_int_eq(mproc_dict_items(d, &items, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(items);

    /* the same dict by name, through a second handle */
    mproc_dict_t *again;
    ck_assert_int_eq(mproc_manager_dict(mgr, "colours", &again), 0);
    ck_assert_int_eq(mproc_dict_set(again, "x", 1, "y", 1), 0);
    expect_value(d, "x", "y");
    mproc_dict_close(again);

    /* a name is a dict or a list, not both; on Redis a key of another type
     * is refused, and left as it was */
    mproc_list_t *l;
    if (on == ON_MPROC)
        ck_assert_int_eq(mproc_manager_list(mgr, "colours", &l), MPROC_ETYPE);
#ifdef HAVE_HIREDIS
    if (on != ON_MPROC) {
        char text[64];
        ADMIN(text, "mproc:list:{colours}", "SET mproc:list:{colours} string");
        ck_assert_int_eq(mproc_manager_list(mgr, "colours", &l), MPROC_ETYPE);
        mproc_dict_t *s;
        ck_assert_int_eq(mproc_manager_dict(mgr, "string", &s), 0);
        ADMIN(text, "mproc:dict:{string}", "SET mproc:dict:{string} text");
        ck_assert_int_eq(mproc_dict_set(s, "k", 1, "v", 1), MPROC_ETYPE);
        ck_assert_int_eq(mproc_dict_incr(s, "k", 1, 1, NULL), MPROC_ETYPE);
        ck_assert_int_eq(mproc_dict_pop(s, "k", 1, &v, &n), MPROC_ETYPE);
        ck_assert_int_eq(mproc_dict_clear(s), MPROC_ETYPE);
        ck_assert_int_eq(mproc_dict_update(s, batch, 3), MPROC_ETYPE);
        ck_assert_int_eq(mproc_dict_len(s, &n), MPROC_ETYPE);
        ADMIN(text, "mproc:dict:{string}", "GET mproc:dict:{string}");
        ck_assert_str_eq(text, "text"); /* nothing changed */
        ck_assert_int_eq(mproc_manager_dict(mgr, "string", &again), MPROC_ETYPE);
        mproc_dict_close(s);
    }
#endif

    /* arguments */
    static char big[(64 << 10) + 1];
    ck_assert_int_eq(mproc_dict_set(d, big, sizeof big, "v", 1), MPROC_EMSGSIZE);
    ck_assert_int_eq(mproc_dict_set(d, big, sizeof big - 1, "v", 1), 0);
    ck_assert_int_eq(mproc_dict_set(d, NULL, 1, "v", 1), MPROC_EINVAL);
    ck_assert_int_eq(mproc_dict_set(NULL, "k", 1, "v", 1), MPROC_EINVAL);
    ck_assert_int_eq(mproc_dict_get(d, "k", 1, NULL, &n), MPROC_EINVAL);
    ck_assert_int_eq(mproc_manager_dict(mgr, "", &again), MPROC_EINVAL);
    ck_assert_int_eq(mproc_manager_dict(NULL, "x", &again), MPROC_EINVAL);
    char long_name[300];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    ck_assert_int_eq(mproc_manager_dict(mgr, long_name, &again), MPROC_EINVAL);
    mproc_dict_close(d);
    stop_manager();
}
END_TEST

START_TEST(incr_keeps_decimal_text)
{
    ON_BACKEND();
    mproc_dict_t *d;
    ck_assert_int_eq(mproc_manager_dict(mgr, "counts", &d), 0);
    int64_t v = 0;
    ck_assert_int_eq(mproc_dict_incr(d, "n", 1, 5, &v), 0); /* missing counts as 0 */
    ck_assert_int_eq(v, 5);
    ck_assert_int_eq(mproc_dict_incr(d, "n", 1, -7, &v), 0);
    ck_assert_int_eq(v, -2);
    expect_value(d, "n", "-2");
    ck_assert_int_eq(mproc_dict_set(d, "t", 1, "+41", 3), 0);
    if (on == ON_MPROC) {
        ck_assert_int_eq(mproc_dict_incr(d, "t", 1, 1, NULL), 0);
        expect_value(d, "t", "42");
    } else { /* HINCRBY takes canonical decimal integers only */
        ck_assert_int_eq(mproc_dict_incr(d, "t", 1, 1, NULL), MPROC_EINVAL);
        expect_value(d, "t", "+41");
    }
    static const char *not_integers[] = { "", "abc", "1.5", " 1", "1 ", "--1", "+", "0x10" };
    for (size_t i = 0; i < sizeof not_integers / sizeof not_integers[0]; i++) {
        ck_assert_int_eq(mproc_dict_set(d, "bad", 3, not_integers[i], strlen(not_integers[i])), 0);
        ck_assert_int_eq(mproc_dict_incr(d, "bad", 3, 1, &v), MPROC_EINVAL);
        expect_value(d, "bad", not_integers[i]); /* nothing changed */
    }
    ck_assert_int_eq(mproc_dict_set(d, "max", 3, "9223372036854775807", 19), 0);
    ck_assert_int_eq(mproc_dict_incr(d, "max", 3, 1, &v), MPROC_EOVERFLOW);
    ck_assert_int_eq(mproc_dict_incr(d, "max", 3, -1, &v), 0);
    ck_assert_int_eq(v, INT64_MAX - 1);
    ck_assert_int_eq(mproc_dict_set(d, "min", 3, "-9223372036854775808", 20), 0);
    ck_assert_int_eq(mproc_dict_incr(d, "min", 3, 0, &v), 0);
    ck_assert_int_eq(v, INT64_MIN);
    mproc_dict_close(d);
    stop_manager();
}
END_TEST

static void expect_item(mproc_list_t *l, ssize_t index, const char *expected)
{
    void *v = NULL;
    size_t n;
    ck_assert_int_eq(mproc_list_get(l, index, &v, &n), 0);
    ck_assert_str_eq(v, expected);
    free(v);
}

static void expect_slice(mproc_list_t *l, ssize_t start, ssize_t stop, const char *joined)
{
    mproc_buf_t *vals;
    size_t n;
    ck_assert_int_eq(mproc_list_slice(l, start, stop, &vals, &n), 0);
    char text[256] = "";
    for (size_t i = 0; i < n; i++)
        strcat(text, vals[i].data);
    ck_assert_str_eq(text, joined);
    mproc_bufs_free(vals, n);
}

START_TEST(list_operations_and_their_errors)
{
    ON_BACKEND();
    mproc_list_t *l, *again;
    mproc_buf_t *vals_unused;
    (void)again;
    (void)vals_unused;
    ck_assert_int_eq(mproc_manager_list(mgr, "letters", &l), 0);
    void *v;
    size_t n;
    ck_assert_int_eq(mproc_list_pop(l, -1, &v, &n), MPROC_EINDEX); /* empty */
    ck_assert_int_eq(mproc_list_get(l, 0, &v, &n), MPROC_EINDEX);
    ck_assert_int_eq(mproc_list_append(l, "b", 1), 0);
    mproc_buf_t more[3] = { { "c", 1 }, { "d", 1 }, { "e", 1 } };
    ck_assert_int_eq(mproc_list_extend(l, more, 3), 0);
    ck_assert_int_eq(mproc_list_insert(l, -100, "a", 1), 0); /* clamps to the front */
    ck_assert_int_eq(mproc_list_insert(l, 100, "f", 1), 0);  /* and to the end */
    ck_assert_int_eq(mproc_list_insert(l, -1, "E", 1), 0);   /* before the last */
    expect_slice(l, 0, SSIZE_MAX, "abcdeEf");
    expect_item(l, 0, "a");
    expect_item(l, -1, "f");
    expect_item(l, -7, "a");
    ck_assert_int_eq(mproc_list_get(l, 7, &v, &n), MPROC_EINDEX);
    ck_assert_int_eq(mproc_list_get(l, -8, &v, &n), MPROC_EINDEX);
    ck_assert_int_eq(mproc_list_set(l, -2, "x", 1), 0);
    ck_assert_int_eq(mproc_list_set(l, 9, "x", 1), MPROC_EINDEX);
    expect_slice(l, 1, -1, "bcdex");
    expect_slice(l, -3, SSIZE_MAX, "exf");
    expect_slice(l, 5, 2, "");
    expect_slice(l, -100, 2, "ab");
    size_t index = 99;
    ck_assert_int_eq(mproc_list_index(l, "d", 1, &index), 0);
    ck_assert_uint_eq(index, 3);
    ck_assert_int_eq(mproc_list_index(l, "zz", 2, &index), MPROC_EVALUE);
    ck_assert_int_eq(mproc_list_remove(l, "zz", 2), MPROC_EVALUE);
    ck_assert_int_eq(mproc_list_remove(l, "c", 1), 0);
    ck_assert_int_eq(mproc_list_pop(l, 0, &v, &n), 0);
    ck_assert_str_eq(v, "a");
    free(v);
    ck_assert_int_eq(mproc_list_pop(l, -1, NULL, NULL), 0);
    expect_slice(l, 0, SSIZE_MAX, "bdex");
    ck_assert_int_eq(mproc_list_len(l, &n), 0);
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(mproc_list_clear(l), 0);
    ck_assert_int_eq(mproc_list_len(l, &n), 0);
    ck_assert_uint_eq(n, 0);
    mproc_dict_t *d;
    if (on == ON_MPROC)
        ck_assert_int_eq(mproc_manager_dict(mgr, "letters", &d), MPROC_ETYPE);
#ifdef HAVE_HIREDIS
    if (on != ON_MPROC) { /* a key of another type: refused, left as it was */
        char text[64];
        ck_assert_int_eq(mproc_list_append(l, "z", 1), 0);
        ADMIN(text, "mproc:list:{letters}", "SET mproc:list:{letters} text");
        ck_assert_int_eq(mproc_list_append(l, "y", 1), MPROC_ETYPE);
        ck_assert_int_eq(mproc_list_insert(l, 1, "y", 1), MPROC_ETYPE);
        ck_assert_int_eq(mproc_list_pop(l, 1, NULL, NULL), MPROC_ETYPE);
        ck_assert_int_eq(mproc_list_clear(l), MPROC_ETYPE);
        ck_assert_int_eq(mproc_list_extend(l, more, 0), MPROC_ETYPE);
        ck_assert_int_eq(mproc_list_slice(l, 0, 1, &vals_unused, &n), MPROC_ETYPE);
        ADMIN(text, "mproc:list:{letters}", "GET mproc:list:{letters}");
        ck_assert_str_eq(text, "text");
        ck_assert_int_eq(mproc_manager_list(mgr, "letters", &again), MPROC_ETYPE);
    }
#endif
    ck_assert_int_eq(mproc_list_extend(l, NULL, 1), MPROC_EINVAL);
    ck_assert_int_eq(mproc_list_append(NULL, "x", 1), MPROC_EINVAL);
    mproc_list_close(l);
    stop_manager();
}
END_TEST

/* ---- concurrency ---- */

#define WORKERS 6
#define INCRS 300

static mproc_dict_t *shared_dict;

static int increment_many(void *arg)
{
    (void)arg;
    for (int i = 0; i < INCRS; i++)
        if (mproc_dict_incr(shared_dict, "total", 5, 1, NULL) != 0)
            return 1;
    return 0;
}

START_TEST(forked_workers_increment_exactly)
{
    ON_BACKEND();
    ck_assert_int_eq(mproc_manager_dict(mgr, "stats", &shared_dict), 0);
    ck_assert_int_eq(mproc_dict_set(shared_dict, "total", 5, "0", 1), 0); /* connected before the fork */
    pid_t pids[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        pids[i] = fork_child(increment_many, NULL); /* each uses the parent's handle */
    ck_assert_int_eq(increment_many(NULL), 0);     /* and so does the parent, at the same time */
    for (int i = 0; i < WORKERS; i++)
        ck_assert_int_eq(wait_child(pids[i], 60), 0);
    int64_t total;
    ck_assert_int_eq(mproc_dict_incr(shared_dict, "total", 5, 0, &total), 0);
    ck_assert_int_eq(total, (WORKERS + 1) * INCRS);
    mproc_dict_close(shared_dict);
    stop_manager();
}
END_TEST

static void *increment_in_thread(void *arg)
{
    return (void *)(intptr_t)increment_many(arg);
}

START_TEST(threads_share_one_handle)
{
    ON_BACKEND();
    ck_assert_int_eq(mproc_manager_dict(mgr, "stats", &shared_dict), 0);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, increment_in_thread, NULL), 0);
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        ck_assert_ptr_null(r);
    }
    int64_t total;
    ck_assert_int_eq(mproc_dict_incr(shared_dict, "total", 5, 0, &total), 0);
    ck_assert_int_eq(total, 4 * INCRS);
    mproc_dict_close(shared_dict);
    stop_manager();
}
END_TEST

/* 8 processes x 500 incr on one key: half use the parent's handle (made
 * before the fork), half make their own after it. */
#define PROCS 8
#define PROC_INCRS 500

static int incr_with_own_handle(void *arg)
{
    const char *address = arg;
    mproc_manager_t *m;
    size_t keylen = 0;
    const void *key = mproc_manager_authkey(mgr, &keylen);
    if (mproc_manager_connect(&m, address, key, keylen) != 0)
        return 2;
    mproc_dict_t *d;
    if (mproc_manager_dict(m, "stats", &d) != 0)
        return 3;
    for (int i = 0; i < PROC_INCRS; i++)
        if (mproc_dict_incr(d, "total", 5, 1, NULL) != 0)
            return 1;
    mproc_dict_close(d);
    mproc_manager_close(m);
    return 0;
}

static int incr_with_parents_handle(void *arg)
{
    (void)arg;
    for (int i = 0; i < PROC_INCRS; i++)
        if (mproc_dict_incr(shared_dict, "total", 5, 1, NULL) != 0)
            return 1;
    return 0;
}

START_TEST(eight_processes_increment_exactly)
{
    ON_BACKEND();
    ck_assert_int_eq(mproc_manager_dict(mgr, "stats", &shared_dict), 0);
    ck_assert_int_eq(mproc_dict_incr(shared_dict, "total", 5, 0, NULL), 0); /* connected before */
    char address[256];
    snprintf(address, sizeof address, "%s", mproc_manager_address(mgr));
    pid_t pids[PROCS];
    for (int i = 0; i < PROCS; i++)
        pids[i] = fork_child(i % 2 ? incr_with_own_handle : incr_with_parents_handle, address);
    for (int i = 0; i < PROCS; i++)
        ck_assert_int_eq(wait_child(pids[i], 120), 0);
    int64_t total;
    ck_assert_int_eq(mproc_dict_incr(shared_dict, "total", 5, 0, &total), 0);
    ck_assert_int_eq(total, PROCS * PROC_INCRS);
    mproc_dict_close(shared_dict);
    stop_manager();
}
END_TEST

#ifdef HAVE_HIREDIS
/* ---- Redis only ---- */

/* redis-cli on the current backend: its output (trailing newline cut). */
static void redis_cli(char *out, size_t cap, const char *args)
{
    test_redis_t *r = &redis[on];
    char cmd[4096];
    if (on == ON_REDIS_UNIX)
        snprintf(cmd, sizeof cmd, "redis-cli -s '%s' %s", r->socket, args);
    else if (on == ON_REDIS_TCP)
        snprintf(cmd, sizeof cmd, "redis-cli -p %d --no-auth-warning -a '%s' %s", r->port[0],
                 r->password, args);
    else
        snprintf(cmd, sizeof cmd, "redis-cli -c -p %d %s", r->port[0], args);
    FILE *f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    ck_assert_int_eq(pclose(f), 0);
    while (n > 0 && out[n - 1] == '\n')
        out[--n] = '\0';
}

START_TEST(redis_cli_sees_what_mproc_writes_and_the_other_way)
{
    if (!start_backend(_i + ON_REDIS_UNIX))
        return;
    mproc_dict_t *d;
    mproc_list_t *l;
    ck_assert_int_eq(mproc_manager_dict(mgr, "words", &d), 0);
    ck_assert_int_eq(mproc_dict_set(d, "apple", 5, "3", 1), 0);
    ck_assert_int_eq(mproc_dict_incr(d, "pear", 4, 12, NULL), 0);
    ck_assert_int_eq(mproc_manager_list(mgr, "queue", &l), 0);
    mproc_buf_t vals[3] = { { "one", 3 }, { "two", 3 }, { "three", 5 } };
    ck_assert_int_eq(mproc_list_extend(l, vals, 3), 0);
    ck_assert_int_eq(mproc_list_insert(l, 1, "half", 4), 0);

    char out[1024];
    redis_cli(out, sizeof out, "HGET 'mproc:dict:{words}' apple");
    ck_assert_str_eq(out, "3");
    redis_cli(out, sizeof out, "HGET 'mproc:dict:{words}' pear");
    ck_assert_str_eq(out, "12"); /* decimal text, as HINCRBY keeps it */
    redis_cli(out, sizeof out, "HLEN 'mproc:dict:{words}'");
    ck_assert_str_eq(out, "2");
    redis_cli(out, sizeof out, "LRANGE 'mproc:list:{queue}' 0 -1");
    ck_assert_str_eq(out, "one\nhalf\ntwo\nthree");

    redis_cli(out, sizeof out, "HSET 'mproc:dict:{words}' kiwi 7");
    redis_cli(out, sizeof out, "HINCRBY 'mproc:dict:{words}' apple 1");
    redis_cli(out, sizeof out, "RPUSH 'mproc:list:{queue}' four");
    expect_value(d, "kiwi", "7");
    expect_value(d, "apple", "4");
    void *v;
    size_t n;
    ck_assert_int_eq(mproc_list_pop(l, -1, &v, &n), 0);
    ck_assert_str_eq(v, "four");
    free(v);
    ck_assert_int_eq(mproc_list_pop(l, 1, &v, &n), 0);
    ck_assert_str_eq(v, "half");
    free(v);
    redis_cli(out, sizeof out, "LRANGE 'mproc:list:{queue}' 0 -1");
    ck_assert_str_eq(out, "one\ntwo\nthree");
    mproc_list_close(l);
    mproc_dict_close(d);
    stop_manager();
}
END_TEST

START_TEST(names_with_braces_colons_and_binary_bytes_round_trip)
{
    if (!start_backend(_i + ON_REDIS_UNIX))
        return;
    static const char *const names[] = { "a{b}c", "}{", "{", "x:y:{z}", "\x01\x7f\xff tab\t", "}" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        mproc_dict_t *d;
        mproc_list_t *l;
        ck_assert_int_eq(mproc_manager_dict(mgr, names[i], &d), 0);
        ck_assert_int_eq(mproc_dict_set(d, "k\0{}", 4, names[i], strlen(names[i])), 0);
        ck_assert_int_eq(mproc_manager_list(mgr, names[i], &l), 0);
        ck_assert_int_eq(mproc_list_append(l, "\0\xff", 2), 0);
        ck_assert_int_eq(mproc_list_insert(l, 0, names[i], strlen(names[i])), 0);
        void *v;
        size_t n;
        ck_assert_int_eq(mproc_dict_get(d, "k\0{}", 4, &v, &n), 0);
        ck_assert_uint_eq(n, strlen(names[i]));
        ck_assert_mem_eq(v, names[i], n);
        free(v);
        ck_assert_int_eq(mproc_list_get(l, -1, &v, &n), 0);
        ck_assert_uint_eq(n, 2);
        ck_assert_mem_eq(v, "\0\xff", 2);
        free(v);
        /* the key is the documented one, byte for byte */
        char key[300], text[300];
        snprintf(key, sizeof key, "mproc:dict:{%s}", names[i]);
        ADMIN(text, key, "HLEN %b", key, strlen(key));
        ck_assert_str_eq(text, "1");
        snprintf(key, sizeof key, "mproc:list:{%s}", names[i]);
        ADMIN(text, key, "LINDEX %b 0", key, strlen(key));
        ck_assert_str_eq(text, names[i]);
        mproc_list_close(l);
        mproc_dict_close(d);
    }
    stop_manager();
}
END_TEST

START_TEST(redis_errors_are_clear_and_change_nothing)
{
    on = ON_REDIS_TCP;
    if (!redis_up[on]) {
        fprintf(stderr, "test_manager: skipped: no Redis\n");
        return;
    }
    test_redis_t *r = &redis[on];
    ck_assert_int_eq(redis_flush(r), 0);
    mproc_manager_t *m;
    /* a wrong password, or none: refused before anything is written */
    ck_assert_int_eq(mproc_manager_connect(&m, r->address, "wrong", 5), MPROC_EAUTH);
    ck_assert_int_eq(mproc_manager_connect(&m, r->address, NULL, 0), MPROC_EAUTH);
    char text[64];
    ADMIN(text, NULL, "DBSIZE");
    ck_assert_str_eq(text, "0");
    /* addresses */
    static const char *const bad[] = { "redis://", "redis://:6379", "redis://host:", "redis://host:12x",
                                       "redis://host:1/x", "redis://[::1", "redis+unix://",
                                       "redis+unix:///tmp/s?database=1", "redis+unix:///tmp/s?db=x" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(mproc_manager_connect(&m, bad[i], NULL, 0) == MPROC_EINVAL, "%s", bad[i]);
    /* nothing listening: the socket's errno, at once */
    char address[2048];
    snprintf(address, sizeof address, "redis+unix://%s/nothing.sock", r->dir);
    double t0 = now();
    ck_assert_int_eq(mproc_manager_connect(&m, address, NULL, 0), -ENOENT);
    test_redis_t own;
    ck_assert_int_eq(redis_start(&own, 1, NULL), 0);
    ck_assert_int_eq(redis_restart(&own, 0, 1), 0); /* down, its socket gone */
    ck_assert_int_eq(mproc_manager_connect(&m, own.address, NULL, 0), -ENOENT);
    ck_assert_int_eq(redis_restart(&own, 0, 0), 0);
    ck_assert_double_lt(now() - t0, 20.0);

    /* a database number; then Redis goes away and comes back: the call in
     * between fails, the first call after it is back succeeds */
    snprintf(address, sizeof address, "%s?db=3", own.address);
    ck_assert_int_eq(mproc_manager_connect(&m, address, NULL, 0), 0);
    mproc_dict_t *d;
    ck_assert_int_eq(mproc_manager_dict(m, "db", &d), 0);
    ck_assert_int_eq(mproc_dict_set(d, "k", 1, "v", 1), 0);
    char dbtext[64];
    ck_assert_int_eq(redis_admin(&own, NULL, dbtext, sizeof dbtext, "SELECT 3"), 0);
    ck_assert_int_eq(redis_restart(&own, 0, 1), 0);
    int rc = mproc_dict_set(d, "k", 1, "w", 1);
    ck_assert_msg(rc == -ENOENT || rc == MPROC_EOF || rc == MPROC_EPIPE, "%d", rc);
    ck_assert_int_eq(mproc_dict_set(d, "k", 1, "w", 1), -ENOENT);
    ck_assert_int_eq(redis_restart(&own, 0, 0), 0);
    ck_assert_int_eq(mproc_dict_set(d, "k", 1, "x", 1), 0);
    expect_value(d, "k", "x");
    /* shutdown closes the handle and leaves Redis running */
    mproc_dict_close(d);
    ck_assert_int_eq(mproc_manager_shutdown(m), 0);
    ck_assert_int_eq(redis_admin(&own, NULL, dbtext, sizeof dbtext, "PING"), 0);
    ck_assert_str_eq(dbtext, "PONG");
    redis_stop(&own);
}
END_TEST

START_TEST(a_restarted_tcp_redis_is_reconnected)
{
    test_redis_t own;
    if (!redis_up[ON_REDIS_TCP])
        return;
    ck_assert_int_eq(redis_start(&own, 0, "pw"), 0);
    mproc_manager_t *m;
    ck_assert_int_eq(mproc_manager_connect(&m, own.address, "pw", 2), 0);
    mproc_list_t *l;
    ck_assert_int_eq(mproc_manager_list(m, "l", &l), 0);
    ck_assert_int_eq(mproc_list_append(l, "a", 1), 0);
    ck_assert_int_eq(redis_restart(&own, 0, 1), 0);
    int rc = mproc_list_append(l, "b", 1);
    ck_assert_msg(rc == -ECONNREFUSED || rc == MPROC_EOF || rc == MPROC_EPIPE, "%d", rc);
    ck_assert_int_eq(mproc_list_append(l, "b", 1), -ECONNREFUSED);
    ck_assert_int_eq(redis_restart(&own, 0, 0), 0);
    ck_assert_int_eq(mproc_list_append(l, "c", 1), 0); /* the first call after: fine */
    size_t n;
    ck_assert_int_eq(mproc_list_len(l, &n), 0);
    ck_assert_uint_eq(n, 1); /* no persistence: only what came after */
    mproc_list_close(l);
    mproc_manager_close(m);
    redis_stop(&own);
}
END_TEST
/* A cluster moves the slot of a dict while a worker increments it: the
 * worker's calls follow ASK and MOVED, and not one increment is lost or
 * counted twice. */
struct moving {
    volatile int moved;   /* set by the parent once the slot has moved */
    volatile int started; /* set by the worker after its first increments */
    volatile long done;   /* increments acknowledged to the worker */
};

static int increment_while_moving(void *arg)
{
    struct moving *mv = arg;
    mproc_manager_t *m;
    mproc_dict_t *d;
    mproc_list_t *l;
    if (mproc_manager_connect(&m, redis[ON_REDIS_CLUSTER].address, NULL, 0) != 0 ||
        mproc_manager_dict(m, "moving", &d) != 0 || mproc_manager_list(m, "moving", &l) != 0)
        return 2;
    int after = 0;
    while (after < 200) {
        int64_t v;
        if (mproc_dict_incr(d, "n", 1, 1, &v) != 0)
            return 1;
        if (v != mv->done + 1)
            return 3; /* counted twice, or lost */
        mv->done = v;
        if (mproc_list_insert(l, 0, "x", 1) != 0 || mproc_list_pop(l, -1, NULL, NULL) != 0)
            return 4;
        if (v == 50)
            __atomic_store_n(&mv->started, 1, __ATOMIC_RELEASE);
        if (__atomic_load_n(&mv->moved, __ATOMIC_ACQUIRE))
            after++;
        if (v > 1000000)
            return 5;
    }
    mproc_list_close(l);
    mproc_dict_close(d);
    mproc_manager_close(m);
    return 0;
}

static int worker_started(void *arg)
{
    return __atomic_load_n(&((struct moving *)arg)->started, __ATOMIC_ACQUIRE);
}

START_TEST(a_cluster_moves_a_slot_during_a_workload)
{
    if (!start_backend(ON_REDIS_CLUSTER))
        return;
    test_redis_t *r = &redis[ON_REDIS_CLUSTER];
    const char *key = "mproc:dict:{moving}";
    int src = redis_node_of(r, key);
    ck_assert_int_ge(src, 0);
    int dst = (src + 1) % r->nodes;
    char src_id[41], dst_id[41], text[4096];
    ck_assert_int_eq(redis_node_id(r, src, src_id), 0);
    ck_assert_int_eq(redis_node_id(r, dst, dst_id), 0);
    ck_assert_int_eq(redis_admin(r, key, text, sizeof text, "CLUSTER KEYSLOT %s", key), 0);
    int slot = atoi(text);

    mproc_dict_t *d;
    ck_assert_int_eq(mproc_manager_dict(mgr, "moving", &d), 0);
    struct moving *mv = shared_alloc(sizeof *mv);
    pid_t pid = fork_child(increment_while_moving, mv);
    ck_assert(poll_until(worker_started, mv, 30));

    /* the slot moves as redis-cli --cluster reshard moves it */
#define ON_NODE(i, ...) ck_assert_int_eq(redis_admin_node(r, (i), text, sizeof text, __VA_ARGS__), 0)
    ON_NODE(dst, "CLUSTER SETSLOT %d IMPORTING %s", slot, src_id);
    ON_NODE(src, "CLUSTER SETSLOT %d MIGRATING %s", slot, dst_id);
    for (;;) {
        ON_NODE(src, "CLUSTER GETKEYSINSLOT %d 100", slot);
        if (text[0] == '\0')
            break;
        char *save, *k = strtok_r(text, "\n", &save);
        char keys[4096];
        snprintf(keys, sizeof keys, "%s", k);
        ON_NODE(src, "MIGRATE 127.0.0.1 %d %s 0 5000", r->port[dst], keys);
        ck_assert_msg(strcmp(text, "OK") == 0 || strcmp(text, "NOKEY") == 0, "MIGRATE: %s", text);
    }
    for (int i = 0; i < r->nodes; i++)
        ON_NODE(i, "CLUSTER SETSLOT %d NODE %s", slot, dst_id);
#undef ON_NODE
    __atomic_store_n(&mv->moved, 1, __ATOMIC_RELEASE);
    ck_assert_int_eq(wait_child(pid, 60), 0);

    int64_t total;
    ck_assert_int_eq(mproc_dict_incr(d, "n", 1, 0, &total), 0); /* this handle follows MOVED */
    ck_assert_int_eq(total, mv->done);
    ck_assert_int_eq(redis_node_of(r, key), dst);
    mproc_dict_close(d);
    stop_manager();
}
END_TEST
#else
START_TEST(redis_addresses_are_not_supported_without_hiredis)
{
    mproc_manager_t *m;
    ck_assert_int_eq(mproc_manager_connect(&m, "redis://127.0.0.1:6379", NULL, 0), MPROC_ENOTSUP);
    ck_assert_int_eq(mproc_manager_connect(&m, "redis+unix:///tmp/x.sock", NULL, 0), MPROC_ENOTSUP);
}
END_TEST
#endif

/* ---- lifetime ---- */

struct started {
    pid_t server;
    char address[256];
};

static int start_and_exit(void *arg)
{
    struct started *out = arg;
    mproc_manager_t *m;
    if (mproc_manager_start(&m, NULL, NULL, 0) != 0)
        return 1;
    snprintf(out->address, sizeof out->address, "%s", mproc_manager_address(m));
    if (out->server == -SIGKILL)
        raise(SIGKILL); /* dies at once, no exit handlers */
    return 0;           /* exits without shutdown: the server must follow */
}

static int server_gone(void *arg)
{
    mproc_manager_t *m;
    int r = mproc_manager_connect(&m, arg, NULL, 0);
    if (r == 0)
        mproc_manager_close(m);
    return r == MPROC_ENOENT || r == -ECONNREFUSED;
}

START_TEST(the_server_dies_with_its_starter)
{
    /* orphans come to us, so the server can be waited for */
    ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    struct started *s = shared_alloc(sizeof *s);
    int killed = _i == 1;
    s->server = killed ? -SIGKILL : 0;
    ck_assert_int_eq(wait_child(fork_child(start_and_exit, s), 20), killed ? -SIGKILL : 0);
    ck_assert_str_ne(s->address, "");
    /* the socket goes when the server does */
    ck_assert(poll_until(server_gone, s->address, 20));
    int status;
    pid_t reaped = waitpid(-1, &status, 0); /* the orphaned server */
    ck_assert_int_gt(reaped, 0);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    prctl(PR_SET_CHILD_SUBREAPER, 0);
}
END_TEST

START_TEST(the_server_keeps_none_of_the_starters_descriptors)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    start_manager();
    close(p[1]);
    char c;
    ck_assert_int_eq(read(p[0], &c, 1), 0); /* end of file: no copy of p[1] lives on */
    close(p[0]);
    stop_manager();
}
END_TEST

START_TEST(shutdown_stops_the_server_and_removes_its_socket)
{
    start_manager();
    char address[256];
    snprintf(address, sizeof address, "%s", mproc_manager_address(mgr));
    ck_assert_int_eq(access(address, F_OK), 0);
    size_t keylen;
    unsigned char key[32]; /* a copy: the handle's own goes with it */
    ck_assert_ptr_nonnull(mproc_manager_authkey(mgr, &keylen));
    ck_assert_uint_eq(keylen, 32);
    memcpy(key, mproc_manager_authkey(mgr, NULL), sizeof key);
    mproc_manager_t *other;
    ck_assert_int_eq(mproc_manager_connect(&other, address, key, keylen), 0);
    stop_manager(); /* waits for the server to exit */
    ck_assert_int_eq(access(address, F_OK), -1);
    mproc_dict_t *d;
    int r = mproc_manager_dict(other, "x", &d);
    ck_assert(r == MPROC_EOF || r == MPROC_EPIPE || r == MPROC_ENOENT || r == -ECONNREFUSED);
    ck_assert_int_eq(mproc_manager_close(other), 0);
    ck_assert_int_eq(mproc_manager_connect(&other, address, key, keylen), MPROC_ENOENT);
    ck_assert_int_eq(mproc_manager_connect(&other, "nonsense", NULL, 0), MPROC_EINVAL);
    ck_assert_int_eq(mproc_manager_start(&other, "nonsense", NULL, 0), MPROC_EINVAL);
    ck_assert_int_eq(mproc_manager_close(NULL), MPROC_EINVAL);
}
END_TEST

/* ---- TCP ---- */

static char tcp_address[128];

static int tcp_worker(void *arg)
{
    (void)arg;
    mproc_manager_t *m;
    if (mproc_manager_connect(&m, tcp_address, "tcp key", 7) != 0)
        return 1;
    mproc_dict_t *d;
    if (mproc_manager_dict(m, "tcp", &d) != 0)
        return 2;
    for (int i = 0; i < INCRS; i++)
        if (mproc_dict_incr(d, "hits", 4, 1, NULL) != 0)
            return 3;
    mproc_dict_close(d);
    mproc_manager_close(m);
    return 0;
}

START_TEST(tcp_with_a_key_from_several_processes)
{
    ck_assert_int_eq(mproc_manager_start(&mgr, "127.0.0.1:0", "tcp key", 7), 0);
    snprintf(tcp_address, sizeof tcp_address, "%s", mproc_manager_address(mgr));
    ck_assert_int_eq(strncmp(tcp_address, "127.0.0.1:", 10), 0);
    ck_assert_int_ne(atoi(tcp_address + 10), 0);
    pid_t pids[4];
    for (int i = 0; i < 4; i++)
        pids[i] = fork_child(tcp_worker, NULL);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(wait_child(pids[i], 60), 0);
    mproc_dict_t *d;
    ck_assert_int_eq(mproc_manager_dict(mgr, "tcp", &d), 0);
    int64_t hits;
    ck_assert_int_eq(mproc_dict_incr(d, "hits", 4, 0, &hits), 0);
    ck_assert_int_eq(hits, 4 * INCRS);
    mproc_dict_close(d);
    mproc_manager_t *wrong;
    ck_assert_int_eq(mproc_manager_connect(&wrong, tcp_address, "guess", 5), MPROC_EAUTH);
    ck_assert_int_eq(mproc_manager_connect(&wrong, tcp_address, NULL, 0), MPROC_EAUTH);
    stop_manager();
}
END_TEST

/* ---- hostile clients ---- */

static mproc_conn_t *raw_connection(const void *key, size_t keylen)
{
    mproc_conn_t *c;
    ck_assert_int_eq(mproc_client(&c, mproc_manager_address(mgr), key, keylen), 0);
    return c;
}

/* A few round trips of the good client, each within a second. */
static void good_client_works(mproc_dict_t *d)
{
    for (int i = 0; i < 3; i++) {
        double t0 = now();
        int64_t v;
        ck_assert_int_eq(mproc_dict_incr(d, "good", 4, 1, &v), 0);
        ck_assert_double_lt(now() - t0, 1.0);
    }
}

/* The server dropped c: a read ends with end of file. */
static void dropped(mproc_conn_t *c)
{
    char buf[64];
    size_t n;
    int r;
    while ((r = mproc_conn_recv(c, buf, sizeof buf, &n, 10.0)) == 0)
        ; /* replies to what it sent before the bad part */
    ck_assert_int_eq(r, MPROC_EOF);
    mproc_conn_close(c);
}

START_TEST(hostile_clients_do_not_hurt_the_good_one)
{
    start_manager();
    size_t keylen;
    const void *key = mproc_manager_authkey(mgr, &keylen);
    mproc_dict_t *d;
    ck_assert_int_eq(mproc_manager_dict(mgr, "kept", &d), 0);
    ck_assert_int_eq(mproc_dict_set(d, "data", 4, "intact", 6), 0);

    /* before authenticating: silent, half a frame, garbage, a huge claim */
    mproc_conn_t *silent = raw_connection(NULL, 0);
    mproc_conn_t *half = raw_connection(NULL, 0);
    ck_assert_int_eq(write(mproc_conn_fileno(half), "\0\0\0\100{sha", 8), 8);
    mproc_conn_t *garbage = raw_connection(NULL, 0);
    ck_assert_int_eq(mproc_conn_send(garbage, "not an answer", 13), 0);
    mproc_conn_t *huge = raw_connection(NULL, 0);
    ck_assert_int_eq(write(mproc_conn_fileno(huge), "\x7f\xff\xff\xff", 4), 4);
    good_client_works(d);
    dropped(garbage);
    dropped(huge);
    mproc_manager_t *wrong;
    ck_assert_int_eq(mproc_manager_connect(&wrong, mproc_manager_address(mgr), "wrong", 5), MPROC_EAUTH);
    good_client_works(d);

    /* authenticated, then malformed: each is dropped alone */
    static const struct { const char *what; const char *bytes; size_t n; } bad[] = {
        { "bad version", "\x02\x12\0\1d", 5 },
        { "unknown op", "\x01\x7f\0\1d", 5 },
        { "no name", "\x01\x12\0\0", 4 },
        { "truncated key", "\x01\x12\0\4kept\0\0\0\x09" "da", 14 },
        { "bytes left over", "\x01\x18\0\4kept!", 9 },
        { "key over the limit", "\x01\x12\0\4kept\0\x01\0\1", 13 },
        { "update count beyond the frame", "\x01\x1b\0\4kept\xff\xff\xff\xff", 12 },
        { "empty request", "", 0 },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mproc_conn_t *c = raw_connection(key, keylen);
        ck_assert_int_eq(mproc_conn_send(c, bad[i].bytes, bad[i].n), 0);
        dropped(c);
        good_client_works(d);
    }
    /* an authenticated client claiming a 2 GiB request */
    mproc_conn_t *claim = raw_connection(key, keylen);
    ck_assert_int_eq(write(mproc_conn_fileno(claim), "\x7f\xff\xff\xff", 4), 4);
    dropped(claim);

    /* one that asks and asks but never reads its replies */
    static char value[1 << 20];
    ck_assert_int_eq(mproc_dict_set(d, "big", 3, value, sizeof value), 0);
    mproc_conn_t *greedy = raw_connection(key, keylen);
    static const char get_big[] = "\x01\x12\0\4kept\0\0\0\3big";
    for (int i = 0; i < 64; i++)
        ck_assert_int_eq(mproc_conn_send(greedy, get_big, sizeof get_big - 1), 0);
    good_client_works(d);

    expect_value(d, "data", "intact");
    mproc_conn_close(greedy);
    mproc_conn_close(silent);
    mproc_conn_close(half);
    good_client_works(d);
    mproc_dict_close(d);
    stop_manager();
}
END_TEST

/* ---- the daemon and its snapshot ---- */

/* Starts `mproc manager`; with out, *out reads its standard output. */
static pid_t run_daemon_out(const char *address, const char *keyfile, const char *snapshot, int *out)
{
    const char *tool = getenv("MPROC_TOOL");
    ck_assert_ptr_nonnull(tool);
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        /* stdout to the pipe, or to /dev/null: never to a closed pipe */
        dup2(out != NULL ? p[1] : open("/dev/null", O_WRONLY), 1);
        close(p[0]);
        const char *args[10] = { "mproc", "manager", "--listen", address };
        int n = 4;
        if (keyfile != NULL) {
            args[n++] = "--authkey-file";
            args[n++] = keyfile;
        }
        if (snapshot != NULL) {
            args[n++] = "--snapshot";
            args[n++] = snapshot;
        }
        execv(tool, (char **)args);
        _exit(127);
    }
    close(p[1]);
    if (out != NULL)
        *out = p[0];
    else
        close(p[0]);
    return pid;
}

static pid_t run_daemon(const char *address, const char *keyfile, const char *snapshot)
{
    return run_daemon_out(address, keyfile, snapshot, NULL);
}

static int file_exists(void *path)
{
    return access(path, F_OK) == 0;
}

static int daemon_up(void *address)
{
    mproc_manager_t *m;
    if (mproc_manager_connect(&m, address, "daemon key", 10) != 0)
        return 0;
    mproc_manager_close(m);
    return 1;
}

START_TEST(the_daemon_keeps_its_data_across_restarts)
{
    char dir[] = "/tmp/mproc-test-daemon-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char address[128], keyfile[128], snapshot[128];
    snprintf(address, sizeof address, "%s/sock", dir);
    snprintf(keyfile, sizeof keyfile, "%s/key", dir);
    snprintf(snapshot, sizeof snapshot, "%s/snap", dir);
    FILE *f = fopen(keyfile, "w");
    fputs("daemon key\n", f); /* the trailing newline is not part of the key */
    fclose(f);

    pid_t pid = run_daemon(address, keyfile, snapshot);
    ck_assert(poll_until(daemon_up, address, 20));
    mproc_manager_t *m;
    ck_assert_int_eq(mproc_manager_connect(&m, address, "daemon key", 10), 0);
    mproc_dict_t *d;
    mproc_list_t *l;
    ck_assert_int_eq(mproc_manager_dict(m, "config", &d), 0);
    ck_assert_int_eq(mproc_manager_list(m, "log", &l), 0);
    ck_assert_int_eq(mproc_dict_set(d, "mode", 4, "fast", 4), 0);
    ck_assert_int_eq(mproc_dict_incr(d, "runs", 4, 3, NULL), 0);
    ck_assert_int_eq(mproc_list_append(l, "one", 3), 0);
    ck_assert_int_eq(mproc_list_append(l, "", 0), 0);
    /* SIGUSR1 writes a snapshot and goes on serving */
    ck_assert_int_eq(kill(pid, SIGUSR1), 0);
    ck_assert(poll_until(file_exists, snapshot, 20));
    ck_assert_int_eq(mproc_list_append(l, "two", 3), 0);
    mproc_dict_close(d);
    mproc_list_close(l);
    mproc_manager_close(m);
    ck_assert_int_eq(kill(pid, SIGTERM), 0);
    ck_assert_int_eq(wait_child(pid, 20), 0);
    ck_assert_int_eq(access(snapshot, F_OK), 0);
    ck_assert_int_eq(access(address, F_OK), -1);

    pid = run_daemon(address, keyfile, snapshot);
    ck_assert(poll_until(daemon_up, address, 20));
    ck_assert_int_eq(mproc_manager_connect(&m, address, "daemon key", 10), 0);
    ck_assert_int_eq(mproc_manager_dict(m, "config", &d), 0);
    ck_assert_int_eq(mproc_manager_list(m, "log", &l), 0);
    expect_value(d, "mode", "fast");
    expect_value(d, "runs", "3");
    expect_slice(l, 0, SSIZE_MAX, "onetwo");
    size_t n;
    ck_assert_int_eq(mproc_list_len(l, &n), 0);
    ck_assert_uint_eq(n, 3);
    mproc_dict_close(d);
    mproc_list_close(l);
    ck_assert_int_eq(mproc_manager_shutdown(m), 0); /* a SHUTDOWN request also saves */
    ck_assert_int_eq(wait_child(pid, 20), 0);

    /* a damaged snapshot is refused, not overwritten */
    f = fopen(snapshot, "r+");
    fputs("XX", f);
    fclose(f);
    pid = run_daemon(address, keyfile, snapshot);
    ck_assert_int_eq(wait_child(pid, 20), 1);
    unlink(snapshot);
    unlink(keyfile);
    rmdir(dir);
}
END_TEST

static int daemon_worker(void *arg)
{
    (void)arg;
    mproc_manager_t *m;
    if (mproc_manager_connect(&m, tcp_address, "daemon key", 10) != 0)
        return 1;
    mproc_list_t *l;
    if (mproc_manager_list(m, "arrivals", &l) != 0 || mproc_list_append(l, "x", 1) != 0)
        return 2;
    mproc_list_close(l);
    mproc_manager_close(m);
    return 0;
}

START_TEST(the_daemon_over_tcp_serves_several_processes)
{
    char keyfile[] = "/tmp/mproc-test-key-XXXXXX";
    int fd = mkstemp(keyfile);
    ck_assert_int_eq(write(fd, "daemon key", 10), 10); /* no newline: taken as it is */
    close(fd);
    int out;
    pid_t pid = run_daemon_out("127.0.0.1:0", keyfile, NULL, &out);
    FILE *f = fdopen(out, "r");
    char line[256];
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    fclose(f);
    ck_assert_int_eq(sscanf(line, "mproc manager: listening on %127s", tcp_address), 1);
    pid_t pids[4];
    for (int i = 0; i < 4; i++)
        pids[i] = fork_child(daemon_worker, NULL);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(wait_child(pids[i], 30), 0);
    mproc_manager_t *m;
    ck_assert_int_eq(mproc_manager_connect(&m, tcp_address, "daemon key", 10), 0);
    mproc_list_t *l;
    ck_assert_int_eq(mproc_manager_list(m, "arrivals", &l), 0);
    size_t n;
    ck_assert_int_eq(mproc_list_len(l, &n), 0);
    ck_assert_uint_eq(n, 4);
    mproc_list_close(l);
    mproc_manager_close(m);
    ck_assert_int_eq(kill(pid, SIGINT), 0); /* the daemon stops on SIGINT too */
    ck_assert_int_eq(wait_child(pid, 20), 0);
    /* TCP without a key is refused */
    pid = run_daemon("127.0.0.1:0", NULL, NULL);
    ck_assert_int_eq(wait_child(pid, 20), 1);
    pid = run_daemon("127.0.0.1:0", "/nonexistent/key", NULL);
    ck_assert_int_eq(wait_child(pid, 20), 1);
    unlink(keyfile);
}
END_TEST

/* ---- a server that lies: every length from the wire is checked ---- */

static const struct lie {
    const char *what;
    const char *bytes; /* the reply that follows `honest` true ones */
    size_t n;
    int honest;        /* requests answered truly first: ping, dict open */
    int expected;      /* from connect (honest 0) or from dict_keys / dict_get */
} lies[] = {
    { "2^63-1 bytes", "\xff\xff\xff\xff\x7f\xff\xff\xff\xff\xff\xff\xff", 12, 0, MPROC_EMSGSIZE },
    { "2^64-1 bytes", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 12, 0, MPROC_EMSGSIZE },
    { "1 TiB, never sent", "\xff\xff\xff\xff\0\0\0\xff\xff\xff\xff\xff", 12, 0, MPROC_EOF },
    { "a negative length", "\xff\xff\xff\xfb", 4, 0, MPROC_EPROTO },
    { "a positive status", "\0\0\0\5\x01\0\0\0\x0b", 9, 0, MPROC_EPROTO },
    { "a short status", "\0\0\0\3\x01\0\0", 7, 0, MPROC_EPROTO },
    { "2^32-1 keys", "\0\0\0\x09\x01\0\0\0\0\xff\xff\xff\xff", 13, 2, MPROC_EPROTO },
    { "a value longer than the reply", "\0\0\0\x0b\x01\0\0\0\0\x7f\xff\xff\xff" "ab", 15, 2,
      MPROC_EPROTO },
};

static int lying_server(void *arg)
{
    const struct lie *lie = &lies[*(int *)arg];
    mproc_listener_t *l = *(mproc_listener_t **)((int *)arg + 2);
    mproc_conn_t *c;
    if (mproc_listener_accept(l, &c, 20) != 0)
        return 1;
    for (int i = 0;; i++) {
        void *req;
        size_t len;
        if (mproc_conn_recv_alloc(c, &req, &len, 20) != 0)
            return 2;
        free(req);
        if (i == lie->honest)
            break;
        if (mproc_conn_send(c, "\x01\0\0\0\0", 5) != 0)
            return 3;
    }
    if (write(mproc_conn_fileno(c), lie->bytes, lie->n) != (ssize_t)lie->n)
        return 4;
    mproc_conn_close(c); /* the client reads the lie, then the end */
    return 0;
}

START_TEST(a_lying_server_gets_negative_errors)
{
    const struct lie *lie = &lies[_i];
    struct { int index, pad; mproc_listener_t *l; } arg = { _i, 0, NULL };
    ck_assert_int_eq(mproc_listener_create(&arg.l, NULL, NULL, 0), 0);
    pid_t pid = fork_child(lying_server, &arg);
    mproc_manager_t *m = NULL;
    int r = mproc_manager_connect(&m, mproc_listener_address(arg.l), NULL, 0);
    if (lie->honest > 0) {
        ck_assert_int_eq(r, 0);
        mproc_dict_t *d;
        ck_assert_int_eq(mproc_manager_dict(m, "d", &d), 0);
        mproc_buf_t *keys;
        size_t n;
        void *v;
        r = lie->bytes[9] == '\x7f' ? mproc_dict_get(d, "k", 1, &v, &n) : mproc_dict_keys(d, &keys, &n);
        mproc_dict_close(d);
        mproc_manager_close(m);
    }
    ck_assert_msg(r == lie->expected, "%s: %d, not %d", lie->what, r, lie->expected);
    ck_assert_int_eq(wait_child(pid, 20), 0);
    mproc_listener_close(arg.l);
}
END_TEST

static Suite *manager_suite(void)
{
    Suite *s = suite_create("manager");
    TCase *tc = tcase_create("operations");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, dict_operations_and_their_errors, 0, BACKENDS);
    tcase_add_loop_test(tc, incr_keeps_decimal_text, 0, BACKENDS);
    tcase_add_loop_test(tc, list_operations_and_their_errors, 0, BACKENDS);
    suite_add_tcase(s, tc);
    TCase *conc = tcase_create("concurrency");
    tcase_set_timeout(conc, 120);
    tcase_add_loop_test(conc, forked_workers_increment_exactly, 0, BACKENDS);
    tcase_add_loop_test(conc, threads_share_one_handle, 0, BACKENDS);
    tcase_add_test(conc, tcp_with_a_key_from_several_processes);
    tcase_add_loop_test(conc, eight_processes_increment_exactly, 0, BACKENDS);
    suite_add_tcase(s, conc);
    TCase *rds = tcase_create("redis");
    tcase_set_timeout(rds, 120);
#ifdef HAVE_HIREDIS
    tcase_add_loop_test(rds, redis_cli_sees_what_mproc_writes_and_the_other_way, 0, 3);
    tcase_add_loop_test(rds, names_with_braces_colons_and_binary_bytes_round_trip, 0, 3);
    tcase_add_test(rds, redis_errors_are_clear_and_change_nothing);
    tcase_add_test(rds, a_restarted_tcp_redis_is_reconnected);
    tcase_add_test(rds, a_cluster_moves_a_slot_during_a_workload);
#else
    tcase_add_test(rds, redis_addresses_are_not_supported_without_hiredis);
#endif
    suite_add_tcase(s, rds);
    TCase *life = tcase_create("lifetime");
    tcase_set_timeout(life, 120);
    tcase_add_loop_test(life, the_server_dies_with_its_starter, 0, 2); /* exit, SIGKILL */
    tcase_add_test(life, the_server_keeps_none_of_the_starters_descriptors);
    tcase_add_test(life, shutdown_stops_the_server_and_removes_its_socket);
    tcase_add_test(life, hostile_clients_do_not_hurt_the_good_one);
    tcase_add_loop_test(life, a_lying_server_gets_negative_errors, 0, sizeof lies / sizeof lies[0]);
    tcase_add_test(life, the_daemon_keeps_its_data_across_restarts);
    tcase_add_test(life, the_daemon_over_tcp_serves_several_processes);
    suite_add_tcase(s, life);
    return s;
}

#ifdef HAVE_HIREDIS
static pid_t main_pid;

static void stop_redis(void)
{
    if (getpid() != main_pid)
        return; /* a test's child exiting: the servers are not its own */
    for (int b = ON_REDIS_UNIX; b < BACKENDS; b++)
        redis_stop(&redis[b]);
}

/* The Redis servers every test shares: started once, emptied before each
 * test, stopped at exit whatever the tests did. */
static void start_redis(void)
{
    main_pid = getpid();
    if (!redis_available()) {
        fprintf(stderr, "test_manager: redis-server not found: the Redis variants are skipped\n");
        return;
    }
    atexit(stop_redis);
    redis_up[ON_REDIS_UNIX] = redis_start(&redis[ON_REDIS_UNIX], 1, NULL) == 0;
    redis_up[ON_REDIS_TCP] = redis_start(&redis[ON_REDIS_TCP], 0, "pass word") == 0;
    redis_up[ON_REDIS_CLUSTER] = redis_start_cluster(&redis[ON_REDIS_CLUSTER], 3) == 0;
}
#endif

int main(void)
{
#ifdef HAVE_HIREDIS
    start_redis();
#else
    fprintf(stderr, "test_manager: built without hiredis: the Redis variants are skipped\n");
#endif
    return run_suite(manager_suite());
}
