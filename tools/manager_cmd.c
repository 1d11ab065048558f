/* `mproc manager --listen ADDRESS [--authkey-file FILE] [--snapshot FILE]`:
 * runs a Manager server in the foreground until SIGTERM or SIGINT (or a
 * client's shutdown request). With --snapshot it loads the file at start and
 * writes it at the end and on SIGUSR1. Exit status: 0 after a clean stop, 1
 * when it could not start or save, 2 for a bad command line. */
#include "manager_cmd.h"

#include "manager/server/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_FILE_MAX 4096

static void on_ready(const char *address, void *arg)
{
    (void)arg;
    printf("mproc manager: listening on %s\n", address);
    fflush(stdout);
}

static void on_error(int err, const char *what, void *arg)
{
    (void)arg;
    fprintf(stderr, "mproc manager: %s: %s\n", what, mproc_strerror(err));
}

/* The key is the file's bytes, less one trailing newline (as `echo key >
 * file` writes it). 0 or -1 (reported). */
static int read_key(const char *path, char *key, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return -1;
    }
    *len = fread(key, 1, KEY_FILE_MAX, f);
    int too_long = fgetc(f) != EOF;
    fclose(f);
    if (too_long) {
        fprintf(stderr, "mproc manager: %s: a key of at most %d bytes, please\n", path, KEY_FILE_MAX);
        return -1;
    }
    if (*len > 0 && key[*len - 1] == '\n')
        (*len)--;
    if (*len > 0 && key[*len - 1] == '\r')
        (*len)--;
    return 0;
}

int mproc_tool_manager(int argc, char **argv)
{
    const char *address = NULL, *key_file = NULL, *snapshot = NULL;
    for (int i = 0; i < argc; i++) {
        const char **slot = !strcmp(argv[i], "--listen")         ? &address
                            : !strcmp(argv[i], "--authkey-file") ? &key_file
                            : !strcmp(argv[i], "--snapshot")     ? &snapshot
                                                                 : NULL;
        if (slot == NULL || i + 1 == argc) {
            fprintf(stderr, "usage: mproc manager --listen ADDRESS [--authkey-file FILE] [--snapshot FILE]\n");
            return 2;
        }
        *slot = argv[++i];
    }
    if (address == NULL) {
        fprintf(stderr, "mproc manager: --listen ADDRESS is required\n");
        return 2;
    }
    static char key[KEY_FILE_MAX];
    size_t keylen = 0;
    if (key_file != NULL && read_key(key_file, key, &keylen) != 0)
        return 1;
    struct mproc__server_opts o = {
        .address = address, .key = key_file != NULL ? key : NULL, .keylen = keylen,
        .snapshot = snapshot, .on_ready = on_ready, .on_error = on_error,
    };
    int r = mproc__manager_serve(&o);
    if (r == MPROC_EINVAL && key_file == NULL)
        fprintf(stderr, "mproc manager: a TCP address needs --authkey-file\n");
    return r == 0 ? 0 : 1;
}
