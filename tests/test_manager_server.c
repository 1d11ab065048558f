/* The Manager server against hostile and careless clients: a flood of
 * silent connections under a descriptor limit, the connection cap, other
 * users on keyless Unix sockets, clients that never read their replies or
 * announce huge frames, the memory quota, the idle timeout. The server runs
 * as the `mproc manager` daemon (tools/mproc), limits given on its command
 * line. */
#include "daemon.h"
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KEY "server key"

static void daemon_stop(pid_t pid)
{
    kill(pid, SIGTERM);
    ck_assert_int_eq(wait_child(pid, 20), 0);
}

/* A raw connection to a Unix-socket address ("/path" or "@abstract"), or -1. */
static int raw_connect(const char *address)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    size_t n = strlen(address);
    if (n >= sizeof sa.sun_path)
        return -1;
    memcpy(sa.sun_path, address, n);
    socklen_t len = sizeof sa;
    if (address[0] == '@') {
        sa.sun_path[0] = '\0';
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, len) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Sends one framed request: op on the object called name (no arguments). */
static void raw_request(int fd, unsigned op, const char *name)
{
    unsigned char m[300];
    size_t n = strlen(name);
    put_be32(m, (uint32_t)(4 + n));
    m[4] = 1; /* the protocol's version */
    m[5] = (unsigned char)op;
    m[6] = (unsigned char)(n >> 8);
    m[7] = (unsigned char)n;
    memcpy(m + 8, name, n);
    ck_assert_int_eq(write(fd, m, 8 + n), (ssize_t)(8 + n));
}

/* A field of /proc/PID/status in kB (VmRSS, VmSize). */
static long status_kb(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    long kb = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            kb = atol(line + n + 1);
    fclose(f);
    ck_assert_int_ge(kb, 0);
    return kb;
}

/* The CPU seconds pid has used. */
static double cpu_seconds(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    ck_assert_ptr_nonnull(p);
    unsigned long utime = 0, stime = 0;
    /* after ") ": state, then fields 4..13, utime is field 14, stime 15 */
    ck_assert_int_eq(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime), 2);
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static void write_key(const char *path)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(KEY "\n", f);
    fclose(f);
}

static void make_dir(char *dir)
{
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

/* Defect 1: under a 64-descriptor limit, 100 connections that never speak
 * neither keep a real client out nor spin the server. */
START_TEST(silent_flood_under_descriptor_limit)
{
    char dir[] = "/tmp/mproc-test-flood-XXXXXX", address[128], keyfile[128];
    make_dir(dir);
    snprintf(address, sizeof address, "%s/sock", dir);
    snprintf(keyfile, sizeof keyfile, "%s/key", dir);
    write_key(keyfile);
    const char *args[] = { "--listen", address, "--authkey-file", keyfile, NULL };
    pid_t pid = daemon_start(args, 64);
    double cpu0 = cpu_seconds(pid), t0 = now();
    int silent[100];
    for (int i = 0; i < 100; i++) {
        silent[i] = raw_connect(address);
        ck_assert_int_ge(silent[i], 0);
    }
    double start = now();
    mproc_manager_t *m;
    ck_assert_int_eq(mproc_manager_connect(&m, address, KEY, strlen(KEY)), 0);
    ck_assert_double_lt(now() - start, 3.0);
    mproc_dict_t *d;
    ck_assert_int_eq(mproc_manager_dict(m, "d", &d), 0);
    ck_assert_int_eq(mproc_dict_set(d, "k", 1, "v", 1), 0);
    /* a second of the flood still standing: the server sleeps through it */
    struct timespec second = { 1, 0 };
    nanosleep(&second, NULL);
    double cpu = cpu_seconds(pid) - cpu0, wall = now() - t0;
    ck_assert_double_lt(cpu, 0.5 * wall);
    ck_assert_int_eq(mproc_dict_len(d, &(size_t){ 0 }), 0);
    mproc_dict_close(d);
    mproc_manager_close(m);
    for (int i = 0; i < 100; i++)
        close(silent[i]);
    daemon_stop(pid);
    ck_assert_int_eq(remove_tree(dir), 0);
}
END_TEST

/* max_clients: one more is refused at once, and a place that frees up is
 * taken again. */
START_TEST(max_clients_refuses_one_more_at_once)
{
    mproc_manager_opts_t o = { .max_clients = 3 };
    mproc_manager_t *m, *c[3];
    ck_assert_int_eq(mproc_manager_start_opts(&m, NULL, NULL, 0, &o), 0);
    size_t keylen;
    const void *key = mproc_manager_authkey(m, &keylen);
    ck_assert_int_eq(mproc_manager_connect(&c[0], mproc_manager_address(m), key, keylen), 0);
    ck_assert_int_eq(mproc_manager_connect(&c[1], mproc_manager_address(m), key, keylen), 0);
    double start = now();
    int r = mproc_manager_connect(&c[2], mproc_manager_address(m), key, keylen);
    ck_assert_int_lt(r, 0);
    ck_assert_double_lt(now() - start, 2.0); /* at once, not a timeout */
    mproc_manager_close(c[1]);
    start = now();
    do
        r = mproc_manager_connect(&c[2], mproc_manager_address(m), key, keylen);
    while (r != 0 && now() - start < 10);
    ck_assert_int_eq(r, 0);
    mproc_manager_close(c[2]);
    mproc_manager_close(c[0]);
    /* options are checked */
    mproc_manager_opts_t bad = { .fsync = 7 };
    ck_assert_int_eq(mproc_manager_start_opts(&c[0], NULL, NULL, 0, &bad), MPROC_EINVAL);
    ck_assert_int_eq(mproc_manager_shutdown(m), 0);
}
END_TEST

struct as_nobody {
    const char *address;
    uid_t uid;
    gid_t gid;
};

/* In a child: become nobody, then try to use the keyless server. 0 when
 * refused, 1 when served, 2 when the uid could not be changed. */
static int connect_as_nobody(void *arg)
{
    struct as_nobody *a = arg;
    if (setgroups(0, NULL) != 0 || setgid(a->gid) != 0 || setuid(a->uid) != 0)
        return 2;
    mproc_manager_t *m;
    if (mproc_manager_connect(&m, a->address, NULL, 0) != 0)
        return 0;
    mproc_dict_t *d;
    int served = mproc_manager_dict(m, "intruder", &d) == 0;
    return served ? 1 : 0;
}

/* Defect 2: a keyless Manager on a Unix socket serves only its own uid,
 * whatever the socket file's mode; abstract and path sockets alike. */
START_TEST(keyless_unix_socket_refuses_other_users)
{
    if (geteuid() != 0) {
        fprintf(stderr, "keyless_unix_socket_refuses_other_users: needs root to become nobody; skipped\n");
        return;
    }
    struct passwd *pw = getpwnam("nobody");
    ck_assert_ptr_nonnull(pw);
    char dir[] = "/tmp/mproc-test-peer-XXXXXX", path[128], abstract[64];
    make_dir(dir);
    ck_assert_int_eq(chmod(dir, 0777), 0);
    snprintf(path, sizeof path, "%s/sock", dir);
    snprintf(abstract, sizeof abstract, "@%s", test_name("peercred"));
    const char *addresses[] = { path, abstract };
    for (int i = 0; i < 2; i++) {
        const char *args[] = { "--listen", addresses[i], NULL };
        pid_t pid = daemon_start(args, 0);
        if (i == 0)
            ck_assert_int_eq(chmod(path, 0777), 0); /* as a permissive umask would leave it */
        struct as_nobody a = { addresses[i], pw->pw_uid, pw->pw_gid };
        ck_assert_int_eq(wait_child(fork_child(connect_as_nobody, &a), 20), 0);
        /* its own user is served, and nothing of the intruder's is there */
        mproc_manager_t *m;
        ck_assert_int_eq(mproc_manager_connect(&m, addresses[i], NULL, 0), 0);
        mproc_dict_t *d;
        ck_assert_int_eq(mproc_manager_dict(m, "d", &d), 0);
        ck_assert_int_eq(mproc_dict_set(d, "k", 1, "v", 1), 0);
        mproc_dict_close(d);
        mproc_manager_close(m);
        daemon_stop(pid);
    }
    ck_assert_int_eq(remove_tree(dir), 0);
}
END_TEST

/* Defect 3: clients that ask for a big dict's items and never read them
 * cost at most the output limit (the stalest are dropped), and the server
 * serves on; headers announcing huge frames cost nothing up front. */
START_TEST(unread_replies_are_bounded)
{
    char address[80];
    snprintf(address, sizeof address, "@%s", test_name("unread"));
    const char *args[] = { "--listen", address, "--client-output-limit", "8M", NULL };
#ifdef __SANITIZE_ADDRESS__
    /* The bounds below are on what the server holds; AddressSanitizer's
     * quarantine keeps what it freed (hundreds of MiB by default), so this
     * daemon runs without one. */
    const char *asan = getenv("ASAN_OPTIONS");
    char *saved = asan != NULL ? strdup(asan) : NULL, options[512];
    snprintf(options, sizeof options, "%s%squarantine_size_mb=0", asan != NULL ? asan : "",
             asan != NULL && asan[0] != '\0' ? ":" : "");
    ck_assert_int_eq(setenv("ASAN_OPTIONS", options, 1), 0);
#endif
    pid_t pid = daemon_start(args, 0);
#ifdef __SANITIZE_ADDRESS__
    ck_assert_int_eq(saved != NULL ? setenv("ASAN_OPTIONS", saved, 1) : unsetenv("ASAN_OPTIONS"), 0);
    free(saved);
#endif
    mproc_manager_t *m;
    ck_assert_int_eq(mproc_manager_connect(&m, address, NULL, 0), 0);
    mproc_dict_t *d;
    ck_assert_int_eq(mproc_manager_dict(m, "big", &d), 0);
    static char value[64 << 10];
    memset(value, 'x', sizeof value);
    for (int i = 0; i < 64; i++) { /* 4 MiB */
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        ck_assert_int_eq(mproc_dict_set(d, key, strlen(key), value, sizeof value), 0);
    }
    long rss0 = status_kb(pid, "VmRSS");
    enum { READERS = 16 };
    int fd[READERS];
    for (int i = 0; i < READERS; i++) {
        fd[i] = raw_connect(address);
        ck_assert_int_ge(fd[i], 0);
        raw_request(fd[i], 0x1a /* DICT_ITEMS */, "big");
    }
    size_t n;
    ck_assert_int_eq(mproc_dict_len(d, &n), 0); /* served after all of them */
    ck_assert_uint_eq(n, 64);
    long grew = status_kb(pid, "VmRSS") - rss0;
    /* 16 copies would be 64 MiB; the limit (8) and one reply (4) with room to spare */
    ck_assert_int_lt(grew, 28 << 10);
    /* the readers that waited longest were dropped: they see the end early */
    size_t whole = 4 + 5 + 4 + 64 * (4 + 3 + 4 + sizeof value);
    int cut = 0;
    for (int i = 0; i < READERS; i++) {
        static char sink[1 << 16];
        size_t total = 0;
        ssize_t r;
        struct pollfd pfd = { fd[i], POLLIN, 0 };
        while (total < whole && poll(&pfd, 1, 5000) == 1 && (r = read(fd[i], sink, sizeof sink)) > 0)
            total += (size_t)r;
        cut += total < whole;
        close(fd[i]);
    }
    ck_assert_int_ge(cut, READERS / 2);
    /* with the readers gone, the buffers went with them */
    ck_assert_int_eq(mproc_dict_len(d, &n), 0);
    ck_assert_int_lt(status_kb(pid, "VmRSS") - rss0, 12 << 10);
    /* frames that only announce a size: nothing allocated on the claim */
    long vm0 = status_kb(pid, "VmSize");
    for (int i = 0; i < READERS; i++) {
        fd[i] = raw_connect(address);
        ck_assert_int_ge(fd[i], 0);
        unsigned char h[8];
        put_be32(h, 60u << 20);
        memcpy(h + 4, "\1\x12", 2);
        ck_assert_int_eq(write(fd[i], h, 6), 6);
    }
    ck_assert_int_eq(mproc_dict_len(d, &n), 0);
    ck_assert_int_lt(status_kb(pid, "VmSize") - vm0, 64 << 10); /* not 16 x 60 MiB */
    for (int i = 0; i < READERS; i++)
        close(fd[i]);
    ck_assert_int_eq(mproc_dict_len(d, &n), 0);
    mproc_dict_close(d);
    mproc_manager_close(m);
    daemon_stop(pid);
}
END_TEST

/* --max-memory 4M is 4 MiB of names, keys and values: the change that
 * would pass it fails with MPROC_ENOMEM and changes nothing. */
START_TEST(max_memory_is_a_quota)
{
    char address[80];
    snprintf(address, sizeof address, "@%s", test_name("quota"));
    const char *args[] = { "--listen", address, "--max-memory", "4M", NULL };
    pid_t pid = daemon_start(args, 0);
    mproc_manager_t *m;
    ck_assert_int_eq(mproc_manager_connect(&m, address, NULL, 0), 0);
    mproc_dict_t *d;
    ck_assert_int_eq(mproc_manager_dict(m, "q", &d), 0); /* 1 byte of name */
    static char value[1018];
    int i, r = 0;
    for (i = 0; i < 5000; i++) { /* 6-byte key + 1018 = 1 KiB an item */
        char key[8];
        snprintf(key, sizeof key, "k%05d", i);
        memset(value, 'a' + i % 26, sizeof value);
        if ((r = mproc_dict_set(d, key, 6, value, sizeof value)) != 0)
            break;
    }
    ck_assert_int_eq(r, MPROC_ENOMEM);
    ck_assert_int_eq(i, 4095); /* 4095 KiB + 1 byte fits in 4 MiB; one more KiB does not */
    size_t n;
    ck_assert_int_eq(mproc_dict_len(d, &n), 0);
    ck_assert_uint_eq(n, 4095);
    mproc_buf_t vals[2] = { { value, 600 }, { value, 600 } };
    mproc_item_t items[2] = { { { "n1", 2 }, vals[0] }, { { "n2", 2 }, vals[1] } };
    ck_assert_int_eq(mproc_dict_update(d, items, 2), MPROC_ENOMEM);
    ck_assert_int_eq(mproc_dict_len(d, &n), 0);
    ck_assert_uint_eq(n, 4095); /* nothing of the update */
    void *v;
    size_t vlen;
    ck_assert_int_eq(mproc_dict_get(d, "k04094", 6, &v, &vlen), 0);
    ck_assert_uint_eq(vlen, sizeof value);
    ck_assert_int_eq(((char *)v)[0], 'a' + 4094 % 26);
    free(v);
    ck_assert_int_eq(mproc_dict_del(d, "k00000", 6), 0);
    ck_assert_int_eq(mproc_dict_update(d, items, 1), 0); /* room again */
    mproc_dict_close(d);
    mproc_manager_close(m);
    daemon_stop(pid);
}
END_TEST

/* --idle-timeout drops a silent authenticated client; without it, none is. */
START_TEST(idle_timeout_is_optional)
{
    char address[80];
    snprintf(address, sizeof address, "@%s", test_name("idle"));
    const char *args[] = { "--listen", address, "--idle-timeout", "0.3", NULL };
    pid_t pid = daemon_start(args, 0);
    int fd = raw_connect(address);
    ck_assert_int_ge(fd, 0);
    struct pollfd pfd = { fd, POLLIN, 0 };
    ck_assert_int_eq(poll(&pfd, 1, 10000), 1);
    char c;
    ck_assert_int_eq(read(fd, &c, 1), 0); /* dropped */
    close(fd);
    daemon_stop(pid);
}
END_TEST

/* A client that parks a get (an empty queue, no time limit) and keeps
 * sending: the server buffers a little of what it sends, then stops reading
 * it (it cannot make the server buffer without bound); and a client parked
 * on the server is not idle (--idle-timeout does not drop it). */
START_TEST(parked_client_cannot_flood_the_server)
{
    char address[80];
    snprintf(address, sizeof address, "@%s", test_name("park"));
    const char *args[] = { "--listen", address, "--idle-timeout", "0.3", NULL };
    pid_t pid = daemon_start(args, 0);
    int fd = raw_connect(address);
    ck_assert_int_ge(fd, 0);
    /* QUEUE_GET "q", timeout: none */
    unsigned char get[17] = { 0, 0, 0, 13, 1, 0x62, 0, 1, 'q' };
    memset(get + 9, 0xff, 8);
    ck_assert_int_eq(write(fd, get, sizeof get), (ssize_t)sizeof get);
    /* then QSIZE "q" requests, as fast as the server takes them */
    static unsigned char chunk[9 * 7000];
    for (size_t i = 0; i < sizeof chunk; i += 9) {
        put_be32(chunk + i, 5);
        chunk[i + 4] = 1;
        chunk[i + 5] = 0x65;
        chunk[i + 6] = 0;
        chunk[i + 7] = 1;
        chunk[i + 8] = 'q';
    }
    int flags = fcntl(fd, F_GETFL);
    ck_assert_int_eq(fcntl(fd, F_SETFL, flags | O_NONBLOCK), 0);
    size_t sent = 0, limit = 32u << 20;
    while (sent < limit) {
        ssize_t w = send(fd, chunk, sizeof chunk, MSG_NOSIGNAL);
        if (w > 0) {
            sent += (size_t)w;
            continue;
        }
        ck_assert_msg(w < 0 && errno == EAGAIN, "send: %s", strerror(errno));
        struct pollfd pfd = { fd, POLLOUT, 0 };
        if (poll(&pfd, 1, 1000) == 0)
            break; /* the server has stopped reading for a second */
    }
    ck_assert_msg(sent < (8u << 20), "the server took %zu bytes from a parked client", sent);
    /* more than the idle timeout has passed with the get parked: still connected */
    struct pollfd pfd = { fd, POLLIN, 0 };
    ck_assert_int_eq(poll(&pfd, 1, 0), 0);
    close(fd);
    daemon_stop(pid);
}
END_TEST

static int file_exists(void *path)
{
    return access(path, F_OK) == 0;
}

/* The snapshot's temporary file is a fresh name, created exclusively: a
 * symlink planted at the old fixed name (FILE.tmp) is not followed, and the
 * snapshot is written. */
START_TEST(snapshot_does_not_follow_a_planted_symlink)
{
    char dir[] = "/tmp/mproc-test-snap-XXXXXX", snap[128], tmp[160], victim[128], address[80];
    make_dir(dir);
    snprintf(snap, sizeof snap, "%s/snap", dir);
    snprintf(tmp, sizeof tmp, "%s/snap.tmp", dir);
    snprintf(victim, sizeof victim, "%s/victim", dir);
    snprintf(address, sizeof address, "@%s", test_name("snap"));
    FILE *f = fopen(victim, "w");
    fputs("precious", f);
    fclose(f);
    ck_assert_int_eq(symlink(victim, tmp), 0);
    const char *args[] = { "--listen", address, "--snapshot", snap, NULL };
    pid_t pid = daemon_start(args, 0);
    mproc_manager_t *m;
    ck_assert_int_eq(mproc_manager_connect(&m, address, NULL, 0), 0);
    mproc_dict_t *d;
    ck_assert_int_eq(mproc_manager_dict(m, "d", &d), 0);
    ck_assert_int_eq(mproc_dict_set(d, "k", 1, "v", 1), 0);
    ck_assert_int_eq(kill(pid, SIGUSR1), 0); /* written by a forked child */
    ck_assert(poll_until(file_exists, snap, 20));
    mproc_dict_close(d);
    mproc_manager_close(m);
    daemon_stop(pid);
    char buf[16] = "";
    f = fopen(victim, "r");
    ck_assert_ptr_nonnull(fgets(buf, sizeof buf, f));
    fclose(f);
    ck_assert_str_eq(buf, "precious");
    ck_assert_int_eq(remove_tree(dir), 0);
}
END_TEST


/* Reads n framed replies of 5 bytes (version, status) from fd; the number
 * whose status is 0. */
static size_t raw_statuses(int fd, size_t n)
{
    size_t ok = 0;
    unsigned char buf[9 * 1024];
    size_t have = 0;
    while (n > 0) {
        ssize_t r = read(fd, buf + have, sizeof buf - have);
        ck_assert_int_gt(r, 0);
        have += (size_t)r;
        size_t at = 0;
        while (n > 0 && have - at >= 9) {
            ck_assert_int_eq(buf[at + 3], 5); /* a status alone */
            ok += buf[at + 5] == 0 && buf[at + 6] == 0 && buf[at + 7] == 0 && buf[at + 8] == 0;
            at += 9;
            n--;
        }
        memmove(buf, buf + at, have - at);
        have -= at;
    }
    return ok;
}

/* Many queues: 10000 made and looked up by name on one connection
 * (pipelined), then connections that each touch one queue and end (every
 * end returns what the connection held): the server finds a queue by its
 * name in a hash, not a walk through all of them. The bound is generous;
 * the time is printed. */
START_TEST(many_queues)
{
    enum { QUEUES = 10000, VISITS = 500 };
    char address[80];
    snprintf(address, sizeof address, "@%s", test_name("queues"));
    const char *args[] = { "--listen", address, NULL };
    pid_t pid = daemon_start(args, 0);
    int fd = raw_connect(address);
    ck_assert_int_ge(fd, 0);
    double t0 = now();
    for (int round = 0; round < 2; round++) { /* made, then found */
        for (int base = 0; base < QUEUES; base += 1000) {
            static unsigned char m[1000 * 22];
            size_t len = 0;
            for (int i = base; i < base + 1000; i++) {
                /* QUEUE_OPEN "queue-NNNNN", maxsize 0 */
                unsigned char *f = m + len;
                f[4] = 1;
                f[5] = 0x60;
                f[6] = 0;
                f[7] = 6;
                snprintf((char *)f + 8, 7, "q%05d", i);
                memset(f + 14, 0, 8);
                put_be32(f, 18);
                len += 22;
            }
            ck_assert_int_eq(write(fd, m, len), (ssize_t)len);
            ck_assert_uint_eq(raw_statuses(fd, 1000), 1000);
        }
    }
    double t1 = now();
    for (int i = 0; i < VISITS; i++) {
        int c = raw_connect(address);
        ck_assert_int_ge(c, 0);
        unsigned char f[22];
        put_be32(f, 18);
        f[4] = 1;
        f[5] = 0x60;
        f[6] = 0;
        f[7] = 6;
        snprintf((char *)f + 8, 7, "q%05d", (i * 7919) % QUEUES);
        memset(f + 14, 0, 8);
        ck_assert_int_eq(write(c, f, sizeof f), (ssize_t)sizeof f);
        ck_assert_uint_eq(raw_statuses(c, 1), 1);
        close(c);
    }
    double t2 = now();
    fprintf(stderr, "many_queues: %d opens in %.3f s, %d connections in %.3f s\n", 2 * QUEUES, t1 - t0, VISITS,
            t2 - t1);
    ck_assert_double_lt(t2 - t0, 20); /* generous: a walk per lookup made this minutes at 100k */
    close(fd);
    daemon_stop(pid);
}
END_TEST


/* Appends a framed queue request to m at *len: op on the 2-byte queue name,
 * with a timeout (none) for PUT and GET, and a 1-byte item for PUT. */
static void raw_queue_request(unsigned char *m, size_t *len, unsigned op, const char *name)
{
    unsigned char *f = m + *len;
    size_t n = 4;
    f[n++] = 1;
    f[n++] = (unsigned char)op;
    f[n++] = 0;
    f[n++] = 2;
    memcpy(f + n, name, 2);
    n += 2;
    if (op == 0x61 || op == 0x62) {
        memset(f + n, 0xff, 8);
        n += 8;
    }
    if (op == 0x61) {
        put_be32(f + n, 1);
        f[n + 4] = 'x';
        n += 5;
    }
    put_be32(f, (uint32_t)(n - 4));
    *len += n;
}

/* Reads exactly n bytes from fd, each read within 10 s: 1, or 0 if the
 * server went quiet first. */
static int raw_read_all(int fd, size_t n)
{
    unsigned char buf[4096];
    while (n > 0) {
        struct pollfd pfd = { fd, POLLIN, 0 };
        if (poll(&pfd, 1, 10000) != 1)
            return 0;
        ssize_t r = read(fd, buf, n < sizeof buf ? n : sizeof buf);
        if (r <= 0)
            return 0;
        n -= (size_t)r;
    }
    return 1;
}

/* One change of a queue may answer a parked request whose client then
 * changes another queue, and so on: a chain far longer than the server
 * settles in one round (two clients handing one item back and forth 300
 * times through two queues, every request sent ahead), and more than 64
 * getters parked on one queue answered by one burst of puts. The server
 * carries on in its next rounds: nothing stalls. */
START_TEST(long_chains_of_parked_requests_complete)
{
    enum { HOPS = 300, GETTERS = 100 };
    char address[80];
    snprintf(address, sizeof address, "@%s", test_name("chain"));
    const char *args[] = { "--listen", address, NULL };
    pid_t pid = daemon_start(args, 0);
    int a = raw_connect(address), b = raw_connect(address), c = raw_connect(address);
    ck_assert(a >= 0 && b >= 0 && c >= 0);
    static unsigned char m[HOPS * 64]; /* 41 bytes a hop */
    size_t len = 0;
    for (int i = 0; i < HOPS; i++) { /* a: get from q1, put to q2 */
        raw_queue_request(m, &len, 0x62, "q1");
        raw_queue_request(m, &len, 0x61, "q2");
    }
    ck_assert_int_eq(write(a, m, len), (ssize_t)len);
    len = 0;
    for (int i = 0; i < HOPS; i++) { /* b: get from q2, put to q1 */
        raw_queue_request(m, &len, 0x62, "q2");
        raw_queue_request(m, &len, 0x61, "q1");
    }
    ck_assert_int_eq(write(b, m, len), (ssize_t)len);
    len = 0;
    raw_queue_request(m, &len, 0x61, "q1"); /* the item that starts it */
    ck_assert_int_eq(write(c, m, len), (ssize_t)len);
    ck_assert(raw_read_all(c, 9));
    /* each: HOPS gets answered (14 bytes with the item) and HOPS puts (9);
     * read from both as they come (one not read would hold the other up) */
    size_t left[2] = { HOPS * 23, HOPS * 23 };
    while (left[0] + left[1] > 0) {
        struct pollfd pfd[2] = { { a, POLLIN, 0 }, { b, POLLIN, 0 } };
        ck_assert_msg(poll(pfd, 2, 10000) > 0, "requests stalled (%zu and %zu bytes of replies due)", left[0],
                      left[1]);
        for (int k = 0; k < 2; k++)
            if (pfd[k].revents != 0) {
                unsigned char buf[4096];
                ssize_t r = read(pfd[k].fd, buf, sizeof buf);
                ck_assert_int_gt(r, 0);
                ck_assert_uint_le((size_t)r, left[k]);
                left[k] -= (size_t)r;
            }
    }
    close(a);
    close(b);
    /* GETTERS parked on q3, then one burst of GETTERS puts */
    int g[GETTERS];
    for (int i = 0; i < GETTERS; i++) {
        g[i] = raw_connect(address);
        ck_assert_int_ge(g[i], 0);
        len = 0;
        raw_queue_request(m, &len, 0x62, "q3");
        ck_assert_int_eq(write(g[i], m, len), (ssize_t)len);
    }
    /* parked before the burst: a QSIZE behind the gets is answered after them */
    len = 0;
    for (int i = 0; i < GETTERS; i++)
        raw_queue_request(m, &len, 0x61, "q3");
    raw_queue_request(m, &len, 0x65, "q3");
    ck_assert_int_eq(write(c, m, len), (ssize_t)len);
    ck_assert(raw_read_all(c, GETTERS * 9 + 17));
    for (int i = 0; i < GETTERS; i++) {
        ck_assert_msg(raw_read_all(g[i], 14), "getter %d was not answered", i);
        close(g[i]);
    }
    close(c);
    daemon_stop(pid);
}
END_TEST


/* Queue items count against --max-memory with dicts and lists (an item:
 * its bytes + 64; a queue: its name + 64): the put that would pass it fails
 * with MPROC_ENOMEM and changes nothing; an item got but not acknowledged
 * still counts; task_done makes room. */
START_TEST(max_memory_counts_queue_items)
{
    char address[80];
    snprintf(address, sizeof address, "@%s", test_name("qquota"));
    const char *args[] = { "--listen", address, "--max-memory", "64K", NULL };
    pid_t pid = daemon_start(args, 0);
    mproc_manager_t *m;
    ck_assert_int_eq(mproc_manager_connect(&m, address, NULL, 0), 0);
    mproc_rqueue_t *q;
    ck_assert_int_eq(mproc_manager_queue(m, "q", 0, &q), 0); /* 1 + 64 */
    static char item[1024];
    int i, r = 0;
    for (i = 0; i < 1000; i++) { /* 1024 + 64 each */
        memset(item, 'a' + i % 26, sizeof item);
        if ((r = mproc_rqueue_put(q, item, sizeof item, 0)) != 0)
            break;
    }
    ck_assert_int_eq(r, MPROC_ENOMEM);
    ck_assert_int_eq(i, (65536 - 65) / 1088); /* 60 */
    size_t n;
    ck_assert_int_eq(mproc_rqueue_qsize(q, &n), 0);
    ck_assert_uint_eq(n, 60); /* nothing of the refused put */
    /* 191 bytes left: two empty items (64 each), not three */
    ck_assert_int_eq(mproc_rqueue_put(q, "", 0, 0), 0);
    ck_assert_int_eq(mproc_rqueue_put(q, "", 0, 0), 0);
    ck_assert_int_eq(mproc_rqueue_put(q, "", 0, 0), MPROC_ENOMEM);
    /* shared with the dicts: 63 bytes left */
    mproc_dict_t *d;
    ck_assert_int_eq(mproc_manager_dict(m, "d", &d), 0);
    ck_assert_int_eq(mproc_dict_set(d, "k", 1, item, 100), MPROC_ENOMEM);
    mproc_dict_close(d);
    /* got, not acknowledged: still held, still counted */
    void *data;
    size_t len;
    ck_assert_int_eq(mproc_rqueue_get(q, &data, &len, 1), 0);
    ck_assert_uint_eq(len, sizeof item);
    ck_assert_int_eq(((char *)data)[0], 'a');
    free(data);
    ck_assert_int_eq(mproc_rqueue_put(q, item, sizeof item, 0), MPROC_ENOMEM);
    ck_assert_int_eq(mproc_rqueue_task_done(q), 0);
    ck_assert_int_eq(mproc_rqueue_put(q, item, sizeof item, 0), 0); /* room again */
    ck_assert_int_eq(mproc_rqueue_put(q, item, sizeof item, 0), MPROC_ENOMEM);
    ck_assert_int_eq(mproc_rqueue_qsize(q, &n), 0);
    ck_assert_uint_eq(n, 62);
    mproc_rqueue_close(q);
    mproc_manager_close(m);
    daemon_stop(pid);
}
END_TEST


static int item_returned(void *arg)
{
    mproc_rqueue_t *q = arg;
    size_t n = 0;
    return mproc_rqueue_qsize(q, &n) == 0 && n > 0;
}

/* --idle-timeout does not drop a connection that holds an unacknowledged
 * queue item: a live worker keeps its item however long its job takes
 * (silence cannot tell a slow worker from a dead one; a dead one's
 * connection ends, which returns the item). A silent one holding nothing
 * is still dropped. */
START_TEST(idle_timeout_spares_a_worker_holding_an_item)
{
    char address[80];
    snprintf(address, sizeof address, "@%s", test_name("hold"));
    const char *args[] = { "--listen", address, "--idle-timeout", "0.3", NULL };
    pid_t pid = daemon_start(args, 0);
    mproc_manager_t *m;
    ck_assert_int_eq(mproc_manager_connect(&m, address, NULL, 0), 0);
    mproc_rqueue_t *worker, *watcher;
    ck_assert_int_eq(mproc_manager_queue(m, "jobs", 0, &worker), 0);
    ck_assert_int_eq(mproc_manager_queue(m, "jobs", 0, &watcher), 0);
    ck_assert_int_eq(mproc_rqueue_put(watcher, "job", 3, 0), 0);
    void *data;
    size_t len;
    ck_assert_int_eq(mproc_rqueue_get(worker, &data, &len, 1), 0);
    free(data);
    /* the worker is silent five idle timeouts long: its item stays its own */
    ck_assert(!poll_until(item_returned, watcher, 1.5));
    ck_assert_int_eq(mproc_rqueue_task_done(worker), 0);
    ck_assert_int_eq(mproc_rqueue_join(watcher, 1), 0);
    /* holding nothing again, it is idle like any other: dropped */
    int fd = raw_connect(address);
    ck_assert_int_ge(fd, 0);
    struct pollfd pfd = { fd, POLLIN, 0 };
    ck_assert_int_eq(poll(&pfd, 1, 10000), 1);
    char c;
    ck_assert_int_eq(read(fd, &c, 1), 0);
    close(fd);
    mproc_rqueue_close(worker);
    mproc_rqueue_close(watcher);
    mproc_manager_close(m);
    daemon_stop(pid);
}
END_TEST

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    Suite *s = suite_create("manager_server");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, silent_flood_under_descriptor_limit);
    tcase_add_test(tc, max_clients_refuses_one_more_at_once);
    tcase_add_test(tc, keyless_unix_socket_refuses_other_users);
    tcase_add_test(tc, unread_replies_are_bounded);
    tcase_add_test(tc, max_memory_is_a_quota);
    tcase_add_test(tc, idle_timeout_is_optional);
    tcase_add_test(tc, parked_client_cannot_flood_the_server);
    tcase_add_test(tc, snapshot_does_not_follow_a_planted_symlink);
    tcase_add_test(tc, many_queues);
    tcase_add_test(tc, long_chains_of_parked_requests_complete);
    tcase_add_test(tc, max_memory_counts_queue_items);
    tcase_add_test(tc, idle_timeout_spares_a_worker_holding_an_item);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
