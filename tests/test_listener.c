/* Listener and Client: Unix, abstract and TCP addresses, the authentication
 * handshake in both of Python's forms, wrong keys, and hostile peers on
 * either side while good clients keep being served. */
#include "helpers.h"

#include <netinet/in.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY "secret key"
#define KEYLEN (sizeof KEY - 1)

static char address[256];

static const char *socket_path(void)
{
    static char path[128];
    snprintf(path, sizeof path, "/tmp/mproc-test-%d.sock", (int)getpid());
    unlink(path);
    return path;
}

/* A client child: connects with the given key, sends "hello", expects
 * "hello back". Exit code 0 on success, else the step that failed. */
static int good_client(void *key)
{
    mproc_conn_t *c;
    if (mproc_client_timeout(&c, address, key, key ? strlen(key) : 0, 10.0) != 0)
        return 1;
    char buf[32];
    size_t n;
    if (mproc_conn_send(c, "hello", 5) != 0)
        return 2;
    if (mproc_conn_recv(c, buf, sizeof buf, &n, 10.0) != 0 || n != 10 || memcmp(buf, "hello back", 10))
        return 3;
    mproc_conn_close(c);
    return 0;
}

/* The server side of good_client, on a connection just accepted. */
static void serve_one(mproc_conn_t *c)
{
    char buf[32];
    size_t n;
    ck_assert_int_eq(mproc_conn_recv(c, buf, sizeof buf, &n, 10.0), 0);
    ck_assert_uint_eq(n, 5);
    ck_assert_mem_eq(buf, "hello", 5);
    ck_assert_int_eq(mproc_conn_send(c, "hello back", 10), 0);
    mproc_conn_close(c);
}

/* Accepts one good_client (key as given) on l and checks it went well. */
static void accept_good_client(mproc_listener_t *l, const char *key)
{
    snprintf(address, sizeof address, "%s", mproc_listener_address(l));
    pid_t pid = fork_child(good_client, (void *)key);
    mproc_conn_t *c;
    ck_assert_int_eq(mproc_listener_accept(l, &c, 10.0), 0);
    serve_one(c);
    ck_assert_int_eq(wait_child(pid, 10), 0);
}

START_TEST(unix_path_with_and_without_a_key)
{
    const char *path = socket_path();
    mproc_listener_t *l;
    ck_assert_int_eq(mproc_listener_create(&l, path, KEY, KEYLEN), 0);
    ck_assert_str_eq(mproc_listener_address(l), path);
    accept_good_client(l, KEY);
    accept_good_client(l, KEY);
    ck_assert_int_eq(mproc_listener_close(l), 0);
    ck_assert_int_eq(access(path, F_OK), -1); /* removed at close */
    ck_assert_int_eq(mproc_listener_create(&l, path, NULL, 0), 0);
    accept_good_client(l, NULL);
    mproc_listener_close(l);
    /* an empty key is still a key: both sides must hold it */
    ck_assert_int_eq(mproc_listener_create(&l, path, "", 0), 0);
    accept_good_client(l, "");
    mproc_listener_close(l);
}
END_TEST

START_TEST(no_address_makes_a_private_socket)
{
    mproc_listener_t *l;
    ck_assert_int_eq(mproc_listener_create(&l, NULL, KEY, KEYLEN), 0);
    char path[256], dir[256];
    snprintf(path, sizeof path, "%s", mproc_listener_address(l));
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = '\0';
    struct stat st;
    ck_assert_int_eq(stat(dir, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0700);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert(S_ISSOCK(st.st_mode));
    accept_good_client(l, KEY);
    mproc_listener_close(l);
    ck_assert_int_eq(access(path, F_OK), -1);
    ck_assert_int_eq(access(dir, F_OK), -1);
}
END_TEST

START_TEST(abstract_unix_address)
{
    char name[64];
    snprintf(name, sizeof name, "@mproc-test-%d", (int)getpid());
    mproc_listener_t *l;
    ck_assert_int_eq(mproc_listener_create(&l, name, KEY, KEYLEN), 0);
    ck_assert_str_eq(mproc_listener_address(l), name);
    accept_good_client(l, KEY);
    mproc_listener_t *again;
    ck_assert_int_eq(mproc_listener_create(&again, name, NULL, 0), MPROC_EEXIST);
    mproc_listener_close(l);
}
END_TEST

START_TEST(tcp_port_zero_reports_the_port_it_got)
{
    mproc_listener_t *l;
    ck_assert_int_eq(mproc_listener_create(&l, "127.0.0.1:0", KEY, KEYLEN), 0);
    const char *a = mproc_listener_address(l);
    ck_assert_int_eq(strncmp(a, "127.0.0.1:", 10), 0);
    int port = atoi(a + 10);
    ck_assert_int_gt(port, 0);
    accept_good_client(l, KEY);
    /* by host name too */
    snprintf(address, sizeof address, "localhost:%d", port);
    pid_t pid = fork_child(good_client, KEY);
    mproc_conn_t *c;
    ck_assert_int_eq(mproc_listener_accept(l, &c, 10.0), 0);
    serve_one(c);
    ck_assert_int_eq(wait_child(pid, 10), 0);
    /* the port is taken while l lives */
    mproc_listener_t *again;
    ck_assert_int_eq(mproc_listener_create(&again, a, NULL, 0), MPROC_EEXIST);
    mproc_listener_close(l);
}
END_TEST

START_TEST(tcp_over_ipv6)
{
    int probe = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 lo = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
    int have_v6 = probe >= 0 && bind(probe, (struct sockaddr *)&lo, sizeof lo) == 0;
    if (probe >= 0)
        close(probe);
    if (!have_v6)
        return; /* this machine has no IPv6 loopback */
    mproc_listener_t *l;
    ck_assert_int_eq(mproc_listener_create(&l, "[::1]:0", KEY, KEYLEN), 0);
    ck_assert_int_eq(strncmp(mproc_listener_address(l), "[::1]:", 6), 0);
    accept_good_client(l, KEY);
    mproc_listener_close(l);
}
END_TEST

START_TEST(malformed_addresses_are_einval)
{
    static const char *bad[] = {
        "", "noslash", "host:", "host:port", "host:99999", "host:-1", "[::1]5", "[]:5",
        "::1:5", "@", "127.0.0.1", "[::1]",
        "/tmp/a-path-far-too-long-for-a-unix-socket-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mproc_listener_t *l;
        mproc_conn_t *c;
        ck_assert_msg(mproc_listener_create(&l, bad[i], NULL, 0) == MPROC_EINVAL, "%s", bad[i]);
        ck_assert_msg(mproc_client(&c, bad[i], NULL, 0) == MPROC_EINVAL, "%s", bad[i]);
    }
    mproc_conn_t *c;
    ck_assert_int_eq(mproc_client(&c, NULL, NULL, 0), MPROC_EINVAL);
    ck_assert_int_eq(mproc_listener_create(NULL, NULL, NULL, 0), MPROC_EINVAL);
    ck_assert_ptr_null(mproc_listener_address(NULL));
    ck_assert_int_eq(mproc_listener_close(NULL), MPROC_EINVAL);
    mproc_listener_t *l;
    ck_assert_int_eq(mproc_listener_create(&l, NULL, NULL, 0), 0);
    ck_assert_int_eq(mproc_listener_set_handshake_timeout(l, 0), MPROC_EINVAL);
    ck_assert_int_eq(mproc_listener_set_handshake_timeout(l, 0.0 / 0.0), MPROC_EINVAL);
    ck_assert_int_eq(mproc_listener_accept(l, NULL, 0), MPROC_EINVAL);
    mproc_listener_close(l);
}
END_TEST

START_TEST(clients_get_clear_errors_for_nobody_there)
{
    mproc_conn_t *c;
    ck_assert_int_eq(mproc_client(&c, "/tmp/mproc-test-no-such-dir/sock", NULL, 0), MPROC_ENOENT);
    /* a port nobody listens on: take one, then give it back */
    mproc_listener_t *l;
    ck_assert_int_eq(mproc_listener_create(&l, "127.0.0.1:0", NULL, 0), 0);
    char a[64];
    snprintf(a, sizeof a, "%s", mproc_listener_address(l));
    mproc_listener_close(l);
    ck_assert_int_eq(mproc_client(&c, a, NULL, 0), -ECONNREFUSED);
    ck_assert_int_eq(mproc_client(&c, "no-such-host.invalid:80", NULL, 0), MPROC_ENOENT);
    ck_assert_int_eq(mproc_listener_create(&l, "/tmp/mproc-test-no-such-dir/sock", NULL, 0),
                     MPROC_ENOENT);
}
END_TEST

static int listen_and_die(void *path)
{
    mproc_listener_t *l;
    return mproc_listener_create(&l, path, NULL, 0) == 0 ? 0 : 1; /* exits without closing */
}

START_TEST(a_live_socket_is_taken_a_stale_one_replaced)
{
    const char *path = socket_path();
    mproc_listener_t *l, *again;
    ck_assert_int_eq(mproc_listener_create(&l, path, NULL, 0), 0);
    ck_assert_int_eq(mproc_listener_create(&again, path, NULL, 0), MPROC_EEXIST);
    mproc_listener_close(l);
    ck_assert_int_eq(wait_child(fork_child(listen_and_die, (void *)path), 10), 0);
    ck_assert_int_eq(access(path, F_OK), 0); /* its file is left behind */
    ck_assert_int_eq(mproc_listener_create(&l, path, KEY, KEYLEN), 0);
    accept_good_client(l, KEY);
    mproc_listener_close(l);
    /* a regular file at the path is not ours to remove */
    FILE *f = fopen(path, "w");
    fclose(f);
    ck_assert_int_eq(mproc_listener_create(&l, path, NULL, 0), MPROC_EEXIST);
    unlink(path);
}
END_TEST

static int client_expecting(void *expected)
{
    mproc_conn_t *c;
    int r = mproc_client_timeout(&c, address, "wrong key", 9, 10.0);
    if (r == 0)
        mproc_conn_close(c);
    return r == *(int *)expected ? 0 : 1;
}

START_TEST(a_wrong_key_fails_on_both_sides_and_the_listener_serves_on)
{
    const char *path = socket_path();
    mproc_listener_t *l;
    ck_assert_int_eq(mproc_listener_create(&l, path, KEY, KEYLEN), 0);
    snprintf(address, sizeof address, "%s", path);
    static const int eauth = MPROC_EAUTH;
    pid_t pid = fork_child(client_expecting, (void *)&eauth);
    mproc_conn_t *c;
    ck_assert_int_eq(mproc_listener_accept(l, &c, 10.0), MPROC_EAUTH);
    ck_assert_int_eq(wait_child(pid, 10), 0);
    accept_good_client(l, KEY);
    /* a client with no key at all */
    pid = fork_child(good_client, NULL);
    ck_assert_int_eq(mproc_listener_accept(l, &c, 10.0), MPROC_EAUTH);
    ck_assert_int_ne(wait_child(pid, 10), 0);
    accept_good_client(l, KEY);
    mproc_listener_close(l);
}
END_TEST

/* Connects without a handshake and sends raw bytes, as a hostile client. */
static mproc_conn_t *raw_client(const char *bytes, size_t n)
{
    mproc_conn_t *c;
    ck_assert_int_eq(mproc_client(&c, address, NULL, 0), 0);
    if (n > 0)
        ck_assert_int_eq(write(mproc_conn_fileno(c), bytes, n), (ssize_t)n);
    return c;
}

START_TEST(hostile_clients_are_dropped_within_the_handshake_timeout)
{
    mproc_listener_t *l;
    ck_assert_int_eq(mproc_listener_create(&l, NULL, KEY, KEYLEN), 0);
    ck_assert_int_eq(mproc_listener_set_handshake_timeout(l, 0.3), 0);
    snprintf(address, sizeof address, "%s", mproc_listener_address(l));
    static const struct {
        const char *what, *bytes;
        size_t n;
        int silent; /* dropped only when its time is up */
    } hostile[] = {
        { "garbage for an answer", "\0\0\0\5junk!", 9, 0 },
        { "a 2 GiB length claim", "\x7f\xff\xff\xff", 4, 0 },
        { "a negative length", "\xff\xff\xff\xf0", 4, 0 },
        { "an over-long answer", "\0\0\1\1", 4, 0 },
        { "half a frame, then silence", "\0\0\0\40{sha256}", 12, 1 },
        { "never a word", "", 0, 1 },
    };
    mproc_conn_t *c;
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        mproc_conn_t *bad = raw_client(hostile[i].bytes, hostile[i].n);
        double t0 = now();
        ck_assert_msg(mproc_listener_accept(l, &c, 10.0) == MPROC_EAUTH, "%s", hostile[i].what);
        double took = now() - t0;
        ck_assert_msg(took < (hostile[i].silent ? 2.0 : 0.25), "%s took %.3f s", hostile[i].what, took);
        if (hostile[i].silent)
            ck_assert_double_ge(took, 0.3);
        mproc_conn_close(bad);
        accept_good_client(l, KEY);
    }
    /* one that hangs up at once */
    mproc_conn_close(raw_client(NULL, 0));
    ck_assert_int_eq(mproc_listener_accept(l, &c, 10.0), MPROC_EAUTH);
    accept_good_client(l, KEY);
    /* accept(0) with a client waiting still gives it its handshake */
    pid_t pid = fork_child(good_client, KEY);
    double t0 = now();
    int r;
    while ((r = mproc_listener_accept(l, &c, 0)) == MPROC_ETIMEDOUT && now() - t0 < 10)
        ;
    ck_assert_int_eq(r, 0);
    serve_one(c);
    ck_assert_int_eq(wait_child(pid, 10), 0);
    mproc_listener_close(l);
}
END_TEST

START_TEST(accept_times_out)
{
    mproc_listener_t *l;
    ck_assert_int_eq(mproc_listener_create(&l, NULL, KEY, KEYLEN), 0);
    mproc_conn_t *c;
    double t0 = now();
    ck_assert_int_eq(mproc_listener_accept(l, &c, 0), MPROC_ETIMEDOUT);
    ck_assert_int_eq(mproc_listener_accept(l, &c, 0.1), MPROC_ETIMEDOUT);
    ck_assert_double_ge(now() - t0, 0.1);
    mproc_listener_close(l);
}
END_TEST

/* ---- a hostile or legacy server, played by the test over a keyless
 * listener; the client child reports what mproc_client returned ---- */

static int client_result;

static int keyed_client(void *arg)
{
    (void)arg;
    mproc_conn_t *c;
    int r = mproc_client_timeout(&c, address, KEY, KEYLEN, 0.5);
    if (r == 0)
        mproc_conn_close(c);
    return r == client_result ? 0 : 1;
}

static mproc_conn_t *server_for(int expected, mproc_listener_t **l, pid_t *pid)
{
    ck_assert_int_eq(mproc_listener_create(l, NULL, NULL, 0), 0);
    snprintf(address, sizeof address, "%s", mproc_listener_address(*l));
    client_result = expected;
    *pid = fork_child(keyed_client, NULL);
    mproc_conn_t *c;
    ck_assert_int_eq(mproc_listener_accept(*l, &c, 10.0), 0);
    return c;
}

START_TEST(hostile_servers_give_clients_clear_errors)
{
    mproc_listener_t *l;
    pid_t pid;
    mproc_conn_t *c = server_for(MPROC_EAUTH, &l, &pid);
    ck_assert_int_eq(mproc_conn_send(c, "#NOT-A-CHALLENGE#", 17), 0);
    ck_assert_int_eq(wait_child(pid, 10), 0);
    mproc_conn_close(c);
    mproc_listener_close(l);

    c = server_for(MPROC_EPROTO, &l, &pid);
    ck_assert_int_eq(write(mproc_conn_fileno(c), "\x7f\xff\xff\xff", 4), 4);
    ck_assert_int_eq(wait_child(pid, 10), 0);
    mproc_conn_close(c);
    mproc_listener_close(l);

    c = server_for(MPROC_ETIMEDOUT, &l, &pid); /* a server that never speaks */
    ck_assert_int_eq(wait_child(pid, 10), 0);
    mproc_conn_close(c);
    mproc_listener_close(l);

    c = server_for(MPROC_EOF, &l, &pid); /* one that hangs up */
    mproc_conn_close(c);
    ck_assert_int_eq(wait_child(pid, 10), 0);
    mproc_listener_close(l);
}
END_TEST

static void hmac_of(const char *digest, const void *msg, size_t n, unsigned char *out, unsigned *len)
{
    const EVP_MD *md = strcmp(digest, "md5") == 0 ? EVP_md5() : EVP_sha256();
    ck_assert_ptr_nonnull(HMAC(md, KEY, (int)KEYLEN, msg, n, out, len));
}

START_TEST(legacy_peers_are_answered_in_their_form)
{
    /* The test plays a Python 3.11 listener: a 20-byte challenge that must be
     * answered with a bare HMAC-MD5; then it answers the client's modern
     * challenge with a bare HMAC-MD5 too, which mproc must accept. */
    mproc_listener_t *l;
    pid_t pid;
    client_result = 0;
    mproc_conn_t *c = server_for(0, &l, &pid);
    unsigned char challenge[11 + 20] = "#CHALLENGE#";
    for (int i = 0; i < 20; i++)
        challenge[11 + i] = (unsigned char)(i * 37 + 1);
    ck_assert_int_eq(mproc_conn_send(c, challenge, sizeof challenge), 0);
    unsigned char answer[256], expected[64];
    unsigned elen;
    size_t n;
    ck_assert_int_eq(mproc_conn_recv(c, answer, sizeof answer, &n, 10.0), 0);
    hmac_of("md5", challenge + 11, 20, expected, &elen);
    ck_assert_uint_eq(n, 16);
    ck_assert_mem_eq(answer, expected, 16);
    ck_assert_int_eq(mproc_conn_send(c, "#WELCOME#", 9), 0);
    /* the client's challenge: modern form */
    unsigned char theirs[256];
    ck_assert_int_eq(mproc_conn_recv(c, theirs, sizeof theirs, &n, 10.0), 0);
    ck_assert_uint_eq(n, 11 + 8 + 40);
    ck_assert_mem_eq(theirs, "#CHALLENGE#{sha256}", 19);
    hmac_of("md5", theirs + 11, n - 11, expected, &elen);
    ck_assert_int_eq(mproc_conn_send(c, expected, elen), 0);
    ck_assert_int_eq(mproc_conn_recv(c, answer, sizeof answer, &n, 10.0), 0);
    ck_assert_uint_eq(n, 9);
    ck_assert_mem_eq(answer, "#WELCOME#", 9);
    ck_assert_int_eq(wait_child(pid, 10), 0);
    mproc_conn_close(c);
    mproc_listener_close(l);
}
END_TEST

START_TEST(modern_answers_are_checked_to_the_byte)
{
    /* The test plays a Python 3.12 listener answering the client's challenge
     * with a {sha256} HMAC that is off by one bit: the client refuses it. */
    mproc_listener_t *l;
    pid_t pid;
    mproc_conn_t *c = server_for(MPROC_EAUTH, &l, &pid);
    unsigned char challenge[11 + 8 + 40] = "#CHALLENGE#{sha256}";
    memset(challenge + 19, 0x5a, 40);
    ck_assert_int_eq(mproc_conn_send(c, challenge, sizeof challenge), 0);
    unsigned char answer[256], expected[64];
    unsigned elen;
    size_t n;
    ck_assert_int_eq(mproc_conn_recv(c, answer, sizeof answer, &n, 10.0), 0);
    hmac_of("sha256", challenge + 11, sizeof challenge - 11, expected, &elen);
    ck_assert_uint_eq(n, 8 + 32);
    ck_assert_mem_eq(answer, "{sha256}", 8);
    ck_assert_mem_eq(answer + 8, expected, 32);
    ck_assert_int_eq(mproc_conn_send(c, "#WELCOME#", 9), 0);
    unsigned char theirs[256];
    ck_assert_int_eq(mproc_conn_recv(c, theirs, sizeof theirs, &n, 10.0), 0);
    unsigned char reply[8 + 32] = "{sha256}";
    hmac_of("sha256", theirs + 11, n - 11, reply + 8, &elen);
    reply[8 + 31] ^= 1;
    ck_assert_int_eq(mproc_conn_send(c, reply, sizeof reply), 0);
    ck_assert_int_eq(mproc_conn_recv(c, answer, sizeof answer, &n, 10.0), 0);
    ck_assert_mem_eq(answer, "#FAILURE#", 9);
    ck_assert_int_eq(wait_child(pid, 10), 0);
    mproc_conn_close(c);
    mproc_listener_close(l);
}
END_TEST

/* ---- several clients, descriptors --------------------------------------- */

static int numbered_client(void *arg)
{
    int id = (int)(intptr_t)arg;
    mproc_conn_t *c;
    if (mproc_client_timeout(&c, address, KEY, KEYLEN, 20.0) != 0)
        return 1;
    if (mproc_conn_send(c, &id, sizeof id) != 0)
        return 2;
    int reply;
    size_t n;
    if (mproc_conn_recv(c, &reply, sizeof reply, &n, 20.0) != 0 || reply != id * id)
        return 3;
    mproc_conn_close(c);
    return 0;
}

START_TEST(many_clients_at_once)
{
    enum { CLIENTS = 8 };
    mproc_listener_t *l;
    ck_assert_int_eq(mproc_listener_create(&l, "127.0.0.1:0", KEY, KEYLEN), 0);
    snprintf(address, sizeof address, "%s", mproc_listener_address(l));
    pid_t pids[CLIENTS];
    for (int i = 0; i < CLIENTS; i++)
        pids[i] = fork_child(numbered_client, (void *)(intptr_t)(i + 1));
    for (int i = 0; i < CLIENTS; i++) {
        mproc_conn_t *c;
        ck_assert_int_eq(mproc_listener_accept(l, &c, 20.0), 0);
        int id;
        size_t n;
        ck_assert_int_eq(mproc_conn_recv(c, &id, sizeof id, &n, 20.0), 0);
        int square = id * id;
        ck_assert_int_eq(mproc_conn_send(c, &square, sizeof square), 0);
        mproc_conn_close(c);
    }
    for (int i = 0; i < CLIENTS; i++)
        ck_assert_int_eq(wait_child(pids[i], 20), 0);
    mproc_listener_close(l);
}
END_TEST

static int receive_a_descriptor(void *arg)
{
    (void)arg;
    mproc_conn_t *c;
    if (mproc_client_timeout(&c, address, KEY, KEYLEN, 10.0) != 0)
        return 1;
    int fd;
    if (mproc_conn_recv_fd(c, &fd, 10.0) != 0)
        return 2;
    char buf[8];
    if (pread(fd, buf, 5, 0) != 5 || memcmp(buf, "shared", 5) != 0)
        return 3;
    return 0;
}

START_TEST(descriptors_pass_over_a_unix_connection)
{
    mproc_listener_t *l;
    ck_assert_int_eq(mproc_listener_create(&l, NULL, KEY, KEYLEN), 0);
    snprintf(address, sizeof address, "%s", mproc_listener_address(l));
    pid_t pid = fork_child(receive_a_descriptor, NULL);
    mproc_conn_t *c;
    ck_assert_int_eq(mproc_listener_accept(l, &c, 10.0), 0);
    FILE *f = tmpfile();
    fputs("shared", f);
    fflush(f);
    ck_assert_int_eq(mproc_conn_send_fd(c, fileno(f)), 0);
    ck_assert_int_eq(wait_child(pid, 10), 0);
    fclose(f);
    mproc_conn_close(c);
    mproc_listener_close(l);
    /* not over TCP */
    ck_assert_int_eq(mproc_listener_create(&l, "127.0.0.1:0", NULL, 0), 0);
    mproc_conn_t *tcp;
    ck_assert_int_eq(mproc_client(&tcp, mproc_listener_address(l), NULL, 0), 0);
    ck_assert_int_eq(mproc_conn_send_fd(tcp, 0), MPROC_EINVAL);
    mproc_conn_close(tcp);
    mproc_listener_close(l);
}
END_TEST

/* Handshakes run side by side inside accept: silent clients that came
 * first delay a real one by nothing like their handshake timeouts, accept
 * returns within its own timeout meanwhile, and each silent one is dropped
 * when its own time is up. */
START_TEST(handshakes_progress_concurrently)
{
    mproc_listener_t *l;
    ck_assert_int_eq(mproc_listener_create(&l, NULL, KEY, KEYLEN), 0);
    ck_assert_int_eq(mproc_listener_set_handshake_timeout(l, 2.0), 0);
    snprintf(address, sizeof address, "%s", mproc_listener_address(l));
    enum { SILENT = 5 };
    mproc_conn_t *silent[SILENT], *c;
    for (int i = 0; i < SILENT; i++)
        silent[i] = raw_client(NULL, 0);
    /* only silent ones: accept keeps to its timeout */
    double t0 = now();
    ck_assert_int_eq(mproc_listener_accept(l, &c, 0.2), MPROC_ETIMEDOUT);
    ck_assert_double_lt(now() - t0, 1.0);
    t0 = now();
    ck_assert_int_eq(mproc_listener_accept(l, &c, 0), MPROC_ETIMEDOUT);
    ck_assert_double_lt(now() - t0, 0.5);
    /* a real client after them gets in at once (not after 5 x 2 s) */
    pid_t pid = fork_child(good_client, KEY);
    t0 = now();
    ck_assert_int_eq(mproc_listener_accept(l, &c, 10.0), 0);
    ck_assert_double_lt(now() - t0, 5.0); /* inline handshakes: 5 x 2 s at least */
    serve_one(c);
    ck_assert_int_eq(wait_child(pid, 10), 0);
    /* the silent ones go when their time is up, one failure per accept */
    int dropped = 0;
    t0 = now();
    while (dropped < SILENT && now() - t0 < 10) {
        int r = mproc_listener_accept(l, &c, 10.0);
        ck_assert_int_eq(r, MPROC_EAUTH);
        dropped++;
    }
    ck_assert_int_eq(dropped, SILENT);
    ck_assert_double_lt(now() - t0, 4.0); /* together, not one after another */
    for (int i = 0; i < SILENT; i++)
        mproc_conn_close(silent[i]);
    accept_good_client(l, KEY);
    mproc_listener_close(l);
}
END_TEST

static Suite *listener_suite(void)
{
    Suite *s = suite_create("listener");
    TCase *tc = tcase_create("addresses");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, unix_path_with_and_without_a_key);
    tcase_add_test(tc, no_address_makes_a_private_socket);
    tcase_add_test(tc, abstract_unix_address);
    tcase_add_test(tc, tcp_port_zero_reports_the_port_it_got);
    tcase_add_test(tc, tcp_over_ipv6);
    tcase_add_test(tc, malformed_addresses_are_einval);
    tcase_add_test(tc, clients_get_clear_errors_for_nobody_there);
    tcase_add_test(tc, a_live_socket_is_taken_a_stale_one_replaced);
    suite_add_tcase(s, tc);
    TCase *auth = tcase_create("auth");
    tcase_set_timeout(auth, 60);
    tcase_add_test(auth, a_wrong_key_fails_on_both_sides_and_the_listener_serves_on);
    tcase_add_test(auth, hostile_clients_are_dropped_within_the_handshake_timeout);
    tcase_add_test(auth, accept_times_out);
    tcase_add_test(auth, hostile_servers_give_clients_clear_errors);
    tcase_add_test(auth, legacy_peers_are_answered_in_their_form);
    tcase_add_test(auth, modern_answers_are_checked_to_the_byte);
    tcase_add_test(auth, many_clients_at_once);
    tcase_add_test(auth, handshakes_progress_concurrently);
    tcase_add_test(auth, descriptors_pass_over_a_unix_connection);
    suite_add_tcase(s, auth);
    return s;
}

int main(void)
{
    return run_suite(listener_suite());
}
