/* Manager queues on the `mproc manager` daemon with a journal: the daemon
 * SIGKILLed in the middle of a concurrent run (3 producers x 300 items, 3
 * consumers, all on the queue by address, retrying through the connection
 * errors while it is down) and restarted on the same journal: every put
 * that was acknowledged is delivered, no item whose task_done was
 * acknowledged is delivered again, the items held when it died are
 * delivered again after the restart, and join completes. */
#include "daemon.h"
#include "helpers.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { PRODUCERS = 3, ITEMS = 300, CONSUMERS = 3, ATTEMPTS = 16, MAXSIZE = 64 };
#define SLOTS (PRODUCERS * ITEMS * ATTEMPTS)

static char dir[64], journal[128], address[96];

/* Shared with the children. An item's payload names its producer, its
 * number and the attempt (a put retried after a connection error may have
 * reached the journal too, so each attempt is an item of its own). */
struct run {
    volatile int put_acked[PRODUCERS * ITEMS]; /* the attempt acknowledged + 1 */
    volatile int got[SLOTS];                   /* deliveries */
    volatile int done[SLOTS];                  /* task_done acknowledged */
    volatile int after_done;                   /* deliveries of an item already done */
    volatile int gets;                         /* deliveries in all */
    volatile int stop;                         /* the consumers may go */
};
static struct run *run;

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/mproc-test-qjournal-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(journal, sizeof journal, "%s/journal", dir);
    snprintf(address, sizeof address, "@%s", test_name("qjournal"));
}

static void teardown(void)
{
    remove_tree(dir);
}

static pid_t start_daemon(void)
{
    const char *args[] = { "--listen", address, "--journal", journal, "--fsync", "always", NULL };
    return daemon_start(args, 0);
}

/* While the daemon is down, calls fail at once: a short rest between tries
 * (a back-off, not a way to wait for anything in particular). */
static void back_off(void)
{
    struct timespec ts = { 0, 2 * 1000 * 1000 };
    nanosleep(&ts, NULL);
}

/* The connection is not there (yet): nothing of the request was sent. */
static int not_sent(int r)
{
    return r == -ECONNREFUSED || r == -ENOENT;
}

static mproc_rqueue_t *attach(double seconds)
{
    double until = now() + seconds;
    while (now() < until) {
        mproc_manager_t *m;
        mproc_rqueue_t *q;
        if (mproc_manager_connect(&m, address, NULL, 0) == 0) {
            int r = mproc_manager_queue(m, "jobs", MAXSIZE, &q);
            mproc_manager_close(m);
            if (r == 0)
                return q;
        }
        back_off();
    }
    return NULL;
}

static int producer(void *arg)
{
    int p = (int)(intptr_t)arg;
    mproc_rqueue_t *q = attach(20);
    if (q == NULL)
        return 2;
    double until = now() + 30;
    for (int i = 0; i < ITEMS; i++) {
        int attempt = 0;
        for (;;) {
            if (now() > until)
                return 3;
            char item[32];
            int n = snprintf(item, sizeof item, "%d %d %d", p, i, attempt);
            int r = mproc_rqueue_put(q, item, (size_t)n, 5.0);
            if (r == 0) {
                run->put_acked[p * ITEMS + i] = attempt + 1;
                break;
            }
            if (!not_sent(r) && ++attempt >= ATTEMPTS)
                return 4; /* far more failures than one kill explains */
            back_off();
        }
    }
    mproc_rqueue_close(q);
    return 0;
}

static int consumer(void *arg)
{
    (void)arg;
    mproc_rqueue_t *q = attach(20);
    if (q == NULL)
        return 2;
    double until = now() + 40;
    while (!run->stop) {
        if (now() > until)
            return 3;
        void *data;
        size_t len;
        int r = mproc_rqueue_get(q, &data, &len, 0.1);
        if (r == MPROC_EEMPTY)
            continue;
        if (r != 0) {
            back_off(); /* the daemon is down: the next call connects anew */
            continue;
        }
        char text[32];
        if (len >= sizeof text)
            return 5;
        memcpy(text, data, len);
        text[len] = '\0';
        free(data);
        int p, i, a;
        if (sscanf(text, "%d %d %d", &p, &i, &a) != 3 || p < 0 || p >= PRODUCERS || i < 0 || i >= ITEMS ||
            a < 0 || a >= ATTEMPTS)
            return 6;
        int slot = (p * ITEMS + i) * ATTEMPTS + a;
        if (run->done[slot])
            __atomic_add_fetch(&run->after_done, 1, __ATOMIC_SEQ_CST);
        __atomic_add_fetch(&run->got[slot], 1, __ATOMIC_SEQ_CST);
        __atomic_add_fetch(&run->gets, 1, __ATOMIC_SEQ_CST);
        /* a failed task_done (the daemon died) is not an acknowledgement:
         * the item comes back to someone after the restart */
        if (mproc_rqueue_task_done(q) == 0)
            run->done[slot] = 1;
    }
    mproc_rqueue_close(q);
    return 0;
}

static int progressed(void *arg)
{
    return run->gets >= *(int *)arg;
}

START_TEST(kill_and_restart_in_a_concurrent_run)
{
    run = shared_alloc(sizeof *run);
    pid_t server = start_daemon();
    pid_t producers[PRODUCERS], consumers[CONSUMERS];
    for (int i = 0; i < PRODUCERS; i++)
        producers[i] = fork_child(producer, (void *)(intptr_t)i);
    for (int i = 0; i < CONSUMERS; i++)
        consumers[i] = fork_child(consumer, NULL);
    int enough = PRODUCERS * ITEMS / 3;
    ck_assert(poll_until(progressed, &enough, 20));
    /* an item held, never acknowledged, when the daemon dies: it must come
     * back after the restart, or join never completes */
    mproc_rqueue_t *mine = attach(5);
    ck_assert_ptr_nonnull(mine);
    void *data;
    size_t len;
    ck_assert_int_eq(mproc_rqueue_get(mine, &data, &len, 5), 0);
    free(data);
    kill(server, SIGKILL);
    ck_assert_int_eq(wait_child(server, 20), -SIGKILL);
    server = start_daemon();
    for (int i = 0; i < PRODUCERS; i++)
        ck_assert_int_eq(wait_child(producers[i], 40), 0);
    /* the connection that held it is gone: nothing of it is this handle's
     * (the first call may still see the old connection's end) */
    int r = mproc_rqueue_task_done(mine);
    if (r != MPROC_EOVERFLOW)
        r = mproc_rqueue_task_done(mine);
    ck_assert_int_eq(r, MPROC_EOVERFLOW);
    ck_assert_int_eq(mproc_rqueue_join(mine, 20), 0);
    size_t n;
    ck_assert_int_eq(mproc_rqueue_qsize(mine, &n), 0);
    ck_assert_uint_eq(n, 0);
    run->stop = 1;
    for (int i = 0; i < CONSUMERS; i++)
        ck_assert_int_eq(wait_child(consumers[i], 20), 0);
    mproc_rqueue_close(mine);
    /* every acknowledged put delivered; nothing acknowledged done delivered again */
    for (int k = 0; k < PRODUCERS * ITEMS; k++) {
        ck_assert_int_gt(run->put_acked[k], 0);
        ck_assert_int_ge(run->got[k * ATTEMPTS + run->put_acked[k] - 1], 1);
    }
    ck_assert_int_eq(run->after_done, 0);
    kill(server, SIGTERM);
    ck_assert_int_eq(wait_child(server, 20), 0);
}
END_TEST


/* ---- a long journal of queue records ---- */

static uint32_t crc32c(const unsigned char *p, size_t n)
{
    static uint32_t table[256];
    if (table[1] == 0)
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
            table[i] = c;
        }
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++)
        c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

static size_t be(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * (bytes - 1 - i)));
    return (size_t)bytes;
}

/* Appends one QUEUE record (queue "jobs") to f: qop, num, and for a PUT
 * the item. */
static void queue_record(FILE *f, unsigned qop, uint64_t num, const char *item)
{
    unsigned char payload[64], header[12];
    size_t n = 0;
    payload[n++] = 3; /* QUEUE */
    payload[n++] = (unsigned char)qop;
    n += be(payload + n, 4, 2);
    memcpy(payload + n, "jobs", 4);
    n += 4;
    n += be(payload + n, num, 8);
    if (item != NULL) {
        size_t len = strlen(item);
        n += be(payload + n, len, 4);
        memcpy(payload + n, item, len);
        n += len;
    }
    be(header, n, 4);
    be(header + 4, crc32c(header, 4), 4);
    be(header + 8, crc32c(payload, n), 4);
    ck_assert_uint_eq(fwrite(header, 1, 12, f), 12);
    ck_assert_uint_eq(fwrite(payload, 1, n, f), n);
}

/* A journal of 100000 queue records (40000 puts, then 30000 items taken
 * and done, one after the other, as a run with a deep queue writes them)
 * is replayed at start in well under the bound: a take or a done finds its
 * item by id in a hash, not by a walk through the queue. The time is
 * printed. */
START_TEST(long_queue_journal_replays_fast)
{
    enum { PUTS = 40000, DONE = 30000 };
    FILE *f = fopen(journal, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite("MPROCJL1", 1, 8, f), 8);
    queue_record(f, 1, 0, NULL); /* OPEN, unbounded */
    for (int i = 1; i <= PUTS; i++) {
        char item[16];
        snprintf(item, sizeof item, "item %d", i);
        queue_record(f, 2, (uint64_t)i, item);
    }
    for (int i = 1; i <= DONE; i++) {
        queue_record(f, 3, (uint64_t)i, NULL); /* TAKE */
        queue_record(f, 4, (uint64_t)i, NULL); /* DONE */
    }
    ck_assert_int_eq(fclose(f), 0);
    double t0 = now();
    pid_t server = start_daemon();
    double took = now() - t0;
    fprintf(stderr, "long_queue_journal_replays_fast: %d records replayed in %.3f s\n", 1 + PUTS + 2 * DONE, took);
    ck_assert_double_lt(took, 15); /* generous: a walk per record made this seconds to minutes */
    mproc_rqueue_t *q = attach(5);
    ck_assert_ptr_nonnull(q);
    size_t n;
    ck_assert_int_eq(mproc_rqueue_qsize(q, &n), 0);
    ck_assert_uint_eq(n, PUTS - DONE);
    void *data;
    size_t len;
    ck_assert_int_eq(mproc_rqueue_get(q, &data, &len, 1), 0);
    ck_assert_uint_eq(len, strlen("item 30001"));
    ck_assert_int_eq(memcmp(data, "item 30001", len), 0);
    free(data);
    mproc_rqueue_close(q);
    kill(server, SIGTERM);
    ck_assert_int_eq(wait_child(server, 20), 0);
}
END_TEST

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    Suite *s = suite_create("manager_queue_journal");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, kill_and_restart_in_a_concurrent_run);
    tcase_add_test(tc, long_queue_journal_replays_fast);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
