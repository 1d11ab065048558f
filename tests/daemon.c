/* Starting the `mproc manager` daemon from a test (see daemon.h). */
#include "daemon.h"

#include "helpers.h"

#include <check.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

pid_t daemon_try_start(const char *const *args, rlim_t nofile, int *status, char *err, size_t errsize)
{
    const char *tool = getenv("MPROC_TOOL");
    ck_assert_ptr_nonnull(tool);
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    /* its stderr into an unlinked file, not a pipe: a daemon that goes on
     * running may write there later, with nobody reading */
    FILE *errf = status != NULL ? tmpfile() : NULL;
    if (status != NULL)
        ck_assert_ptr_nonnull(errf);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        if (errf != NULL)
            dup2(fileno(errf), 2);
        if (nofile > 0) {
            struct rlimit rl = { nofile, nofile };
            if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
                _exit(126);
        }
        const char *argv[32] = { "mproc", "manager" };
        int n = 2;
        for (; args[n - 2] != NULL && n < 31; n++)
            argv[n] = args[n - 2];
        argv[n] = NULL;
        execv(tool, (char **)argv);
        _exit(127);
    }
    close(p[1]);
    char line[256] = "";
    size_t got = 0;
    while (got < sizeof line - 1 && strchr(line, '\n') == NULL) {
        struct pollfd pfd = { p[0], POLLIN, 0 };
        ck_assert_int_eq(poll(&pfd, 1, 20000), 1);
        ssize_t r = read(p[0], line + got, sizeof line - 1 - got);
        if (r == 0 && status != NULL)
            break; /* it ended without listening */
        ck_assert_int_gt(r, 0);
        got += (size_t)r;
        line[got] = '\0';
    }
    close(p[0]);
    if (status != NULL && strstr(line, "listening on") == NULL) {
        *status = wait_child(pid, 20);
        size_t have = 0;
        ssize_t r;
        while (have + 1 < errsize && (r = pread(fileno(errf), err + have, errsize - 1 - have, (off_t)have)) > 0)
            have += (size_t)r;
        if (errsize > 0)
            err[have] = '\0';
        fclose(errf);
        return 0;
    }
    if (errf != NULL)
        fclose(errf);
    ck_assert_ptr_nonnull(strstr(line, "listening on"));
    return pid;
}

pid_t daemon_start(const char *const *args, rlim_t nofile)
{
    return daemon_try_start(args, nofile, NULL, NULL, 0);
}
