/* Interop with Python's multiprocessing.connection, against every Python
 * 3.8+ on the machine (python3 on PATH, pyenv's versions, or the list in
 * $MPROC_PYTHONS): Python Listener and mproc client, mproc Listener and Python
 * Client, Unix and TCP, small and multi-MiB messages, right and wrong keys,
 * descriptors both ways. Python 3.11 and older speak the legacy handshake
 * (HMAC-MD5), 3.12 and newer the modern one (HMAC-SHA256). The Python side is
 * tests/conn_peer.py. */
#include "helpers.h"
#include "pythons.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KEY "interop key"
#define KEYHEX "696e7465726f70206b6579"
#define WRONG_KEYHEX "77726f6e67"
#define PYTHON_AUTH_FAILED 3
static const char *peer_script(void)
{
    static char path[1024];
    const char *dir = getenv("MPROC_TESTS_DIR");
    snprintf(path, sizeof path, "%s/conn_peer.py", dir ? dir : "tests");
    return path;
}

/* Starts conn_peer.py under pythons[i]; *out reads its stdout. */
static pid_t spawn_peer(int i, const char *mode, const char *address, const char *keyhex, int *out)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        execlp(pythons[i], pythons[i], peer_script(), mode, address, keyhex, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    *out = p[0];
    return pid;
}

/* The first line the peer prints (its address), within 20 s. */
static void read_line(int fd, char *line, size_t size)
{
    size_t n = 0;
    while (n + 1 < size) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        ck_assert_int_eq(poll(&pfd, 1, 20000), 1);
        ssize_t r = read(fd, line + n, 1);
        ck_assert_int_eq(r, 1);
        if (line[n] == '\n')
            break;
        n++;
    }
    line[n] = '\0';
}

/* The exchange conn_peer.py's listener expects: the test messages, each
 * echoed reversed, then "bye". */
static void talk_to_python_listener(mproc_conn_t *c)
{
    static const size_t sizes[] = { 0, 5, (4u << 20) + 3 };
    for (size_t k = 0; k < 3; k++) {
        unsigned char *out = malloc(sizes[k] + 1), *back;
        for (size_t j = 0; j < sizes[k]; j++)
            out[j] = (unsigned char)(j * 7 + k);
        ck_assert_int_eq(mproc_conn_send(c, out, sizes[k]), 0);
        size_t n;
        ck_assert_int_eq(mproc_conn_recv_alloc(c, (void **)&back, &n, 20.0), 0);
        ck_assert_uint_eq(n, sizes[k]);
        size_t mismatches = 0; /* counted, then asserted once: a ck_assert per byte is slow */
        for (size_t j = 0; j < n; j++)
            mismatches += back[j] != out[n - 1 - j];
        ck_assert_uint_eq(mismatches, 0);
        free(out);
        free(back);
    }
    ck_assert_int_eq(mproc_conn_send(c, "bye", 3), 0);
}

/* Python listens; an mproc client connects with key (NULL: none). */
static void python_listens(int i, const char *address, const char *keyhex, const char *key,
                           int expect_client, int expect_python)
{
    int out;
    pid_t pid = spawn_peer(i, "listen", address, keyhex, &out);
    char real[256];
    read_line(out, real, sizeof real);
    close(out);
    mproc_conn_t *c;
    int r = mproc_client_timeout(&c, real, key, key ? strlen(key) : 0, 20.0);
    ck_assert_msg(r == expect_client, "Python %s at %s: client got %d (%s)", versions[i], real, r,
                  mproc_strerror(r));
    if (r == 0) {
        talk_to_python_listener(c);
        mproc_conn_close(c);
    }
    ck_assert_int_eq(wait_child(pid, 20), expect_python);
}

/* mproc listens with KEY (or none); Python connects with keyhex. */
static void python_connects(int i, const char *address, const char *key, const char *keyhex,
                            int expect_accept, int expect_python)
{
    mproc_listener_t *l;
    ck_assert_int_eq(mproc_listener_create(&l, address, key, key ? strlen(key) : 0), 0);
    int out;
    pid_t pid = spawn_peer(i, "connect", mproc_listener_address(l), keyhex, &out);
    close(out);
    mproc_conn_t *c;
    int r = mproc_listener_accept(l, &c, 20.0);
    ck_assert_msg(r == expect_accept, "Python %s: accept got %d (%s)", versions[i], r, mproc_strerror(r));
    if (r == 0) {
        ck_assert_int_eq(mproc_conn_set_max_message(c, 8u << 20), 0);
        for (;;) {
            unsigned char *m;
            size_t n;
            ck_assert_int_eq(mproc_conn_recv_alloc(c, (void **)&m, &n, 20.0), 0);
            if (n == 3 && memcmp(m, "bye", 3) == 0) {
                free(m);
                break;
            }
            for (size_t a = 0, b = n; a + 1 < b; a++, b--) {
                unsigned char t = m[a];
                m[a] = m[b - 1];
                m[b - 1] = t;
            }
            ck_assert_int_eq(mproc_conn_send(c, m, n), 0);
            free(m);
        }
        mproc_conn_close(c);
    }
    ck_assert_int_eq(wait_child(pid, 20), expect_python);
    mproc_listener_close(l);
}

/* A fresh socket path for a Python listener (Python will not replace a file). */
static const char *python_socket_path(void)
{
    static char path[128];
    snprintf(path, sizeof path, "/tmp/mproc-test-py-%d.sock", (int)getpid());
    unlink(path);
    return path;
}

START_TEST(pythons_were_found)
{
    ck_assert_msg(npythons >= 1, "no python3 (3.8 or newer) found");
    for (int i = 0; i < npythons; i++)
        fprintf(stderr, "interop: Python %s (%s)\n", versions[i], pythons[i]);
}
END_TEST

START_TEST(python_listener_mproc_client)
{
    python_listens(_i, python_socket_path(), KEYHEX, KEY, 0, 0);
    python_listens(_i, "127.0.0.1:0", KEYHEX, KEY, 0, 0);
    python_listens(_i, "127.0.0.1:0", "-", NULL, 0, 0);
    char abstract[64];
    snprintf(abstract, sizeof abstract, "@mproc-test-py-%d", (int)getpid());
    python_listens(_i, abstract, KEYHEX, KEY, 0, 0);
}
END_TEST

START_TEST(mproc_listener_python_client)
{
    python_connects(_i, NULL, KEY, KEYHEX, 0, 0);
    python_connects(_i, "127.0.0.1:0", KEY, KEYHEX, 0, 0);
    python_connects(_i, "127.0.0.1:0", NULL, "-", 0, 0);
}
END_TEST

START_TEST(wrong_keys_fail_on_both_sides)
{
    python_listens(_i, "127.0.0.1:0", KEYHEX, "wrong", MPROC_EAUTH, PYTHON_AUTH_FAILED);
    python_listens(_i, python_socket_path(), WRONG_KEYHEX, KEY, MPROC_EAUTH,
                   PYTHON_AUTH_FAILED);
    python_connects(_i, NULL, KEY, WRONG_KEYHEX, MPROC_EAUTH, PYTHON_AUTH_FAILED);
    python_connects(_i, "127.0.0.1:0", KEY, WRONG_KEYHEX, MPROC_EAUTH, PYTHON_AUTH_FAILED);
}
END_TEST

START_TEST(descriptors_pass_both_ways)
{
    mproc_listener_t *l;
    ck_assert_int_eq(mproc_listener_create(&l, NULL, KEY, strlen(KEY)), 0);
    int out;
    pid_t pid = spawn_peer(_i, "handles", mproc_listener_address(l), KEYHEX, &out);
    close(out);
    mproc_conn_t *c;
    ck_assert_int_eq(mproc_listener_accept(l, &c, 20.0), 0);
    FILE *f = tmpfile();
    fputs("written by c", f);
    fflush(f);
    ck_assert_int_eq(mproc_conn_send_fd(c, fileno(f)), 0);
    fclose(f);
    char buf[64];
    size_t n;
    ck_assert_int_eq(mproc_conn_recv(c, buf, sizeof buf, &n, 20.0), 0);
    ck_assert_uint_eq(n, 12);
    ck_assert_mem_eq(buf, "written by c", 12);
    int fd;
    ck_assert_int_eq(mproc_conn_recv_fd(c, &fd, 20.0), 0);
    ck_assert_int_eq(pread(fd, buf, sizeof buf, 0), 17);
    ck_assert_mem_eq(buf, "written by python", 17);
    close(fd);
    ck_assert_int_eq(mproc_conn_send(c, "got it", 6), 0);
    ck_assert_int_eq(wait_child(pid, 20), 0);
    mproc_conn_close(c);
    mproc_listener_close(l);
}
END_TEST

static Suite *conn_python_suite(void)
{
    Suite *s = suite_create("conn_python");
    TCase *tc = tcase_create("interop");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, pythons_were_found);
    tcase_add_loop_test(tc, python_listener_mproc_client, 0, npythons);
    tcase_add_loop_test(tc, mproc_listener_python_client, 0, npythons);
    tcase_add_loop_test(tc, wrong_keys_fail_on_both_sides, 0, npythons);
    tcase_add_loop_test(tc, descriptors_pass_both_ways, 0, npythons);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    find_pythons();
    return run_suite(conn_python_suite());
}
