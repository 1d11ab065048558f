/* Manager on Redis, what only Redis has: a master of a cluster that hangs
 * and fails over to its replica while a workload runs, errors that fail the
 * call at once, a server that lies about the size of its replies, a
 * password-protected server addressed with a database, and names that hold
 * hash-tag braces. (The dict and list operations themselves run against
 * every backend in test_manager.c.) */
#include "config.h"

#include "helpers.h"

#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_HIREDIS
#include "redis_helpers.h"

/* started by main, stopped at its exit whatever the tests did (a master
 * the failover test stopped is continued first) */
static test_redis_t tcp, cluster, replicated;
static int tcp_up, cluster_up, replicated_up;

/* ---- a server that lies ---- */

/* Bytes of one complete command (RESP array of bulk strings) at the start
 * of buf, or 0 if it has not all arrived. */
static size_t command_length(const char *buf, size_t len)
{
    const char *p = buf, *end = buf + len;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (len == 0 || *p != '*' || nl == NULL)
        return 0;
    long n = atol(p + 1);
    p = nl + 1;
    for (long i = 0; i < n; i++) {
        nl = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
        if (nl == NULL || *p != '$')
            return 0;
        long l = atol(p + 1);
        p = nl + 1;
        if (end - p < l + 2)
            return 0;
        p += l + 2;
    }
    return (size_t)(p - buf);
}

struct lie {
    const char *what;
    const char *reply; /* to the operation, after CLUSTER SLOTS and TYPE */
    size_t len;
    int op;            /* which call reads it */
    int expected;
    size_t stream;     /* bytes sent after the reply (while the client reads them) */
};
enum { OP_KEYS, OP_LEN, OP_CONTAINS, OP_LIST_LEN, OP_INDEX, OP_POP };
#define LIE(what, reply, op, expected) { what, reply, sizeof reply - 1, op, expected, 0 }
static const struct lie lies[] = {
    LIE("an array of two billion", "*2000000000\r\n", OP_KEYS, MPROC_EPROTO),
    LIE("an array past the bound", "*16777217\r\n", OP_KEYS, MPROC_EPROTO),
    /* counts within the bound, nested: nothing is allocated for elements
     * that never come */
    LIE("nested arrays that never come", "*16000000\r\n*16000000\r\n*16000000\r\n*16000000\r\n", OP_KEYS,
        MPROC_EOF),
    LIE("half an array", "*3\r\n$1\r\na\r\n*2\r\n:1\r\n", OP_KEYS, MPROC_EOF),
    LIE("a negative count", "*-5\r\n", OP_KEYS, MPROC_EPROTO),
    /* a string of 2 GB that keeps coming: refused once more than a reply
     * may hold has come, not buffered to the end */
    { "a string that keeps coming", "*1\r\n$2000000000\r\n", 17, OP_KEYS, MPROC_EPROTO, (size_t)80 << 20 },
    LIE("a negative hash length", ":-5\r\n", OP_LEN, MPROC_EPROTO),
    LIE("a negative list length", ":-1\r\n", OP_LIST_LEN, MPROC_EPROTO),
    LIE("a negative position", ":-3\r\n", OP_INDEX, MPROC_EPROTO),
    LIE("HEXISTS saying 2", ":2\r\n", OP_CONTAINS, MPROC_EPROTO),
    /* not a lie: Redis 6's form of an error a script's command raised */
    LIE("Redis 6's script error",
        "-ERR Error running script (call to f_0a1b): @user_script:1: WRONGTYPE Operation against a key "
        "holding the wrong kind of value\r\n",
        OP_POP, MPROC_ETYPE),
    LIE("Redis 7's script error",
        "-WRONGTYPE Operation against a key holding the wrong kind of value script: 0a1b, on "
        "@user_script:1.\r\n",
        OP_POP, MPROC_ETYPE),
};

/* The lying server: answers CLUSTER SLOTS (not a cluster), TYPE (none),
 * then the lie, and closes. */
static int lying_redis(void *arg)
{
    const struct lie *lie = &lies[((int *)arg)[0]];
    int lfd = ((int *)arg)[1];
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0)
        return 1;
    static const char *const replies[] = { "-ERR This instance has cluster support disabled\r\n", "+none\r\n" };
    char buf[4096];
    size_t have = 0;
    for (int i = 0; i < 3;) {
        size_t n = command_length(buf, have);
        if (n > 0) {
            const char *rep = i < 2 ? replies[i] : lie->reply;
            size_t len = i < 2 ? strlen(rep) : lie->len;
            if (send(fd, rep, len, MSG_NOSIGNAL) != (ssize_t)len)
                return 2;
            static char filler[65536];
            for (size_t sent = 0; i == 2 && sent < lie->stream; sent += sizeof filler)
                if (send(fd, filler, sizeof filler, MSG_NOSIGNAL) <= 0)
                    break; /* the client gave up: what it should do */
            memmove(buf, buf + n, have - n);
            have -= n;
            i++;
            continue;
        }
        ssize_t got = read(fd, buf + have, sizeof buf - have);
        if (got <= 0)
            return 3;
        have += (size_t)got;
    }
    close(fd);
    return 0;
}

/* Peak virtual memory of this process, in KiB. */
static long vm_peak_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "VmPeak:", 7) == 0)
            kib = atol(line + 7);
    if (f != NULL)
        fclose(f);
    return kib;
}

struct lied_to {
    int rc;
    long grew_kib; /* VmPeak after the call minus before */
    double seconds;
};

static struct lied_to *outcome;
static const struct lie *current;
static char lie_address[64];

/* The client, in a child of its own: its peak memory is its call's. */
static int lied_to(void *arg)
{
    (void)arg;
    mproc_manager_t *m;
    mproc_dict_t *d;
    mproc_list_t *l;
    long before = vm_peak_kib();
    double t0 = now();
    int rc = mproc_manager_connect(&m, lie_address, NULL, 0);
    if (rc != 0)
        return 10;
    if (current->op == OP_LIST_LEN || current->op == OP_INDEX) {
        if (mproc_manager_list(m, "l", &l) != 0)
            return 11;
        size_t n;
        rc = current->op == OP_LIST_LEN ? mproc_list_len(l, &n) : mproc_list_index(l, "v", 1, &n);
        mproc_list_close(l);
    } else {
        if (mproc_manager_dict(m, "d", &d) != 0)
            return 12;
        mproc_buf_t *keys;
        size_t n;
        if (current->op == OP_KEYS)
            rc = mproc_dict_keys(d, &keys, &n);
        else if (current->op == OP_LEN)
            rc = mproc_dict_len(d, &n);
        else if (current->op == OP_POP)
            rc = mproc_dict_pop(d, "k", 1, NULL, NULL);
        else
            rc = mproc_dict_contains(d, "k", 1);
        mproc_dict_close(d);
    }
    outcome->rc = rc;
    outcome->seconds = now() - t0;
    outcome->grew_kib = vm_peak_kib() - before;
    mproc_manager_close(m);
    return 0;
}

START_TEST(what_a_server_replies_is_checked_and_lies_refused)
{
    current = &lies[_i];
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof a;
    ck_assert_int_ge(lfd, 0);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(lfd, 4), 0);
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&a, &alen), 0);
    snprintf(lie_address, sizeof lie_address, "redis://127.0.0.1:%d", ntohs(a.sin_port));
    int arg[2] = { _i, lfd };
    pid_t server = fork_child(lying_redis, arg);
    outcome = shared_alloc(sizeof *outcome);
    pid_t client = fork_child(lied_to, NULL);
    ck_assert_int_eq(wait_child(client, 120), 0);
    ck_assert_int_eq(wait_child(server, 10), 0);
    close(lfd);
    ck_assert_msg(outcome->rc == current->expected, "%s: %d, not %d", current->what, outcome->rc,
                  current->expected);
    /* never an allocation the size of what was announced; a string that
     * keeps coming is buffered up to the bound (64 MiB, in a buffer that
     * grows by doubling) */
    long max_kib = current->stream > 0 ? 160 * 1024 : 32 * 1024;
    double max_seconds = 5.0;
#ifdef __SANITIZE_ADDRESS__
    if (current->stream > 0) {
        /* AddressSanitizer keeps the buffers realloc freed (its quarantine)
         * and copies at each of the reader's buffer's 64 steps of 1 MiB */
        max_kib = 1024 * 1024;
        max_seconds = 90.0;
    }
#endif
    ck_assert_msg(outcome->grew_kib < max_kib, "%s: the peak grew by %ld KiB", current->what,
                  outcome->grew_kib);
    ck_assert_msg(outcome->seconds < max_seconds, "%s: %.1f s", current->what, outcome->seconds);
}
END_TEST

/* ---- errors ---- */

START_TEST(select_without_the_password_is_eauth)
{
    if (!tcp_up)
        return;
    char address[300];
    snprintf(address, sizeof address, "%s/1", tcp.address);
    mproc_manager_t *m;
    ck_assert_int_eq(mproc_manager_connect(&m, address, NULL, 0), MPROC_EAUTH);
    ck_assert_int_eq(mproc_manager_connect(&m, address, "wrong", 5), MPROC_EAUTH);
    ck_assert_int_eq(mproc_manager_connect(&m, address, tcp.password, strlen(tcp.password)), 0);
    mproc_manager_close(m);
    /* a database it has not is still a bad address */
    snprintf(address, sizeof address, "%s/100000", tcp.address);
    ck_assert_int_eq(mproc_manager_connect(&m, address, tcp.password, strlen(tcp.password)), MPROC_EINVAL);
}
END_TEST

START_TEST(a_request_too_large_fails_at_once_on_a_cluster)
{
    if (!cluster_up)
        return;
    ck_assert_int_eq(redis_flush(&cluster), 0);
    mproc_manager_t *m;
    mproc_list_t *l;
    ck_assert_int_eq(mproc_manager_connect(&m, cluster.address, NULL, 0), 0);
    ck_assert_int_eq(mproc_manager_list(m, "big", &l), 0);
    /* five values at the Manager's limit: 80 MiB, more than one request
     * may carry; found before anything is sent, so no node is to blame */
    size_t size = (size_t)16 << 20;
    char *value = calloc(1, size);
    ck_assert_ptr_nonnull(value);
    mproc_buf_t vals[5];
    for (int i = 0; i < 5; i++)
        vals[i] = (mproc_buf_t){ value, size };
    double t0 = now();
    ck_assert_int_eq(mproc_list_extend(l, vals, 5), MPROC_EMSGSIZE);
    double took = now() - t0;
    ck_assert_msg(took < 1.0, "%.2f s", took);
    fprintf(stderr, "test_manager_redis: a request too large on a cluster: %.2f ms\n", took * 1e3);
    free(value);
    size_t n;
    ck_assert_int_eq(mproc_list_len(l, &n), 0);
    ck_assert_uint_eq(n, 0);
    mproc_list_close(l);
    mproc_manager_close(m);
}
END_TEST

/* A node of the cluster wants another password than the others (a
 * password being changed): the call on its slot is MPROC_EAUTH at once, as
 * on any node, not retried elsewhere until the call's bound. */
START_TEST(a_refused_password_on_a_cluster_node_fails_at_once)
{
    if (!cluster_up)
        return;
    test_redis_t pw = cluster; /* the same servers, administered with the password */
    snprintf(pw.password, sizeof pw.password, "pw");
    for (int i = 0; i < cluster.nodes; i++)
        ck_assert_int_eq(redis_admin_node(&cluster, i, NULL, 0, "CONFIG SET requirepass pw"), 0);
    const char *key = NULL;
    static const char *const names[] = { "a", "b", "c", "d", "e", "f", "g", "h" };
    static char keys[8][32];
    int node = -1;
    for (int i = 0; i < 8 && key == NULL; i++) {
        snprintf(keys[i], sizeof keys[i], "mproc:dict:{%s}", names[i]);
        node = redis_node_of(&pw, keys[i]);
        if (node > 0)
            key = names[i];
    }
    ck_assert_ptr_nonnull(key);
    mproc_manager_t *m;
    mproc_dict_t *d;
    ck_assert_int_eq(mproc_manager_connect(&m, cluster.address, "pw", 2), 0); /* node 0 only */
    ck_assert_int_eq(redis_admin_node(&pw, node, NULL, 0, "CONFIG SET requirepass other"), 0);
    double t0 = now();
    int rc = mproc_manager_dict(m, key, &d); /* TYPE, on the node of the slot */
    double took = now() - t0;
    test_redis_t other = pw;
    snprintf(other.password, sizeof other.password, "other");
    char text[64];
    ck_assert_int_eq(redis_admin_node(&other, node, text, sizeof text, "CONFIG SET requirepass pw"), 0);
    ck_assert_str_eq(text, "OK");
    ck_assert_int_eq(rc, MPROC_EAUTH);
    ck_assert_msg(took < 1.0, "%.2f s", took);
    fprintf(stderr, "test_manager_redis: a refused password on a cluster node: %.2f ms\n", took * 1e3);
    /* the node's password is back: the same handle works there */
    ck_assert_int_eq(mproc_manager_dict(m, key, &d), 0);
    ck_assert_int_eq(mproc_dict_set(d, "k", 1, "v", 1), 0);
    mproc_dict_close(d);
    mproc_manager_close(m);
    /* the cluster as it was, for the tests after this one */
    for (int i = 0; i < cluster.nodes; i++) {
        ck_assert_int_eq(redis_admin_node(&pw, i, text, sizeof text, "CONFIG SET requirepass %s", ""), 0);
        ck_assert_str_eq(text, "OK");
    }
}
END_TEST

/* ---- hash tags ---- */

/* "errorstat_MOVED" in INFO errorstats of any node? */
static int any_moved(test_redis_t *r)
{
    for (int i = 0; i < r->nodes; i++) {
        char text[4096];
        ck_assert_int_eq(redis_admin_node(r, i, text, sizeof text, "INFO errorstats"), 0);
        if (strstr(text, "errorstat_MOVED") != NULL)
            return 1;
    }
    return 0;
}

START_TEST(names_with_braces_go_straight_to_their_slot)
{
    if (!cluster_up)
        return;
    ck_assert_int_eq(redis_flush(&cluster), 0);
    for (int i = 0; i < cluster.nodes; i++)
        ck_assert_int_eq(redis_admin_node(&cluster, i, NULL, 0, "CONFIG RESETSTAT"), 0);
    mproc_manager_t *m;
    ck_assert_int_eq(mproc_manager_connect(&m, cluster.address, NULL, 0), 0);
    /* "}x": the key "mproc:dict:{}x}" has an empty tag: the whole key is
     * hashed; "a}b": the tag is "a" */
    static const char *const names[] = { "}x", "}", "}{", "{", "{}", "a}b", "a{b}c", "{a}", "x}y}z", "\xff}\x01" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        mproc_dict_t *d;
        mproc_list_t *l;
        ck_assert_int_eq(mproc_manager_dict(m, names[i], &d), 0);
        ck_assert_int_eq(mproc_dict_set(d, names[i], strlen(names[i]), "v", 1), 0);
        ck_assert_int_eq(mproc_manager_list(m, names[i], &l), 0);
        ck_assert_int_eq(mproc_list_append(l, names[i], strlen(names[i])), 0);
        void *v;
        size_t n;
        ck_assert_int_eq(mproc_list_get(l, 0, &v, &n), 0);
        ck_assert_uint_eq(n, strlen(names[i]));
        ck_assert_mem_eq(v, names[i], n);
        free(v);
        ck_assert_int_eq(mproc_dict_contains(d, names[i], strlen(names[i])), 1);
        mproc_list_close(l);
        mproc_dict_close(d);
    }
    /* every command went to the right node at once: mproc's slot of each
     * key is the cluster's (asked before the checks below, which ask every
     * node and get MOVED from most) */
    ck_assert(!any_moved(&cluster));
    /* the keys are the documented ones, where the cluster says their slot is */
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *kinds[] = { "dict", "list" };
        for (int k = 0; k < 2; k++) {
            char key[300], text[64];
            snprintf(key, sizeof key, "mproc:%s:{%s}", kinds[k], names[i]);
            ck_assert_int_eq(redis_admin(&cluster, key, text, sizeof text, "EXISTS %b", key, strlen(key)), 0);
            ck_assert_msg(strcmp(text, "1") == 0, "%s: %s", key, text);
        }
    }
    mproc_manager_close(m);
}
END_TEST

/* ---- a master hangs and fails over ---- */

#define ACKS (1 << 20)
struct failover {
    char name[32];               /* a dict and a list of that name live on the master */
    char address[256];
    volatile int failed_over;    /* set by the parent once the replica is the master */
    volatile int started;        /* set by the worker after its first acknowledged writes */
    volatile long acked;         /* appends acknowledged */
    volatile long incr_acked;    /* increments acknowledged */
    volatile long incr_failed;   /* increments that failed (they may have been applied) */
    volatile long failures;      /* failed calls after the failover began */
    volatile double t_over;      /* when the parent set failed_over (CLOCK_MONOTONIC) */
    volatile double recovered;   /* seconds from then to the worker's first success */
    unsigned char ok[ACKS];      /* ok[i]: the append of "i" was acknowledged */
};

/* The workload: append "i" and count, until 100 calls succeed after the
 * failover; the calls between may fail (the hung master), not more than a
 * few, and not for long. */
static int workload(void *arg)
{
    struct failover *f = arg;
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* a test that failed leaves no worker behind */
    mproc_manager_t *m;
    mproc_dict_t *d;
    mproc_list_t *l;
    if (mproc_manager_connect(&m, f->address, NULL, 0) != 0 || mproc_manager_dict(m, f->name, &d) != 0 ||
        mproc_manager_list(m, f->name, &l) != 0)
        return 2;
    int after = 0;
    for (long i = 0; i < ACKS && after < 100; i++) {
        char text[24];
        int len = snprintf(text, sizeof text, "%ld", i);
        int over = __atomic_load_n(&f->failed_over, __ATOMIC_ACQUIRE);
        int rc = mproc_list_append(l, text, (size_t)len);
        if (rc == 0) {
            f->ok[i] = 1;
            f->acked++;
        }
        int rc2 = mproc_dict_incr(d, "n", 1, 1, NULL);
        if (rc2 == 0)
            f->incr_acked++;
        else
            f->incr_failed++;
        if (rc != 0 || rc2 != 0) {
            f->failures++;
            if (f->failures > 3)
                return 3; /* the hung master again and again */
        } else if (over) {
            if (after == 0)
                f->recovered = now() - f->t_over;
            after++;
        }
        if (f->acked == 50)
            __atomic_store_n(&f->started, 1, __ATOMIC_RELEASE);
        if (over && now() - f->t_over > 40)
            return 4;
    }
    mproc_list_close(l);
    mproc_dict_close(d);
    mproc_manager_close(m);
    return after == 100 ? 0 : 5;
}

static int worker_started(void *arg)
{
    return __atomic_load_n(&((struct failover *)arg)->started, __ATOMIC_ACQUIRE);
}

/* The value of field (e.g. "master_repl_offset") in INFO replication of node i. */
static long long repl_field(test_redis_t *r, int i, const char *field)
{
    char text[4096];
    if (redis_admin_node(r, i, text, sizeof text, "INFO replication") != 0)
        return -1;
    const char *p = strstr(text, field);
    return p != NULL ? atoll(p + strlen(field) + 1) : -1;
}

START_TEST(a_hung_master_fails_over_during_a_workload)
{
    test_redis_t rc = replicated;
    if (!replicated_up)
        return;
    struct failover *f = shared_alloc(sizeof *f);
    snprintf(f->address, sizeof f->address, "%s", rc.address);
    /* a name whose slot node 0 holds: the node every handle was given,
     * the first of its list, is the one that will hang */
    char key[64];
    for (int i = 0;; i++) {
        snprintf(f->name, sizeof f->name, "failover%d", i);
        snprintf(key, sizeof key, "mproc:list:{%s}", f->name);
        if (redis_node_of(&rc, key) == 0)
            break;
        ck_assert_int_lt(i, 1000);
    }
    int master = 0, replica = -1;
    for (int i = 3; i < rc.nodes; i++) {
        char text[256], want[32];
        ck_assert_int_eq(redis_admin_node(&rc, i, text, sizeof text, "ROLE"), 0);
        snprintf(want, sizeof want, "\n%d\n", rc.port[master]);
        if (strncmp(text, "slave\n", 6) == 0 && strstr(text, want) != NULL)
            replica = i;
    }
    ck_assert_int_ge(replica, 0);

    /* a handle of the parent's, used before the hang, idle during it */
    mproc_manager_t *m;
    mproc_dict_t *d;
    mproc_list_t *l;
    ck_assert_int_eq(mproc_manager_connect(&m, rc.address, NULL, 0), 0);
    ck_assert_int_eq(mproc_manager_dict(m, f->name, &d), 0);
    ck_assert_int_eq(mproc_manager_list(m, f->name, &l), 0);
    ck_assert_int_eq(mproc_dict_set(d, "parent", 6, "1", 1), 0);

    pid_t pid = fork_child(workload, f);
    ck_assert(poll_until(worker_started, f, 30));

    /* the master takes no more writes, its replica catches up (so that
     * nothing acknowledged is lost to asynchronous replication), then it
     * hangs, and its replica takes over without asking it */
    char text[4096];
    ck_assert_int_eq(redis_admin_node(&rc, master, text, sizeof text, "CLIENT PAUSE 120000 WRITE"), 0);
    ck_assert_str_eq(text, "OK");
    double until = now() + 15;
    for (;;) {
        long long mo = repl_field(&rc, master, "master_repl_offset");
        long long ro = repl_field(&rc, replica, "slave_repl_offset");
        if (mo > 0 && mo == ro)
            break;
        ck_assert_msg(now() < until, "the replica did not catch up: %lld, %lld", mo, ro);
        struct timespec ms = { 0, 10000000 };
        nanosleep(&ms, NULL);
    }
    ck_assert_int_eq(kill(rc.pid[master], SIGSTOP), 0);
    ck_assert_int_eq(redis_admin_node(&rc, replica, text, sizeof text, "CLUSTER FAILOVER TAKEOVER"), 0);
    ck_assert_str_eq(text, "OK");
    /* every other node sends the slot to the replica */
    char moved[64];
    snprintf(moved, sizeof moved, ":%d", rc.port[replica]);
    until = now() + 20;
    for (int i = 1; i < rc.nodes;) {
        ck_assert_int_eq(redis_admin_node(&rc, i, text, sizeof text, "EXISTS %s", key), 0);
        int ok = i == replica ? strncmp(text, "MOVED", 5) != 0
                              : strncmp(text, "MOVED", 5) == 0 && strstr(text, moved) != NULL;
        if (ok) {
            i++;
            continue;
        }
        ck_assert_msg(now() < until, "node %d: %s", i, text);
        struct timespec ms = { 0, 20000000 };
        nanosleep(&ms, NULL);
    }
    f->t_over = now();
    __atomic_store_n(&f->failed_over, 1, __ATOMIC_RELEASE); /* publishes t_over */

    /* the parent's handle: its first call goes to the hung master it knows
     * and times out (it may have been applied: it is not sent again); the
     * next goes to the new master, at once */
    double t0 = now();
    int first = mproc_dict_set(d, "parent", 6, "2", 1);
    ck_assert_int_eq(first, MPROC_ETIMEDOUT);
    t0 = now();
    ck_assert_int_eq(mproc_dict_set(d, "parent", 6, "3", 1), 0);
    double next = now() - t0;
    ck_assert_msg(next < 5.0, "%.1f s", next);
    fprintf(stderr, "test_manager_redis: the call after the one the hung master timed out: %.2f ms\n", next * 1e3);

    ck_assert_int_eq(wait_child(pid, 90), 0);
    ck_assert_int_le(f->failures, 3);
    ck_assert_msg(f->recovered < 25.0, "%.1f s", f->recovered);

    /* nothing acknowledged is lost, nothing is there twice */
    mproc_buf_t *vals;
    size_t n;
    ck_assert_int_eq(mproc_list_slice(l, 0, INT64_MAX, &vals, &n), 0);
    unsigned char *seen = calloc(ACKS, 1);
    ck_assert_ptr_nonnull(seen);
    for (size_t i = 0; i < n; i++) {
        long v = atol(vals[i].data);
        ck_assert(v >= 0 && v < ACKS);
        ck_assert_msg(!seen[v], "%ld twice", v);
        seen[v] = 1;
    }
    long lost = 0;
    for (long i = 0; i < ACKS; i++)
        lost += f->ok[i] && !seen[i];
    ck_assert_int_eq(lost, 0);
    ck_assert_int_ge((long)n, f->acked);
    mproc_bufs_free(vals, n);
    free(seen);
    int64_t total;
    ck_assert_int_eq(mproc_dict_incr(d, "n", 1, 0, &total), 0);
    ck_assert_int_ge(total, f->incr_acked);
    ck_assert_int_le(total, f->incr_acked + f->incr_failed);
    fprintf(stderr, "test_manager_redis: failover: %ld appends acknowledged, %ld failed calls, "
                    "recovered %.1f s after the failover\n",
            f->acked, f->failures, f->recovered);

    mproc_list_close(l);
    mproc_dict_close(d);
    mproc_manager_close(m);
    kill(rc.pid[master], SIGCONT);
}
END_TEST
#else
START_TEST(built_without_hiredis)
{
    mproc_manager_t *m;
    ck_assert_int_eq(mproc_manager_connect(&m, "redis://127.0.0.1:6379", NULL, 0), MPROC_ENOTSUP);
}
END_TEST
#endif

static Suite *redis_suite(void)
{
    Suite *s = suite_create("manager_redis");
    TCase *tc = tcase_create("redis");
    tcase_set_timeout(tc, 150);
#ifdef HAVE_HIREDIS
    tcase_add_loop_test(tc, what_a_server_replies_is_checked_and_lies_refused, 0, sizeof lies / sizeof lies[0]);
    tcase_add_test(tc, select_without_the_password_is_eauth);
    tcase_add_test(tc, a_request_too_large_fails_at_once_on_a_cluster);
    tcase_add_test(tc, names_with_braces_go_straight_to_their_slot);
    tcase_add_test(tc, a_refused_password_on_a_cluster_node_fails_at_once);
    tcase_add_test(tc, a_hung_master_fails_over_during_a_workload);
#else
    tcase_add_test(tc, built_without_hiredis);
#endif
    suite_add_tcase(s, tc);
    return s;
}

#ifdef HAVE_HIREDIS
static pid_t main_pid;

static void stop_redis(void)
{
    if (getpid() != main_pid)
        return; /* a test's child exiting: the servers are not its own */
    redis_stop(&tcp);
    redis_stop(&cluster);
    for (int i = 0; i < replicated.nodes; i++)
        if (replicated.pid[i] > 0)
            kill(replicated.pid[i], SIGCONT);
    redis_stop(&replicated);
}
#endif

int main(void)
{
#ifdef HAVE_HIREDIS
    main_pid = getpid();
    if (redis_available()) {
        atexit(stop_redis);
        tcp_up = redis_start(&tcp, 0, "pass word") == 0;
        cluster_up = redis_start_cluster(&cluster, 3) == 0;
        /* 3 masters with a replica each, for the failover test alone */
        replicated_up = redis_start_cluster_replicas(&replicated, 3) == 0;
    } else {
        fprintf(stderr, "test_manager_redis: redis-server not found: the tests are skipped\n");
    }
#endif
    return run_suite(redis_suite());
}
