/* Manager queues on every backend (one test body each: mproc's server, a
 * standalone Redis, a Redis Cluster): FIFO, bounds, timeouts, join, and
 * at-least-once delivery when consumers are killed holding items. Then what
 * only one backend has: the daemon's journal; Redis's key layout, types and
 * liveness. */
#include "config.h"

#include "helpers.h"
#include "daemon.h"

#include <mproc.h>

#include <arpa/inet.h>
#include <locale.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef HAVE_HIREDIS
#include "redis_helpers.h"
#endif

static mproc_manager_t *m;

enum { ON_MPROC, ON_REDIS, ON_REDIS_CLUSTER, BACKENDS };
static const char *const backend_name[BACKENDS] = { "mproc's server", "Redis on TCP with a password",
                                                    "a Redis Cluster" };
static int on; /* the backend of the running test */
#ifdef HAVE_HIREDIS
static test_redis_t redis[BACKENDS]; /* started by main, stopped at exit */
static int redis_up[BACKENDS];
#endif

/* Connects m to backend b, emptied; 0 (with a message) if b is not there. */
static int start_backend(int b)
{
    on = b;
    if (b == ON_MPROC) {
        ck_assert_int_eq(mproc_manager_start(&m, NULL, NULL, 0), 0);
        return 1;
    }
#ifdef HAVE_HIREDIS
    if (!redis_up[b]) {
        fprintf(stderr, "test_manager_queue: skipped on %s: redis-server not available\n", backend_name[b]);
        return 0;
    }
    ck_assert_int_eq(redis_manager_connect(&redis[b], &m), 0);
    return 1;
#else
    fprintf(stderr, "test_manager_queue: skipped on %s: built without hiredis\n", backend_name[b]);
    return 0;
#endif
}
#define ON_BACKEND()                                                                         \
    do {                                                                                     \
        if (!start_backend(_i))                                                              \
            return;                                                                          \
    } while (0)

static void stop_backend(void)
{
    ck_assert_int_eq(mproc_manager_shutdown(m), 0);
}

static int get_int(mproc_rqueue_t *q, int *v, double timeout)
{
    void *data;
    size_t len;
    int r = mproc_rqueue_get(q, &data, &len, timeout);
    if (r != 0)
        return r;
    if (len != sizeof *v) {
        free(data);
        return -1;
    }
    memcpy(v, data, sizeof *v);
    free(data);
    return 0;
}

START_TEST(fifo_bounds_and_errors)
{
    ON_BACKEND();
    mproc_rqueue_t *q;
    ck_assert_int_eq(mproc_manager_queue(m, "", 0, &q), MPROC_EINVAL);
    ck_assert_int_eq(mproc_manager_queue(m, "fifo", 2, &q), 0);
    ck_assert_int_eq(mproc_rqueue_put(q, "a", 1, 0), 0);
    ck_assert_int_eq(mproc_rqueue_put(q, NULL, 0, 0), 0); /* empty items work */
    ck_assert_int_eq(mproc_rqueue_put(q, "c", 1, 0), MPROC_EFULL);
    size_t n;
    ck_assert_int_eq(mproc_rqueue_qsize(q, &n), 0);
    ck_assert_uint_eq(n, 2);
    void *d;
    size_t len;
    ck_assert_int_eq(mproc_rqueue_get(q, &d, &len, 0), 0);
    ck_assert_uint_eq(len, 1);
    ck_assert_int_eq(memcmp(d, "a", 1), 0);
    free(d);
    ck_assert_int_eq(mproc_rqueue_put(q, "c", 1, 0), 0); /* the get made room */
    ck_assert_int_eq(mproc_rqueue_get(q, &d, &len, 0), 0);
    ck_assert_uint_eq(len, 0);
    free(d);
    ck_assert_int_eq(mproc_rqueue_get(q, &d, NULL, 0), 0);
    ck_assert_int_eq(memcmp(d, "c", 1), 0);
    free(d);
    ck_assert_int_eq(mproc_rqueue_get(q, &d, &len, 0), MPROC_EEMPTY);
    ck_assert_int_eq(mproc_rqueue_qsize(q, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(mproc_rqueue_join(q, 0), MPROC_ETIMEDOUT);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(mproc_rqueue_task_done(q), 0);
    ck_assert_int_eq(mproc_rqueue_task_done(q), MPROC_EOVERFLOW);
    ck_assert_int_eq(mproc_rqueue_join(q, 0), 0);
    /* another handle: its own unacknowledged gets */
    mproc_rqueue_t *q2;
    ck_assert_int_eq(mproc_manager_queue(m, "fifo", 0, &q2), 0);
    ck_assert_int_eq(mproc_rqueue_put(q2, "x", 1, 0), 0);
    ck_assert_int_eq(mproc_rqueue_get(q2, &d, &len, 0), 0);
    free(d);
    ck_assert_int_eq(mproc_rqueue_task_done(q), MPROC_EOVERFLOW);
    /* closing a handle holding an item returns it to the front */
    mproc_rqueue_close(q2);
    ck_assert_int_eq(mproc_rqueue_get(q, &d, &len, 5), 0);
    ck_assert_int_eq(memcmp(d, "x", 1), 0);
    free(d);
    ck_assert_int_eq(mproc_rqueue_task_done(q), 0);
    ck_assert_int_eq(mproc_rqueue_join(q, 0), 0);
    ck_assert_int_eq(mproc_rqueue_get(q, &d, &len, NAN), MPROC_EINVAL);
    /* a later open keeps the first one's maxsize */
    ck_assert_int_eq(mproc_manager_queue(m, "fifo", 0, &q2), 0);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(mproc_rqueue_put(q2, "y", 1, 0), 0);
    ck_assert_int_eq(mproc_rqueue_put(q2, "y", 1, 0), MPROC_EFULL);
    mproc_rqueue_close(q2);
    mproc_rqueue_close(q);
    stop_backend();
}
END_TEST

START_TEST(timeouts_within_bounds)
{
    ON_BACKEND();
    mproc_rqueue_t *q;
    ck_assert_int_eq(mproc_manager_queue(m, "timeouts", 1, &q), 0);
    void *d;
    double t0 = now();
    ck_assert_int_eq(mproc_rqueue_get(q, &d, NULL, 0.2), MPROC_EEMPTY);
    double el = now() - t0;
    ck_assert(el >= 0.19 && el < 3.0);
    ck_assert_int_eq(mproc_rqueue_put(q, "a", 1, 0), 0);
    t0 = now();
    ck_assert_int_eq(mproc_rqueue_put(q, "b", 1, 0.2), MPROC_EFULL);
    el = now() - t0;
    ck_assert(el >= 0.19 && el < 3.0);
    t0 = now();
    ck_assert_int_eq(mproc_rqueue_join(q, 0.2), MPROC_ETIMEDOUT);
    el = now() - t0;
    ck_assert(el >= 0.19 && el < 3.0);
    /* the handle still works after answers given at the deadline */
    ck_assert_int_eq(mproc_rqueue_get(q, &d, NULL, 1), 0);
    free(d);
    ck_assert_int_eq(mproc_rqueue_task_done(q), 0);
    ck_assert_int_eq(mproc_rqueue_join(q, 1), 0);
    mproc_rqueue_close(q);
    stop_backend();
}
END_TEST

/* put on a full queue: blocked until a get makes room (on Redis, by polling) */
static int full_putter(void *arg)
{
    mproc_rqueue_t *q;
    if (mproc_manager_queue(m, arg, 1, &q) != 0)
        return 2;
    if (mproc_rqueue_put(q, "second", 6, 30) != 0)
        return 3;
    mproc_rqueue_close(q);
    return 0;
}

START_TEST(blocked_put_completes_when_room_comes)
{
    ON_BACKEND();
    mproc_rqueue_t *q;
    ck_assert_int_eq(mproc_manager_queue(m, "room", 1, &q), 0);
    ck_assert_int_eq(mproc_rqueue_put(q, "first", 5, 0), 0);
    pid_t p = fork_child(full_putter, "room");
    ck_assert(wait_sleeping(p, 10));
    size_t n;
    ck_assert_int_eq(mproc_rqueue_qsize(q, &n), 0);
    ck_assert_uint_eq(n, 1);
    void *d;
    size_t len;
    ck_assert_int_eq(mproc_rqueue_get(q, &d, &len, 0), 0);
    ck_assert_uint_eq(len, 5);
    free(d);
    ck_assert_int_eq(wait_child(p, 30), 0);
    ck_assert_int_eq(mproc_rqueue_get(q, &d, &len, 5), 0);
    ck_assert_uint_eq(len, 6);
    ck_assert_int_eq(memcmp(d, "second", 6), 0);
    free(d);
    mproc_rqueue_close(q);
    stop_backend();
}
END_TEST

/* Threads sharing one Manager handle and one queue handle: two getters
 * take turns on the queue handle (a get blocked on the server holds it),
 * a putter has a queue handle of its own from the same Manager handle.
 * Once the putter is halfway, each getter stays out of the handle for
 * 1.5 s after its next item, so that on Redis the handle's renewal thread
 * (started by the first get; every second it renews when it finds the
 * handle free) makes its call while the other threads work. CI runs this
 * case under ThreadSanitizer. */
enum { THREAD_ITEMS = 300, THREAD_GETTERS = 2 };
struct shared_handle {
    mproc_rqueue_t *q, *putq;
    _Atomic int got[THREAD_ITEMS];
    _Atomic int failed, halfway;
};

static void *thread_getter(void *arg)
{
    struct shared_handle *h = arg;
    int paused = 0;
    for (;;) {
        if (!paused && atomic_load(&h->halfway)) {
            paused = 1; /* an idle window for the renewal thread, not a wait for anyone */
            nanosleep(&(struct timespec){ 1, 500 * 1000 * 1000 }, NULL);
        }
        int v;
        if (get_int(h->q, &v, 30) != 0 || mproc_rqueue_task_done(h->q) != 0) {
            atomic_store(&h->failed, 1);
            return NULL;
        }
        if (v < 0)
            return NULL;
        if (v >= THREAD_ITEMS)
            atomic_store(&h->failed, 2);
        else
            atomic_fetch_add(&h->got[v], 1);
    }
}

static void *thread_putter(void *arg)
{
    struct shared_handle *h = arg;
    for (int i = 0; i < THREAD_ITEMS + THREAD_GETTERS; i++) {
        int v = i < THREAD_ITEMS ? i : -1;
        if (mproc_rqueue_put(h->putq, &v, sizeof v, 10) != 0)
            atomic_store(&h->failed, 3);
        if (i == THREAD_ITEMS / 2)
            atomic_store(&h->halfway, 1);
        if (i % 10 == 9)
            nanosleep(&(struct timespec){ 0, 50 * 1000 * 1000 }, NULL); /* pacing, not a wait for anyone */
    }
    return NULL;
}

START_TEST(threads_share_a_queue_handle)
{
    ON_BACKEND();
    static struct shared_handle h;
    memset(&h, 0, sizeof h);
    ck_assert_int_eq(mproc_manager_queue(m, "threads", 0, &h.q), 0);
    ck_assert_int_eq(mproc_manager_queue(m, "threads", 0, &h.putq), 0);
    pthread_t getters[THREAD_GETTERS], putter;
    for (int i = 0; i < THREAD_GETTERS; i++)
        ck_assert_int_eq(pthread_create(&getters[i], NULL, thread_getter, &h), 0);
    ck_assert_int_eq(pthread_create(&putter, NULL, thread_putter, &h), 0);
    ck_assert_int_eq(pthread_join(putter, NULL), 0);
    for (int i = 0; i < THREAD_GETTERS; i++)
        ck_assert_int_eq(pthread_join(getters[i], NULL), 0);
    ck_assert_int_eq(atomic_load(&h.failed), 0);
    for (int i = 0; i < THREAD_ITEMS; i++)
        ck_assert_msg(atomic_load(&h.got[i]) == 1, "item %d got %d times", i, atomic_load(&h.got[i]));
    ck_assert_int_eq(mproc_rqueue_join(h.putq, 5), 0);
    mproc_rqueue_close(h.putq);
    mproc_rqueue_close(h.q);
    stop_backend();
}
END_TEST

/* consumer: gets ints until a negative one, task_done on each */
static int consumer(void *arg)
{
    mproc_rqueue_t *q;
    if (mproc_manager_queue(m, arg, 0, &q) != 0)
        return 2;
    for (;;) {
        int v;
        if (get_int(q, &v, 30) != 0)
            return 3;
        if (mproc_rqueue_task_done(q) != 0)
            return 4;
        if (v < 0)
            break;
    }
    mproc_rqueue_close(q);
    return 0;
}

START_TEST(join_with_four_consumers)
{
    ON_BACKEND();
    mproc_rqueue_t *q;
    ck_assert_int_eq(mproc_manager_queue(m, "join4", 0, &q), 0);
    pid_t c[4];
    for (int i = 0; i < 4; i++)
        c[i] = fork_child(consumer, "join4");
    for (int i = 0; i < 200; i++)
        ck_assert_int_eq(mproc_rqueue_put(q, &i, sizeof i, 5), 0);
    for (int i = 0; i < 4; i++) {
        int stop = -1;
        ck_assert_int_eq(mproc_rqueue_put(q, &stop, sizeof stop, 5), 0);
    }
    ck_assert_int_eq(mproc_rqueue_join(q, 30), 0);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(wait_child(c[i], 30), 0);
    size_t n;
    ck_assert_int_eq(mproc_rqueue_qsize(q, &n), 0);
    ck_assert_uint_eq(n, 0);
    mproc_rqueue_close(q);
    stop_backend();
}
END_TEST

/* gets one item, reports it on the pipe, then holds it until killed */
static int fds[2];
static int holder(void *arg)
{
    mproc_rqueue_t *q;
    if (mproc_manager_queue(m, arg, 0, &q) != 0)
        return 2;
    int v;
    if (get_int(q, &v, 30) != 0)
        return 3;
    if (write(fds[1], &v, sizeof v) != (ssize_t)sizeof v)
        return 4;
    pause();
    return 0;
}

/* blocked in get before the holder dies: exits 0 if it gets 42 */
static int waiter(void *arg)
{
    mproc_rqueue_t *q;
    if (mproc_manager_queue(m, arg, 0, &q) != 0)
        return 2;
    int v;
    if (get_int(q, &v, 30) != 0)
        return 3;
    if (v != 42)
        return 5;
    if (mproc_rqueue_task_done(q) != 0)
        return 4;
    mproc_rqueue_close(q);
    return 0;
}

START_TEST(killed_consumer_item_redelivered)
{
    ON_BACKEND();
    ck_assert_int_eq(pipe(fds), 0);
    mproc_rqueue_t *q;
    ck_assert_int_eq(mproc_manager_queue(m, "redeliver", 0, &q), 0);
    int v = 42;
    ck_assert_int_eq(mproc_rqueue_put(q, &v, sizeof v, 0), 0);
    pid_t h = fork_child(holder, "redeliver");
    int got = 0;
    ck_assert_int_eq(read(fds[0], &got, sizeof got), (ssize_t)sizeof got);
    ck_assert_int_eq(got, 42);
    size_t n;
    ck_assert_int_eq(mproc_rqueue_qsize(q, &n), 0);
    ck_assert_uint_eq(n, 0); /* held, not waiting */
    pid_t w = fork_child(waiter, "redeliver");
    ck_assert(wait_sleeping(w, 10)); /* blocked in its get */
    ck_assert_int_eq(mproc_rqueue_join(q, 0), MPROC_ETIMEDOUT);
    kill_child(h);
    ck_assert_int_eq(wait_child(w, 30), 0); /* nobody called get or qsize for it */
    ck_assert_int_eq(mproc_rqueue_join(q, 10), 0);
    close(fds[0]);
    close(fds[1]);
    mproc_rqueue_close(q);
    stop_backend();
}
END_TEST

/* The soak: every item task_done at least once; more than once only for
 * items a killed consumer held. */
#define PRODUCERS 3
#define PER_PRODUCER 300
#define ITEMS (PRODUCERS * PER_PRODUCER)
#define CONSUMERS 3
#define KILLS 10
struct soak {
    int done[ITEMS];
    int holding[CONSUMERS * (KILLS + 1)]; /* per consumer started: the item it holds, or -1 */
};
static struct soak *sk;

static int soak_producer(void *arg)
{
    int p = (int)(intptr_t)arg;
    mproc_rqueue_t *q;
    if (mproc_manager_queue(m, "soak", 0, &q) != 0)
        return 2;
    for (int i = 0; i < PER_PRODUCER; i++) {
        int v = p * PER_PRODUCER + i;
        if (mproc_rqueue_put(q, &v, sizeof v, 30) != 0)
            return 3;
    }
    mproc_rqueue_close(q);
    return 0;
}

static int soak_consumer(void *arg)
{
    int slot = (int)(intptr_t)arg;
    mproc_rqueue_t *q;
    if (mproc_manager_queue(m, "soak", 0, &q) != 0)
        return 2;
    for (;;) {
        int v;
        int r = get_int(q, &v, 30);
        if (r != 0 || v < 0 || v >= ITEMS)
            return 3;
        __atomic_store_n(&sk->holding[slot], v, __ATOMIC_SEQ_CST);
        __atomic_add_fetch(&sk->done[v], 1, __ATOMIC_SEQ_CST); /* before the ack: a death
                                                                   between shows as held */
        if (mproc_rqueue_task_done(q) != 0)
            return 4;
        __atomic_store_n(&sk->holding[slot], -1, __ATOMIC_SEQ_CST);
    }
}

START_TEST(random_kills_lose_nothing)
{
    ON_BACKEND();
    sk = shared_alloc(sizeof *sk);
    for (int i = 0; i < CONSUMERS * (KILLS + 1); i++)
        sk->holding[i] = -1;
    static int killed_holding[ITEMS];
    memset(killed_holding, 0, sizeof killed_holding);
    mproc_rqueue_t *q;
    ck_assert_int_eq(mproc_manager_queue(m, "soak", 0, &q), 0);
    pid_t prod[PRODUCERS], cons[CONSUMERS];
    int slot_of[CONSUMERS], slots = 0;
    for (int i = 0; i < CONSUMERS; i++) {
        slot_of[i] = slots++;
        cons[i] = fork_child(soak_consumer, (void *)(intptr_t)slot_of[i]);
    }
    for (int i = 0; i < PRODUCERS; i++)
        prod[i] = fork_child(soak_producer, (void *)(intptr_t)i);
    for (int k = 0; k < KILLS; k++) {
        pause_random_us(50000);
        int i = k % CONSUMERS;
        kill_child(cons[i]);
        int h = __atomic_load_n(&sk->holding[slot_of[i]], __ATOMIC_SEQ_CST);
        if (h >= 0)
            killed_holding[h] = 1;
        slot_of[i] = slots++;
        cons[i] = fork_child(soak_consumer, (void *)(intptr_t)slot_of[i]);
    }
    for (int i = 0; i < PRODUCERS; i++)
        ck_assert_int_eq(wait_child(prod[i], 60), 0);
    ck_assert_int_eq(mproc_rqueue_join(q, 60), 0);
    for (int i = 0; i < CONSUMERS; i++)
        kill_child(cons[i]);
    for (int i = 0; i < ITEMS; i++) {
        ck_assert_msg(sk->done[i] >= 1, "item %d never done", i);
        ck_assert_msg(sk->done[i] == 1 || killed_holding[i], "item %d done %d times", i, sk->done[i]);
    }
    mproc_rqueue_close(q);
    stop_backend();
}
END_TEST

/* The wake-up latency of a get blocked on the server. */
struct wake {
    double put_at, got_at;
};
static struct wake *wk;
static int wake_consumer(void *arg)
{
    mproc_rqueue_t *q;
    if (mproc_manager_queue(m, arg, 0, &q) != 0)
        return 2;
    int v;
    if (get_int(q, &v, 30) != 0)
        return 3;
    wk->got_at = now();
    mproc_rqueue_task_done(q);
    mproc_rqueue_close(q);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

START_TEST(blocked_get_wakes_at_once)
{
    ON_BACKEND();
    wk = shared_alloc(sizeof *wk);
    mproc_rqueue_t *q;
    ck_assert_int_eq(mproc_manager_queue(m, "wake", 0, &q), 0);
    double lat[20];
    for (int i = 0; i < 20; i++) {
        pid_t c = fork_child(wake_consumer, "wake");
        ck_assert(wait_sleeping(c, 10));
        wk->put_at = now();
        ck_assert_int_eq(mproc_rqueue_put(q, &i, sizeof i, 0), 0);
        ck_assert_int_eq(wait_child(c, 30), 0);
        lat[i] = wk->got_at - wk->put_at;
    }
    qsort(lat, 20, sizeof lat[0], cmp_double);
    printf("blocked get woken by a put: median %.3f ms (min %.3f, max %.3f)\n", lat[10] * 1e3,
           lat[0] * 1e3, lat[19] * 1e3);
    /* a generous bound: a polling client (Python's 0.1 s) would miss it */
    ck_assert(lat[10] < 0.05);
    mproc_rqueue_close(q);
    stop_backend();
}
END_TEST

/* ---- the daemon with a journal, SIGKILLed and restarted ---- */

static char jdir[64], jfile[128], jaddr[96];

/* a small rewrite threshold: the journal is compacted mid-run, so a
 * restart replays a snapshot holding queues, then records */
static pid_t journal_daemon(void)
{
    const char *args[] = { "--listen", jaddr, "--journal", jfile, "--fsync", "always",
                           "--rewrite-min", "4096", NULL };
    return daemon_start(args, 0);
}

static void expect_items(mproc_rqueue_t *q, int from, int to)
{
    for (int i = from; i < to; i++) {
        int v = -1;
        ck_assert_int_eq(get_int(q, &v, 5), 0);
        ck_assert_int_eq(v, i);
    }
}

START_TEST(journal_keeps_queues_across_sigkill)
{
    snprintf(jdir, sizeof jdir, "/tmp/mproc-test-qjournal-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(jdir));
    snprintf(jfile, sizeof jfile, "%s/journal", jdir);
    snprintf(jaddr, sizeof jaddr, "@%s", test_name("qjournal"));
    pid_t d = journal_daemon();
    mproc_manager_t *jm;
    mproc_rqueue_t *q;
    ck_assert_int_eq(mproc_manager_connect(&jm, jaddr, NULL, 0), 0);
    ck_assert_int_eq(mproc_manager_queue(jm, "jq", 500, &q), 0);
    for (int i = 0; i < 200; i++)
        ck_assert_int_eq(mproc_rqueue_put(q, &i, sizeof i, 0), 0);
    expect_items(q, 0, 50);
    for (int i = 0; i < 40; i++)
        ck_assert_int_eq(mproc_rqueue_task_done(q), 0); /* 40..49 stay unacknowledged */
    kill_child(d); /* SIGKILL */
    mproc_rqueue_close(q);
    mproc_manager_close(jm);

    d = journal_daemon();
    ck_assert_int_eq(mproc_manager_connect(&jm, jaddr, NULL, 0), 0);
    ck_assert_int_eq(mproc_manager_queue(jm, "jq", 0, &q), 0);
    size_t n;
    ck_assert_int_eq(mproc_rqueue_qsize(q, &n), 0);
    ck_assert_uint_eq(n, 160); /* the 10 unacknowledged are back, at the front */
    ck_assert_int_eq(mproc_rqueue_join(q, 0), MPROC_ETIMEDOUT);
    expect_items(q, 40, 50);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(mproc_rqueue_task_done(q), 0); /* 45..49 unacknowledged again */
    kill_child(d);
    mproc_rqueue_close(q);
    mproc_manager_close(jm);

    d = journal_daemon();
    ck_assert_int_eq(mproc_manager_connect(&jm, jaddr, NULL, 0), 0);
    ck_assert_int_eq(mproc_manager_queue(jm, "jq", 0, &q), 0);
    ck_assert_int_eq(mproc_rqueue_qsize(q, &n), 0);
    ck_assert_uint_eq(n, 155);
    /* the maxsize of the first open survived too */
    for (int i = 0; i < 345; i++)
        ck_assert_int_eq(mproc_rqueue_put(q, &i, sizeof i, 0), 0);
    ck_assert_int_eq(mproc_rqueue_put(q, "x", 1, 0), MPROC_EFULL);
    expect_items(q, 45, 200);
    expect_items(q, 0, 345);
    for (int i = 0; i < 155 + 345; i++)
        ck_assert_int_eq(mproc_rqueue_task_done(q), 0);
    ck_assert_int_eq(mproc_rqueue_join(q, 5), 0);
    mproc_rqueue_close(q);
    mproc_manager_close(jm);
    kill(d, SIGTERM);
    ck_assert_int_eq(wait_child(d, 20), 0);
    ck_assert_int_eq(remove_tree(jdir), 0);
}
END_TEST

/* ---- Redis only: the documented layout, types, liveness ---- */

#ifdef HAVE_HIREDIS
/* A command on the current Redis backend, on the node holding key. */
#define ADMIN(out, key, ...)                                                                 \
    ck_assert_int_eq(redis_admin(&redis[on], (key), (out), sizeof(out), __VA_ARGS__), 0)

/* What docs/redis-layout.md promises another language's worker: the items
 * list, the meta hash, the consumer set, the processing list and liveness
 * key of each consumer; and a worker speaking only those commands (and the
 * same script) shares the queue. */
START_TEST(redis_layout_is_as_documented)
{
    ON_BACKEND();
    mproc_rqueue_t *q;
    ck_assert_int_eq(mproc_manager_queue(m, "lay}out", 7, &q), 0);
    ck_assert_int_eq(mproc_rqueue_put(q, "a", 1, 0), 0);
    ck_assert_int_eq(mproc_rqueue_put(q, "b", 1, 0), 0);
    char out[512];
    ADMIN(out, "mproc:queue:{lay}out}:items", "LRANGE mproc:queue:{lay}out}:items 0 -1");
    ck_assert_str_eq(out, "a\nb");
    ADMIN(out, "mproc:queue:{lay}out}:meta", "HGET mproc:queue:{lay}out}:meta maxsize");
    ck_assert_str_eq(out, "7");
    ADMIN(out, "mproc:queue:{lay}out}:meta", "HGET mproc:queue:{lay}out}:meta unfinished");
    ck_assert_str_eq(out, "2");
    void *d;
    ck_assert_int_eq(mproc_rqueue_get(q, &d, NULL, 0), 0);
    free(d);
    /* the one consumer: its processing list holds "a", its liveness key has a TTL */
    char id[64];
    ADMIN(id, "mproc:queue:{lay}out}:consumers", "SMEMBERS mproc:queue:{lay}out}:consumers");
    ck_assert_uint_eq(strlen(id), 32);
    ADMIN(out, "mproc:queue:{lay}out}:items", "LRANGE mproc:queue:{lay}out}:proc:%s 0 -1", id);
    ck_assert_str_eq(out, "a");
    ADMIN(out, "mproc:queue:{lay}out}:items", "PTTL mproc:queue:{lay}out}:live:%s", id);
    long ttl = atol(out);
    ck_assert(ttl > 0 && ttl <= 5000);
    /* a foreign worker: takes "b" by hand, as the document says, then dies
     * (its liveness key expires at once): b is back at the front */
    ADMIN(out, "mproc:queue:{lay}out}:items", "SADD mproc:queue:{lay}out}:consumers foreign");
    ADMIN(out, "mproc:queue:{lay}out}:items",
          "LMOVE mproc:queue:{lay}out}:items mproc:queue:{lay}out}:proc:foreign LEFT RIGHT");
    ck_assert_str_eq(out, "b");
    size_t n;
    ck_assert_int_eq(mproc_rqueue_qsize(q, &n), 0); /* reaps: no live:foreign */
    ck_assert_uint_eq(n, 1);
    ADMIN(out, "mproc:queue:{lay}out}:items", "SISMEMBER mproc:queue:{lay}out}:consumers foreign");
    ck_assert_str_eq(out, "0");
    ck_assert_int_eq(mproc_rqueue_task_done(q), 0);
    ADMIN(out, "mproc:queue:{lay}out}:meta", "HGET mproc:queue:{lay}out}:meta unfinished");
    ck_assert_str_eq(out, "1");
    /* close: the handle's consumer is gone, its items back at once */
    ck_assert_int_eq(mproc_rqueue_get(q, &d, NULL, 0), 0);
    free(d);
    mproc_rqueue_close(q);
    ADMIN(out, "mproc:queue:{lay}out}:items", "LRANGE mproc:queue:{lay}out}:items 0 -1");
    ck_assert_str_eq(out, "b");
    ADMIN(out, "mproc:queue:{lay}out}:items", "EXISTS mproc:queue:{lay}out}:live:%s", id);
    ck_assert_str_eq(out, "0");
    ADMIN(out, "mproc:queue:{lay}out}:items", "SCARD mproc:queue:{lay}out}:consumers");
    ck_assert_str_eq(out, "0");
    stop_backend();
}
END_TEST

/* A key of another type: MPROC_ETYPE at open, and nothing changed. A name
 * whose braces defeat the hash tag cannot be a queue on a cluster. */
START_TEST(redis_wrong_types_and_names)
{
    ON_BACKEND();
    char out[256];
    ADMIN(out, "mproc:queue:{t}:items", "SET mproc:queue:{t}:items text");
    mproc_rqueue_t *q;
    ck_assert_int_eq(mproc_manager_queue(m, "t", 3, &q), MPROC_ETYPE);
    ADMIN(out, "mproc:queue:{t}:items", "EXISTS mproc:queue:{t}:meta");
    ck_assert_str_eq(out, "0");
    ADMIN(out, "mproc:queue:{t}:items", "SCARD mproc:queue:{t}:consumers");
    ck_assert_str_eq(out, "0");
    ADMIN(out, "mproc:queue:{t}:items", "GET mproc:queue:{t}:items");
    ck_assert_str_eq(out, "text");
    int r = mproc_manager_queue(m, "}x", 0, &q);
    if (on == ON_REDIS_CLUSTER) {
        ck_assert_int_eq(r, MPROC_EINVAL);
    } else {
        ck_assert_int_eq(r, 0);
        ck_assert_int_eq(mproc_rqueue_put(q, "z", 1, 0), 0);
        mproc_rqueue_close(q);
    }
    stop_backend();
}
END_TEST

/* A child that tells the parent when it holds its items and then waits
 * for the parent's word: a pipe each way, the child's ends in fds. */
struct talk {
    int up[2], down[2];
};

static void talk_open(struct talk *t)
{
    ck_assert_int_eq(pipe(t->up), 0);
    ck_assert_int_eq(pipe(t->down), 0);
    fds[0] = t->down[0];
    fds[1] = t->up[1];
}

static void talk_close(struct talk *t)
{
    close(t->up[0]);
    close(t->up[1]);
    close(t->down[0]);
    close(t->down[1]);
}

/* In the child: 0 once it has told the parent and heard back. */
static int child_holds_and_waits(void)
{
    char c;
    return write(fds[1], "g", 1) == 1 && read(fds[0], &c, 1) == 1 ? 0 : -1;
}

/* A consumer that lives keeps its item past the liveness TTL (5 s): its
 * handle's thread renews the key while the process does nothing with it. */
static int idle_holder(void *arg)
{
    mproc_rqueue_t *q;
    if (mproc_manager_queue(m, arg, 0, &q) != 0)
        return 2;
    void *d;
    if (mproc_rqueue_get(q, &d, NULL, 5) != 0)
        return 3;
    free(d);
    if (child_holds_and_waits() != 0) /* the parent says when */
        return 4;
    if (mproc_rqueue_task_done(q) != 0)
        return 6;
    mproc_rqueue_close(q);
    return 0;
}

START_TEST(redis_live_consumer_keeps_its_item_past_the_ttl)
{
    ON_BACKEND();
    struct talk t;
    talk_open(&t);
    mproc_rqueue_t *q;
    ck_assert_int_eq(mproc_manager_queue(m, "keep", 0, &q), 0);
    ck_assert_int_eq(mproc_rqueue_put(q, "k", 1, 0), 0);
    pid_t h = fork_child(idle_holder, "keep");
    char c;
    ck_assert_int_eq(read(t.up[0], &c, 1), 1);
    /* longer than the TTL with nobody calling anything on the holder's handle,
     * while this one reaps (a get that waits, in slices) */
    void *d;
    ck_assert_int_eq(mproc_rqueue_get(q, &d, NULL, 5.0 + 2.0), MPROC_EEMPTY);
    size_t n;
    ck_assert_int_eq(mproc_rqueue_qsize(q, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(write(t.down[1], "x", 1), 1);
    ck_assert_int_eq(wait_child(h, 30), 0);
    ck_assert_int_eq(mproc_rqueue_join(q, 5), 0);
    mproc_rqueue_close(q);
    talk_close(&t);
    stop_backend();
}
END_TEST
#endif

#ifdef HAVE_HIREDIS
/* A proxy on loopback between the client and Redis (a forked process):
 * relays both ways, but the first reply from Redis that contains the bytes
 * "lost-item" it drops, closing both connections: a get whose reply is
 * lost after the server moved the item. Then it relays faithfully. */
static int proxy_listener(int *port)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(l, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof a;
    ck_assert_int_eq(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(l, 8), 0);
    ck_assert_int_eq(getsockname(l, (struct sockaddr *)&a, &alen), 0);
    *port = ntohs(a.sin_port);
    return l;
}

static int proxy_fd, proxy_to;
static int proxy_main(void *arg)
{
    (void)arg;
    enum { PAIRS = 16 };
    int c[PAIRS], s[PAIRS], dropped = 0;
    for (int i = 0; i < PAIRS; i++)
        c[i] = s[i] = -1;
    for (;;) {
        struct pollfd p[1 + 2 * PAIRS];
        p[0] = (struct pollfd){ proxy_fd, POLLIN, 0 };
        for (int i = 0; i < PAIRS; i++) {
            p[1 + 2 * i] = (struct pollfd){ c[i], POLLIN, 0 };
            p[2 + 2 * i] = (struct pollfd){ s[i], POLLIN, 0 };
        }
        if (poll(p, 1 + 2 * PAIRS, -1) < 0)
            return 4;
        if (p[0].revents) {
            int i = 0;
            while (i < PAIRS && c[i] >= 0)
                i++;
            if (i == PAIRS)
                return 5;
            c[i] = accept(proxy_fd, NULL, NULL);
            s[i] = socket(AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)proxy_to),
                                     .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
            if (c[i] < 0 || s[i] < 0 || connect(s[i], (struct sockaddr *)&a, sizeof a) != 0)
                return 3;
        }
        for (int i = 0; i < PAIRS; i++)
            for (int from = 0; from < 2 && c[i] >= 0; from++) {
                if (!p[1 + 2 * i + from].revents)
                    continue;
                char buf[65536];
                ssize_t n = read(from == 0 ? c[i] : s[i], buf, sizeof buf);
                int drop = from == 1 && !dropped && n > 0 && memmem(buf, (size_t)n, "lost-item", 9) != NULL;
                dropped |= drop;
                if (n <= 0 || drop || write(from == 0 ? s[i] : c[i], buf, (size_t)n) != n) {
                    close(c[i]);
                    close(s[i]);
                    c[i] = s[i] = -1;
                }
            }
    }
}

/* Replaces the test's handle with one that reaches the backend's Redis
 * through a forked proxy_main; the proxy's pid. */
static pid_t connect_through_proxy(void)
{
    mproc_manager_shutdown(m);
    int port;
    proxy_fd = proxy_listener(&port);
    proxy_to = redis[on].port[0];
    pid_t px = fork_child(proxy_main, NULL);
    close(proxy_fd);
    char addr[64];
    snprintf(addr, sizeof addr, "redis://127.0.0.1:%d", port);
    const char *pw = redis[on].password;
    ck_assert_int_eq(mproc_manager_connect(&m, addr, pw, strlen(pw)), 0);
    return px;
}

/* A get whose reply never arrives (the connection breaks after Redis moved
 * the item): the item is not the caller's. The handle's next call puts it
 * back at the front, so the next get returns it, and the task_done after
 * it acknowledges the item the caller got, never the unseen one. */
START_TEST(redis_lost_get_reply_is_undone)
{
    ON_BACKEND();
    pid_t px = connect_through_proxy();
    mproc_rqueue_t *q;
    ck_assert_int_eq(mproc_manager_queue(m, "lost", 0, &q), 0);
    ck_assert_int_eq(mproc_rqueue_put(q, "lost-item", 9, 0), 0);
    ck_assert_int_eq(mproc_rqueue_put(q, "second", 6, 0), 0);
    void *d;
    size_t len;
    ck_assert_int_lt(mproc_rqueue_get(q, &d, &len, 0), 0); /* the reply was dropped */
    ck_assert_int_eq(mproc_rqueue_get(q, &d, &len, 0), 0);
    ck_assert_uint_eq(len, 9);
    ck_assert_int_eq(memcmp(d, "lost-item", 9), 0);
    free(d);
    ck_assert_int_eq(mproc_rqueue_task_done(q), 0);
    ck_assert_int_eq(mproc_rqueue_get(q, &d, &len, 0), 0);
    ck_assert_uint_eq(len, 6);
    free(d);
    ck_assert_int_eq(mproc_rqueue_task_done(q), 0);
    ck_assert_int_eq(mproc_rqueue_join(q, 5), 0);
    mproc_rqueue_close(q);
    kill(px, SIGKILL);
    waitpid(px, NULL, 0);
    stop_backend();
}
END_TEST

/* Every non-empty processing list belongs to a registered consumer (one
 * the reaper will visit): nothing is stranded. */
static void nothing_stranded(const char *name)
{
    char out[4096], keys[4096];
    char k[128];
    snprintf(k, sizeof k, "mproc:queue:{%s}:items", name);
    ADMIN(keys, k, "KEYS mproc:queue:{%s}:proc:*", name);
    for (char *save = NULL, *key = strtok_r(keys, "\n", &save); key != NULL; key = strtok_r(NULL, "\n", &save)) {
        ADMIN(out, k, "TYPE %s", key);
        if (strcmp(out, "list") != 0)
            continue;
        const char *id = strrchr(key, ':') + 1;
        ADMIN(out, k, "SISMEMBER mproc:queue:{%s}:consumers %s", name, id);
        ck_assert_msg(strcmp(out, "1") == 0, "%s holds items, its consumer is not registered", key);
    }
}

/* A consumer reaped between two calls (its liveness key gone, another
 * handle reaped it) whose next get moves an item: it is registered again,
 * so the item is not stranded in a list nobody would reap. */
START_TEST(redis_reaped_consumer_strands_nothing)
{
    ON_BACKEND();
    mproc_rqueue_t *q, *other;
    char out[4096], id[64];
    ck_assert_int_eq(mproc_manager_queue(m, "strand", 0, &q), 0);
    ADMIN(id, "mproc:queue:{strand}:items", "SMEMBERS mproc:queue:{strand}:consumers");
    ck_assert_uint_eq(strlen(id), 32);
    ck_assert_int_eq(mproc_manager_queue(m, "strand", 0, &other), 0);
    ck_assert_int_eq(mproc_rqueue_put(other, "x", 1, 0), 0);
    ck_assert_int_eq(mproc_rqueue_put(other, "y", 1, 0), 0);
    size_t n;
    /* q holds nothing, so no thread renews it: its liveness key goes, other
     * reaps it; then q's get (renewed moments ago: a plain LMOVE first) */
    ck_assert_int_eq(mproc_rqueue_qsize(q, &n), 0);
    ADMIN(out, "mproc:queue:{strand}:items", "DEL mproc:queue:{strand}:live:%s", id);
    ck_assert_int_eq(mproc_rqueue_qsize(other, &n), 0);
    ADMIN(out, "mproc:queue:{strand}:items", "SISMEMBER mproc:queue:{strand}:consumers %s", id);
    ck_assert_str_eq(out, "0");
    void *d;
    ck_assert_int_eq(mproc_rqueue_get(q, &d, NULL, 0), 0);
    free(d);
    nothing_stranded("strand");
    ADMIN(out, "mproc:queue:{strand}:items", "SISMEMBER mproc:queue:{strand}:consumers %s", id);
    ck_assert_str_eq(out, "1");
    ck_assert_int_eq(mproc_rqueue_task_done(q), 0);
    ck_assert_int_eq(mproc_rqueue_get(q, &d, NULL, 0), 0);
    free(d);
    ck_assert_int_eq(mproc_rqueue_task_done(q), 0);
    ck_assert_int_eq(mproc_rqueue_join(other, 5), 0);
    mproc_rqueue_close(other);
    mproc_rqueue_close(q);
    stop_backend();
}
END_TEST

/* A consumer stopped while it held two items, reaped meanwhile (the items
 * went back to the queue), then going on: its two task_done calls for the
 * items it held before are MPROC_EOVERFLOW and acknowledge nothing, not
 * the item it got since. */
static int reaped_holder(void *arg)
{
    mproc_rqueue_t *q;
    if (mproc_manager_queue(m, arg, 0, &q) != 0)
        return 2;
    int v;
    if (get_int(q, &v, 0) != 0 || v != 1 || get_int(q, &v, 0) != 0 || v != 2)
        return 3;
    if (child_holds_and_waits() != 0) /* the parent stopped and reaped us meanwhile */
        return 4;
    if (get_int(q, &v, 0) != 0 || v != 1) /* redelivered */
        return 6;
    if (mproc_rqueue_task_done(q) != MPROC_EOVERFLOW || mproc_rqueue_task_done(q) != MPROC_EOVERFLOW)
        return 7;
    if (mproc_rqueue_task_done(q) != 0) /* the redelivered 1 */
        return 8;
    for (int want = 2; want <= 3; want++)
        if (get_int(q, &v, 0) != 0 || v != want || mproc_rqueue_task_done(q) != 0)
            return 9;
    if (mproc_rqueue_task_done(q) != MPROC_EOVERFLOW)
        return 10;
    mproc_rqueue_close(q);
    return 0;
}

START_TEST(redis_reaped_consumer_acknowledges_nothing_newer)
{
    ON_BACKEND();
    struct talk t;
    talk_open(&t);
    mproc_rqueue_t *q;
    ck_assert_int_eq(mproc_manager_queue(m, "newer", 0, &q), 0);
    for (int i = 1; i <= 3; i++)
        ck_assert_int_eq(mproc_rqueue_put(q, &i, sizeof i, 0), 0);
    pid_t h = fork_child(reaped_holder, "newer");
    char c, out[4096];
    ck_assert_int_eq(read(t.up[0], &c, 1), 1);
    /* stopped, its liveness key gone, reaped by this handle */
    ck_assert_int_eq(kill(h, SIGSTOP), 0);
    int st;
    ck_assert_int_eq(waitpid(h, &st, WUNTRACED), h);
    char keys[4096];
    ADMIN(keys, "mproc:queue:{newer}:items", "KEYS mproc:queue:{newer}:live:*");
    for (char *save = NULL, *k = strtok_r(keys, "\n", &save); k != NULL; k = strtok_r(NULL, "\n", &save))
        ADMIN(out, "mproc:queue:{newer}:items", "DEL %s", k);
    size_t n;
    ck_assert_int_eq(mproc_rqueue_qsize(q, &n), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(kill(h, SIGCONT), 0);
    ck_assert_int_eq(write(t.down[1], "x", 1), 1);
    ck_assert_int_eq(wait_child(h, 30), 0);
    ck_assert_int_eq(mproc_rqueue_join(q, 5), 0);
    mproc_rqueue_close(q);
    talk_close(&t);
    stop_backend();
}
END_TEST

/* A consumer reaped while it waits in BLMOVE (its liveness key gone,
 * another handle's qsize reaping it): the item put next cannot land in the
 * reaper's marker (Redis answers the blocked BLMOVE WRONGTYPE and leaves
 * the item in the queue), the consumer registers again and gets it, and
 * nothing is stranded. */
static int blocked_getter(void *arg)
{
    mproc_rqueue_t *q;
    if (mproc_manager_queue(m, arg, 0, &q) != 0)
        return 2;
    void *d;
    size_t len;
    if (mproc_rqueue_get(q, &d, &len, 20) != 0)
        return 3;
    int right = len == 4 && memcmp(d, "item", 4) == 0;
    free(d);
    if (!right || mproc_rqueue_task_done(q) != 0)
        return 4;
    mproc_rqueue_close(q);
    return 0;
}

/* The WRONGTYPE errors the node holding `key` has answered so far. */
static long wrongtype_errors(const char *key)
{
    char info[4096];
    ADMIN(info, key, "INFO errorstats");
    const char *at = strstr(info, "errorstat_WRONGTYPE:count=");
    return at != NULL ? atol(at + strlen("errorstat_WRONGTYPE:count=")) : 0;
}

/* 1 when a client of the node holding `key` waits in BLMOVE. */
static int someone_in_blmove(const char *key)
{
    char clients[8192];
    ADMIN(clients, key, "CLIENT LIST");
    return strstr(clients, "cmd=blmove") != NULL;
}

START_TEST(redis_consumer_reaped_while_blocked_gets_the_next_item)
{
    ON_BACKEND();
    const char *items = "mproc:queue:{blreap}:items";
    mproc_rqueue_t *q;
    char mine[64], ids[256], out[256], theirs[64] = "";
    ck_assert_int_eq(mproc_manager_queue(m, "blreap", 0, &q), 0);
    ADMIN(mine, items, "SMEMBERS mproc:queue:{blreap}:consumers");
    pid_t p = fork_child(blocked_getter, "blreap");
    /* the child registered and is blocked in its get */
    for (int tries = 0; theirs[0] == '\0'; tries++) {
        ck_assert_int_lt(tries, 2000);
        ADMIN(ids, items, "SMEMBERS mproc:queue:{blreap}:consumers");
        for (char *save = NULL, *id = strtok_r(ids, "\n", &save); id != NULL; id = strtok_r(NULL, "\n", &save))
            if (strcmp(id, mine) != 0)
                snprintf(theirs, sizeof theirs, "%s", id);
    }
    /* its liveness key gone and this handle reaping it, until the reap
     * lands while it waits in BLMOVE (between its 1 s slices it renews) */
    for (int tries = 0;; tries++) {
        ck_assert_int_lt(tries, 20000);
        if (!someone_in_blmove(items))
            continue;
        ADMIN(out, items, "DEL mproc:queue:{blreap}:live:%s", theirs);
        size_t n;
        ck_assert_int_eq(mproc_rqueue_qsize(q, &n), 0);
        ADMIN(out, items, "TYPE mproc:queue:{blreap}:proc:%s", theirs);
        if (strcmp(out, "string") == 0 && someone_in_blmove(items))
            break; /* the reaper's marker in place, the child still waiting */
    }
    long errors = wrongtype_errors(items);
    ck_assert_int_eq(mproc_rqueue_put(q, "item", 4, 0), 0);
    ck_assert_int_eq(wait_child(p, 30), 0);
    /* the blocked BLMOVE was answered WRONGTYPE (moved nothing) */
    ck_assert_int_gt(wrongtype_errors(items), errors);
    size_t n;
    ck_assert_int_eq(mproc_rqueue_qsize(q, &n), 0);
    ck_assert_uint_eq(n, 0);
    nothing_stranded("blreap");
    ck_assert_int_eq(mproc_rqueue_join(q, 5), 0);
    mproc_rqueue_close(q);
    stop_backend();
}
END_TEST

/* A consumers-set member whose processing list is some other kind of key
 * (not the reaper's own marker): the reaper drops the member and leaves
 * the key alone; the queue goes on working. */
START_TEST(redis_reaper_skips_a_foreign_key)
{
    ON_BACKEND();
    mproc_rqueue_t *q;
    char out[256];
    ck_assert_int_eq(mproc_manager_queue(m, "odd", 0, &q), 0);
    ADMIN(out, "mproc:queue:{odd}:items", "SADD mproc:queue:{odd}:consumers bogus");
    ADMIN(out, "mproc:queue:{odd}:items", "HSET mproc:queue:{odd}:proc:bogus f v");
    ck_assert_int_eq(mproc_rqueue_put(q, "a", 1, 0), 0);
    size_t n;
    ck_assert_int_eq(mproc_rqueue_qsize(q, &n), 0);
    ck_assert_uint_eq(n, 1);
    ADMIN(out, "mproc:queue:{odd}:items", "SISMEMBER mproc:queue:{odd}:consumers bogus");
    ck_assert_str_eq(out, "0");
    ADMIN(out, "mproc:queue:{odd}:items", "HGET mproc:queue:{odd}:proc:bogus f");
    ck_assert_str_eq(out, "v");
    void *d;
    ck_assert_int_eq(mproc_rqueue_get(q, &d, NULL, 0), 0);
    free(d);
    ck_assert_int_eq(mproc_rqueue_task_done(q), 0);
    ck_assert_int_eq(mproc_rqueue_join(q, 5), 0);
    mproc_rqueue_close(q);
    stop_backend();
}
END_TEST

/* A process whose numbers are written with a decimal comma: a get that
 * waits still speaks Redis's syntax (the BLMOVE timeout). The locale is
 * built with localedef into a temporary directory; without one the check
 * is skipped. */
START_TEST(redis_blocking_get_in_a_decimal_comma_locale)
{
    ON_BACKEND();
    char dir[] = "/tmp/mproc-locale-XXXXXX", cmd[256];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(cmd, sizeof cmd, "localedef -i de_DE -f UTF-8 %s/de_DE.UTF-8 >/dev/null 2>&1", dir);
    int made = system(cmd) == 0;
    setenv("LOCPATH", dir, 1);
    char dec[16] = "";
    if (made && setlocale(LC_NUMERIC, "de_DE.UTF-8") != NULL)
        snprintf(dec, sizeof dec, "%.1f", 0.5);
    if (strcmp(dec, "0,5") != 0) {
        fprintf(stderr, "test_manager_queue: no decimal-comma locale could be made: skipped\n");
    } else {
        mproc_rqueue_t *q;
        void *d;
        ck_assert_int_eq(mproc_manager_queue(m, "comma", 0, &q), 0);
        ck_assert_int_eq(mproc_rqueue_get(q, &d, NULL, 0.3), MPROC_EEMPTY);
        ck_assert_int_eq(mproc_rqueue_put(q, "a", 1, 0), 0);
        ck_assert_int_eq(mproc_rqueue_get(q, &d, NULL, 0.3), 0);
        free(d);
        mproc_rqueue_close(q);
    }
    setlocale(LC_NUMERIC, "C");
    unsetenv("LOCPATH");
    ck_assert_int_eq(remove_tree(dir), 0);
    stop_backend();
}
END_TEST

/* A server that lies: a Redis look-alike answering every command (each
 * arrives in one read: the client waits for each reply) as if standalone,
 * and a queue's length as -5. */
static int liar_main(void *arg)
{
    (void)arg;
    enum { CONNS = 16 };
    int c[CONNS];
    for (int i = 0; i < CONNS; i++)
        c[i] = -1;
    for (;;) {
        struct pollfd p[1 + CONNS];
        p[0] = (struct pollfd){ proxy_fd, POLLIN, 0 };
        for (int i = 0; i < CONNS; i++)
            p[1 + i] = (struct pollfd){ c[i], POLLIN, 0 };
        if (poll(p, 1 + CONNS, -1) < 0)
            return 4;
        if (p[0].revents) {
            int i = 0;
            while (i < CONNS && c[i] >= 0)
                i++;
            if (i == CONNS || (c[i] = accept(proxy_fd, NULL, NULL)) < 0)
                return 3;
        }
        for (int i = 0; i < CONNS; i++) {
            if (c[i] < 0 || !p[1 + i].revents)
                continue;
            char buf[65536];
            ssize_t n = read(c[i], buf, sizeof buf);
            const char *reply = ":0\r\n";
            if (n > 0 && memmem(buf, (size_t)n, "CLUSTER", 7) != NULL)
                reply = "-ERR This instance has cluster support disabled\r\n";
            else if (n > 0 && memmem(buf, (size_t)n, "qsize", 5) != NULL)
                reply = ":-5\r\n";
            else if (n > 0 && memmem(buf, (size_t)n, "EVAL", 4) == NULL)
                reply = "+OK\r\n";
            if (n <= 0 || write(c[i], reply, strlen(reply)) != (ssize_t)strlen(reply)) {
                close(c[i]);
                c[i] = -1;
            }
        }
    }
}

/* qsize: a negative length from the server is a lie (MPROC_EPROTO), not a
 * huge count. */
START_TEST(redis_negative_qsize_is_a_lie)
{
    int port;
    proxy_fd = proxy_listener(&port);
    pid_t liar = fork_child(liar_main, NULL);
    close(proxy_fd);
    char addr[64];
    snprintf(addr, sizeof addr, "redis://127.0.0.1:%d", port);
    mproc_manager_t *lm;
    ck_assert_int_eq(mproc_manager_connect(&lm, addr, NULL, 0), 0);
    mproc_rqueue_t *q;
    ck_assert_int_eq(mproc_manager_queue(lm, "lie", 0, &q), 0);
    size_t n = 7;
    ck_assert_int_eq(mproc_rqueue_qsize(q, &n), MPROC_EPROTO);
    ck_assert_uint_eq(n, 7);
    mproc_rqueue_close(q);
    mproc_manager_close(lm);
    kill(liar, SIGKILL);
    waitpid(liar, NULL, 0);
}
END_TEST

/* Redis stops answering (the proxy between is stopped) while the handle's
 * renewal thread is in its call, holding the handle: a get still ends
 * within the documented bound, its timeout plus 11 s. */
START_TEST(redis_hung_server_bounds_a_get)
{
    ON_BACKEND();
    pid_t px = connect_through_proxy();
    mproc_rqueue_t *q;
    void *d;
    ck_assert_int_eq(mproc_manager_queue(m, "hung", 0, &q), 0);
    ck_assert_int_eq(mproc_rqueue_put(q, "a", 1, 0), 0);
    ck_assert_int_eq(mproc_rqueue_get(q, &d, NULL, 0), 0); /* the renewal thread starts */
    free(d);
    ck_assert_int_eq(kill(px, SIGSTOP), 0);
    /* not synchronisation: time for the thread (renewing every second) to
     * be inside a call that cannot end, most likely, when the get starts */
    struct timespec ts = { 1, 500000000L };
    nanosleep(&ts, NULL);
    double t0 = now();
    ck_assert_int_lt(mproc_rqueue_get(q, &d, NULL, 0.2), 0);
    double took = now() - t0;
    ck_assert_msg(took < 0.2 + 11 + 2.5, "get(0.2) on a hung server took %.1f s", took);
    kill(px, SIGKILL);
    waitpid(px, NULL, 0);
    mproc_rqueue_close(q);
    mproc_manager_shutdown(m);
}
END_TEST
#endif

#ifdef HAVE_HIREDIS
static pid_t main_pid;

static void stop_redis(void)
{
    if (getpid() != main_pid)
        return; /* a test's child exiting: the servers are not its own */
    for (int b = ON_REDIS; b < BACKENDS; b++)
        redis_stop(&redis[b]);
}

/* The Redis servers every test shares: started once, emptied before each
 * test, stopped at exit whatever the tests did. */
static void start_redis(void)
{
    main_pid = getpid();
    if (!redis_available()) {
        fprintf(stderr, "test_manager_queue: redis-server not found: the Redis variants are skipped\n");
        return;
    }
    atexit(stop_redis);
    redis_up[ON_REDIS] = redis_start(&redis[ON_REDIS], 0, "pass word") == 0;
    redis_up[ON_REDIS_CLUSTER] = redis_start_cluster(&redis[ON_REDIS_CLUSTER], 3) == 0;
}
#endif

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
#ifdef HAVE_HIREDIS
    start_redis();
#else
    fprintf(stderr, "test_manager_queue: built without hiredis: the Redis variants are skipped\n");
#endif
    Suite *s = suite_create("manager_queue");
    TCase *tc = tcase_create("backends");
    tcase_set_timeout(tc, 120);
    /* every body on every backend, the cluster included (routing: every
     * key of a queue in one slot, the blocking get on the slot's master) */
    tcase_add_loop_test(tc, fifo_bounds_and_errors, 0, BACKENDS);
    tcase_add_loop_test(tc, timeouts_within_bounds, 0, BACKENDS);
    tcase_add_loop_test(tc, blocked_put_completes_when_room_comes, 0, BACKENDS);
    tcase_add_loop_test(tc, join_with_four_consumers, 0, BACKENDS);
    tcase_add_loop_test(tc, killed_consumer_item_redelivered, 0, BACKENDS);
    tcase_add_loop_test(tc, random_kills_lose_nothing, 0, BACKENDS);
    tcase_add_loop_test(tc, blocked_get_wakes_at_once, 0, BACKENDS);
    suite_add_tcase(s, tc);
#ifdef HAVE_HIREDIS
    TCase *tr = tcase_create("redis");
    tcase_set_timeout(tr, 120);
    tcase_add_loop_test(tr, redis_layout_is_as_documented, ON_REDIS, BACKENDS);
    tcase_add_loop_test(tr, redis_wrong_types_and_names, ON_REDIS, BACKENDS);
    tcase_add_loop_test(tr, redis_live_consumer_keeps_its_item_past_the_ttl, ON_REDIS, ON_REDIS + 1);
    tcase_add_loop_test(tr, redis_lost_get_reply_is_undone, ON_REDIS, ON_REDIS + 1);
    tcase_add_loop_test(tr, redis_reaped_consumer_strands_nothing, ON_REDIS, BACKENDS);
    tcase_add_loop_test(tr, redis_reaped_consumer_acknowledges_nothing_newer, ON_REDIS, ON_REDIS + 1);
    tcase_add_loop_test(tr, redis_reaper_skips_a_foreign_key, ON_REDIS, BACKENDS);
    tcase_add_loop_test(tr, redis_consumer_reaped_while_blocked_gets_the_next_item, ON_REDIS, BACKENDS);
    tcase_add_loop_test(tr, redis_blocking_get_in_a_decimal_comma_locale, ON_REDIS, ON_REDIS + 1);
    tcase_add_test(tr, redis_negative_qsize_is_a_lie);
    tcase_add_loop_test(tr, redis_hung_server_bounds_a_get, ON_REDIS, ON_REDIS + 1);
    suite_add_tcase(s, tr);
#endif
    TCase *tt = tcase_create("threads");
    tcase_set_timeout(tt, 120);
    tcase_add_loop_test(tt, threads_share_a_queue_handle, 0, BACKENDS);
    suite_add_tcase(s, tt);
    TCase *tj = tcase_create("journal");
    tcase_set_timeout(tj, 120);
    tcase_add_test(tj, journal_keeps_queues_across_sigkill);
    suite_add_tcase(s, tj);
    return run_suite(s);
}
