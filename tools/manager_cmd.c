/* `mproc manager --listen ADDRESS [options]`: runs a Manager server in the
 * foreground until SIGTERM or SIGINT (or a client's shutdown request).
 * Options: --authkey-file FILE, --snapshot FILE (loaded at start, written at
 * the end and on SIGUSR1), --max-memory BYTES, --max-clients N,
 * --client-output-limit BYTES, --idle-timeout SECONDS, --journal FILE,
 * --fsync always|everysec|no, --rewrite-min BYTES. Sizes take K, M, G
 * (powers of 1024). Exit status: 0 after a clean stop, 1 when it could not
 * start (a damaged journal included) or save, 2 for a bad command line. */
#include "manager_cmd.h"

#include "manager/server/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_FILE_MAX 4096

static const char usage[] =
    "usage: mproc manager --listen ADDRESS [--authkey-file FILE] [--snapshot FILE]\n"
    "                     [--max-memory BYTES] [--max-clients N] [--client-output-limit BYTES]\n"
    "                     [--idle-timeout SECONDS] [--journal FILE]\n"
    "                     [--fsync always|everysec|no] [--rewrite-min BYTES]\n";

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

/* "4M" -> 4 MiB: digits, then an optional K, M or G (powers of 1024). 0 or -1. */
static int parse_size(const char *text, size_t *out)
{
    char *end;
    if (text[0] < '0' || text[0] > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    unsigned shift = 0;
    if (*end == 'K' || *end == 'k')
        shift = 10;
    else if (*end == 'M' || *end == 'm')
        shift = 20;
    else if (*end == 'G' || *end == 'g')
        shift = 30;
    if (shift > 0)
        end++;
    if (errno != 0 || *end != '\0' || v > (SIZE_MAX >> shift))
        return -1;
    *out = (size_t)v << shift;
    return 0;
}

int mproc_tool_manager(int argc, char **argv)
{
    const char *address = NULL, *key_file = NULL, *snapshot = NULL, *journal = NULL;
    const char *max_memory = NULL, *max_clients = NULL, *fsync = NULL, *output_limit = NULL;
    const char *idle = NULL, *rewrite_min = NULL;
    for (int i = 0; i < argc; i++) {
        const char **slot = !strcmp(argv[i], "--listen")                ? &address
                            : !strcmp(argv[i], "--authkey-file")        ? &key_file
                            : !strcmp(argv[i], "--snapshot")            ? &snapshot
                            : !strcmp(argv[i], "--journal")             ? &journal
                            : !strcmp(argv[i], "--fsync")               ? &fsync
                            : !strcmp(argv[i], "--max-memory")          ? &max_memory
                            : !strcmp(argv[i], "--max-clients")         ? &max_clients
                            : !strcmp(argv[i], "--client-output-limit") ? &output_limit
                            : !strcmp(argv[i], "--idle-timeout")        ? &idle
                            : !strcmp(argv[i], "--rewrite-min")         ? &rewrite_min
                                                                        : NULL;
        if (slot == NULL || i + 1 == argc) {
            fputs(usage, stderr);
            return 2;
        }
        *slot = argv[++i];
    }
    if (address == NULL) {
        fprintf(stderr, "mproc manager: --listen ADDRESS is required\n");
        return 2;
    }
    struct mproc__server_opts o = {
        .address = address, .snapshot = snapshot, .journal = journal,
        .on_ready = on_ready, .on_error = on_error, .fsync = MPROC_FSYNC_EVERYSEC,
    };
    size_t n = 0;
    if (max_memory != NULL && parse_size(max_memory, &o.max_memory) != 0) {
        fprintf(stderr, "mproc manager: --max-memory: a size such as 512M, please\n");
        return 2;
    }
    if (output_limit != NULL && (parse_size(output_limit, &o.output_limit) != 0 || o.output_limit == 0)) {
        fprintf(stderr, "mproc manager: --client-output-limit: a size such as 64M, please\n");
        return 2;
    }
    if (rewrite_min != NULL && (parse_size(rewrite_min, &o.rewrite_min) != 0 || o.rewrite_min == 0)) {
        fprintf(stderr, "mproc manager: --rewrite-min: a size such as 16M, please\n");
        return 2;
    }
    if (max_clients != NULL && (parse_size(max_clients, &n) != 0 || n == 0 || n > 1000000)) {
        fprintf(stderr, "mproc manager: --max-clients: a number from 1 to 1000000, please\n");
        return 2;
    }
    o.max_clients = (unsigned)n;
    if (idle != NULL) {
        char *end;
        o.idle_timeout = strtod(idle, &end);
        if (*end != '\0' || !(o.idle_timeout > 0 && o.idle_timeout < 1e9)) {
            fprintf(stderr, "mproc manager: --idle-timeout: seconds, more than 0, please\n");
            return 2;
        }
    }
    if (fsync != NULL) {
        o.fsync = !strcmp(fsync, "always")     ? MPROC_FSYNC_ALWAYS
                  : !strcmp(fsync, "everysec") ? MPROC_FSYNC_EVERYSEC
                  : !strcmp(fsync, "no")       ? MPROC_FSYNC_NO
                                               : -1;
        if (o.fsync < 0) {
            fprintf(stderr, "mproc manager: --fsync always|everysec|no, please\n");
            return 2;
        }
    }
    static char key[KEY_FILE_MAX];
    size_t keylen = 0;
    if (key_file != NULL && read_key(key_file, key, &keylen) != 0)
        return 1;
    o.key = key_file != NULL ? key : NULL;
    o.keylen = keylen;
    int r = mproc__manager_serve(&o);
    if (r == MPROC_EINVAL && key_file == NULL)
        fprintf(stderr, "mproc manager: a TCP address needs --authkey-file\n");
    return r == 0 ? 0 : 1;
}
