/* Queue: orders, sizes, bounds, timeouts, task_done/join, shutdown, named
 * queues, and producers and consumers killed with SIGKILL at random moments. */
#define _GNU_SOURCE /* sched_setaffinity */
#include "helpers.h"

#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static mproc_queue_t *new_queue(size_t maxsize, size_t capacity, int order)
{
    mproc_queue_opts_t o = { .maxsize = maxsize, .capacity = capacity, .order = order };
    mproc_queue_t *q;
    ck_assert_int_eq(mproc_queue_create(&q, NULL, &o), 0);
    return q;
}

static void put_int(mproc_queue_t *q, int v, int64_t prio)
{
    ck_assert_int_eq(mproc_queue_put_prio(q, &v, sizeof v, prio, 0), 0);
}

static int get_int(mproc_queue_t *q)
{
    int v;
    size_t len;
    ck_assert_int_eq(mproc_queue_get(q, &v, sizeof v, &len, 0), 0);
    ck_assert_uint_eq(len, sizeof v);
    return v;
}

START_TEST(fifo_lifo_and_priority_orders)
{
    mproc_queue_t *fifo = new_queue(0, 0, MPROC_FIFO), *lifo = new_queue(0, 0, MPROC_LIFO),
                  *prio = new_queue(0, 0, MPROC_PRIORITY);
    for (int i = 1; i <= 4; i++) {
        put_int(fifo, i, 0);
        put_int(lifo, i, 0);
    }
    for (int i = 1; i <= 4; i++) {
        ck_assert_int_eq(get_int(fifo), i);
        ck_assert_int_eq(get_int(lifo), 5 - i);
    }
    /* lowest priority first: puts of 20, 78, 12, 45 come back 12, 20, 45, 78 */
    int64_t prios[] = { 20, 78, 12, 45 };
    for (int i = 0; i < 4; i++)
        put_int(prio, (int)prios[i], prios[i]);
    ck_assert_int_eq(get_int(prio), 12);
    ck_assert_int_eq(get_int(prio), 20);
    ck_assert_int_eq(get_int(prio), 45);
    ck_assert_int_eq(get_int(prio), 78);
    /* equal priorities: put order (stable), negative priorities first */
    for (int i = 0; i < 6; i++)
        put_int(prio, i, i % 2 ? 5 : -5);
    int expect[] = { 0, 2, 4, 1, 3, 5 };
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(get_int(prio), expect[i]);
    /* put() on a priority queue is priority 0 */
    put_int(prio, 100, 1);
    int v = 200;
    ck_assert_int_eq(mproc_queue_put(prio, &v, sizeof v, 0), 0);
    ck_assert_int_eq(get_int(prio), 200);
    ck_assert_int_eq(get_int(prio), 100);
    mproc_queue_close(fifo);
    mproc_queue_close(lifo);
    mproc_queue_close(prio);
}
END_TEST

START_TEST(variable_lengths_zero_bytes_and_get_alloc)
{
    mproc_queue_t *q = new_queue(0, 4096, MPROC_FIFO);
    ck_assert_int_eq(mproc_queue_put(q, NULL, 0, 0), 0);
    ck_assert_int_eq(mproc_queue_put(q, "hello", 5, 0), 0);
    ck_assert_int_eq(mproc_queue_put(q, "", 0, 0), 0);
    char buf[16];
    size_t len = 99;
    ck_assert_int_eq(mproc_queue_get(q, NULL, 0, &len, 0), 0); /* a zero-length message */
    ck_assert_uint_eq(len, 0);
    void *data;
    ck_assert_int_eq(mproc_queue_get_alloc(q, &data, &len, 0), 0);
    ck_assert_uint_eq(len, 5);
    ck_assert_mem_eq(data, "hello", 5);
    free(data);
    ck_assert_int_eq(mproc_queue_get_alloc(q, &data, &len, 0), 0);
    ck_assert_uint_eq(len, 0);
    free(data);
    ck_assert_int_eq(mproc_queue_get(q, buf, sizeof buf, &len, 0), MPROC_EEMPTY);
    ck_assert_int_eq(mproc_queue_put(q, NULL, 3, 0), MPROC_EINVAL);
    ck_assert_int_eq(mproc_queue_get(q, NULL, 5, &len, 0), MPROC_EINVAL);
    mproc_queue_close(q);
}
END_TEST

START_TEST(too_small_a_buffer_keeps_the_message)
{
    mproc_queue_t *q = new_queue(0, 0, MPROC_FIFO);
    ck_assert_int_eq(mproc_queue_put(q, "0123456789", 10, 0), 0);
    ck_assert_int_eq(mproc_queue_put(q, "next", 4, 0), 0);
    char small[4], big[32];
    size_t len = 0;
    ck_assert_int_eq(mproc_queue_get(q, small, sizeof small, &len, 0), MPROC_EMSGSIZE);
    ck_assert_uint_eq(len, 10);
    ck_assert_uint_eq(mproc_queue_qsize(q), 2);
    ck_assert_int_eq(mproc_queue_get(q, big, sizeof big, &len, 0), 0);
    ck_assert_uint_eq(len, 10);
    ck_assert_mem_eq(big, "0123456789", 10);
    ck_assert_int_eq(mproc_queue_get(q, big, sizeof big, &len, 0), 0);
    ck_assert_mem_eq(big, "next", 4);
    mproc_queue_close(q);
}
END_TEST

START_TEST(messages_that_can_never_fit_are_emsgsize_at_once)
{
    mproc_queue_t *q = new_queue(0, 1024, MPROC_FIFO);
    static char big[2048];
    double t0 = now();
    ck_assert_int_eq(mproc_queue_put(q, big, 1024, 5), MPROC_EMSGSIZE);
    ck_assert_double_lt(now() - t0, 1.0);
    ck_assert_int_eq(mproc_queue_put(q, big, 1024 - 32, 0), 0); /* the largest one fits */
    ck_assert_int_eq(mproc_queue_put(q, big, 1, 0), MPROC_EFULL);
    mproc_queue_close(q);
}
END_TEST

START_TEST(maxsize_bounds_items_and_put_times_out)
{
    mproc_queue_t *q = new_queue(2, 0, MPROC_FIFO);
    ck_assert_uint_eq(mproc_queue_maxsize(q), 2);
    ck_assert_int_eq(mproc_queue_empty(q), 1);
    put_int(q, 1, 0);
    put_int(q, 2, 0);
    ck_assert_int_eq(mproc_queue_full(q), 1);
    ck_assert_uint_eq(mproc_queue_qsize(q), 2);
    int v = 3;
    ck_assert_int_eq(mproc_queue_put(q, &v, sizeof v, 0), MPROC_EFULL);
    double t0 = now();
    ck_assert_int_eq(mproc_queue_put(q, &v, sizeof v, 0.1), MPROC_EFULL);
    ck_assert_double_ge(now() - t0, 0.095);
    ck_assert_int_eq(get_int(q), 1);
    ck_assert_int_eq(mproc_queue_full(q), 0);
    ck_assert_int_eq(mproc_queue_put(q, &v, sizeof v, 0), 0);
    size_t len;
    ck_assert_int_eq(get_int(q), 2);
    ck_assert_int_eq(get_int(q), 3);
    t0 = now();
    ck_assert_int_eq(mproc_queue_get(q, &v, sizeof v, &len, 0.1), MPROC_EEMPTY);
    ck_assert_double_ge(now() - t0, 0.095);
    mproc_queue_close(q);
}
END_TEST

/* A model of the queue in plain memory, to compare a long random run against. */
struct model {
    int order;
    int n;
    struct { int64_t prio; uint64_t seq; size_t len; unsigned char fill; } items[4096];
    uint64_t seq;
};

static int model_next(struct model *m)
{
    int best = 0;
    if (m->order == MPROC_FIFO)
        return 0;
    if (m->order == MPROC_LIFO)
        return m->n - 1;
    for (int i = 1; i < m->n; i++)
        if (m->items[i].prio < m->items[best].prio ||
            (m->items[i].prio == m->items[best].prio && m->items[i].seq < m->items[best].seq))
            best = i;
    return best;
}

static void random_run(int order)
{
    mproc_queue_t *q = new_queue(0, 8192, order);
    static struct model m;
    memset(&m, 0, sizeof m);
    m.order = order;
    unsigned seed = 99;
    static unsigned char buf[8192], out[8192];
    for (int step = 0; step < 20000; step++) {
        if (rand_r(&seed) % 100 < 52) {
            size_t len = (size_t)(rand_r(&seed) % (rand_r(&seed) % 8 == 0 ? 3000 : 200));
            int64_t prio = rand_r(&seed) % 7;
            unsigned char fill = (unsigned char)rand_r(&seed);
            memset(buf, fill, len);
            int r = mproc_queue_put_prio(q, buf, len, prio, 0);
            if (r == MPROC_EFULL)
                continue;
            ck_assert_int_eq(r, 0);
            m.items[m.n].prio = prio;
            m.items[m.n].seq = m.seq++;
            m.items[m.n].len = len;
            m.items[m.n].fill = fill;
            m.n++;
        } else {
            size_t len;
            int r = mproc_queue_get(q, out, sizeof out, &len, 0);
            if (m.n == 0) {
                ck_assert_int_eq(r, MPROC_EEMPTY);
                continue;
            }
            ck_assert_int_eq(r, 0);
            int i = model_next(&m);
            ck_assert_uint_eq(len, m.items[i].len);
            for (size_t k = 0; k < len; k++)
                ck_assert_int_eq(out[k], m.items[i].fill);
            memmove(&m.items[i], &m.items[i + 1], (size_t)(m.n - i - 1) * sizeof m.items[0]);
            m.n--;
        }
        ck_assert_uint_eq(mproc_queue_qsize(q), (size_t)m.n);
    }
    /* drained, the whole capacity is free again: the largest message fits */
    size_t len;
    while (mproc_queue_get(q, out, sizeof out, &len, 0) == 0)
        ;
    ck_assert_int_eq(mproc_queue_put(q, buf, 8192 - 32, 0), 0);
    mproc_queue_close(q);
}

START_TEST(a_long_random_run_matches_a_model)
{
    random_run(_i);
}
END_TEST

static int get_one(void *arg)
{
    int v;
    size_t len;
    if (mproc_queue_get(arg, &v, sizeof v, &len, 8) != 0)
        return 1;
    return v == 42 ? 0 : 2;
}

START_TEST(get_blocks_until_another_process_puts)
{
    mproc_queue_t *q = new_queue(0, 0, MPROC_FIFO);
    pid_t kid = fork_child(get_one, q);
    ck_assert(wait_sleeping(kid, 5));
    put_int(q, 42, 0);
    ck_assert_int_eq(wait_child(kid, 5), 0);
    mproc_queue_close(q);
}
END_TEST

START_TEST(a_killed_blocked_consumer_does_not_swallow_the_wakeup)
{
    mproc_queue_t *q = new_queue(0, 0, MPROC_FIFO);
    pid_t doomed = fork_child(get_one, q);
    ck_assert(wait_sleeping(doomed, 5));
    pid_t live = fork_child(get_one, q);
    ck_assert(wait_sleeping(live, 5));
    kill_child(doomed);
    double t0 = now();
    put_int(q, 42, 0);
    ck_assert_int_eq(wait_child(live, 5), 0);
    ck_assert_double_lt(now() - t0, 2.0);
    mproc_queue_close(q);
}
END_TEST

static int work_and_mark_done(void *arg)
{
    for (int i = 0; i < 3; i++) {
        int v;
        size_t len;
        if (mproc_queue_get(arg, &v, sizeof v, &len, 5) != 0)
            return 1;
        if (mproc_queue_task_done(arg) != 0)
            return 2;
    }
    return 0;
}

START_TEST(join_waits_for_task_done_across_processes)
{
    mproc_queue_t *q = new_queue(0, 0, MPROC_FIFO);
    ck_assert_int_eq(mproc_queue_join(q, 0), 0); /* nothing put yet */
    ck_assert_int_eq(mproc_queue_task_done(q), MPROC_EOVERFLOW);
    for (int i = 0; i < 6; i++)
        put_int(q, i, 0);
    ck_assert_int_eq(mproc_queue_join(q, 0.05), MPROC_ETIMEDOUT);
    pid_t a = fork_child(work_and_mark_done, q), b = fork_child(work_and_mark_done, q);
    ck_assert_int_eq(mproc_queue_join(q, 10), 0);
    ck_assert_int_eq(wait_child(a, 5), 0);
    ck_assert_int_eq(wait_child(b, 5), 0);
    ck_assert_int_eq(mproc_queue_task_done(q), MPROC_EOVERFLOW);
    ck_assert_int_eq(mproc_queue_join(q, 0), 0);
    mproc_queue_close(q);
}
END_TEST

static int get_expect_shutdown(void *arg)
{
    int v;
    size_t len;
    return mproc_queue_get(arg, &v, sizeof v, &len, 10) == MPROC_ESHUTDOWN ? 0 : 1;
}

START_TEST(shutdown_lets_gets_drain_then_fails_them)
{
    mproc_queue_t *q = new_queue(0, 0, MPROC_FIFO);
    pid_t blocked = fork_child(get_expect_shutdown, q);
    ck_assert(wait_sleeping(blocked, 5));
    ck_assert_int_eq(mproc_queue_shutdown(q, 0), 0);
    ck_assert_int_eq(wait_child(blocked, 5), 0);
    /* graceful: what is queued stays gettable... */
    mproc_queue_t *q2 = new_queue(0, 0, MPROC_FIFO);
    put_int(q2, 1, 0);
    put_int(q2, 2, 0);
    ck_assert_int_eq(mproc_queue_shutdown(q2, 0), 0);
    int v = 3;
    size_t len;
    ck_assert_int_eq(mproc_queue_put(q2, &v, sizeof v, 0), MPROC_ESHUTDOWN);
    ck_assert_int_eq(get_int(q2), 1);
    ck_assert_int_eq(get_int(q2), 2);
    ck_assert_int_eq(mproc_queue_get(q2, &v, sizeof v, &len, 1), MPROC_ESHUTDOWN);
    mproc_queue_close(q);
    mproc_queue_close(q2);
}
END_TEST

static int put_expect_shutdown(void *arg)
{
    int v = 7;
    return mproc_queue_put(arg, &v, sizeof v, 10) == MPROC_ESHUTDOWN ? 0 : 1;
}

START_TEST(immediate_shutdown_drops_items_and_releases_join)
{
    mproc_queue_t *q = new_queue(2, 0, MPROC_FIFO);
    put_int(q, 1, 0);
    put_int(q, 2, 0);
    pid_t putter = fork_child(put_expect_shutdown, q); /* blocked: the queue is full */
    ck_assert(wait_sleeping(putter, 5));
    ck_assert_int_eq(mproc_queue_shutdown(q, 1), 0);
    ck_assert_int_eq(wait_child(putter, 5), 0);
    ck_assert_uint_eq(mproc_queue_qsize(q), 0);
    ck_assert_int_eq(mproc_queue_join(q, 0), 0);
    int v;
    size_t len;
    ck_assert_int_eq(mproc_queue_get(q, &v, sizeof v, &len, 0), MPROC_ESHUTDOWN);
    mproc_queue_close(q);
}
END_TEST

static int open_and_get(void *arg)
{
    mproc_queue_t *q;
    if (mproc_queue_open(&q, arg) != 0)
        return 1;
    char buf[16];
    size_t len;
    int r = mproc_queue_get(q, buf, sizeof buf, &len, 5);
    mproc_queue_close(q);
    return r == 0 && len == 5 && memcmp(buf, "named", 5) == 0 ? 0 : 2;
}

START_TEST(named_queues_and_type_checks)
{
    const char *name = test_name("queue");
    mproc_queue_opts_t o = { .order = MPROC_LIFO, .maxsize = 3 };
    mproc_queue_t *q;
    ck_assert_int_eq(mproc_queue_create(&q, name, &o), 0);
    ck_assert_int_eq(mproc_queue_create(&q, name, &o), MPROC_EEXIST);
    pid_t kid = fork_child(open_and_get, (void *)name);
    ck_assert_int_eq(mproc_queue_put(q, "named", 5, 0), 0);
    ck_assert_int_eq(wait_child(kid, 5), 0);
    mproc_lock_t *l;
    ck_assert_int_eq(mproc_lock_open(&l, name), MPROC_ETYPE);
    mproc_queue_close(q);
    mproc_unlink(name);

    const char *lock_name = test_name("notqueue");
    ck_assert_int_eq(mproc_lock_create(&l, lock_name), 0);
    ck_assert_int_eq(mproc_queue_open(&q, lock_name), MPROC_ETYPE);
    mproc_lock_close(l);
    mproc_unlink(lock_name);

    mproc_queue_opts_t bad = { .order = 3 };
    ck_assert_int_eq(mproc_queue_create(&q, NULL, &bad), MPROC_EINVAL);
    bad.order = MPROC_FIFO;
    bad.capacity = (size_t)2 << 30;
    ck_assert_int_eq(mproc_queue_create(&q, NULL, &bad), MPROC_EINVAL);
    ck_assert_int_eq(mproc_queue_create(&q, NULL, NULL), 0); /* defaults */
    ck_assert_uint_eq(mproc_queue_maxsize(q), 0);
    mproc_queue_close(q);
}
END_TEST

/* ---- crash tests ---- */

/* A message that proves its own integrity: who, which, and a checksum over
 * a pattern derived from both. */
struct message_head {
    uint32_t producer, seq, len;
    uint32_t sum;
};

static uint32_t pattern_sum(unsigned char *body, size_t n, uint32_t seed, int write)
{
    uint32_t sum = 0, x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        if (write)
            body[i] = (unsigned char)(x >> 16);
        sum = sum * 31 + body[i];
    }
    return sum;
}

static size_t make_message(unsigned char *buf, uint32_t producer, uint32_t seq)
{
    struct message_head h = { producer, seq, 0, 0 };
    h.len = (seq * 7919u) % 60000u + 1;
    h.sum = pattern_sum(buf + sizeof h, h.len, producer * 100003u + seq, 1);
    memcpy(buf, &h, sizeof h);
    return sizeof h + h.len;
}

static int check_message(unsigned char *buf, size_t len, struct message_head *out)
{
    if (len < sizeof *out)
        return 0;
    memcpy(out, buf, sizeof *out);
    return len == sizeof *out + out->len &&
           pattern_sum(buf + sizeof *out, out->len, out->producer * 100003u + out->seq, 0) == out->sum;
}

static unsigned char big_buf[70000];
static uint32_t producer_id;

static int produce_forever(void *arg)
{
    for (uint32_t seq = 0;; seq++) {
        size_t n = make_message(big_buf, producer_id, seq);
        if (mproc_queue_put(arg, big_buf, n, MPROC_FOREVER) != 0)
            return 1;
    }
    return 0;
}

START_TEST(producers_killed_mid_put_leave_no_trace)
{
    mproc_queue_t *q = new_queue(0, 256 * 1024, _i);
    unsigned char *got = malloc(256 * 1024);
    int delivered = 0;
    for (int round = 0; round < 150; round++) {
        producer_id = (uint32_t)round;
        pid_t kid = fork_child(produce_forever, q);
        pause_random_us(3000);
        kill_child(kid);
        /* everything delivered is whole; FIFO order shows nothing skipped */
        uint32_t expect = 0;
        size_t len;
        int seen = 0;
        while (mproc_queue_get(q, got, 70000, &len, 0) == 0) {
            struct message_head h;
            ck_assert_msg(check_message(got, len, &h), "torn message in round %d", round);
            ck_assert_uint_eq(h.producer, (uint32_t)round);
            if (_i == MPROC_FIFO)
                ck_assert_uint_eq(h.seq, expect);
            expect++;
            seen++;
        }
        delivered += seen;
        ck_assert_uint_eq(mproc_queue_qsize(q), 0);
        /* the byte accounting came back whole: the largest message fits */
        ck_assert_int_eq(mproc_queue_put(q, got, 256 * 1024 - 32, 0), 0);
        ck_assert_int_eq(mproc_queue_get(q, got, 70000, &len, 0), MPROC_EMSGSIZE);
        void *all;
        ck_assert_int_eq(mproc_queue_get_alloc(q, &all, &len, 0), 0);
        free(all);
    }
    ck_assert_int_gt(delivered, 0);
    free(got);
    mproc_queue_close(q);
}
END_TEST

struct consumer_log {
    volatile uint32_t taken; /* messages the consumer finished getting */
};

static struct consumer_log *consumer_log;

static int consume_forever(void *arg)
{
    unsigned char *buf = malloc(70000);
    for (;;) {
        size_t len;
        if (mproc_queue_get(arg, buf, 70000, &len, MPROC_FOREVER) != 0)
            return 1;
        struct message_head h;
        if (!check_message(buf, len, &h))
            return 2;
        consumer_log->taken++;
    }
    return 0;
}

START_TEST(consumers_killed_mid_get_leave_the_rest_intact)
{
    mproc_queue_t *q = new_queue(0, 1 << 20, _i);
    consumer_log = shared_alloc(sizeof *consumer_log);
    unsigned char *buf = malloc(1 << 20);
    for (int round = 0; round < 100; round++) {
        uint32_t n = 12;
        for (uint32_t seq = 0; seq < n; seq++) {
            size_t len = make_message(buf, 7, seq);
            ck_assert_int_eq(mproc_queue_put_prio(q, buf, len, (int64_t)(seq * 5 % 12), 5), 0);
        }
        consumer_log->taken = 0;
        pid_t kid = fork_child(consume_forever, q);
        pause_random_us(400);
        kill_child(kid);
        uint32_t taken = consumer_log->taken, left = 0, seen_mask = 0;
        size_t len;
        while (mproc_queue_get(q, buf, 70000, &len, 0) == 0) {
            struct message_head h;
            ck_assert_msg(check_message(buf, len, &h), "torn message in round %d", round);
            ck_assert_uint_lt(h.seq, n);
            ck_assert_msg(!(seen_mask >> h.seq & 1), "message %u delivered twice", h.seq);
            seen_mask |= 1u << h.seq;
            left++;
        }
        /* the one being copied when the kill came may be gone; no more */
        ck_assert(taken + left == n || taken + left + 1 == n);
        ck_assert_uint_eq(mproc_queue_qsize(q), 0);
        /* and the ring's bytes all came back */
        ck_assert_int_eq(mproc_queue_put(q, buf, (1 << 20) - 32, 0), 0);
        void *all;
        ck_assert_int_eq(mproc_queue_get_alloc(q, &all, &len, 0), 0);
        free(all);
    }
    free(buf);
    mproc_queue_close(q);
}
END_TEST

struct tally {
    volatile long received[4];
    volatile long sum;
};

static struct tally *tally;
#define PER_PRODUCER 20000

static int produce_ids(void *arg)
{
    for (int i = 0; i < PER_PRODUCER; i++) {
        long v = (long)producer_id * PER_PRODUCER + i;
        if (mproc_queue_put(arg, &v, sizeof v, 10) != 0)
            return 1;
    }
    return 0;
}

static int consume_ids(void *arg)
{
    long local_sum = 0, count = 0;
    for (;;) {
        long v;
        size_t len;
        int r = mproc_queue_get(arg, &v, sizeof v, &len, 10);
        if (r == MPROC_ESHUTDOWN)
            break;
        if (r != 0 || len != sizeof v)
            return 1;
        local_sum += v;
        count++;
    }
    __atomic_add_fetch(&tally->sum, local_sum, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&tally->received[0], count, __ATOMIC_SEQ_CST);
    return 0;
}

START_TEST(two_producers_two_consumers_deliver_each_message_once)
{
    mproc_queue_t *q = new_queue(64, 0, MPROC_FIFO);
    tally = shared_alloc(sizeof *tally);
    pid_t c1 = fork_child(consume_ids, q), c2 = fork_child(consume_ids, q);
    producer_id = 0;
    pid_t p1 = fork_child(produce_ids, q);
    producer_id = 1;
    pid_t p2 = fork_child(produce_ids, q);
    ck_assert_int_eq(wait_child(p1, 60), 0);
    ck_assert_int_eq(wait_child(p2, 60), 0);
    mproc_queue_shutdown(q, 0);
    ck_assert_int_eq(wait_child(c1, 60), 0);
    ck_assert_int_eq(wait_child(c2, 60), 0);
    long n = 2L * PER_PRODUCER;
    ck_assert_int_eq(tally->received[0], n);
    ck_assert_int_eq(tally->sum, n * (n - 1) / 2);
    mproc_queue_close(q);
}
END_TEST

/* Ping-pong through two queues: each side keeps going to sleep just as the
 * other puts, the moment a wake-up can be lost. A lost one shows as a get
 * that times out (finite timeouts: no periodic re-check can hide it). */
struct pair {
    mproc_queue_t *there, *back;
};

#define PING_PONGS 20000

static int pong(void *arg)
{
    struct pair *p = arg;
    for (int i = 0; i < PING_PONGS; i++) {
        int v;
        size_t len;
        if (mproc_queue_get(p->there, &v, sizeof v, &len, 5) != 0 || v != i)
            return 1;
        if (mproc_queue_put(p->back, &v, sizeof v, 5) != 0)
            return 2;
    }
    return 0;
}

START_TEST(ping_pong_never_loses_a_wakeup)
{
    struct pair p = { new_queue(0, 0, _i), new_queue(0, 0, _i) };
    pid_t kid = fork_child(pong, &p);
    for (int i = 0; i < PING_PONGS; i++) {
        int v;
        size_t len;
        ck_assert_int_eq(mproc_queue_put(p.there, &i, sizeof i, 5), 0);
        ck_assert_int_eq(mproc_queue_get(p.back, &v, sizeof v, &len, 5), 0);
        ck_assert_int_eq(v, i);
    }
    ck_assert_int_eq(wait_child(kid, 10), 0);
    mproc_queue_close(p.there);
    mproc_queue_close(p.back);
}
END_TEST

struct thread_args {
    mproc_queue_t *q;
    long base;
    long sum;
};

static void *produce_in_thread(void *arg)
{
    struct thread_args *a = arg;
    for (long i = 0; i < PER_PRODUCER; i++) {
        long v = a->base + i;
        if (mproc_queue_put(a->q, &v, sizeof v, 10) != 0)
            return (void *)1;
    }
    return NULL;
}

static void *consume_in_thread(void *arg)
{
    struct thread_args *a = arg;
    for (;;) {
        long v;
        size_t len;
        int r = mproc_queue_get(a->q, &v, sizeof v, &len, 10);
        if (r == MPROC_ESHUTDOWN)
            return NULL;
        if (r != 0)
            return (void *)1;
        a->sum += v;
        mproc_queue_task_done(a->q);
    }
}

START_TEST(threads_of_one_process_share_a_queue)
{
    mproc_queue_t *q = new_queue(16, 0, _i);
    struct thread_args prod[2] = { { q, 0, 0 }, { q, PER_PRODUCER, 0 } }, cons[2] = { { q, 0, 0 }, { q, 0, 0 } };
    pthread_t p[2], c[2];
    for (int i = 0; i < 2; i++) {
        pthread_create(&c[i], NULL, consume_in_thread, &cons[i]);
        pthread_create(&p[i], NULL, produce_in_thread, &prod[i]);
    }
    for (int i = 0; i < 2; i++) {
        void *r;
        pthread_join(p[i], &r);
        ck_assert_ptr_null(r);
    }
    ck_assert_int_eq(mproc_queue_join(q, 30), 0);
    mproc_queue_shutdown(q, 0);
    for (int i = 0; i < 2; i++) {
        void *r;
        pthread_join(c[i], &r);
        ck_assert_ptr_null(r);
    }
    long n = 2L * PER_PRODUCER;
    ck_assert_int_eq(cons[0].sum + cons[1].sum, n * (n - 1) / 2);
    mproc_queue_close(q);
}
END_TEST

static int get_small_timed(void *arg)
{
    /* a buffer too small for what comes: EMSGSIZE, having been woken */
    int v;
    size_t len;
    int r = mproc_queue_get(arg, &v, sizeof v, &len, 8);
    return r == MPROC_EMSGSIZE || r == MPROC_EEMPTY ? 0 : 1;
}

static int get_big_timed(void *arg)
{
    char buf[256];
    size_t len;
    return mproc_queue_get(arg, buf, sizeof buf, &len, 8) == 0 && len == 100 ? 0 : 1;
}

START_TEST(a_getter_whose_buffer_is_too_small_does_not_swallow_the_wakeup)
{
    /* The small getter sleeps first, so a single wake-up reaches it; it
     * cannot take the message; the capable getter (timeout 8 s) must not
     * sleep on while the message waits. */
    mproc_queue_t *q = new_queue(0, 0, MPROC_FIFO);
    pid_t small = fork_child(get_small_timed, q);
    ck_assert(wait_sleeping(small, 5));
    pid_t big = fork_child(get_big_timed, q);
    ck_assert(wait_sleeping(big, 5));
    char msg[100] = { 0 };
    double t0 = now();
    ck_assert_int_eq(mproc_queue_put(q, msg, sizeof msg, 0), 0);
    ck_assert_int_eq(wait_child(big, 10), 0);
    ck_assert_msg(now() - t0 < 2.0, "the capable getter waited %.2f s", now() - t0);
    kill_child(small); /* woken in vain, it may sleep on until its timeout */
    mproc_queue_close(q);
}
END_TEST

static void on_cpu0(void)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    sched_setaffinity(0, sizeof one, &one);
}

static int get_forever_on_cpu0(void *arg)
{
    on_cpu0();
    int v;
    size_t len;
    return mproc_queue_get(arg, &v, sizeof v, &len, MPROC_FOREVER) == 0 ? 0 : 1;
}

static int get_int_timed(void *arg)
{
    int v;
    size_t len;
    return mproc_queue_get(arg, &v, sizeof v, &len, 8) == 0 ? 0 : 1;
}

START_TEST(a_woken_consumer_killed_before_acting_leaves_the_message_to_a_timed_one)
{
    /* The first sleeper is killed the moment after the put woke it, before
     * it runs (one CPU, the putter real-time for the two calls); the other
     * consumer has a finite timeout and must get the message at once. */
    for (int round = 0; round < 3; round++) {
        mproc_queue_t *q = new_queue(0, 0, MPROC_FIFO);
        pid_t first = fork_child(get_forever_on_cpu0, q);
        ck_assert(wait_sleeping(first, 5));
        pid_t second = fork_child(get_int_timed, q);
        ck_assert(wait_sleeping(second, 5));
        on_cpu0();
        struct sched_param fifo = { .sched_priority = 1 }, other = { 0 };
        int rt = sched_setscheduler(0, SCHED_FIFO, &fifo) == 0;
        double t0 = now();
        put_int(q, 7, 0);
        kill(first, SIGKILL);
        if (rt)
            sched_setscheduler(0, SCHED_OTHER, &other);
        int r = wait_child(second, 10);
        double took = now() - t0;
        waitpid(first, NULL, 0);
        if (mproc_queue_qsize(q) == 0 && r != 0)
            r = 0; /* the first one took it before the kill: nothing to test */
        ck_assert_int_eq(r, 0);
        ck_assert_msg(took < 2.0, "the live consumer got the message after %.2f s", took);
        mproc_queue_close(q);
    }
}
END_TEST

#define BIG_MSG (24u << 20)

static int put_big_forever(void *arg)
{
    /* puts and takes back a large message, over and over: most of its time
     * is spent copying with one of the queue's mutexes held */
    char *buf = calloc(1, BIG_MSG);
    size_t len;
    for (;;) {
        if (mproc_queue_put(arg, buf, BIG_MSG, MPROC_FOREVER) != 0 ||
            mproc_queue_get(arg, buf, BIG_MSG, &len, MPROC_FOREVER) != 0)
            return 1;
    }
}

static int put_and_get_with_short_timeouts(void *arg)
{
    char small[8] = { 0 };
    size_t len;
    double t0 = now();
    int p = mproc_queue_put(arg, small, sizeof small, 0.2);
    int g = mproc_queue_get(arg, small, sizeof small, &len, 0);
    (void)g;
    return (p == 0 || p == MPROC_EFULL) && now() - t0 < 1.5 ? 0 : 1;
}

START_TEST(timeouts_bound_the_wait_for_a_stopped_holder)
{
    /* A process stopped (SIGSTOP, a debugger) in the middle of copying a
     * large message holds the queue's mutex: a put with a 0.2 s timeout and
     * a get with timeout 0 must still return in time. Stopped at several
     * moments, so that at least one stop falls inside a copy. */
    mproc_queue_opts_t o = { .capacity = 2 * BIG_MSG };
    mproc_queue_t *q;
    ck_assert_int_eq(mproc_queue_create(&q, NULL, &o), 0);
    pid_t holder = fork_child(put_big_forever, q);
    for (int i = 0; i < 6; i++) {
        pause_random_us(20000);
        kill(holder, SIGSTOP);
        int r = wait_child(fork_child(put_and_get_with_short_timeouts, q), 5);
        kill(holder, SIGCONT);
        ck_assert_int_eq(r, 0);
    }
    kill_child(holder);
    mproc_queue_close(q);
}
END_TEST

/* ---- the soak of blocked consumers killed and replaced ---- */

#define SOAK_MSGS 2000
#define SOAK_CONSUMERS 4
#define SOAK_KILLS 200

struct soak {
    mproc_queue_t *q;
    _Atomic int received[SOAK_MSGS];
    _Atomic int busy[64];      /* per consumer slot: 1 from get's start until recorded */
    _Atomic double last_at;    /* when the last message was recorded */
    int slot;
};

static int soak_consumer(void *arg)
{
    struct soak *s = arg;
    int slot = s->slot;
    for (;;) {
        int v;
        size_t len;
        atomic_store(&s->busy[slot], 1);
        if (mproc_queue_get(s->q, &v, sizeof v, &len, MPROC_FOREVER) != 0 || v < 0 || v >= SOAK_MSGS)
            return 1;
        atomic_fetch_add(&s->received[v], 1);
        if (v == SOAK_MSGS - 1)
            atomic_store(&s->last_at, now());
        atomic_store(&s->busy[slot], 0);
    }
}

START_TEST(blocked_consumers_killed_and_replaced_lose_nothing)
{
    /* Four consumers blocked in get(FOREVER); a killer replaces a random
     * one 200 times while a producer puts 2000 paced messages. Every message
     * is received once, or was taken by a consumer killed in the middle of
     * its get (at most one per such kill); the last arrives within 1 s. */
    struct soak *s = shared_alloc(sizeof *s);
    s->q = new_queue(0, 0, MPROC_FIFO);
    pid_t cons[SOAK_CONSUMERS];
    int slot_of[SOAK_CONSUMERS];
    int next_slot = 0;
    for (int i = 0; i < SOAK_CONSUMERS; i++) {
        s->slot = slot_of[i] = next_slot++;
        cons[i] = fork_child(soak_consumer, s);
    }
    int kills_in_get = 0, kills = 0;
    srandom(11);
    double last_put = 0;
    for (int m = 0; m < SOAK_MSGS; m++) {
        int v = m;
        ck_assert_int_eq(mproc_queue_put(s->q, &v, sizeof v, 5), 0);
        last_put = now();
        if (m % (SOAK_MSGS / SOAK_KILLS) == 0 && kills < SOAK_KILLS) {
            int i = (int)(random() % SOAK_CONSUMERS);
            kill_child(cons[i]);
            kills++;
            /* busy and not yet recorded: it may have taken a message */
            if (atomic_load(&s->busy[slot_of[i]]) && next_slot < 64)
                kills_in_get++;
            int slot = next_slot < 64 ? next_slot++ : slot_of[i];
            atomic_store(&s->busy[slot], 0);
            s->slot = slot_of[i] = slot;
            cons[i] = fork_child(soak_consumer, s);
        }
        usleep(150);
    }
    /* wait for the last message, or at most 3 s */
    double deadline = now() + 3;
    while (atomic_load(&s->last_at) == 0 && now() < deadline)
        usleep(1000);
    double last_at = atomic_load(&s->last_at);
    for (int i = 0; i < SOAK_CONSUMERS; i++)
        kill_child(cons[i]);
    int missing = 0;
    for (int m = 0; m < SOAK_MSGS; m++) {
        ck_assert_int_le(atomic_load(&s->received[m]), 1);
        missing += atomic_load(&s->received[m]) == 0;
    }
    ck_assert_int_eq(kills, SOAK_KILLS);
    ck_assert_int_le(missing, kills_in_get);
    ck_assert_int_eq(mproc_queue_qsize(s->q), 0);
    ck_assert_msg(last_at != 0 && last_at - last_put < 1.0, "last message %.3f s after its put",
                  last_at - last_put);
    mproc_queue_close(s->q);
}
END_TEST

/* ---- capacity of LIFO and PRIORITY queues: live bytes, not ring position ---- */

/* The bytes a message takes in the ring (include/mproc/queue.h). */
static size_t record_bytes(size_t len)
{
    return 32 + ((len + 7) & ~(size_t)7);
}

/* One long-lived message of the lowest rank (PRIORITY: a high priority
 * number; LIFO: the first put, at the bottom of the stack) stays while a
 * put/put/get/get loop runs: Python's queues never block there, and neither
 * may a put with timeout 0 here, round after round. */
START_TEST(a_pinned_message_does_not_make_churn_run_out_of_room)
{
    int order = _i;
    mproc_queue_t *q = new_queue(0, 4096, order);
    unsigned char msg[300];
    memset(msg, 0xee, sizeof msg);
    ck_assert_int_eq(mproc_queue_put_prio(q, msg, 100, 1000, 0), 0); /* pinned */
    for (int round = 0; round < 2000; round++) {
        size_t a = 40 + (size_t)(round * 13) % 250, b = 8 + (size_t)(round * 29) % 280;
        msg[0] = 1;
        ck_assert_msg(mproc_queue_put_prio(q, msg, a, round % 5, 0) == 0, "round %d: first put", round);
        msg[0] = 2;
        ck_assert_msg(mproc_queue_put_prio(q, msg, b, round % 3, 0) == 0, "round %d: second put", round);
        ck_assert_uint_eq(mproc_queue_qsize(q), 3);
        size_t len;
        unsigned char out[300];
        ck_assert_int_eq(mproc_queue_get(q, out, sizeof out, &len, 0), 0);
        ck_assert_int_eq(mproc_queue_get(q, out, sizeof out, &len, 0), 0);
        ck_assert(len == a || len == b);
    }
    ck_assert_uint_eq(mproc_queue_qsize(q), 1);
    size_t len;
    unsigned char out[300];
    ck_assert_int_eq(mproc_queue_get(q, out, sizeof out, &len, 0), 0);
    ck_assert_uint_eq(len, 100);
    ck_assert_int_eq(out[50], 0xee);
    mproc_queue_close(q);
}
END_TEST

/* Filled to exactly the documented capacity (the records' bytes add up to
 * it), the next put, even of 0 bytes, is MPROC_EFULL; one get makes room
 * for exactly that message again. The ring is first moved along and
 * holed, so that the free bytes are scattered and must be gathered. */
START_TEST(filled_to_exactly_the_capacity_the_next_put_is_efull)
{
    int order = _i;
    enum { CAP = 4096 };
    mproc_queue_t *q = new_queue(0, CAP, order);
    unsigned char msg[CAP];
    size_t len;
    /* scatter: move the ring's start along, leave a pinned message there */
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(mproc_queue_put(q, msg, 500, 0), 0);
        ck_assert_int_eq(mproc_queue_get(q, msg, sizeof msg, &len, 0), 0);
    }
    memset(msg, 7, sizeof msg);
    ck_assert_int_eq(mproc_queue_put_prio(q, msg, 200, 9, 0), 0); /* pinned */
    size_t used = record_bytes(200);
    for (int i = 0; i < 6; i++) { /* holes after it */
        ck_assert_int_eq(mproc_queue_put_prio(q, msg, 100, 0, 0), 0);
        ck_assert_int_eq(mproc_queue_put_prio(q, msg, 60, 1, 0), 0);
        ck_assert_int_eq(mproc_queue_get(q, msg, sizeof msg, &len, 0), 0);
        used += record_bytes(order == MPROC_LIFO ? 100 : 60);
    }
    /* now fill: messages of 72 bytes (104 each), then the exact remainder */
    int n = 0;
    while (CAP - used >= 2 * record_bytes(72)) {
        memset(msg, n & 0xff, 72);
        ck_assert_msg(mproc_queue_put_prio(q, msg, 72, 3, 0) == 0, "put %d with %zu used", n, used);
        used += record_bytes(72);
        n++;
    }
    size_t last = CAP - used - 32;
    ck_assert_msg(mproc_queue_put_prio(q, msg, last, 3, 0) == 0, "the last %zu bytes", last);
    used += record_bytes(last);
    ck_assert_uint_eq(used, CAP);
    ck_assert_int_eq(mproc_queue_put(q, msg, 0, 0), MPROC_EFULL);
    ck_assert_int_eq(mproc_queue_put_prio(q, msg, 1, -5, 0.05), MPROC_EFULL);
    /* one get (PRIORITY: a 60-byte one, priority 1 comes before 3 and 9;
     * LIFO: the last one) frees exactly its record */
    ck_assert_int_eq(mproc_queue_get(q, msg, sizeof msg, &len, 0), 0);
    size_t freed = record_bytes(len);
    ck_assert_int_eq(mproc_queue_put(q, msg, freed - 32, 0), 0);
    ck_assert_int_eq(mproc_queue_put(q, msg, 0, 0), MPROC_EFULL);
    /* every message is whole */
    size_t total = 0;
    while (mproc_queue_get(q, msg, sizeof msg, &len, 0) == 0)
        total += record_bytes(len);
    ck_assert_uint_eq(total, CAP);
    ck_assert_int_eq(mproc_queue_put(q, msg, CAP - 32, 0), 0);
    mproc_queue_close(q);
}
END_TEST

/* A long random run: a put with timeout 0 succeeds exactly when the live
 * messages' records plus its own fit the capacity, and every message comes
 * out whole and in order. */
static void capacity_rule_run(int order, unsigned seed)
{
    enum { CAP = 8192 };
    mproc_queue_t *q = new_queue(0, CAP, order);
    static struct model m;
    memset(&m, 0, sizeof m);
    m.order = order;
    static unsigned char buf[CAP], out[CAP];
    size_t live = 0;
    for (int step = 0; step < 30000; step++) {
        int r;
        if (rand_r(&seed) % 100 < 55) {
            size_t len = (size_t)(rand_r(&seed) % (rand_r(&seed) % 16 == 0 ? 2500 : 300));
            int64_t prio = order == MPROC_PRIORITY && rand_r(&seed) % 10 == 0 ? 50 : rand_r(&seed) % 5;
            unsigned char fill = (unsigned char)rand_r(&seed);
            memset(buf, fill, len);
            r = mproc_queue_put_prio(q, buf, len, prio, 0);
            int fits = live + record_bytes(len) <= CAP;
            ck_assert_msg(fits ? r == 0 : r == MPROC_EFULL, "step %d: put of %zu with %zu live: %d",
                          step, len, live, r);
            if (r != 0)
                continue;
            live += record_bytes(len);
            m.items[m.n].prio = prio;
            m.items[m.n].seq = m.seq++;
            m.items[m.n].len = len;
            m.items[m.n].fill = fill;
            m.n++;
        } else {
            size_t len;
            r = mproc_queue_get(q, out, sizeof out, &len, 0);
            if (m.n == 0) {
                ck_assert_int_eq(r, MPROC_EEMPTY);
                continue;
            }
            ck_assert_int_eq(r, 0);
            int i = model_next(&m);
            ck_assert_uint_eq(len, m.items[i].len);
            for (size_t k = 0; k < len; k++)
                ck_assert_int_eq(out[k], m.items[i].fill);
            live -= record_bytes(len);
            memmove(&m.items[i], &m.items[i + 1], (size_t)(m.n - i - 1) * sizeof m.items[0]);
            m.n--;
        }
        ck_assert_uint_eq(mproc_queue_qsize(q), (size_t)m.n);
    }
    mproc_queue_close(q);
}

START_TEST(indexed_puts_fail_exactly_when_live_bytes_exceed_the_capacity)
{
    capacity_rule_run(_i, 7u + (unsigned)_i);
}
END_TEST

static Suite *queue_suite(void)
{
    Suite *s = suite_create("queue");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, fifo_lifo_and_priority_orders);
    tcase_add_test(tc, variable_lengths_zero_bytes_and_get_alloc);
    tcase_add_test(tc, too_small_a_buffer_keeps_the_message);
    tcase_add_test(tc, messages_that_can_never_fit_are_emsgsize_at_once);
    tcase_add_test(tc, maxsize_bounds_items_and_put_times_out);
    tcase_add_loop_test(tc, a_long_random_run_matches_a_model, MPROC_FIFO, MPROC_PRIORITY + 1);
    tcase_add_test(tc, get_blocks_until_another_process_puts);
    tcase_add_test(tc, a_killed_blocked_consumer_does_not_swallow_the_wakeup);
    tcase_add_test(tc, join_waits_for_task_done_across_processes);
    tcase_add_test(tc, shutdown_lets_gets_drain_then_fails_them);
    tcase_add_test(tc, immediate_shutdown_drops_items_and_releases_join);
    tcase_add_test(tc, named_queues_and_type_checks);
    tcase_add_loop_test(tc, producers_killed_mid_put_leave_no_trace, MPROC_FIFO, MPROC_PRIORITY + 1);
    tcase_add_loop_test(tc, consumers_killed_mid_get_leave_the_rest_intact, MPROC_FIFO, MPROC_PRIORITY + 1);
    tcase_add_test(tc, two_producers_two_consumers_deliver_each_message_once);
    tcase_add_loop_test(tc, ping_pong_never_loses_a_wakeup, MPROC_FIFO, MPROC_PRIORITY + 1);
    tcase_add_loop_test(tc, a_pinned_message_does_not_make_churn_run_out_of_room, MPROC_LIFO, MPROC_PRIORITY + 1);
    tcase_add_loop_test(tc, filled_to_exactly_the_capacity_the_next_put_is_efull, MPROC_LIFO, MPROC_PRIORITY + 1);
    tcase_add_loop_test(tc, indexed_puts_fail_exactly_when_live_bytes_exceed_the_capacity, MPROC_LIFO,
                        MPROC_PRIORITY + 1);
    suite_add_tcase(s, tc);
    TCase *deaths = tcase_create("deaths");
    tcase_set_timeout(deaths, 120);
    tcase_add_test(deaths, a_getter_whose_buffer_is_too_small_does_not_swallow_the_wakeup);
    tcase_add_test(deaths, a_woken_consumer_killed_before_acting_leaves_the_message_to_a_timed_one);
    tcase_add_test(deaths, timeouts_bound_the_wait_for_a_stopped_holder);
    tcase_add_test(deaths, blocked_consumers_killed_and_replaced_lose_nothing);
    suite_add_tcase(s, deaths);
    /* its own case, so that CI can run it alone under ThreadSanitizer */
    TCase *threads = tcase_create("threads");
    tcase_set_timeout(threads, 120);
    tcase_add_loop_test(threads, threads_of_one_process_share_a_queue, MPROC_FIFO, MPROC_PRIORITY + 1);
    suite_add_tcase(s, threads);
    return s;
}

int main(void)
{
    return run_suite(queue_suite());
}
