/* The Manager's journal: the daemon SIGKILLed at random moments under load
 * from several client processes and restarted on the same file, 20 rounds,
 * keeps every change it acknowledged (fsync always and everysec; kills land
 * inside compactions too); a torn last record is cut off; damage before the
 * last record is a refusal to start; the journal is compacted; the embedded
 * server takes a journal through mproc_manager_start_opts. */
#include "daemon.h"
#include "helpers.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

enum { WORKERS = 4, ROUNDS = 20 };

static char dir[64], journal[128], address[96];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/mproc-test-journal-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(journal, sizeof journal, "%s/journal", dir);
    snprintf(address, sizeof address, "@%s", test_name("journal"));
}

static void teardown(void)
{
    remove_tree(dir);
}

/* Starts the daemon on the journal with the fsync policy (and a
 * --rewrite-min). Its pid, after it listens; with *status (not NULL) it may
 * instead exit: then 0 and *status its exit status, *err what it said. */
static pid_t daemon_run(const char *fsync, const char *rewrite_min, int *status, char *err, size_t errsize)
{
    const char *args[12] = { "--listen", address, "--journal", journal, "--fsync", fsync };
    int n = 6;
    if (rewrite_min != NULL) {
        args[n++] = "--rewrite-min";
        args[n++] = rewrite_min;
    }
    args[n] = NULL;
    return daemon_try_start(args, 0, status, err, errsize);
}

static pid_t journal_daemon(const char *fsync, const char *rewrite_min)
{
    return daemon_run(fsync, rewrite_min, NULL, NULL, 0);
}

static void daemon_stop(pid_t pid)
{
    kill(pid, SIGTERM);
    ck_assert_int_eq(wait_child(pid, 20), 0);
}

static int64_t counter(const char *key)
{
    mproc_manager_t *m;
    mproc_dict_t *d;
    ck_assert_int_eq(mproc_manager_connect(&m, address, NULL, 0), 0);
    ck_assert_int_eq(mproc_manager_dict(m, "counters", &d), 0);
    int64_t v = 0; /* read, not incr by 0: that would be a change, journaled */
    void *text;
    size_t n;
    int r = mproc_dict_get(d, key, strlen(key), &text, &n);
    if (r == 0) {
        v = atoll(text);
        free(text);
    } else {
        ck_assert_int_eq(r, MPROC_EKEY);
    }
    mproc_dict_close(d);
    mproc_manager_close(m);
    return v;
}

struct worker {
    int id;
    volatile int64_t *acked; /* shared: the last value each worker saw acknowledged */
};

/* Increments its counter until the server goes; each acknowledged value is
 * published before the next request. */
static int increment(void *arg)
{
    struct worker *w = arg;
    mproc_manager_t *m;
    mproc_dict_t *d;
    if (mproc_manager_connect(&m, address, NULL, 0) != 0 || mproc_manager_dict(m, "counters", &d) != 0)
        return 0; /* killed before we got in */
    char key[8];
    snprintf(key, sizeof key, "c%d", w->id);
    for (;;) {
        int64_t v;
        if (mproc_dict_incr(d, key, strlen(key), 1, &v) != 0)
            return 0;
        if (v != w->acked[w->id] + 1)
            return 3; /* acknowledged twice, or a step lost while we watched */
        w->acked[w->id] = v;
        __atomic_thread_fence(__ATOMIC_SEQ_CST); /* published before the next request leaves */
    }
}

/* ROUNDS times: load from WORKERS processes, SIGKILL at a random moment
 * (sometimes right after asking for a compaction), restart: every
 * acknowledged increment is there, and at most the one in flight more. */
static void kill_rounds(const char *fsync)
{
    volatile int64_t *acked = shared_alloc(sizeof(int64_t) * WORKERS);
    for (int round = 0; round < ROUNDS; round++) {
        pid_t server = journal_daemon(fsync, "4K"); /* compactions all along */
        pid_t workers[WORKERS];
        struct worker w[WORKERS];
        for (int i = 0; i < WORKERS; i++) {
            w[i] = (struct worker){ i, acked };
            workers[i] = fork_child(increment, &w[i]);
        }
        pause_random_us(150000);
        if (round % 3 == 2) {
            kill(server, SIGUSR2); /* a forced compaction, killed in its course or after */
            pause_random_us(2000);
        }
        kill(server, SIGKILL);
        ck_assert_int_eq(wait_child(server, 20), -SIGKILL);
        for (int i = 0; i < WORKERS; i++)
            ck_assert_int_eq(wait_child(workers[i], 20), 0);
        server = journal_daemon(fsync, "4K");
        for (int i = 0; i < WORKERS; i++) {
            char key[8];
            snprintf(key, sizeof key, "c%d", i);
            int64_t v = counter(key);
            ck_assert_int_ge(v, acked[i]);
            ck_assert_int_le(v, acked[i] + 1);
            acked[i] = v; /* the one in flight may have made it */
        }
        kill(server, SIGKILL);
        ck_assert_int_eq(wait_child(server, 20), -SIGKILL);
    }
    int64_t total = 0;
    for (int i = 0; i < WORKERS; i++)
        total += acked[i];
    ck_assert_int_gt(total, ROUNDS); /* there was load */
}

START_TEST(kill_under_load_always)
{
    kill_rounds("always");
}
END_TEST

START_TEST(kill_under_load_everysec)
{
    /* a killed process has written everything it acknowledged (the write
     * comes before the reply); everysec risks the last second only to a
     * crash of the machine */
    kill_rounds("everysec");
}
END_TEST

/* CRC-32C, as the journal's records carry it. */
static uint32_t crc32c(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

static off_t file_size(const char *path)
{
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    return st.st_size;
}

static void fill(int n)
{
    mproc_manager_t *m;
    mproc_dict_t *d;
    ck_assert_int_eq(mproc_manager_connect(&m, address, NULL, 0), 0);
    ck_assert_int_eq(mproc_manager_dict(m, "counters", &d), 0);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(mproc_dict_incr(d, "c0", 2, 1, NULL), 0);
    mproc_dict_close(d);
    mproc_manager_close(m);
}

static void append_bytes(const void *p, size_t n)
{
    int fd = open(journal, O_WRONLY | O_APPEND);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, p, n), (ssize_t)n);
    close(fd);
}

START_TEST(torn_last_record_is_cut_off)
{
    pid_t pid = journal_daemon("always", NULL);
    fill(10);
    daemon_stop(pid);
    off_t good = file_size(journal);
    /* a record header that promises more than follows (a crash mid-append) */
    unsigned char torn[20] = { 0, 0, 0, 100 };
    uint32_t hc = crc32c(torn, 4); /* its header check is right: only the payload is cut short */
    torn[4] = (unsigned char)(hc >> 24);
    torn[5] = (unsigned char)(hc >> 16);
    torn[6] = (unsigned char)(hc >> 8);
    torn[7] = (unsigned char)hc;
    append_bytes(torn, sizeof torn);
    pid = journal_daemon("always", NULL);
    ck_assert_int_eq(counter("c0"), 10);
    ck_assert_int_eq(file_size(journal), good); /* cut off for good */
    daemon_stop(pid);
    /* zeros to the end (space given, never written), and a header cut short */
    static const unsigned char zeros[64];
    append_bytes(zeros, sizeof zeros);
    pid = journal_daemon("always", NULL);
    ck_assert_int_eq(counter("c0"), 10);
    daemon_stop(pid);
    append_bytes("\0\0\0\5\1", 5);
    pid = journal_daemon("always", NULL);
    ck_assert_int_eq(counter("c0"), 10);
    fill(1);
    daemon_stop(pid);
    pid = journal_daemon("always", NULL);
    ck_assert_int_eq(counter("c0"), 11);
    daemon_stop(pid);
}
END_TEST

START_TEST(damage_before_the_last_record_refuses_to_start)
{
    pid_t pid = journal_daemon("always", NULL);
    fill(10);
    daemon_stop(pid);
    off_t size = file_size(journal);
    /* flip a byte in the middle: a record that is not the last */
    int fd = open(journal, O_RDWR);
    ck_assert_int_ge(fd, 0);
    unsigned char b;
    off_t at = size / 2;
    ck_assert_int_eq(pread(fd, &b, 1, at), 1);
    b ^= 0x40;
    ck_assert_int_eq(pwrite(fd, &b, 1, at), 1);
    close(fd);
    int status = -1;
    char err[512];
    ck_assert_int_eq(daemon_run("always", NULL, &status, err, sizeof err), 0);
    ck_assert_int_eq(status, 1);
    ck_assert_ptr_nonnull(strstr(err, "refusing to start"));
    ck_assert_int_eq(file_size(journal), size); /* left as it was, for the operator */
    /* not a journal at all */
    fd = open(journal, O_WRONLY | O_TRUNC);
    ck_assert_int_eq(write(fd, "this is not a journal", 21), 21);
    close(fd);
    ck_assert_int_eq(daemon_run("always", NULL, &status, err, sizeof err), 0);
    ck_assert_int_eq(status, 1);
    ck_assert_ptr_nonnull(strstr(err, "not an mproc journal"));
}
END_TEST

static int smaller(void *arg)
{
    struct stat st;
    return stat(journal, &st) == 0 && st.st_size < *(off_t *)arg;
}

START_TEST(journal_is_compacted)
{
    pid_t pid = journal_daemon("no", "4K");
    fill(3000); /* ~100 KB of records for one small counter */
    ck_assert_int_lt(file_size(journal), 16 << 10);
    daemon_stop(pid);
    pid = journal_daemon("no", "4K");
    ck_assert_int_eq(counter("c0"), 3000);
    /* SIGUSR2 compacts at once */
    fill(10);
    off_t before = file_size(journal);
    kill(pid, SIGUSR2);
    struct shrink { off_t before; } sh = { before };
    ck_assert(poll_until(smaller, &sh, 20));
    ck_assert_int_eq(counter("c0"), 3010);
    daemon_stop(pid);
}
END_TEST

START_TEST(embedded_server_takes_a_journal)
{
    mproc_manager_opts_t o = { .journal = journal, .fsync = MPROC_FSYNC_ALWAYS };
    mproc_manager_t *m;
    ck_assert_int_eq(mproc_manager_start_opts(&m, NULL, NULL, 0, &o), 0);
    mproc_list_t *l;
    ck_assert_int_eq(mproc_manager_list(m, "log", &l), 0);
    ck_assert_int_eq(mproc_list_append(l, "one", 3), 0);
    ck_assert_int_eq(mproc_list_append(l, "two", 3), 0);
    mproc_list_close(l);
    ck_assert_int_eq(mproc_manager_shutdown(m), 0);
    ck_assert_int_eq(mproc_manager_start_opts(&m, NULL, NULL, 0, &o), 0);
    /* a second server on the same journal, while this one runs: refused */
    mproc_manager_t *second;
    ck_assert_int_eq(mproc_manager_start_opts(&second, NULL, NULL, 0, &o), MPROC_EBUSY);
    ck_assert_int_eq(mproc_manager_list(m, "log", &l), 0);
    size_t n;
    ck_assert_int_eq(mproc_list_len(l, &n), 0);
    ck_assert_uint_eq(n, 2);
    mproc_list_close(l);
    ck_assert_int_eq(mproc_manager_shutdown(m), 0);
    /* a damaged journal: the start fails, clearly */
    int fd = open(journal, O_WRONLY | O_TRUNC);
    ck_assert_int_eq(write(fd, "MPROCJL1garbage-garbage-garbage", 31), 31);
    close(fd);
    ck_assert_int_eq(mproc_manager_start_opts(&m, NULL, NULL, 0, &o), MPROC_EPROTO);
}
END_TEST


/* The daemon's first child (the snapshot writer), or 0. */
static pid_t child_of(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    int child = 0;
    if (fscanf(f, "%d", &child) != 1)
        child = 0;
    fclose(f);
    return child;
}

/* The state letter of a process ('T': stopped), or 0. */
static char state_of(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *paren = strrchr(buf, ')');
    return paren != NULL && paren[1] == ' ' ? paren[2] : 0;
}

/* Whether pid has let go of its sockets (1), or not yet (0; -1: gone). */
static int without_sockets(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    int sockets = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char link[600], target[64];
        snprintf(link, sizeof link, "%s/%s", path, e->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n > 0) {
            target[n] = '\0';
            sockets += strncmp(target, "socket:", 7) == 0;
        }
    }
    closedir(d);
    return sockets == 0;
}

START_TEST(one_daemon_per_journal)
{
    pid_t first = journal_daemon("always", NULL);
    fill(5);
    /* a second one on the same journal (at another address): refused, clearly */
    char other[96];
    snprintf(other, sizeof other, "@%s", test_name("journal-second"));
    const char *args[] = { "--listen", other, "--journal", journal, NULL };
    int status = -1;
    char err[512];
    ck_assert_int_eq(daemon_try_start(args, 0, &status, err, sizeof err), 0);
    ck_assert_int_eq(status, 1);
    ck_assert_ptr_nonnull(strstr(err, "in use by another Manager server"));
    char pid_text[32];
    snprintf(pid_text, sizeof pid_text, "(pid %d)", (int)first);
    ck_assert_ptr_nonnull(strstr(err, pid_text));
    ck_assert_int_eq(counter("c0"), 5); /* the first one serves on, untouched */
    fill(1);
    daemon_stop(first);
    /* once it is gone the journal is free again, with everything in it */
    first = journal_daemon("always", NULL);
    ck_assert_int_eq(counter("c0"), 6);
    kill(first, SIGKILL); /* killed: the kernel drops the lock */
    ck_assert_int_eq(wait_child(first, 20), -SIGKILL);
    first = journal_daemon("always", NULL);
    ck_assert_int_eq(counter("c0"), 6);
    daemon_stop(first);
}
END_TEST

START_TEST(snapshot_child_does_not_hold_the_journal)
{
    char snapshot[160];
    snprintf(snapshot, sizeof snapshot, "%s/snapshot", dir);
    const char *args[] = { "--listen", address, "--journal", journal, "--fsync", "no", "--snapshot", snapshot, NULL };
    pid_t pid = daemon_start(args, 0);
    /* enough data that writing a snapshot takes the child a moment */
    mproc_manager_t *m;
    mproc_list_t *l;
    ck_assert_int_eq(mproc_manager_connect(&m, address, NULL, 0), 0);
    ck_assert_int_eq(mproc_manager_list(m, "big", &l), 0);
    size_t size = (size_t)4 << 20;
    char *chunk = malloc(size);
    ck_assert_ptr_nonnull(chunk);
    memset(chunk, 'x', size);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(mproc_list_append(l, chunk, size), 0);
    free(chunk);
    mproc_list_close(l);
    mproc_manager_close(m);
    /* catch the snapshot child in its work and stop it there */
    pid_t child = 0;
    for (int tries = 0; tries < 200 && child == 0; tries++) {
        kill(pid, SIGUSR1);
        double until = now() + 2;
        while (child == 0 && now() < until)
            child = child_of(pid);
        /* past its first steps (letting go of the sockets): writing */
        int w = 0;
        while (child != 0 && (w = without_sockets(child)) == 0 && now() < until)
            ;
        if (child != 0 && (w != 1 || kill(child, SIGSTOP) != 0 || state_of(child) == 0)) {
            child = 0; /* done before we stopped it: again */
            continue;
        }
        double stop_by = now() + 2;
        while (child != 0 && state_of(child) != 'T' && now() < stop_by)
            ;
        if (child != 0 && state_of(child) != 'T')
            child = 0; /* it was a zombie already */
    }
    ck_assert_int_ne(child, 0);
    /* the server dies while its child still has the files open */
    kill(pid, SIGKILL);
    ck_assert_int_eq(wait_child(pid, 20), -SIGKILL);
    int status = -1;
    char err[512] = "";
    pid = daemon_try_start(args, 0, &status, err, sizeof err);
    kill(child, SIGKILL); /* not ours to reap: it was the server's */
    ck_assert_msg(pid != 0, "restart refused while the old server's snapshot child lives: %s", err);
    daemon_stop(pid);
}
END_TEST

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    Suite *s = suite_create("manager_journal");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, kill_under_load_always);
    tcase_add_test(tc, kill_under_load_everysec);
    tcase_add_test(tc, torn_last_record_is_cut_off);
    tcase_add_test(tc, damage_before_the_last_record_refuses_to_start);
    tcase_add_test(tc, journal_is_compacted);
    tcase_add_test(tc, embedded_server_takes_a_journal);
    tcase_add_test(tc, one_daemon_per_journal);
    tcase_add_test(tc, snapshot_child_does_not_hold_the_journal);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
