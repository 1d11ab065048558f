/* Process: start, join with a timeout, exit codes and signals. */
#include "helpers.h"

#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static int return_arg(void *arg)
{
    return (int)(intptr_t)arg;
}

static int wait_for_signal(void *arg)
{
    mproc_sem_t *started = arg;
    /* the child inherits the test runner's SIGTERM handler: die of it instead */
    signal(SIGTERM, SIG_DFL);
    mproc_sem_release(started, 1);
    for (;;)
        pause();
    return 0;
}

START_TEST(exit_code_is_the_functions_return_value)
{
    mproc_process_t *p;
    ck_assert_int_eq(mproc_process_start(&p, return_arg, (void *)(intptr_t)7), 0);
    ck_assert_int_gt(mproc_process_pid(p), 0);
    int code = -1;
    ck_assert_int_eq(mproc_process_join(p, 5, &code), 0);
    ck_assert_int_eq(code, 7);
    ck_assert_int_eq(mproc_process_is_alive(p), 0);
    code = -1;
    ck_assert_int_eq(mproc_process_join(p, 0, &code), 0); /* again: the same */
    ck_assert_int_eq(code, 7);
    ck_assert_int_eq(mproc_process_kill(p), 0);           /* ended: nothing to do */
    mproc_process_free(p);
}
END_TEST

START_TEST(join_times_out_and_signals_give_negative_codes)
{
    mproc_sem_t *started;
    ck_assert_int_eq(mproc_sem_create(&started, NULL, 0, 0), 0);
    mproc_process_t *p;
    ck_assert_int_eq(mproc_process_start(&p, wait_for_signal, started), 0);
    ck_assert_int_eq(mproc_sem_acquire(started, 5), 0);
    ck_assert_int_eq(mproc_process_is_alive(p), 1);
    int code = 12345;
    double t0 = now();
    ck_assert_int_eq(mproc_process_join(p, 0.1, &code), MPROC_ETIMEDOUT);
    ck_assert_double_ge(now() - t0, 0.095);
    ck_assert_int_eq(code, 12345);
    ck_assert_int_eq(mproc_process_join(p, 0, &code), MPROC_ETIMEDOUT);
    ck_assert_int_eq(mproc_process_terminate(p), 0);
    ck_assert_int_eq(mproc_process_join(p, 5, &code), 0);
    ck_assert_int_eq(code, -SIGTERM);
    mproc_process_free(p);

    ck_assert_int_eq(mproc_process_start(&p, wait_for_signal, started), 0);
    ck_assert_int_eq(mproc_sem_acquire(started, 5), 0);
    ck_assert_int_eq(mproc_process_kill(p), 0);
    ck_assert_int_eq(mproc_process_join(p, MPROC_FOREVER, &code), 0);
    ck_assert_int_eq(code, -SIGKILL);
    ck_assert_int_eq(mproc_process_is_alive(p), 0);
    mproc_process_free(p);
    mproc_sem_close(started);
}
END_TEST

START_TEST(bad_arguments)
{
    mproc_process_t *p;
    ck_assert_int_eq(mproc_process_start(&p, NULL, NULL), MPROC_EINVAL);
    ck_assert_int_eq(mproc_process_start(NULL, return_arg, NULL), MPROC_EINVAL);
    mproc_process_free(NULL);
}
END_TEST

static int print_something(void *arg)
{
    (void)arg;
    printf("child line\n");
    return 0;
}

START_TEST(buffered_output_is_written_once)
{
    /* stdout to a pipe is fully buffered: without the flush before fork the
     * parent's pending line would be written by the child too */
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    dup2(fds[1], STDOUT_FILENO);
    setvbuf(stdout, NULL, _IOFBF, 4096);
    printf("parent line\n");
    mproc_process_t *p;
    ck_assert_int_eq(mproc_process_start(&p, print_something, NULL), 0);
    int code;
    ck_assert_int_eq(mproc_process_join(p, 5, &code), 0);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(fds[1]);
    char buf[256];
    ssize_t n = read(fds[0], buf, sizeof buf - 1);
    ck_assert_int_gt(n, 0);
    buf[n] = 0;
    ck_assert_str_eq(buf, "parent line\nchild line\n");
    mproc_process_free(p);
}
END_TEST

static Suite *process_suite(void)
{
    Suite *s = suite_create("process");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, exit_code_is_the_functions_return_value);
    tcase_add_test(tc, join_times_out_and_signals_give_negative_codes);
    tcase_add_test(tc, bad_arguments);
    tcase_add_test(tc, buffered_output_is_written_once);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(process_suite());
}
