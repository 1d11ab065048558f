#include "helpers.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int remove_tree(const char *dir)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) == 0)
        return 0;
    fprintf(stderr, "could not remove %s\n", dir);
    return -1;
}

const char *test_name(const char *tag)
{
    static char names[8][96];
    static unsigned counter;
    char *name = names[counter % 8];
    snprintf(name, sizeof names[0], "mproc-test-%d-%s-%u", (int)getpid(), tag, counter++);
    mproc_unlink(name); /* a leftover of an earlier, killed run */
    return name;
}

void *shared_alloc(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(p, MAP_FAILED);
    return p;
}

pid_t fork_child(int (*fn)(void *arg), void *arg)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        _exit(fn(arg)); /* before any ck_assert: the child must not talk to Check */
    ck_assert_int_ge(pid, 0);
    return pid;
}

double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void pause_briefly(void)
{
    struct timespec step = { 0, 1000000 }; /* 1 ms between polls */
    nanosleep(&step, NULL);
}

void pause_random_us(unsigned max_us)
{
    static unsigned seed = 12345;
    struct timespec t = { 0, (long)(rand_r(&seed) % (max_us + 1)) * 1000L };
    nanosleep(&t, NULL);
}

int wait_child(pid_t pid, double seconds)
{
    double end = now() + seconds;
    for (;;) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFSIGNALED(status) ? -WTERMSIG(status) : WEXITSTATUS(status);
        if (r < 0 && errno != EINTR)
            return -1000;
        if (now() > end) {
            kill_child(pid);
            return CHILD_HUNG;
        }
        pause_briefly();
    }
}

void kill_child(pid_t pid)
{
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

static char proc_state(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)pid);
        f = fopen(path, "r");
        if (f == NULL)
            return '?';
    }
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *close_paren = strrchr(buf, ')'); /* the command name may hold spaces */
    return close_paren != NULL && close_paren[1] == ' ' ? close_paren[2] : '?';
}

int wait_sleeping(pid_t pid, double seconds)
{
    double end = now() + seconds;
    while (now() < end) {
        if (proc_state(pid) == 'S')
            return 1;
        pause_briefly();
    }
    return 0;
}

int poll_until(int (*pred)(void *arg), void *arg, double seconds)
{
    double end = now() + seconds;
    while (!pred(arg)) {
        if (now() > end)
            return 0;
        pause_briefly();
    }
    return 1;
}

intptr_t in_thread(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    void *result;
    ck_assert_int_eq(pthread_create(&t, NULL, fn, arg), 0);
    ck_assert_int_eq(pthread_join(t, &result), 0);
    return (intptr_t)result;
}

int run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
