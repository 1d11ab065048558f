/* Every crash point, every operation that passes it: a victim process is
 * armed at the point, runs the operation and is killed there with SIGKILL;
 * then the survivors check the object: no hang (every wait returns within
 * its bound), no committed message lost, none torn or phantom, the bytes
 * accounted exactly (an empty queue takes its largest message), join and
 * task_done consistent, a barrier broken promptly, the object usable after.
 *
 * Each scenario below is one operation on one object; it is run once per
 * crash point of that object, and the victim either dies there (the point
 * was reached) or finishes normally (the operation does not pass it). The
 * suite prints how many points it reached per object and fails if a point of
 * common/crash_points.h is never reached.
 *
 * Races: a process armed to stop (SIGSTOP) at a point is frozen there
 * while another process runs its operation, then resumed; the FIFO recovery
 * race (a consumer's recovery against a producer's put) is tested so.
 *
 * Needs ./configure --enable-crash-points; elsewhere it reports itself
 * skipped (exit 77). */
#include "config.h"

#include "helpers.h"

#include <crash_points.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef MPROC_CRASH_POINTS

int mproc__crash_arm(const char *name, unsigned occurrence);

/* Bound for a survivor that must be released by the slices of futex.c. */
#define PROMPT 2.0
/* Bound for anything that must not hang at all. */
#define NO_HANG 10.0

enum { REACHED = 1, NOT_REACHED = 0 };

/* ---- messages whose every byte says what they are ---- */

#define CAP 2048
#define MAX_MSG (CAP - 32)

static size_t msg_len(int id)
{
    return 8 + (size_t)(id * 37) % 200;
}

static void msg_fill(unsigned char *buf, int id, size_t len)
{
    memcpy(buf, &id, sizeof id);
    for (size_t j = sizeof id; j < len; j++)
        buf[j] = (unsigned char)(id * 31 + (int)j);
}

/* The id of a well-formed message, -1 if it is torn. */
static int msg_check(const unsigned char *buf, size_t len)
{
    int id;
    if (len < sizeof id)
        return -1;
    memcpy(&id, buf, sizeof id);
    if (id < 0 || id > 100000 || len != msg_len(id))
        return -1;
    for (size_t j = sizeof id; j < len; j++)
        if (buf[j] != (unsigned char)(id * 31 + (int)j))
            return -1;
    return id;
}

static int put_msg(mproc_queue_t *q, int id, int64_t prio, double timeout)
{
    unsigned char buf[512];
    size_t len = msg_len(id);
    msg_fill(buf, id, len);
    return mproc_queue_put_prio(q, buf, len, prio, timeout);
}

static mproc_queue_t *new_queue(int order, size_t capacity)
{
    mproc_queue_opts_t o = { .capacity = capacity, .order = order };
    mproc_queue_t *q = NULL;
    ck_assert_int_eq(mproc_queue_create(&q, NULL, &o), 0);
    return q;
}

/* ---- the victim ---- */

/* 1 once pid sleeps in the kernel or has died (a zombie), at most NO_HANG. */
static int settled(pid_t pid)
{
    double until = now() + NO_HANG;
    while (now() < until) {
        char path[64], buf[256];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            return 1;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        char *paren = strrchr(buf, ')');
        if (paren != NULL && (paren[2] == 'S' || paren[2] == 'Z'))
            return 1;
        usleep(1000);
    }
    return 0;
}

struct victim {
    const char *point;
    int (*op)(void *arg);
    void *arg;
};

static int victim_main(void *arg)
{
    struct victim *v = arg;
    if (mproc__crash_arm(v->point, 1) != 0)
        return 90;
    return v->op(v->arg);
}

/* Removes what a victim killed in a named create left: the segment it was
 * building under a temporary name, "/dev/shm/.mproc-build-PID-..." (as
 * `mproc gc` does for a dead creator), so that the suite leaves /dev/shm as
 * it found it. */
static void remove_build_files(pid_t pid)
{
    char prefix[64];
    int n = snprintf(prefix, sizeof prefix, ".mproc-build-%d-", (int)pid);
    DIR *dir = opendir("/dev/shm");
    struct dirent *d;
    while (dir != NULL && (d = readdir(dir)) != NULL) {
        if (strncmp(d->d_name, prefix, (size_t)n) == 0) {
            char path[512];
            snprintf(path, sizeof path, "/dev/shm/%s", d->d_name);
            unlink(path);
        }
    }
    if (dir != NULL)
        closedir(dir);
}

/* Runs op(arg) in a child armed at point: REACHED if it died there,
 * NOT_REACHED if it finished with 0, else a failure code. */
static int run_victim(const char *point, int (*op)(void *), void *arg)
{
    struct victim v = { point, op, arg };
    pid_t pid = fork_child(victim_main, &v);
    int r = wait_child(pid, NO_HANG);
    remove_build_files(pid);
    if (r == -SIGKILL)
        return REACHED;
    return r == 0 ? NOT_REACHED : -100 - r;
}

/* ---- queue: what is left after a victim, checked exactly ---- */

/* Drains q without waiting; sets bit id in seen for each message. 0, or a
 * failure code (torn or phantom message, duplicate, an error). */
static int drain_ids(mproc_queue_t *q, unsigned char *seen, int max_id, int *count)
{
    unsigned char buf[MAX_MSG];
    *count = 0;
    for (;;) {
        size_t len;
        int r = mproc_queue_get(q, buf, sizeof buf, &len, 0);
        if (r == MPROC_EEMPTY || r == MPROC_ESHUTDOWN)
            return 0;
        if (r != 0)
            return -1;
        int id = msg_check(buf, len);
        if (id < 0 || id > max_id || seen[id])
            return -2;
        seen[id] = 1;
        ++*count;
    }
}

/* The queue is whole: after draining, the largest message fits (every byte
 * came back), and a put/get round trip works. */
static int queue_usable(mproc_queue_t *q)
{
    static unsigned char big[MAX_MSG];
    size_t len;
    if (mproc_queue_qsize(q) != 0)
        return -10;
    if (mproc_queue_put(q, big, sizeof big, 0) != 0)
        return -11;
    if (mproc_queue_get(q, big, sizeof big, &len, 0) != 0 || len != sizeof big)
        return -12;
    for (int i = 0; i < 8; i++)
        if (put_msg(q, 1000 + i, i % 3, 0) != 0)
            return -13;
    unsigned char seen[1100] = { 0 };
    int n;
    if (drain_ids(q, seen, 1099, &n) != 0 || n != 8)
        return -14;
    return 0;
}

/* The messages left are exactly `expect` (ids 0..n-1 set), or exactly that
 * with `maybe` present too / absent too (the victim's operation happened in
 * full or not at all). */
static int queue_holds(mproc_queue_t *q, const unsigned char *expect, int n, int maybe)
{
    unsigned char seen[64] = { 0 };
    int count;
    int r = drain_ids(q, seen, 63, &count);
    if (r != 0)
        return r;
    for (int i = 0; i < n; i++)
        if (i != maybe && seen[i] != expect[i])
            return -20 - i;
    return queue_usable(q);
}

/* ---- queue scenarios ---- */

struct qs {
    mproc_queue_t *q;
    int id;
    int64_t prio;
    size_t cap;
};

static int op_put(void *arg)
{
    struct qs *s = arg;
    return put_msg(s->q, s->id, s->prio, 5) == 0 ? 0 : 1;
}

static int op_get(void *arg)
{
    struct qs *s = arg;
    unsigned char buf[MAX_MSG];
    size_t len;
    int r = mproc_queue_get(s->q, buf, s->cap, &len, 5);
    return r == 0 && msg_check(buf, len) >= 0 ? 0 : 1;
}

static int op_get_alloc(void *arg)
{
    struct qs *s = arg;
    void *data;
    size_t len;
    if (mproc_queue_get_alloc(s->q, &data, &len, 5) != 0)
        return 1;
    int ok = msg_check(data, len) >= 0;
    free(data);
    return ok ? 0 : 1;
}

/* Fills q with messages 0..n-1 (priorities prios[i], or 0). */
static void fill(mproc_queue_t *q, int n, const int64_t *prios)
{
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(put_msg(q, i, prios ? prios[i] : 0, 0), 0);
}

/* Moves the (empty) ring's head and tail to `offset` bytes in (a multiple
 * of 8, at most CAP - 40). */
static void advance(mproc_queue_t *q, size_t offset)
{
    unsigned char buf[MAX_MSG];
    size_t len;
    while (offset >= 32) {
        size_t step = offset >= 192 + 32 ? 192 : offset;
        ck_assert_int_eq(mproc_queue_put(q, buf, step - 32, 0), 0);
        ck_assert_int_eq(mproc_queue_get(q, buf, sizeof buf, &len, 0), 0);
        offset -= step;
    }
}

/* A put: msgs 0..prefill-1 queued, the victim puts message vid. `at`: where
 * the ring starts (so that the put wraps, or resets an empty ring). */
static int put_scenario(const char *point, int order, size_t at, int prefill, int vid)
{
    mproc_queue_t *q = new_queue(order, CAP);
    advance(q, at);
    fill(q, prefill, NULL);
    struct qs s = { q, vid, 0, 0 };
    int reached = run_victim(point, op_put, &s);
    if (reached < 0)
        return reached;
    unsigned char expect[8] = { 0 };
    for (int i = 0; i < prefill; i++)
        expect[i] = 1;
    int r = queue_holds(q, expect, 8, vid);
    mproc_queue_close(q);
    return r != 0 ? r : reached;
}

static int s_put_fifo(const char *p) { return put_scenario(p, MPROC_FIFO, 0, 3, 3); }
/* 1760 + 40 + 80 + 120 = 2000: message 3 (152 bytes) goes to 0 after a 48-byte pad */
static int s_put_fifo_wrap(const char *p) { return put_scenario(p, MPROC_FIFO, 1760, 3, 3); }
/* an empty ring at 1904; message 5 (232 bytes) fits only from offset 0 */
static int s_put_fifo_reset(const char *p) { return put_scenario(p, MPROC_FIFO, 1904, 0, 5); }
static int s_put_lifo(const char *p) { return put_scenario(p, MPROC_LIFO, 0, 3, 3); }
static int s_put_prio_wrap(const char *p) { return put_scenario(p, MPROC_PRIORITY, 1760, 3, 3); }

/* A get: msgs 0..4 queued (priorities given), the victim takes `taken`. */
static int get_scenario(const char *point, int order, const int64_t *prios, int taken,
                        int (*op)(void *))
{
    mproc_queue_t *q = new_queue(order, CAP);
    fill(q, 5, prios);
    struct qs s = { q, 0, 0, MAX_MSG };
    int reached = run_victim(point, op, &s);
    if (reached < 0)
        return reached;
    unsigned char expect[5] = { 1, 1, 1, 1, 1 };
    expect[taken] = 0;
    int r = queue_holds(q, expect, 5, taken);
    mproc_queue_close(q);
    return r != 0 ? r : reached;
}

static const int64_t mid_low[5] = { 5, 5, 1, 5, 5 };    /* the middle record goes first */
static const int64_t head_low[5] = { 1, 5, 5, 5, 5 };   /* the head record goes first */
static const int64_t tail_low[5] = { 5, 5, 5, 5, 1 };   /* the newest record goes first */

static int s_get_fifo(const char *p) { return get_scenario(p, MPROC_FIFO, NULL, 0, op_get); }
static int s_get_alloc_fifo(const char *p) { return get_scenario(p, MPROC_FIFO, NULL, 0, op_get_alloc); }
static int s_get_lifo(const char *p) { return get_scenario(p, MPROC_LIFO, NULL, 4, op_get); }
static int s_get_prio_mid(const char *p) { return get_scenario(p, MPROC_PRIORITY, mid_low, 2, op_get); }
static int s_get_prio_head(const char *p) { return get_scenario(p, MPROC_PRIORITY, head_low, 0, op_get_alloc); }
static int s_get_prio_tail(const char *p) { return get_scenario(p, MPROC_PRIORITY, tail_low, 4, op_get); }

/* Recovery: a first process dies holding the mutex (at `first`), then the
 * victim's operation recovers it and is killed at the point; a third
 * process recovers again. */
static int recovery_scenario(const char *point, int order, const int64_t *prios, const char *first,
                             int (*first_op)(void *), int (*op)(void *), int taken, int taken2)
{
    mproc_queue_t *q = new_queue(order, CAP);
    fill(q, 5, prios);
    struct qs s = { q, 5, 0, MAX_MSG };
    if (run_victim(first, first_op, &s) != REACHED)
        return -30;
    s.id = 6; /* a put by the victim puts another message */
    int reached = run_victim(point, op, &s);
    if (reached < 0)
        return reached;
    /* The first operation may or may not have committed, and so may the
     * victim's; message `taken` (a get's) or 5 (a put's) may be there or not:
     * every other one must be, whole. */
    unsigned char seen[64] = { 0 };
    int count, r = drain_ids(q, seen, 63, &count);
    if (r == 0)
        for (int i = 0; i < 5; i++)
            if (i != taken && i != taken2 && !seen[i])
                r = -40 - i;
    if (r == 0)
        r = queue_usable(q);
    mproc_queue_close(q);
    return r != 0 ? r : reached;
}

static int s_recover_put(const char *p)
{
    return recovery_scenario(p, MPROC_FIFO, NULL, "queue.put.record_written", op_put, op_put, -1, -1);
}
static int s_recover_get(const char *p)
{
    return recovery_scenario(p, MPROC_FIFO, NULL, "queue.get.copied", op_get, op_get, 0, 1);
}
static int s_recover_get_after_put(const char *p)
{
    /* a FIFO consumer recovering while producers are not stopped: the put
     * side is left alone, its next put is whole */
    return recovery_scenario(p, MPROC_FIFO, NULL, "queue.get.locked", op_get, op_put, 0, -1);
}
static int s_recover_prio(const char *p)
{
    return recovery_scenario(p, MPROC_PRIORITY, head_low, "queue.get.record_freed", op_get, op_get, 0, 1);
}
static int s_recover_prio_mid(const char *p)
{
    return recovery_scenario(p, MPROC_PRIORITY, mid_low, "queue.get.record_freed", op_get, op_put, 2, -1);
}

/* After a consumer died between marking the head record FREE and moving
 * the head, a steady backlog of one message must keep flowing: the head may
 * not stay on the FREE record. */
static int s_prio_backlog_after_recovery(const char *p)
{
    mproc_queue_t *q = new_queue(MPROC_PRIORITY, CAP);
    fill(q, 5, head_low);
    struct qs s = { q, 5, 0, MAX_MSG };
    int reached = run_victim(p, op_get, &s);
    if (reached < 0)
        return reached;
    unsigned char buf[MAX_MSG];
    size_t len;
    int r = 0;
    /* leave one message queued: a backlog of one, FIFO among equals */
    while (r == 0 && mproc_queue_qsize(q) > 1)
        if (mproc_queue_get(q, buf, sizeof buf, &len, 0) != 0)
            r = -52;
    for (int i = 0; i < 200 && r == 0; i++) {
        if (put_msg(q, 10 + i % 40, 5, 0) != 0)
            r = -50;
        else if (mproc_queue_get(q, buf, sizeof buf, &len, 0) != 0 || msg_check(buf, len) < 0)
            r = -51;
    }
    mproc_queue_close(q);
    return r != 0 ? r : reached;
}

/* Compaction: a LIFO/PRIORITY put that finds no contiguous room but enough
 * bytes in all gathers the holes (messages taken from the middle) and the
 * skipped end of the ring. The layouts below are worked out for CAP 2048
 * from the record sizes (32 + msg_len rounded up to 8). Keepers have
 * priority 9, fillers priority 1: the gets take exactly the fillers, from
 * the middle of the ring, and leave holes. */
struct layout {
    int order;
    size_t at;            /* where the empty ring starts */
    int puts[16], prios[16], nputs;
    int gets;             /* fillers taken after the puts */
    int victim;           /* the id the victim puts (its record needs a compaction) */
};

/* Wrapped: A = [1400, 2048) with a hole and a 72-byte skipped end whose
 * run moves up by less than its length (3 steps); B = [0, 1280) with four
 * holes; 120 bytes free between; message 27 needs 240. */
static const struct layout wrapped_prio = {
    MPROC_PRIORITY, 1400,
    { 5, 4, 3, 9, 10, 8, 2, 13, 14, 21, 0, 1 },
    { 9, 1, 9, 1, 9, 1, 9, 9, 1, 9, 1, 9 }, 12, 5, 27
};
/* Not wrapped: [200, 2016) with four holes, 32 bytes after it and 200
 * before: everything slides up to the ring's end, the tail to 0. */
static const struct layout flat_prio = {
    MPROC_PRIORITY, 200,
    { 5, 4, 3, 9, 10, 8, 2, 13, 14, 1, 21 },
    { 9, 1, 9, 1, 9, 1, 9, 9, 1, 9, 9 }, 11, 4, 27
};
/* LIFO, no holes: the 72-byte skipped end and the 120 bytes before the
 * head make room for message 25 (168 bytes) only together. */
static const struct layout wrapped_lifo = {
    MPROC_LIFO, 1400,
    { 5, 4, 3, 9, 10, 8, 2, 13, 14, 21, 0, 1 },
    { 0 }, 12, 0, 25
};

static mproc_queue_t *build(const struct layout *l, unsigned char *keep)
{
    mproc_queue_t *q = new_queue(l->order, CAP);
    advance(q, l->at);
    memset(keep, 0, 64);
    for (int i = 0; i < l->nputs; i++) {
        ck_assert_int_eq(put_msg(q, l->puts[i], l->prios[i], 0), 0);
        keep[l->puts[i]] = l->order != MPROC_PRIORITY || l->prios[i] == 9;
    }
    unsigned char buf[MAX_MSG];
    size_t len;
    for (int i = 0; i < l->gets; i++)
        ck_assert_int_eq(mproc_queue_get(q, buf, sizeof buf, &len, 0), 0);
    return q;
}

/* The keepers are all there, whole, and besides them at most the ids in
 * maybe[]; then the queue is whole. */
static int holds_keepers(mproc_queue_t *q, const unsigned char *keep, int maybe1, int maybe2)
{
    unsigned char seen[64] = { 0 };
    int count, r = drain_ids(q, seen, 63, &count);
    for (int i = 0; r == 0 && i < 64; i++)
        if (seen[i] != keep[i] && i != maybe1 && i != maybe2)
            r = -160 - i;
    return r != 0 ? r : queue_usable(q);
}

static int op_put_prio9(void *arg)
{
    struct qs *s = arg;
    return put_msg(s->q, s->id, 9, 0) == 0 ? 0 : 1;
}

/* The victim's put compacts (timeout 0: it must not need to wait). */
static int compact_scenario(const char *p, const struct layout *l)
{
    unsigned char keep[64];
    mproc_queue_t *q = build(l, keep);
    struct qs s = { q, l->victim, 9, 0 };
    int reached = run_victim(p, op_put_prio9, &s);
    int r = reached < 0 ? reached : holds_keepers(q, keep, l->victim, -1);
    mproc_queue_close(q);
    return r != 0 ? r : reached;
}

static int s_compact_wrapped(const char *p) { return compact_scenario(p, &wrapped_prio); }
static int s_compact_flat(const char *p) { return compact_scenario(p, &flat_prio); }
static int s_compact_lifo(const char *p) { return compact_scenario(p, &wrapped_lifo); }

/* A compacting put dies at `first` (in the middle of a move); the victim's
 * put (message 30) recovers, finishing the move, and dies at the point. */
static int compact_recovery_scenario(const char *p, const struct layout *l, const char *first)
{
    unsigned char keep[64];
    mproc_queue_t *q = build(l, keep);
    struct qs s = { q, l->victim, 9, 0 };
    if (run_victim(first, op_put_prio9, &s) != REACHED)
        return -170;
    s.id = 30;
    int reached = run_victim(p, op_put_prio9, &s);
    int r = reached < 0 ? reached : holds_keepers(q, keep, l->victim, 30);
    mproc_queue_close(q);
    return r != 0 ? r : reached;
}

static int s_compact_recover_step(const char *p)
{
    return compact_recovery_scenario(p, &wrapped_prio, "queue.compact.step_copied");
}
static int s_compact_recover_fixed(const char *p)
{
    return compact_recovery_scenario(p, &flat_prio, "queue.compact.tail_fixed");
}

static int op_task_done(void *arg)
{
    struct qs *s = arg;
    return mproc_queue_task_done(s->q) == 0 ? 0 : 1;
}

/* task_done: 3 put and got; the victim marks one done. The rest then take
 * exactly 2 or 3 more before EOVERFLOW, and join returns. */
static int s_task_done(const char *p)
{
    mproc_queue_t *q = new_queue(MPROC_FIFO, CAP);
    fill(q, 3, NULL);
    unsigned char seen[8] = { 0 };
    int n;
    ck_assert_int_eq(drain_ids(q, seen, 7, &n), 0);
    struct qs s = { q, 0, 0, 0 };
    int reached = run_victim(p, op_task_done, &s);
    if (reached < 0)
        return reached;
    int more = 0;
    while (mproc_queue_task_done(q) == 0)
        more++;
    int r = 0;
    if (reached == REACHED ? more != 2 && more != 3 : more != 2)
        r = -60;
    if (mproc_queue_join(q, 0) != 0)
        r = -62;
    mproc_queue_close(q);
    return r != 0 ? r : reached;
}

static int op_shutdown_now(void *arg)
{
    struct qs *s = arg;
    return mproc_queue_shutdown(s->q, 1);
}

static int op_shutdown_graceful(void *arg)
{
    struct qs *s = arg;
    return mproc_queue_shutdown(s->q, 0);
}

static int op_join(void *arg)
{
    struct qs *s = arg;
    return mproc_queue_join(s->q, MPROC_FOREVER) == 0 ? 0 : 1;
}

/* An immediate shutdown with 3 items queued and a joiner blocked without a
 * timeout: whatever point kills the victim, the joiner returns promptly (if
 * the flag was set) and the queue stays consistent. */
static int shutdown_scenario(const char *p, int immediate)
{
    mproc_queue_t *q = new_queue(MPROC_FIFO, CAP);
    fill(q, 3, NULL);
    struct qs s = { q, 0, 0, MAX_MSG };
    pid_t joiner = fork_child(op_join, &s);
    if (!wait_sleeping(joiner, NO_HANG))
        return -70;
    int reached = run_victim(p, immediate ? op_shutdown_now : op_shutdown_graceful, &s);
    if (reached < 0) {
        kill_child(joiner);
        return reached;
    }
    unsigned char buf[MAX_MSG];
    size_t len;
    int r = 0, flagged = put_msg(q, 9, 0, 0) == MPROC_ESHUTDOWN;
    if (!flagged) {
        /* killed before the flag: nothing happened; shut down now */
        unsigned char seen[16] = { 0 };
        int n;
        if (drain_ids(q, seen, 15, &n) != 0 || n != 4)
            r = -71;
        mproc_queue_shutdown(q, 1);
        for (int i = 0; i < 4; i++)
            mproc_queue_task_done(q);
    } else if (immediate) {
        if (mproc_queue_get(q, buf, sizeof buf, &len, 0) != MPROC_ESHUTDOWN)
            r = -72;
    } else {
        unsigned char seen[16] = { 0 };
        int n;
        if (drain_ids(q, seen, 15, &n) != 0 || n != 3)
            r = -73;
        for (int i = 0; i < 3; i++)
            mproc_queue_task_done(q);
    }
    double t0 = now();
    int jr = wait_child(joiner, NO_HANG);
    if (r == 0 && (jr != 0 || now() - t0 > PROMPT))
        r = -74;
    if (r == 0 && mproc_queue_task_done(q) != MPROC_EOVERFLOW)
        r = -75;
    mproc_queue_close(q);
    return r != 0 ? r : reached;
}

static int s_shutdown_now(const char *p) { return shutdown_scenario(p, 1); }
static int s_shutdown_graceful(const char *p) { return shutdown_scenario(p, 0); }

static int op_get_timed(void *arg)
{
    struct qs *s = arg;
    unsigned char buf[MAX_MSG];
    size_t len;
    int r = mproc_queue_get(s->q, buf, sizeof buf, &len, 8);
    return r == 0 && msg_check(buf, len) >= 0 ? 0 : 1;
}

/* Two consumers blocked in get (the victim first, so a wake-up of one would
 * reach it), one message put: the victim is woken and dies before it acts;
 * the live consumer (timeout 8 s) must have the message within PROMPT. */
static int s_get_woken(const char *p)
{
    mproc_queue_t *q = new_queue(MPROC_FIFO, CAP);
    struct qs s = { q, 0, 0, MAX_MSG };
    struct victim v = { p, op_get_timed, &s };
    pid_t victim = fork_child(victim_main, &v);
    if (!settled(victim))
        return -80;
    pid_t live = fork_child(op_get_timed, &s);
    if (!wait_sleeping(live, NO_HANG))
        return -81;
    double t0 = now();
    ck_assert_int_eq(put_msg(q, 0, 0, 0), 0);
    int vr = wait_child(victim, NO_HANG);
    int reached = vr == -SIGKILL ? REACHED : NOT_REACHED;
    int r = 0;
    if (reached == REACHED) {
        if (wait_child(live, NO_HANG) != 0 || now() - t0 > PROMPT)
            r = -82;
    } else {
        kill_child(live);
        if (vr != 0)
            r = -83;
    }
    if (r == 0 && mproc_queue_qsize(q) != 0)
        r = -84;
    if (r == 0)
        r = queue_usable(q);
    mproc_queue_close(q);
    return r != 0 ? r : reached;
}

/* A consumer asleep in get (timeout 8 s), the victim puts and dies waking
 * it: the consumer must still have the message within PROMPT (a sleeper
 * re-checks at the end of each half-second slice), and the queue work on. */
static int s_put_wakes(const char *p)
{
    mproc_queue_t *q = new_queue(MPROC_FIFO, CAP);
    struct qs s = { q, 0, 0, MAX_MSG };
    pid_t live = fork_child(op_get_timed, &s);
    if (!wait_sleeping(live, NO_HANG))
        return -85;
    double t0 = now();
    int reached = run_victim(p, op_put, &s);
    int r = reached < 0 ? reached : 0;
    /* A waker killed between claiming a round and waking must not make the
     * next live put skip the sleeper too: that put wakes it at once, well
     * before the consumer's 0.5 s sleep slice would end. */
    int relay = r == 0 && reached == REACHED && strcmp(p, "queue.wake.disarmed") == 0;
    if (relay) {
        t0 = now();
        if (put_msg(q, 2, 0, 0) != 0)
            r = -88;
    }
    if (r == 0 && (wait_child(live, NO_HANG) != 0 || now() - t0 > (relay ? 0.2 : PROMPT)))
        r = -86;
    if (r == 0 && mproc_queue_qsize(q) != (relay ? 1u : 0u))
        r = -87;
    unsigned char buf[MAX_MSG];
    size_t len;
    if (r == 0 && relay && (mproc_queue_get(q, buf, sizeof buf, &len, 0) != 0 || msg_check(buf, len) != 2))
        r = -89;
    if (r == 0)
        r = queue_usable(q);
    mproc_queue_close(q);
    return r != 0 ? r : reached;
}

/* ---- semaphore, event ---- */

struct ss {
    mproc_sem_t *sem;
    mproc_event_t *event;
    mproc_cond_t *cond;
    _Atomic int *flag;
};

static int op_sem_acquire(void *arg)
{
    struct ss *s = arg;
    return mproc_sem_acquire(s->sem, 8) == 0 ? 0 : 1;
}

static int op_sem_release(void *arg)
{
    struct ss *s = arg;
    return mproc_sem_release(s->sem, 1) == 0 ? 0 : 1;
}

/* A waiter (the victim, or a helper when the victim is the releaser) and a
 * live waiter blocked with an 8 s timeout; one unit released: the live
 * waiter has it within PROMPT whoever died where. */
static int sem_scenario(const char *p, int victim_releases)
{
    mproc_sem_t *sem;
    ck_assert_int_eq(mproc_sem_create(&sem, NULL, 0, 0), 0);
    struct ss s = { .sem = sem };
    pid_t first = -1;
    if (!victim_releases) {
        struct victim *v = shared_alloc(sizeof *v);
        *v = (struct victim){ p, op_sem_acquire, &s };
        first = fork_child(victim_main, v);
        if (!settled(first))
            return -90;
    }
    pid_t live = fork_child(op_sem_acquire, &s);
    if (!wait_sleeping(live, NO_HANG))
        return -91;
    double t0 = now();
    int reached;
    if (victim_releases) {
        reached = run_victim(p, op_sem_release, &s);
    } else {
        ck_assert_int_eq(mproc_sem_release(sem, 1), 0);
        int vr = wait_child(first, NO_HANG);
        reached = vr == -SIGKILL ? REACHED : vr == 0 ? NOT_REACHED : -92;
    }
    int r = reached < 0 ? reached : 0;
    if (reached == REACHED && (wait_child(live, NO_HANG) != 0 || now() - t0 > PROMPT))
        r = -93;
    if (reached == NOT_REACHED) {
        if (victim_releases && wait_child(live, NO_HANG) != 0)
            r = -94;
        if (!victim_releases)
            kill_child(live);
    }
    if (r == 0 && mproc_sem_value(sem) != 0)
        r = -95;
    if (r == 0 && (mproc_sem_release(sem, 1) != 0 || mproc_sem_acquire(sem, 0) != 0))
        r = -96;
    mproc_sem_close(sem);
    return r != 0 ? r : reached;
}

static int s_sem_acquire(const char *p) { return sem_scenario(p, 0); }
static int s_sem_release(const char *p) { return sem_scenario(p, 1); }

static int op_event_wait(void *arg)
{
    struct ss *s = arg;
    return mproc_event_wait(s->event, 8) == 0 ? 0 : 1;
}

static int op_event_set(void *arg)
{
    struct ss *s = arg;
    return mproc_event_set(s->event);
}

static int event_scenario(const char *p, int victim_sets)
{
    mproc_event_t *e;
    ck_assert_int_eq(mproc_event_create(&e, NULL), 0);
    struct ss s = { .event = e };
    pid_t first = -1;
    if (!victim_sets) {
        struct victim *v = shared_alloc(sizeof *v);
        *v = (struct victim){ p, op_event_wait, &s };
        first = fork_child(victim_main, v);
        if (!settled(first))
            return -100;
    }
    pid_t live = fork_child(op_event_wait, &s);
    if (!wait_sleeping(live, NO_HANG))
        return -101;
    double t0 = now();
    int reached;
    if (victim_sets) {
        reached = run_victim(p, op_event_set, &s);
    } else {
        mproc_event_set(e);
        int vr = wait_child(first, NO_HANG);
        reached = vr == -SIGKILL ? REACHED : vr == 0 ? NOT_REACHED : -102;
    }
    int r = reached < 0 ? reached : 0;
    if (reached >= 0 && (wait_child(live, NO_HANG) != 0 || now() - t0 > PROMPT))
        r = -103;
    if (r == 0 && (mproc_event_is_set(e) != 1 || mproc_event_clear(e) != 0 ||
                   mproc_event_wait(e, 0) != MPROC_ETIMEDOUT))
        r = -104;
    mproc_event_close(e);
    return r != 0 ? r : reached;
}

static int s_event_wait(const char *p) { return event_scenario(p, 0); }
static int s_event_set(const char *p) { return event_scenario(p, 1); }

/* ---- condition ---- */

static int op_cond_wait(void *arg)
{
    struct ss *s = arg;
    int r = mproc_cond_acquire(s->cond, NO_HANG);
    if (r != 0 && r != MPROC_EOWNERDEAD)
        return 1;
    r = mproc_cond_wait(s->cond, 8);
    mproc_cond_release(s->cond);
    return r == 0 || r == MPROC_EOWNERDEAD ? 0 : 1;
}

static int op_cond_wait_timeout(void *arg)
{
    struct ss *s = arg;
    int r = mproc_cond_acquire(s->cond, NO_HANG);
    if (r != 0 && r != MPROC_EOWNERDEAD)
        return 1;
    r = mproc_cond_wait(s->cond, 0.05);
    mproc_cond_release(s->cond);
    return r == MPROC_ETIMEDOUT ? 0 : 1;
}

static int op_cond_notify_all(void *arg)
{
    struct ss *s = arg;
    int r = mproc_cond_acquire(s->cond, NO_HANG);
    if (r != 0 && r != MPROC_EOWNERDEAD)
        return 1;
    mproc_cond_notify_all(s->cond);
    mproc_cond_release(s->cond);
    return 0;
}

/* A victim and a live waiter in wait(8 s) (the victim first), then a
 * notify(1) by the parent (or a notify of everyone by the victim): the live
 * waiter returns within PROMPT; the lock is free or recoverable; a further
 * wait/notify pair works. */
static int cond_scenario(const char *p, int (*victim_op)(void *), int victim_notifies)
{
    mproc_cond_t *c;
    ck_assert_int_eq(mproc_cond_create(&c, NULL), 0);
    struct ss s = { .cond = c };
    pid_t first = -1;
    if (!victim_notifies) {
        struct victim *v = shared_alloc(sizeof *v);
        *v = (struct victim){ p, victim_op, &s };
        first = fork_child(victim_main, v);
        if (!settled(first))
            return -110;
    }
    pid_t live = fork_child(op_cond_wait, &s);
    if (!wait_sleeping(live, NO_HANG))
        return -111;
    double t0 = now();
    int reached;
    if (victim_notifies) {
        reached = run_victim(p, op_cond_notify_all, &s);
        if (reached == REACHED && mproc_cond_acquire(c, NO_HANG) == MPROC_EOWNERDEAD) {
            mproc_cond_notify_all(c); /* the dead notifier's duty, now ours */
            mproc_cond_release(c);
        }
    } else {
        /* notify(1): the victim's ticket comes first; if it died, the grant
         * must reach the live waiter; if it lived, it took the grant. */
        int a = mproc_cond_acquire(c, NO_HANG);
        ck_assert(a == 0 || a == MPROC_EOWNERDEAD);
        mproc_cond_notify(c, 1);
        mproc_cond_release(c);
        int vr = wait_child(first, NO_HANG);
        reached = vr == -SIGKILL ? REACHED : vr == 0 ? NOT_REACHED : -112;
        if (reached == NOT_REACHED) {
            t0 = now();
            a = mproc_cond_acquire(c, NO_HANG);
            ck_assert(a == 0 || a == MPROC_EOWNERDEAD);
            mproc_cond_notify(c, 1);
            mproc_cond_release(c);
        }
    }
    int r = reached < 0 ? reached : 0;
    if (r == 0 && (wait_child(live, NO_HANG) != 0 || now() - t0 > PROMPT + 0.5))
        r = -114;
    int a = mproc_cond_acquire(c, 1);
    if (r == 0 && a != 0 && a != MPROC_EOWNERDEAD)
        r = -115;
    if (r == 0 && mproc_cond_wait(c, 0.01) != MPROC_ETIMEDOUT)
        r = -116;
    mproc_cond_release(c);
    mproc_cond_close(c);
    return r != 0 ? r : reached;
}

static int s_cond_wait(const char *p) { return cond_scenario(p, op_cond_wait, 0); }
static int s_cond_notify(const char *p) { return cond_scenario(p, NULL, 1); }

/* A dead waiter, then the victim waiting: notify(1) grants the dead one's
 * ticket and the victim takes it over (and dies there). A waiter that comes
 * later is not owed that grant, but the next notify(1), which grants the
 * victim's own ticket, reaches it. */
static int s_cond_take_over(const char *p)
{
    mproc_cond_t *c;
    ck_assert_int_eq(mproc_cond_create(&c, NULL), 0);
    struct ss s = { .cond = c };
    pid_t dead = fork_child(op_cond_wait, &s);
    if (!wait_sleeping(dead, NO_HANG))
        return -130;
    struct victim *v = shared_alloc(sizeof *v);
    *v = (struct victim){ p, op_cond_wait, &s };
    pid_t first = fork_child(victim_main, v);
    if (!settled(first))
        return -131;
    kill_child(dead);
    int a = mproc_cond_acquire(c, NO_HANG);
    ck_assert(a == 0 || a == MPROC_EOWNERDEAD);
    mproc_cond_notify(c, 1);
    mproc_cond_release(c);
    int vr = wait_child(first, NO_HANG);
    int reached = vr == -SIGKILL ? REACHED : vr == 0 ? NOT_REACHED : -132;
    int r = reached < 0 ? reached : 0;
    pid_t live = fork_child(op_cond_wait, &s);
    if (r == 0 && !wait_sleeping(live, NO_HANG))
        r = -133;
    double t0 = now();
    a = mproc_cond_acquire(c, NO_HANG);
    if (r == 0 && a != 0 && a != MPROC_EOWNERDEAD)
        r = -134;
    mproc_cond_notify(c, 1);
    mproc_cond_release(c);
    if (r == 0 && (wait_child(live, NO_HANG) != 0 || now() - t0 > PROMPT + 0.5))
        r = -135;
    mproc_cond_close(c);
    return r != 0 ? r : reached;
}

/* A waiter that times out and withdraws its ticket while another waits. */
static int s_cond_withdraw(const char *p)
{
    mproc_cond_t *c;
    ck_assert_int_eq(mproc_cond_create(&c, NULL), 0);
    struct ss s = { .cond = c };
    pid_t live = fork_child(op_cond_wait, &s);
    if (!wait_sleeping(live, NO_HANG))
        return -120;
    int reached = run_victim(p, op_cond_wait_timeout, &s);
    int r = reached < 0 ? reached : 0;
    /* notify(1): the live waiter, whose ticket came first, gets it */
    int a = mproc_cond_acquire(c, NO_HANG);
    if (a != 0 && a != MPROC_EOWNERDEAD)
        r = -121;
    mproc_cond_notify(c, 1);
    mproc_cond_release(c);
    double t0 = now();
    if (r == 0 && (wait_child(live, NO_HANG) != 0 || now() - t0 > PROMPT))
        r = -122;
    mproc_cond_close(c);
    return r != 0 ? r : reached;
}

/* ---- barrier ---- */

struct bs {
    mproc_barrier_t *b;
};

static int op_barrier_wait(void *arg)
{
    struct bs *s = arg;
    int r = mproc_barrier_wait(s->b, MPROC_FOREVER);
    return r >= 0 ? 0 : r == MPROC_EBROKEN ? 3 : 1;
}

static int failing_action(void *arg)
{
    (void)arg;
    return 1;
}

static int op_barrier_wait_action(void *arg)
{
    struct bs *s = arg;
    int r = mproc_barrier_wait_action(s->b, MPROC_FOREVER, failing_action, NULL);
    return r == MPROC_EBROKEN ? 0 : 1;
}

static int op_barrier_abort(void *arg)
{
    struct bs *s = arg;
    return mproc_barrier_abort(s->b);
}

static int op_barrier_reset(void *arg)
{
    struct bs *s = arg;
    return mproc_barrier_reset(s->b);
}

static int op_barrier_timeout(void *arg)
{
    struct bs *s = arg;
    int r = mproc_barrier_wait(s->b, 0.05);
    return r == MPROC_ETIMEDOUT || r == MPROC_EBROKEN ? 0 : 1;
}

static int barrier_sleeping(void *arg)
{
    return mproc_barrier_n_waiting(arg) >= 2;
}

/* The barrier works for full rounds of 3 live parties after a reset. */
static int barrier_usable(mproc_barrier_t *b)
{
    struct bs s = { b };
    mproc_barrier_reset(b);
    for (int round = 0; round < 2; round++) {
        pid_t x = fork_child(op_barrier_wait, &s), y = fork_child(op_barrier_wait, &s);
        int me = mproc_barrier_wait(b, NO_HANG);
        int rx = wait_child(x, NO_HANG), ry = wait_child(y, NO_HANG);
        if (me < 0 || rx != 0 || ry != 0)
            return -130;
    }
    return 0;
}

/* 3 parties: two live ones wait without a timeout; the victim is the third
 * (its op decides whether it arrives last, breaks, resets, times out). The
 * live ones return promptly (an index if the round completed before the
 * death, else MPROC_EBROKEN) and the barrier works after a reset. When the
 * victim arrives early (`first`), it waits and the live ones come after. */
static int barrier_scenario(const char *p, int (*op)(void *), int first)
{
    mproc_barrier_t *b;
    ck_assert_int_eq(mproc_barrier_create(&b, NULL, 3), 0);
    struct bs s = { b };
    int reached, r = 0;
    pid_t x, y;
    double t0;
    if (first) {
        struct victim *v = shared_alloc(sizeof *v);
        *v = (struct victim){ p, op, &s };
        pid_t victim = fork_child(victim_main, v);
        x = fork_child(op_barrier_wait, &s);
        int vr = wait_child(victim, NO_HANG);
        reached = vr == -SIGKILL ? REACHED : -140;
        if (reached != REACHED) {
            kill_child(x);
            mproc_barrier_close(b);
            return -141; /* its prefix says every run passes the point */
        }
        t0 = now();
        y = fork_child(op_barrier_wait, &s);
    } else {
        x = fork_child(op_barrier_wait, &s);
        y = fork_child(op_barrier_wait, &s);
        if (!poll_until(barrier_sleeping, b, NO_HANG))
            return -142;
        t0 = now();
        reached = run_victim(p, op, &s);
        /* An abort or reset killed before its commit did not happen (the
         * parties rightly wait on); the survivors' own call then does. */
        if (reached == REACHED && op == op_barrier_abort)
            mproc_barrier_abort(b);
        if (reached == REACHED && op == op_barrier_reset)
            mproc_barrier_reset(b);
    }
    int rx = wait_child(x, NO_HANG), ry = wait_child(y, NO_HANG);
    double took = now() - t0;
    if (reached < 0)
        r = reached;
    else if ((rx != 0 && rx != 3) || (ry != 0 && ry != 3) || took > PROMPT)
        r = -143;
    else if (first && (rx != 3 || ry != 3))
        r = -144; /* a round completed with the dead party counted */
    if (r == 0)
        r = barrier_usable(b);
    mproc_barrier_close(b);
    return r != 0 ? r : reached;
}

static int s_barrier_last(const char *p) { return barrier_scenario(p, op_barrier_wait, 0); }
static int s_barrier_action(const char *p) { return barrier_scenario(p, op_barrier_wait_action, 0); }
static int s_barrier_abort(const char *p) { return barrier_scenario(p, op_barrier_abort, 0); }
static int s_barrier_reset(const char *p) { return barrier_scenario(p, op_barrier_reset, 0); }
static int s_barrier_timeout(const char *p) { return barrier_scenario(p, op_barrier_timeout, 1); }
static int s_barrier_first(const char *p) { return barrier_scenario(p, op_barrier_wait, 1); }

/* ---- segment publish ---- */

static const char *segment_name;

static int op_create_named(void *arg)
{
    (void)arg;
    mproc_sem_t *s;
    return mproc_sem_create(&s, segment_name, 1, 0) == 0 ? 0 : 1;
}

/* A named create killed anywhere: the name is either absent or a complete
 * object; either way it can then be made (after unlinking) and used. */
static int s_segment(const char *p)
{
    segment_name = test_name("crash-seg");
    int reached = run_victim(p, op_create_named, NULL);
    if (reached < 0)
        return reached;
    mproc_sem_t *s;
    int r = mproc_sem_open(&s, segment_name);
    if (r == 0) {
        r = mproc_sem_acquire(s, 0) == 0 ? 0 : -150;
        mproc_sem_close(s);
    } else if (r != MPROC_ENOENT) {
        r = -151;
    } else {
        r = 0;
    }
    mproc_unlink(segment_name);
    if (r == 0 && mproc_sem_create(&s, segment_name, 0, 0) != 0)
        r = -152;
    else if (r == 0)
        mproc_sem_close(s);
    mproc_unlink(segment_name);
    return r != 0 ? r : reached;
}

/* ---- stopping at a point: races made deterministic ---- */

int mproc__crash_arm_stop(const char *name, unsigned occurrence);

static int op_get_stopped_in_recovery(void *arg)
{
    struct qs *s = arg;
    if (mproc__crash_arm_stop("queue.recover.get_side", 1) != 0)
        return 90;
    unsigned char buf[MAX_MSG];
    size_t len;
    int r = mproc_queue_get(s->q, buf, sizeof buf, &len, NO_HANG);
    return r == 0 && msg_check(buf, len) == s->id ? 0 : 1;
}

/* Stops pid at its armed point: 1 once it is stopped there (0 if it ended
 * first, having never reached the point). */
static int stopped(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, WUNTRACED) < 0)
        if (errno != EINTR)
            return 0;
    return WIFSTOPPED(status);
}

/* A FIFO consumer recovering the get side (its predecessor died holding the
 * get mutex) is frozen inside its recovery, while a producer makes a put
 * that moves the empty ring's head to 0 and then fills the ring past the
 * head's old offset. A recovery that wrote the producers' cached head (as it
 * once did, from its look before the put) would make the next put start at
 * offset 0, over a committed message. Each side's recovery touches only its
 * own side: the next put finds no room (EFULL), and every message is whole. */
START_TEST(fifo_consumer_recovery_leaves_a_reset_put_alone)
{
    mproc_queue_t *q = new_queue(MPROC_FIFO, CAP);
    advance(q, 1904); /* empty; message 5 (232 bytes) fits only from 0 */
    struct qs s = { q, 5, 0, MAX_MSG };
    ck_assert_int_eq(run_victim("queue.get.locked", op_get, &s), REACHED);
    pid_t consumer = fork_child(op_get_stopped_in_recovery, &s);
    ck_assert_msg(stopped(consumer), "the consumer never reached its recovery");
    /* the reset put, then 1704 bytes more: the tail at 1936, past 1904 */
    static const int fill_ids[] = { 16, 21, 32, 26, 37, 10, 3, 4, 0 };
    ck_assert_int_eq(put_msg(q, 5, 0, 0), 0);
    for (size_t i = 0; i < sizeof fill_ids / sizeof fill_ids[0]; i++)
        ck_assert_int_eq(put_msg(q, fill_ids[i], 0, 0), 0);
    kill(consumer, SIGCONT);
    ck_assert_int_eq(wait_child(consumer, NO_HANG), 0); /* it took message 5 */
    /* 240 bytes: 112 are left after the tail and 232 before the head */
    int r = put_msg(q, 27, 0, 0);
    ck_assert_int_eq(r, MPROC_EFULL);
    unsigned char expect[64] = { 0 }, seen[64] = { 0 };
    for (size_t i = 0; i < sizeof fill_ids / sizeof fill_ids[0]; i++)
        expect[fill_ids[i]] = 1;
    int count;
    ck_assert_int_eq(drain_ids(q, seen, 63, &count), 0);
    ck_assert_mem_eq(seen, expect, sizeof seen);
    ck_assert_int_eq(queue_usable(q), 0);
    mproc_queue_close(q);
}
END_TEST

/* ---- the driver ---- */

struct scenario {
    const char *object, *prefix; /* the points it is run at: those beginning so */
    const char *name;
    int (*run)(const char *point);
};

static const struct scenario scenarios[] = {
    { "segment", "", "create named", s_segment },
    { "queue", "", "put FIFO", s_put_fifo },
    { "queue", "", "put FIFO over the ring's end", s_put_fifo_wrap },
    { "queue", "", "put FIFO resetting an empty ring", s_put_fifo_reset },
    { "queue", "", "put LIFO", s_put_lifo },
    { "queue", "", "put PRIORITY over the ring's end", s_put_prio_wrap },
    { "queue", "", "get FIFO", s_get_fifo },
    { "queue", "", "get_alloc FIFO", s_get_alloc_fifo },
    { "queue", "", "get LIFO", s_get_lifo },
    { "queue", "", "get PRIORITY (middle)", s_get_prio_mid },
    { "queue", "", "get_alloc PRIORITY (head)", s_get_prio_head },
    { "queue", "", "get PRIORITY (newest)", s_get_prio_tail },
    { "queue", "", "put recovering a dead producer", s_recover_put },
    { "queue", "", "get recovering a dead consumer", s_recover_get },
    { "queue", "", "put after a consumer died (sides apart)", s_recover_get_after_put },
    { "queue", "", "get recovering PRIORITY", s_recover_prio },
    { "queue", "", "put recovering PRIORITY", s_recover_prio_mid },
    { "queue", "", "PRIORITY backlog after a head FREE", s_prio_backlog_after_recovery },
    { "queue", "", "put PRIORITY compacting a wrapped ring", s_compact_wrapped },
    { "queue", "", "put PRIORITY compacting a flat ring", s_compact_flat },
    { "queue", "", "put LIFO compacting the skipped end", s_compact_lifo },
    { "queue", "", "put recovering a compaction (a step)", s_compact_recover_step },
    { "queue", "", "put recovering a compaction (the stores)", s_compact_recover_fixed },
    { "queue", "", "task_done", s_task_done },
    { "queue", "", "shutdown immediate", s_shutdown_now },
    { "queue", "", "shutdown graceful", s_shutdown_graceful },
    { "queue", "queue.get.woken", "get woken", s_get_woken },
    { "queue", "queue.wake.", "put waking a sleeping consumer", s_put_wakes },
    { "sem", "sem.acquire.", "acquire woken", s_sem_acquire },
    { "sem", "sem.release.", "release", s_sem_release },
    { "event", "event.wait.", "wait woken", s_event_wait },
    { "event", "event.set.", "set", s_event_set },
    { "cond", "cond.wait.", "wait", s_cond_wait },
    { "cond", "cond.notify.", "notify_all", s_cond_notify },
    { "cond", "cond.wait.", "wait withdrawn", s_cond_withdraw },
    { "cond", "cond.wait.", "wait behind a dead waiter", s_cond_take_over },
    { "barrier", "barrier.wait.", "last arrival", s_barrier_last },
    { "barrier", "barrier.", "last arrival, failing action", s_barrier_action },
    { "barrier", "barrier.break.", "abort", s_barrier_abort },
    { "barrier", "barrier.reset.", "reset", s_barrier_reset },
    { "barrier", "barrier.break.", "timeout", s_barrier_timeout },
    { "barrier", "barrier.wait.waiting", "first arrival", s_barrier_first },
};

struct point {
    const char *object, *name;
};

static const struct point points[] = {
#define POINT(id, object, name) { object, name },
    MPROC__CRASH_POINTS(POINT)
#undef POINT
};

static void run_object(const char *object)
{
    int declared = 0, covered = 0, runs = 0, failures = 0;
    for (size_t i = 0; i < sizeof points / sizeof points[0]; i++) {
        if (strcmp(points[i].object, object) != 0)
            continue;
        declared++;
        int hits = 0;
        for (size_t j = 0; j < sizeof scenarios / sizeof scenarios[0]; j++) {
            if (strcmp(scenarios[j].object, object) != 0 ||
                strncmp(points[i].name, scenarios[j].prefix, strlen(scenarios[j].prefix)) != 0)
                continue;
            int r = scenarios[j].run(points[i].name);
            runs++;
            if (r == REACHED)
                hits++;
            if (r < 0) {
                failures++;
                fprintf(stderr, "FAILED: %s at %s: %d\n", scenarios[j].name, points[i].name, r);
            }
        }
        if (hits == 0)
            fprintf(stderr, "NOT REACHED: %s\n", points[i].name);
        else
            covered++;
    }
    printf("crash points: %-8s %2d declared, %2d reached, %3d victim runs, %d failures\n", object,
           declared, covered, runs, failures);
    fflush(stdout);
    ck_assert_int_eq(failures, 0);
    ck_assert_int_eq(covered, declared);
}

START_TEST(segment_points) { run_object("segment"); }
END_TEST
START_TEST(queue_points) { run_object("queue"); }
END_TEST
START_TEST(sem_points) { run_object("sem"); }
END_TEST
START_TEST(event_points) { run_object("event"); }
END_TEST
START_TEST(cond_points) { run_object("cond"); }
END_TEST
START_TEST(barrier_points) { run_object("barrier"); }
END_TEST

int main(void)
{
    Suite *s = suite_create("crash_points");
    TCase *tc = tcase_create("every point");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, segment_points);
    tcase_add_test(tc, queue_points);
    tcase_add_test(tc, sem_points);
    tcase_add_test(tc, event_points);
    tcase_add_test(tc, cond_points);
    tcase_add_test(tc, barrier_points);
    suite_add_tcase(s, tc);
    TCase *stops = tcase_create("stopped at a point");
    tcase_set_timeout(stops, 60);
    tcase_add_test(stops, fifo_consumer_recovery_leaves_a_reset_put_alone);
    suite_add_tcase(s, stops);
    return run_suite(s);
}

#else

int main(void)
{
    puts("crash points are not compiled in (./configure --enable-crash-points): skipped");
    return 77;
}

#endif
