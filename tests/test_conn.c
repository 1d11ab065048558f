/* Pipe and Connection: framing as Python's, timeouts, end of file, broken and
 * hostile frames, sizes, signals, descriptor passing, killed peers. */
#include "helpers.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

/* Writes raw bytes to a connection's descriptor, as a hostile or hand-made
 * peer would. */
static void raw_write(mproc_conn_t *c, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(mproc_conn_fileno(c), p, len);
        if (w < 0 && errno == EAGAIN) {
            struct pollfd pfd = { .fd = mproc_conn_fileno(c), .events = POLLOUT };
            poll(&pfd, 1, -1);
            continue;
        }
        ck_assert_int_gt(w, 0);
        p += w;
        len -= (size_t)w;
    }
}

static void fill_pattern(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)((i * 131 + seed) >> 3);
}

static int pattern_ok(const unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)((i * 131 + seed) >> 3))
            return 0;
    return 1;
}

START_TEST(duplex_pipe_carries_messages_both_ways)
{
    mproc_conn_t *a, *b;
    ck_assert_int_eq(mproc_pipe(&a, &b, 1), 0);
    char buf[64];
    size_t n = 99;
    ck_assert_int_eq(mproc_conn_send(a, "ping", 4), 0);
    ck_assert_int_eq(mproc_conn_recv(b, buf, sizeof buf, &n, 1.0), 0);
    ck_assert_uint_eq(n, 4);
    ck_assert_mem_eq(buf, "ping", 4);
    ck_assert_int_eq(mproc_conn_send(b, "pong!", 5), 0);
    ck_assert_int_eq(mproc_conn_recv(a, buf, sizeof buf, &n, 1.0), 0);
    ck_assert_uint_eq(n, 5);
    ck_assert_mem_eq(buf, "pong!", 5);
    /* a zero-length message is a message */
    ck_assert_int_eq(mproc_conn_send(a, NULL, 0), 0);
    ck_assert_int_eq(mproc_conn_poll(b, 0), 1);
    n = 99;
    ck_assert_int_eq(mproc_conn_recv(b, NULL, 0, &n, 0), 0);
    ck_assert_uint_eq(n, 0);
    void *data = NULL;
    ck_assert_int_eq(mproc_conn_send(a, "", 0), 0);
    ck_assert_int_eq(mproc_conn_recv_alloc(b, &data, &n, 1.0), 0);
    ck_assert_ptr_nonnull(data);
    ck_assert_uint_eq(n, 0);
    free(data);
    ck_assert_int_eq(mproc_conn_poll(b, 0), 0);
    mproc_conn_close(a);
    mproc_conn_close(b);
}
END_TEST

START_TEST(one_way_pipe_sends_one_way_only)
{
    mproc_conn_t *r, *w;
    ck_assert_int_eq(mproc_pipe(&r, &w, 0), 0);
    char buf[8];
    size_t n;
    ck_assert_int_eq(mproc_conn_send(r, "x", 1), MPROC_EPERM);
    ck_assert_int_eq(mproc_conn_recv(w, buf, sizeof buf, &n, 0), MPROC_EPERM);
    ck_assert_int_eq(mproc_conn_poll(w, 0), MPROC_EPERM);
    ck_assert_int_eq(mproc_conn_send_fd(r, 0), MPROC_EPERM);
    ck_assert_int_eq(mproc_conn_send(w, "abc", 3), 0);
    ck_assert_int_eq(mproc_conn_recv(r, buf, sizeof buf, &n, 1.0), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_mem_eq(buf, "abc", 3);
    /* descriptors go the way messages go (one_way_pipe_ends_are_what_the_header_says) */
    int fd;
    ck_assert_int_eq(mproc_conn_recv_fd(w, &fd, 0), MPROC_EPERM);
    ck_assert_int_eq(mproc_pipe(&r, NULL, 0), MPROC_EINVAL);
    ck_assert_int_eq(mproc_pipe(&r, &w, 2), MPROC_EINVAL);
    mproc_conn_close(r);
    mproc_conn_close(w);
}
END_TEST

/* connection.h: a one-way pipe is a Unix stream socketpair shut down in the
 * other direction; its descriptors are close-on-exec, say the same as the
 * ends (writing the receiving end's fails, reading the sending end's is end
 * of file), poll truthfully, and carry descriptors from c2 to c1. */
START_TEST(one_way_pipe_ends_are_what_the_header_says)
{
    signal(SIGPIPE, SIG_DFL); /* a SIGPIPE anywhere below would kill the test */
    mproc_conn_t *r, *w;
    ck_assert_int_eq(mproc_pipe(&r, &w, 0), 0);
    int rfd = mproc_conn_fileno(r), wfd = mproc_conn_fileno(w);
    for (int i = 0; i < 2; i++) {
        int fd = i == 0 ? rfd : wfd;
        struct stat st;
        ck_assert_int_eq(fstat(fd, &st), 0);
        ck_assert(S_ISSOCK(st.st_mode));
        int v;
        socklen_t vlen = sizeof v;
        ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &vlen), 0);
        ck_assert_int_eq(v, AF_UNIX);
        ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &vlen), 0);
        ck_assert_int_eq(v, SOCK_STREAM);
        ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    }
    /* the other direction is shut: at the descriptor level too */
    ck_assert_int_eq(send(rfd, "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT), -1);
    ck_assert_int_eq(errno, EPIPE);
    char buf[16];
    ck_assert_int_eq(recv(wfd, buf, sizeof buf, MSG_DONTWAIT), 0);
    /* poll on the receiving end is exact: readable only with a message */
    struct pollfd pfd = { .fd = rfd, .events = POLLIN };
    ck_assert_int_eq(poll(&pfd, 1, 0), 0);
    ck_assert_int_eq(mproc_conn_poll(r, 0), 0);
    ck_assert_int_eq(mproc_conn_send(w, "one", 3), 0);
    ck_assert_int_eq(poll(&pfd, 1, 1000), 1);
    size_t n;
    ck_assert_int_eq(mproc_conn_recv(r, buf, sizeof buf, &n, 1.0), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(poll(&pfd, 1, 0), 0);
    /* a descriptor passes from the sending end to the receiving end */
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(mproc_conn_send_fd(w, p[1]), 0);
    close(p[1]);
    int got = -1;
    ck_assert_int_eq(mproc_conn_recv_fd(r, &got, 1.0), 0);
    ck_assert_int_eq(fcntl(got, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    ck_assert_int_eq(write(got, "via", 3), 3);
    close(got);
    ck_assert_int_eq(read(p[0], buf, sizeof buf), 3);
    ck_assert_mem_eq(buf, "via", 3);
    ck_assert_int_eq(read(p[0], buf, sizeof buf), 0); /* no copy left open anywhere */
    close(p[0]);
    /* but not the other way */
    ck_assert_int_eq(mproc_conn_send_fd(r, 0), MPROC_EPERM);
    ck_assert_int_eq(mproc_conn_recv_fd(w, &got, 0), MPROC_EPERM);
    /* the sender closing is end of file at the receiving end, and poll says so */
    ck_assert_int_eq(mproc_conn_send(w, "last", 4), 0);
    mproc_conn_close(w);
    ck_assert_int_eq(mproc_conn_recv(r, buf, sizeof buf, &n, 1.0), 0);
    ck_assert_int_eq(mproc_conn_poll(r, 1.0), 1);
    ck_assert_int_eq(mproc_conn_recv(r, buf, sizeof buf, &n, 1.0), MPROC_EOF);
    mproc_conn_close(r);
}
END_TEST

START_TEST(bad_arguments_are_einval)
{
    mproc_conn_t *a, *b;
    ck_assert_int_eq(mproc_pipe(&a, &b, 1), 0);
    char buf[4];
    size_t n;
    void *p;
    ck_assert_int_eq(mproc_conn_send(NULL, "x", 1), MPROC_EINVAL);
    ck_assert_int_eq(mproc_conn_send(a, NULL, 1), MPROC_EINVAL);
    ck_assert_int_eq(mproc_conn_recv(NULL, buf, 4, &n, 0), MPROC_EINVAL);
    ck_assert_int_eq(mproc_conn_recv(a, buf, 4, NULL, 0), MPROC_EINVAL);
    ck_assert_int_eq(mproc_conn_recv(a, NULL, 4, &n, 0), MPROC_EINVAL);
    ck_assert_int_eq(mproc_conn_recv(a, buf, 4, &n, 0.0 / 0.0), MPROC_EINVAL);
    ck_assert_int_eq(mproc_conn_recv_alloc(a, NULL, &n, 0), MPROC_EINVAL);
    ck_assert_int_eq(mproc_conn_recv_alloc(a, &p, NULL, 0), MPROC_EINVAL);
    ck_assert_int_eq(mproc_conn_poll(NULL, 0), MPROC_EINVAL);
    ck_assert_int_eq(mproc_conn_fileno(NULL), -1);
    ck_assert_int_eq(mproc_conn_set_max_message(a, 0), MPROC_EINVAL);
    ck_assert_int_eq(mproc_conn_send_fd(a, -1), MPROC_EINVAL);
    ck_assert_int_eq(mproc_conn_recv_fd(a, NULL, 0), MPROC_EINVAL);
    ck_assert_int_eq(mproc_conn_close(NULL), MPROC_EINVAL);
    mproc_conn_close(a);
    mproc_conn_close(b);
}
END_TEST

START_TEST(frames_are_pythons_on_the_wire)
{
    mproc_conn_t *r, *w;
    ck_assert_int_eq(mproc_pipe(&r, &w, 0), 0);
    ck_assert_int_eq(mproc_conn_send(w, "hello", 5), 0);
    unsigned char wire[16];
    ck_assert_int_eq(read(mproc_conn_fileno(r), wire, sizeof wire), 9);
    ck_assert_mem_eq(wire, "\0\0\0\5hello", 9);
    /* a hand-made short frame, and the long form (-1, 8-byte length) that
     * Python uses over 2 GiB, here with a small length: both are accepted */
    raw_write(w, "\0\0\0\3abc", 7);
    raw_write(w, "\xff\xff\xff\xff\0\0\0\0\0\0\0\4wxyz", 16);
    char buf[8];
    size_t n;
    ck_assert_int_eq(mproc_conn_recv(r, buf, sizeof buf, &n, 1.0), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_mem_eq(buf, "abc", 3);
    ck_assert_int_eq(mproc_conn_recv(r, buf, sizeof buf, &n, 1.0), 0);
    ck_assert_uint_eq(n, 4);
    ck_assert_mem_eq(buf, "wxyz", 4);
    mproc_conn_close(r);
    mproc_conn_close(w);
}
END_TEST

START_TEST(recv_times_out_on_time)
{
    mproc_conn_t *a, *b;
    ck_assert_int_eq(mproc_pipe(&a, &b, 1), 0);
    char buf[8];
    size_t n;
    double t0 = now();
    ck_assert_int_eq(mproc_conn_recv(a, buf, sizeof buf, &n, 0), MPROC_ETIMEDOUT);
    ck_assert_double_lt(now() - t0, 0.05);
    t0 = now();
    ck_assert_int_eq(mproc_conn_recv(a, buf, sizeof buf, &n, 0.15), MPROC_ETIMEDOUT);
    double took = now() - t0;
    ck_assert_double_ge(took, 0.15);
    ck_assert_double_lt(took, 1.0);
    t0 = now();
    ck_assert_int_eq(mproc_conn_poll(a, 0.1), 0);
    ck_assert_double_ge(now() - t0, 0.1);
    mproc_conn_close(a);
    mproc_conn_close(b);
}
END_TEST

START_TEST(end_of_file_after_the_last_message)
{
    mproc_conn_t *a, *b;
    ck_assert_int_eq(mproc_pipe(&a, &b, 1), 0);
    ck_assert_int_eq(mproc_conn_send(b, "last", 4), 0);
    mproc_conn_close(b);
    char buf[8];
    size_t n;
    ck_assert_int_eq(mproc_conn_poll(a, 0), 1);
    ck_assert_int_eq(mproc_conn_recv(a, buf, sizeof buf, &n, 1.0), 0);
    ck_assert_mem_eq(buf, "last", 4);
    ck_assert_int_eq(mproc_conn_poll(a, 0), 1); /* EOF is "would not block" */
    ck_assert_int_eq(mproc_conn_recv(a, buf, sizeof buf, &n, 1.0), MPROC_EOF);
    ck_assert_int_eq(mproc_conn_recv(a, buf, sizeof buf, &n, MPROC_FOREVER), MPROC_EOF);
    mproc_conn_close(a);
}
END_TEST

START_TEST(end_of_file_inside_a_message_is_a_protocol_error)
{
    mproc_conn_t *r, *w;
    /* closed after half a header */
    ck_assert_int_eq(mproc_pipe(&r, &w, 0), 0);
    raw_write(w, "\0\0", 2);
    mproc_conn_close(w);
    char buf[16];
    size_t n;
    ck_assert_int_eq(mproc_conn_recv(r, buf, sizeof buf, &n, 1.0), MPROC_EPROTO);
    ck_assert_int_eq(mproc_conn_recv(r, buf, sizeof buf, &n, 1.0), MPROC_EPROTO);
    mproc_conn_close(r);
    /* closed after half a body */
    ck_assert_int_eq(mproc_pipe(&r, &w, 0), 0);
    raw_write(w, "\0\0\0\12abc", 7);
    mproc_conn_close(w);
    ck_assert_int_eq(mproc_conn_recv(r, buf, sizeof buf, &n, 1.0), MPROC_EPROTO);
    ck_assert_int_eq(mproc_conn_poll(r, 0), 1);
    mproc_conn_close(r);
}
END_TEST

START_TEST(negative_lengths_are_protocol_errors)
{
    mproc_conn_t *r, *w;
    ck_assert_int_eq(mproc_pipe(&r, &w, 0), 0);
    raw_write(w, "\xff\xff\xff\xfe" "abcd", 8); /* -2 */
    char buf[16];
    size_t n;
    ck_assert_int_eq(mproc_conn_recv(r, buf, sizeof buf, &n, 1.0), MPROC_EPROTO);
    mproc_conn_close(r);
    mproc_conn_close(w);
    /* the long form with the top bit set */
    ck_assert_int_eq(mproc_pipe(&r, &w, 0), 0);
    raw_write(w, "\xff\xff\xff\xff\x80\0\0\0\0\0\0\0", 12);
    ck_assert_int_eq(mproc_conn_recv(r, buf, sizeof buf, &n, 1.0), MPROC_EPROTO);
    mproc_conn_close(r);
    mproc_conn_close(w);
}
END_TEST

START_TEST(too_small_a_buffer_keeps_the_message)
{
    mproc_conn_t *a, *b;
    ck_assert_int_eq(mproc_pipe(&a, &b, 1), 0);
    ck_assert_int_eq(mproc_conn_send(a, "0123456789", 10), 0);
    ck_assert_int_eq(mproc_conn_send(a, "next", 4), 0);
    char buf[16];
    size_t n = 0;
    ck_assert_int_eq(mproc_conn_recv(b, buf, 4, &n, 1.0), MPROC_EMSGSIZE);
    ck_assert_uint_eq(n, 10);
    ck_assert_int_eq(mproc_conn_recv(b, buf, 9, &n, 0), MPROC_EMSGSIZE);
    ck_assert_uint_eq(n, 10);
    ck_assert_int_eq(mproc_conn_poll(b, 0), 1);
    ck_assert_int_eq(mproc_conn_recv(b, buf, 10, &n, 0), 0);
    ck_assert_uint_eq(n, 10);
    ck_assert_mem_eq(buf, "0123456789", 10);
    ck_assert_int_eq(mproc_conn_recv(b, buf, sizeof buf, &n, 1.0), 0);
    ck_assert_uint_eq(n, 4);
    ck_assert_mem_eq(buf, "next", 4);
    mproc_conn_close(a);
    mproc_conn_close(b);
}
END_TEST

START_TEST(absurd_length_claims_allocate_nothing)
{
    mproc_conn_t *r, *w;
    ck_assert_int_eq(mproc_pipe(&r, &w, 0), 0);
    raw_write(w, "\x7f\xff\xff\xff", 4); /* 2 GiB - 1 claimed, never delivered */
    void *data = NULL;
    size_t n = 0;
    ck_assert_int_eq(mproc_conn_recv_alloc(r, &data, &n, 1.0), MPROC_EMSGSIZE);
    ck_assert_uint_eq(n, 0x7fffffffu);
    ck_assert_ptr_null(data);
    char buf[8];
    ck_assert_int_eq(mproc_conn_recv(r, buf, sizeof buf, &n, 0), MPROC_EMSGSIZE);
    ck_assert_uint_eq(n, 0x7fffffffu);
    mproc_conn_close(r);
    mproc_conn_close(w);
    /* a lower maximum is honoured; a message at the maximum passes */
    ck_assert_int_eq(mproc_pipe(&r, &w, 0), 0);
    ck_assert_int_eq(mproc_conn_set_max_message(r, 5), 0);
    ck_assert_int_eq(mproc_conn_send(w, "123456", 6), 0);
    ck_assert_int_eq(mproc_conn_recv_alloc(r, &data, &n, 1.0), MPROC_EMSGSIZE);
    ck_assert_uint_eq(n, 6);
    ck_assert_int_eq(mproc_conn_set_max_message(r, 6), 0);
    ck_assert_int_eq(mproc_conn_recv_alloc(r, &data, &n, 1.0), 0);
    ck_assert_mem_eq(data, "123456", 6);
    free(data);
    mproc_conn_close(r);
    mproc_conn_close(w);
}
END_TEST

START_TEST(a_message_split_by_timeouts_arrives_whole)
{
    mproc_conn_t *r, *w;
    ck_assert_int_eq(mproc_pipe(&r, &w, 0), 0);
    char buf[32];
    size_t n;
    raw_write(w, "\0\0", 2); /* half a header */
    ck_assert_int_eq(mproc_conn_recv(r, buf, sizeof buf, &n, 0.02), MPROC_ETIMEDOUT);
    raw_write(w, "\0\x14" "01234", 7); /* the header's end, 5 of 20 bytes */
    ck_assert_int_eq(mproc_conn_recv(r, buf, sizeof buf, &n, 0.02), MPROC_ETIMEDOUT);
    raw_write(w, "56789", 5);
    void *data;
    ck_assert_int_eq(mproc_conn_recv_alloc(r, &data, &n, 0.02), MPROC_ETIMEDOUT);
    raw_write(w, "abcdefghij", 10);
    ck_assert_int_eq(mproc_conn_recv(r, buf, sizeof buf, &n, 1.0), 0);
    ck_assert_uint_eq(n, 20);
    ck_assert_mem_eq(buf, "0123456789abcdefghij", 20);
    ck_assert_int_eq(mproc_conn_poll(r, 0), 0);
    mproc_conn_close(r);
    mproc_conn_close(w);
}
END_TEST

/* ---- across processes --------------------------------------------------- */

#define BIG (8u << 20)

static mproc_conn_t *child_end;

static int send_big_messages(void *arg)
{
    (void)arg;
    unsigned char *p = malloc(BIG);
    for (unsigned i = 0; i < 3; i++) {
        fill_pattern(p, BIG - i, i);
        if (mproc_conn_send(child_end, p, BIG - i) != 0)
            return 1;
    }
    return 0;
}

static void big_messages_across(int duplex)
{
    mproc_conn_t *r, *w;
    ck_assert_int_eq(mproc_pipe(&r, &w, duplex), 0);
    child_end = duplex ? r : w;
    mproc_conn_t *mine = duplex ? w : r;
    pid_t pid = fork_child(send_big_messages, NULL);
    for (unsigned i = 0; i < 3; i++) {
        void *data;
        size_t n;
        ck_assert_int_eq(mproc_conn_set_max_message(mine, BIG), 0);
        ck_assert_int_eq(mproc_conn_recv_alloc(mine, &data, &n, 10.0), 0);
        ck_assert_uint_eq(n, BIG - i);
        ck_assert(pattern_ok(data, n, i));
        free(data);
    }
    ck_assert_int_eq(wait_child(pid, 10), 0);
    mproc_conn_close(r);
    mproc_conn_close(w);
}

START_TEST(multi_mebibyte_messages_cross_processes)
{
    big_messages_across(0);
    big_messages_across(1);
}
END_TEST

static void on_alarm(int sig)
{
    (void)sig;
}

/* Signals every millisecond without SA_RESTART: every wait is interrupted. */
static void start_interrupting(void)
{
    struct sigaction sa = { .sa_handler = on_alarm };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = { { 0, 1000 }, { 0, 1000 } };
    setitimer(ITIMER_REAL, &it, NULL);
}

static void stop_interrupting(void)
{
    struct itimerval it = { { 0, 0 }, { 0, 0 } };
    setitimer(ITIMER_REAL, &it, NULL);
    signal(SIGALRM, SIG_DFL);
}

START_TEST(signals_do_not_break_waits_or_transfers)
{
    mproc_conn_t *a, *b;
    ck_assert_int_eq(mproc_pipe(&a, &b, 1), 0);
    start_interrupting();
    char buf[8];
    size_t n;
    double t0 = now();
    int r = mproc_conn_recv(a, buf, sizeof buf, &n, 0.1);
    double took = now() - t0;
    ck_assert_int_eq(r, MPROC_ETIMEDOUT);
    ck_assert_double_ge(took, 0.1);
    /* a big transfer with the receiver (here) interrupted all along */
    child_end = a;
    pid_t pid = fork_child(send_big_messages, NULL);
    ck_assert_int_eq(mproc_conn_set_max_message(b, BIG), 0);
    for (unsigned i = 0; i < 3; i++) {
        void *data;
        ck_assert_int_eq(mproc_conn_recv_alloc(b, &data, &n, 10.0), 0);
        ck_assert(pattern_ok(data, n, i));
        free(data);
    }
    stop_interrupting();
    ck_assert_int_eq(wait_child(pid, 10), 0);
    mproc_conn_close(a);
    mproc_conn_close(b);
}
END_TEST

START_TEST(a_vanished_reader_is_epipe_not_sigpipe)
{
    /* SIGPIPE keeps its default action: if it were raised, we would die. */
    signal(SIGPIPE, SIG_DFL);
    mproc_conn_t *r, *w;
    ck_assert_int_eq(mproc_pipe(&r, &w, 0), 0);
    mproc_conn_close(r);
    ck_assert_int_eq(mproc_conn_send(w, "x", 1), MPROC_EPIPE);
    ck_assert_int_eq(mproc_conn_send(w, NULL, 0), MPROC_EPIPE);
    mproc_conn_close(w);
    mproc_conn_t *a, *b;
    ck_assert_int_eq(mproc_pipe(&a, &b, 1), 0);
    mproc_conn_close(a);
    ck_assert_int_eq(mproc_conn_send(b, "x", 1), MPROC_EPIPE);
    ck_assert_int_eq(mproc_conn_send_fd(b, 0), MPROC_EPIPE);
    mproc_conn_close(b);
    /* with SIGPIPE blocked by the caller, none is left pending */
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    ck_assert_int_eq(mproc_pipe(&r, &w, 0), 0);
    mproc_conn_close(r);
    ck_assert_int_eq(mproc_conn_send(w, "x", 1), MPROC_EPIPE);
    sigpending(&pending);
    ck_assert(!sigismember(&pending, SIGPIPE));
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    mproc_conn_close(w);
}
END_TEST

static volatile sig_atomic_t sigpipes;

static void count_sigpipe(int sig)
{
    (void)sig;
    sigpipes++;
}

START_TEST(the_sigpipe_guard_goes_only_where_sigpipe_cannot_kill)
{
    signal(SIGPIPE, SIG_DFL);
    mproc_conn_t *r, *w;
    ck_assert_int_eq(mproc_pipe(&r, &w, 0), 0);
    ck_assert_int_eq(mproc_conn_set_sigpipe_guard(w, 0), MPROC_EPERM); /* it would kill */
    ck_assert_int_eq(mproc_conn_set_sigpipe_guard(w, 2), MPROC_EINVAL);
    ck_assert_int_eq(mproc_conn_set_sigpipe_guard(NULL, 1), MPROC_EINVAL);
    ck_assert_int_eq(mproc_conn_set_sigpipe_guard(w, 1), 0);
    /* ignored: no guard needed, and a vanished reader is still MPROC_EPIPE */
    signal(SIGPIPE, SIG_IGN);
    ck_assert_int_eq(mproc_conn_set_sigpipe_guard(w, 0), 0);
    ck_assert_int_eq(mproc_conn_send(w, "fast", 4), 0);
    char buf[8];
    size_t n;
    ck_assert_int_eq(mproc_conn_recv(r, buf, sizeof buf, &n, 1.0), 0);
    ck_assert_mem_eq(buf, "fast", 4);
    mproc_conn_close(r);
    ck_assert_int_eq(mproc_conn_send(w, "x", 1), MPROC_EPIPE);
    mproc_conn_close(w);
    /* handled: the program's handler sees the SIGPIPE it asked for */
    struct sigaction sa = { .sa_handler = count_sigpipe };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, NULL);
    ck_assert_int_eq(mproc_pipe(&r, &w, 0), 0);
    ck_assert_int_eq(mproc_conn_set_sigpipe_guard(w, 0), 0);
    mproc_conn_close(r);
    sigpipes = 0;
    ck_assert_int_eq(mproc_conn_send(w, "x", 1), MPROC_EPIPE);
    ck_assert_int_eq(sigpipes, 1);
    mproc_conn_close(w);
    signal(SIGPIPE, SIG_DFL);
}
END_TEST

static int send_then_get_killed(void *arg)
{
    (void)arg;
    unsigned char *p = malloc(64u << 20);
    memset(p, 7, 64u << 20);
    mproc_conn_send(child_end, p, 64u << 20); /* the parent kills us mid-way */
    return 0;
}

START_TEST(a_sender_killed_mid_message_is_a_protocol_error)
{
    mproc_conn_t *a, *b;
    ck_assert_int_eq(mproc_pipe(&a, &b, 1), 0);
    child_end = a;
    pid_t pid = fork_child(send_then_get_killed, NULL);
    mproc_conn_close(a);
    char buf[4096];
    /* the header and some of the body, read by hand so the pipe keeps flowing */
    ck_assert_int_eq(mproc_conn_poll(b, 10.0), 1);
    size_t n;
    ck_assert_int_eq(mproc_conn_recv(b, buf, sizeof buf, &n, 0.5), MPROC_EMSGSIZE);
    ck_assert_uint_eq(n, 64u << 20);
    kill_child(pid);
    void *data;
    ck_assert_int_eq(mproc_conn_recv_alloc(b, &data, &n, 10.0), MPROC_EPROTO);
    mproc_conn_close(b);
}
END_TEST

START_TEST(poll_and_fileno_work_with_the_system_poll)
{
    mproc_conn_t *a, *b;
    ck_assert_int_eq(mproc_pipe(&a, &b, 1), 0);
    struct pollfd pfd = { .fd = mproc_conn_fileno(b), .events = POLLIN };
    ck_assert_int_eq(poll(&pfd, 1, 0), 0);
    ck_assert_int_eq(mproc_conn_send(a, "1", 1), 0);
    ck_assert_int_eq(mproc_conn_send(a, "2", 1), 0);
    ck_assert_int_eq(poll(&pfd, 1, 1000), 1);
    char buf[4];
    size_t n;
    ck_assert_int_eq(mproc_conn_recv(b, buf, sizeof buf, &n, 0), 0);
    /* nothing read ahead: the second message still makes the fd readable */
    ck_assert_int_eq(poll(&pfd, 1, 0), 1);
    ck_assert_int_eq(mproc_conn_recv(b, buf, sizeof buf, &n, 0), 0);
    ck_assert_mem_eq(buf, "2", 1);
    ck_assert_int_eq(poll(&pfd, 1, 0), 0);
    ck_assert_int_eq(fcntl(pfd.fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    mproc_conn_close(a);
    mproc_conn_close(b);
}
END_TEST

/* ---- descriptors -------------------------------------------------------- */

static int write_through_received_fd(void *arg)
{
    (void)arg;
    int fd;
    if (mproc_conn_recv_fd(child_end, &fd, 10.0) != 0)
        return 1;
    if (write(fd, "from child", 10) != 10)
        return 2;
    close(fd);
    /* then an ordinary message on the same connection */
    return mproc_conn_send(child_end, "done", 4) == 0 ? 0 : 3;
}

START_TEST(descriptors_pass_to_a_forked_worker)
{
    mproc_conn_t *a, *b;
    ck_assert_int_eq(mproc_pipe(&a, &b, 1), 0);
    child_end = b;
    pid_t pid = fork_child(write_through_received_fd, NULL);
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(mproc_conn_send_fd(a, p[1]), 0);
    close(p[1]); /* the child has its own copy now */
    char buf[16];
    size_t n;
    ck_assert_int_eq(mproc_conn_recv(a, buf, sizeof buf, &n, 10.0), 0);
    ck_assert_mem_eq(buf, "done", 4);
    ck_assert_int_eq(read(p[0], buf, sizeof buf), 10);
    ck_assert_mem_eq(buf, "from child", 10);
    ck_assert_int_eq(read(p[0], buf, sizeof buf), 0); /* every writer closed */
    ck_assert_int_eq(wait_child(pid, 10), 0);
    close(p[0]);
    mproc_conn_close(a);
    mproc_conn_close(b);
}
END_TEST

START_TEST(receiving_a_descriptor_where_a_message_came_is_an_error)
{
    mproc_conn_t *a, *b;
    ck_assert_int_eq(mproc_pipe(&a, &b, 1), 0);
    int fd = -1;
    ck_assert_int_eq(mproc_conn_recv_fd(b, &fd, 0), MPROC_ETIMEDOUT);
    ck_assert_int_eq(mproc_conn_send(a, "msg", 3), 0);
    ck_assert_int_eq(mproc_conn_recv_fd(b, &fd, 1.0), MPROC_EPROTO);
    ck_assert_int_eq(fd, -1);
    mproc_conn_close(a);
    ck_assert_int_eq(mproc_conn_recv_fd(b, &fd, 1.0), MPROC_EPROTO); /* stays broken */
    mproc_conn_close(b);
    ck_assert_int_eq(mproc_pipe(&a, &b, 1), 0);
    mproc_conn_close(a);
    ck_assert_int_eq(mproc_conn_recv_fd(b, &fd, 1.0), MPROC_EOF);
    mproc_conn_close(b);
}
END_TEST

static Suite *conn_suite(void)
{
    Suite *s = suite_create("conn");
    TCase *tc = tcase_create("pipe");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, duplex_pipe_carries_messages_both_ways);
    tcase_add_test(tc, one_way_pipe_sends_one_way_only);
    tcase_add_test(tc, one_way_pipe_ends_are_what_the_header_says);
    tcase_add_test(tc, bad_arguments_are_einval);
    tcase_add_test(tc, frames_are_pythons_on_the_wire);
    tcase_add_test(tc, recv_times_out_on_time);
    tcase_add_test(tc, end_of_file_after_the_last_message);
    tcase_add_test(tc, end_of_file_inside_a_message_is_a_protocol_error);
    tcase_add_test(tc, negative_lengths_are_protocol_errors);
    tcase_add_test(tc, too_small_a_buffer_keeps_the_message);
    tcase_add_test(tc, absurd_length_claims_allocate_nothing);
    tcase_add_test(tc, a_message_split_by_timeouts_arrives_whole);
    tcase_add_test(tc, poll_and_fileno_work_with_the_system_poll);
    suite_add_tcase(s, tc);
    TCase *procs = tcase_create("processes");
    tcase_set_timeout(procs, 120);
    tcase_add_test(procs, multi_mebibyte_messages_cross_processes);
    tcase_add_test(procs, signals_do_not_break_waits_or_transfers);
    tcase_add_test(procs, a_vanished_reader_is_epipe_not_sigpipe);
    tcase_add_test(procs, the_sigpipe_guard_goes_only_where_sigpipe_cannot_kill);
    tcase_add_test(procs, a_sender_killed_mid_message_is_a_protocol_error);
    tcase_add_test(procs, descriptors_pass_to_a_forked_worker);
    tcase_add_test(procs, receiving_a_descriptor_where_a_message_came_is_an_error);
    suite_add_tcase(s, procs);
    return s;
}

int main(void)
{
    return run_suite(conn_suite());
}
