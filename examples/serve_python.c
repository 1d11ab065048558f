/* A C worker serving a Python client: an mproc Listener with an authkey,
 * and examples/serve_python.py connecting with multiprocessing.connection's
 * Client and the same key (the handshake is Python's). The client sends
 * words; the server answers each with its length and the word reversed; "bye"
 * ends it. Prints "served 3 requests from python" (without python3 it says so
 * and exits 0). */
#include <mproc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define AUTHKEY "example key"

int main(void)
{
    if (system("command -v python3 >/dev/null 2>&1") != 0) {
        printf("python3 not found: skipped\n");
        return 0;
    }
    mproc_listener_t *listener;
    int r = mproc_listener_create(&listener, NULL, AUTHKEY, strlen(AUTHKEY)); /* a private socket */
    if (r != 0) {
        fprintf(stderr, "listener: %s\n", mproc_strerror(r));
        return 1;
    }
    /* the client script sits next to this program's source */
    const char *dir = getenv("MPROC_EXAMPLES_DIR");
    char script[1024];
    snprintf(script, sizeof script, "%s/serve_python.py", dir ? dir : "examples");
    pid_t client = fork();
    if (client == 0) {
        execlp("python3", "python3", script, mproc_listener_address(listener), AUTHKEY, (char *)NULL);
        _exit(127);
    }

    mproc_conn_t *conn;
    r = mproc_listener_accept(listener, &conn, 30.0);
    if (r != 0) {
        fprintf(stderr, "accept: %s\n", mproc_strerror(r));
        return 1;
    }
    int served = 0;
    char word[256], reply[300];
    size_t len;
    while ((r = mproc_conn_recv(conn, word, sizeof word, &len, 30.0)) == 0) {
        if (len == 3 && memcmp(word, "bye", 3) == 0)
            break;
        int n = snprintf(reply, sizeof reply, "%zu ", len);
        for (size_t i = 0; i < len; i++)
            reply[n + i] = word[len - 1 - i];
        mproc_conn_send(conn, reply, n + len);
        served++;
    }
    mproc_conn_close(conn);
    mproc_listener_close(listener);
    int status;
    waitpid(client, &status, 0);
    printf("served %d requests from python\n", served);
    return r == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
