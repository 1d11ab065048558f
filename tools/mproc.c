/* The `mproc` command: lists, describes and removes the named mproc objects
 * and shared-memory blocks on this machine.
 *
 *   mproc ls [--json]                 every object and block in /dev/shm
 *   mproc info [--json] NAME          one of them, with its state
 *   mproc rm NAME...                  unlink
 *   mproc gc [--blocks] [--dry-run] [NAME...]
 *                                     unlink objects nobody uses any more
 *   mproc manager --listen ADDRESS [--authkey-file FILE] [--snapshot FILE]
 *                 [--max-memory BYTES] [--max-clients N] [--journal FILE] ...
 *                                     run a Manager server (manager_cmd.c)
 *
 * Exit status: 0 done, 1 a NAME failed (missing, not permitted), 2 bad usage.
 * It is linked with the library's internals (libmproc_core) to read headers
 * and type-specific state. */
#include "internal.h"
#include "manager_cmd.h"
#include "manager/protocol.h" /* MPROC__MGR_BLOCK_PREFIX */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int json;

static void usage(FILE *to)
{
    fputs("usage: mproc ls [--json]\n"
          "       mproc info [--json] NAME\n"
          "       mproc rm NAME...\n"
          "       mproc gc [--blocks] [--dry-run] [NAME...]\n"
          "       mproc manager --listen ADDRESS [--authkey-file FILE] [--snapshot FILE]\n"
          "                     [--max-memory BYTES] [--max-clients N] [--client-output-limit BYTES]\n"
          "                     [--idle-timeout SECONDS] [--journal FILE]\n"
          "                     [--fsync always|everysec|no] [--rewrite-min BYTES]\n"
          "\n"
          "  ls    list the named mproc objects and shared-memory blocks on this machine:\n"
          "        name, type, size, creator pid (for a Manager's block: its server),\n"
          "        and whether a live process maps it\n"
          "  info  show one of them with its state (lock holder, queue depth, ...)\n"
          "  rm    remove names (processes that have them open keep them)\n"
          "  gc    remove mproc objects that no live process maps and whose creator\n"
          "        is gone, and abandoned half-built ones, and blocks of a Manager\n"
          "        server that is gone; --blocks: also raw blocks that nobody maps;\n"
          "        --dry-run: only say what would go; NAMEs: consider\n"
          "        only these\n"
          "  manager  run a Manager server (shared dicts and lists) in the foreground\n"
          "        until SIGTERM or SIGINT; ADDRESS as for mproc_listener_create (TCP\n"
          "        needs --authkey-file: the key is the file's bytes, less a trailing\n"
          "        newline); --snapshot: load FILE at start, write it at the end and on\n"
          "        SIGUSR1; --max-memory: bytes of data held (K, M, G suffixes), a change\n"
          "        past it fails with ENOMEM; --max-clients: connections (1024); \n"
          "        --client-output-limit: unread replies in total before the stalest\n"
          "        reader is dropped (64M); --idle-timeout: drop silent clients (off);\n"
          "        --journal: append every change to FILE, replayed at start; --fsync:\n"
          "        when the journal reaches the disk (everysec); --rewrite-min: journal\n"
          "        size before compaction is considered (16M)\n",
          to);
}

/* ---- facts about one name ---- */

struct entry {
    char name[MPROC__NAME_MAX + 1];
    const char *type;   /* "lock", ..., "block", "building" */
    int typecode;       /* enum mproc__type, 0 for raw blocks */
    uint64_t size;      /* payload (objects) or file size (blocks) */
    int32_t creator;    /* 0 if unknown */
    int in_use;         /* a live process maps it */
    int32_t manager;    /* a block owned by the Manager server of this pid, or 0 */
};

static int pid_alive(int32_t pid)
{
    return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

/* The names in /dev/shm that some live process maps (one string, each name
 * between newlines), from /proc/PID/maps. */
static char *mapped_names(void)
{
    size_t cap = 4096, len = 1;
    char *names = malloc(cap);
    if (names == NULL)
        return NULL;
    names[0] = '\n';
    DIR *proc = opendir("/proc");
    struct dirent *p;
    while (proc != NULL && (p = readdir(proc)) != NULL) {
        if (p->d_name[0] < '0' || p->d_name[0] > '9')
            continue;
        char path[300], line[4096];
        snprintf(path, sizeof path, "/proc/%s/maps", p->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        while (fgets(line, sizeof line, f) != NULL) {
            char *at = strstr(line, " " MPROC__SHM_DIR "/");
            if (at == NULL)
                continue;
            at += sizeof MPROC__SHM_DIR + 1;
            size_t n = strcspn(at, " \n");
            if (len + n + 2 > cap) {
                char *bigger = realloc(names, cap *= 2);
                if (bigger == NULL)
                    break;
                names = bigger;
            }
            memcpy(names + len, at, n);
            len += n;
            names[len++] = '\n';
        }
        fclose(f);
    }
    if (proc != NULL)
        closedir(proc);
    names[len] = 0;
    return names;
}

static int is_mapped(const char *mapped, const char *name)
{
    char needle[MPROC__NAME_MAX + 3];
    snprintf(needle, sizeof needle, "\n%s\n", name);
    return mapped != NULL && strstr(mapped, needle) != NULL;
}

/* Fills e for name; 0, or -errno if it cannot be read. */
static int describe(const char *name, const char *mapped, struct entry *e)
{
    char path[sizeof MPROC__SHM_DIR + MPROC__NAME_MAX + 2];
    snprintf(path, sizeof path, "%s/%s", MPROC__SHM_DIR, name);
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int err = -errno;
        if (fd >= 0)
            close(fd);
        return err;
    }
    struct mproc__segment_info info;
    mproc__segment_peek(fd, &info);
    close(fd);
    e->typecode = info.type;
    e->type = mproc__type_name(info.type);
    e->size = info.type ? info.payload_size : (uint64_t)st.st_size;
    e->creator = info.creator_pid;
    if (strncmp(name, MPROC__BUILD_PREFIX, strlen(MPROC__BUILD_PREFIX)) == 0) {
        e->type = "building"; /* a segment still under construction, or abandoned */
        e->creator = (int32_t)atoi(name + strlen(MPROC__BUILD_PREFIX));
    }
    if (info.type == 0 && strncmp(name, MPROC__MGR_BLOCK_PREFIX, strlen(MPROC__MGR_BLOCK_PREFIX)) == 0) {
        /* mproc_manager_shm's block: its server made it (and will unlink it) */
        e->manager = (int32_t)atoi(name + strlen(MPROC__MGR_BLOCK_PREFIX));
        e->creator = e->manager;
    }
    e->in_use = is_mapped(mapped, name);
    return 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

/* Every regular file in /dev/shm, sorted by name. */
static struct entry *list_all(size_t *count)
{
    char *mapped = mapped_names();
    size_t n = 0, cap = 64;
    struct entry *all = malloc(cap * sizeof *all);
    DIR *dir = opendir(MPROC__SHM_DIR);
    struct dirent *d;
    while (all != NULL && dir != NULL && (d = readdir(dir)) != NULL) {
        if (d->d_name[0] == '.' && strncmp(d->d_name, MPROC__BUILD_PREFIX, strlen(MPROC__BUILD_PREFIX)) != 0)
            continue; /* ".", "..", and other hidden files */
        if (strlen(d->d_name) > MPROC__NAME_MAX)
            continue;
        if (n == cap) {
            struct entry *bigger = realloc(all, (cap *= 2) * sizeof *all);
            if (bigger == NULL)
                break;
            all = bigger;
        }
        if (describe(d->d_name, mapped, &all[n]) == 0)
            n++;
    }
    if (dir != NULL)
        closedir(dir);
    free(mapped);
    if (all != NULL)
        qsort(all, n, sizeof *all, compare_names);
    *count = n;
    return all;
}

/* Prints s as a JSON string. */
static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void print_entry_json(const struct entry *e)
{
    printf("{\"name\": ");
    json_string(e->name);
    printf(", \"type\": \"%s\", \"size\": %llu, \"creator_pid\": %d, \"in_use\": %s", e->type,
           (unsigned long long)e->size, (int)e->creator, e->in_use ? "true" : "false");
    if (e->manager > 0)
        printf(", \"manager_pid\": %d", (int)e->manager);
}

static int cmd_ls(void)
{
    size_t n;
    struct entry *all = list_all(&n);
    if (all == NULL)
        return 1;
    if (json) {
        printf("[");
        for (size_t i = 0; i < n; i++) {
            printf(i ? ",\n " : "");
            print_entry_json(&all[i]);
            printf("}");
        }
        printf("]\n");
    } else {
        printf("%-32s %-8s %12s %8s  %s\n", "NAME", "TYPE", "SIZE", "CREATOR", "IN USE");
        for (size_t i = 0; i < n; i++) {
            char creator[16] = "-";
            if (all[i].creator > 0)
                snprintf(creator, sizeof creator, "%d", (int)all[i].creator);
            printf("%-32s %-8s %12llu %8s  %s\n", all[i].name, all[i].type,
                   (unsigned long long)all[i].size, creator, all[i].in_use ? "yes" : "no");
        }
    }
    free(all);
    return 0;
}

/* ---- info: type-specific state ---- */

/* Adds one "key: value" line, or one JSON member. */
static void fact(const char *key, const char *format, ...) __attribute__((format(printf, 2, 3)));

static void fact(const char *key, const char *format, ...)
{
    char value[256];
    va_list ap;
    va_start(ap, format);
    vsnprintf(value, sizeof value, format, ap);
    va_end(ap);
    if (json) {
        printf(", \"%s\": ", key);
        /* numbers and booleans as they are, the rest as strings */
        char *end;
        strtod(value, &end);
        if ((*value && *end == 0) || !strcmp(value, "true") || !strcmp(value, "false"))
            fputs(value, stdout);
        else
            json_string(value);
    } else {
        printf("%-12s %s\n", key, value);
    }
}

static void holder_fact(void *mutex)
{
    pid_t tid = mproc__mutex_owner(mutex);
    if (tid != 0)
        fact("holder", "%d", (int)tid);
    else
        fact("holder", "none");
}

static void value_fact(const char *key, char typecode, const void *item)
{
    switch (typecode) {
    case 'c': fact(key, "%d", *(const char *)item); break;
    case 'b': fact(key, "%d", *(const signed char *)item); break;
    case 'B': fact(key, "%u", *(const unsigned char *)item); break;
    case 'h': fact(key, "%d", *(const short *)item); break;
    case 'H': fact(key, "%u", *(const unsigned short *)item); break;
    case 'i': fact(key, "%d", *(const int *)item); break;
    case 'I': fact(key, "%u", *(const unsigned *)item); break;
    case 'l': fact(key, "%ld", *(const long *)item); break;
    case 'L': fact(key, "%lu", *(const unsigned long *)item); break;
    case 'q': fact(key, "%lld", *(const long long *)item); break;
    case 'Q': fact(key, "%llu", *(const unsigned long long *)item); break;
    case 'f': fact(key, "%g", (double)*(const float *)item); break;
    default: fact(key, "%g", *(const double *)item); break;
    }
}

/* Opens the object by its type and reports its state; 0 or a code. */
static int state_facts(const struct entry *e)
{
    void *obj = NULL;
    int r = 0;
    switch (e->typecode) {
    case MPROC__TYPE_LOCK:
    case MPROC__TYPE_RLOCK:
    case MPROC__TYPE_COND:
        r = e->typecode == MPROC__TYPE_LOCK    ? mproc_lock_open((mproc_lock_t **)&obj, e->name)
            : e->typecode == MPROC__TYPE_RLOCK ? mproc_rlock_open((mproc_rlock_t **)&obj, e->name)
                                                : mproc_cond_open((mproc_cond_t **)&obj, e->name);
        if (r == 0)
            holder_fact(obj); /* each begins with its robust mutex */
        break;
    case MPROC__TYPE_EVENT:
        if ((r = mproc_event_open((mproc_event_t **)&obj, e->name)) == 0)
            fact("set", "%s", mproc_event_is_set(obj) ? "true" : "false");
        break;
    case MPROC__TYPE_SEM:
        if ((r = mproc_sem_open((mproc_sem_t **)&obj, e->name)) == 0) {
            fact("value", "%d", mproc_sem_value(obj));
            fact("bound", "%u", mproc__sem_bound(obj));
        }
        break;
    case MPROC__TYPE_BARRIER:
        if ((r = mproc_barrier_open((mproc_barrier_t **)&obj, e->name)) == 0) {
            fact("parties", "%d", mproc_barrier_parties(obj));
            fact("waiting", "%d", mproc_barrier_n_waiting(obj));
            fact("broken", "%s", mproc_barrier_broken(obj) ? "true" : "false");
        }
        break;
    case MPROC__TYPE_QUEUE:
        if ((r = mproc_queue_open((mproc_queue_t **)&obj, e->name)) == 0) {
            static const char *const orders[] = { "fifo", "lifo", "priority" };
            struct mproc__queue_state qs;
            mproc__queue_state(obj, &qs);
            fact("order", "%s", orders[qs.order]);
            fact("items", "%u", qs.items);
            fact("maxsize", "%llu", (unsigned long long)qs.maxsize);
            fact("bytes_used", "%u", qs.used);
            fact("capacity", "%u", qs.capacity);
            fact("unfinished", "%u", qs.unfinished);
        }
        break;
    case MPROC__TYPE_VALUE:
        if ((r = mproc_value_open((mproc_value_t **)&obj, e->name)) == 0) {
            char tc = mproc__value_typecode(obj);
            fact("typecode", "%c", tc);
            fact("locked", "%s", mproc_value_get_lock(obj) ? "true" : "false");
            value_fact("value", tc, mproc_value_ptr(obj));
        }
        break;
    case MPROC__TYPE_ARRAY:
        if ((r = mproc_array_open((mproc_array_t **)&obj, e->name)) == 0) {
            char tc = mproc_array_typecode(obj);
            fact("typecode", "%c", tc);
            fact("length", "%zu", mproc_array_len(obj));
            fact("locked", "%s", mproc_array_get_lock(obj) ? "true" : "false");
            value_fact("first", tc, mproc_array_ptr(obj));
        }
        break;
    default:
        return 0; /* a raw block or a half-built segment: nothing more to say */
    }
    if (r == 0)
        mproc__segment_close(obj, e->typecode);
    return r;
}

static int cmd_info(const char *name)
{
    char path[MPROC__NAME_MAX + 2];
    if (mproc__name_path(name, path) != 0) {
        fprintf(stderr, "mproc: %s: %s\n", name, mproc_strerror(MPROC_EINVAL));
        return 1;
    }
    char *mapped = mapped_names();
    struct entry e;
    int r = describe(path + 1, mapped, &e);
    free(mapped);
    if (r != 0) {
        fprintf(stderr, "mproc: %s: %s\n", name, mproc_strerror(mproc__errno(-r)));
        return 1;
    }
    if (json) {
        printf("{\"name\": ");
        json_string(e.name);
        printf(", \"type\": \"%s\"", e.type);
        fact("size", "%llu", (unsigned long long)e.size);
        fact("creator_pid", "%d", (int)e.creator);
        fact("in_use", "%s", e.in_use ? "true" : "false");
        if (e.manager > 0)
            fact("manager_pid", "%d", (int)e.manager);
    } else {
        fact("name", "%s", e.name);
        fact("type", "%s", e.type);
        fact("size", "%llu", (unsigned long long)e.size);
        if (e.creator > 0)
            fact("creator", "%d%s", (int)e.creator, pid_alive(e.creator) ? "" : " (gone)");
        fact("in use", "%s", e.in_use ? "yes" : "no");
        if (e.manager > 0)
            fact("owner", "Manager server %d%s", (int)e.manager,
                 pid_alive(e.manager) ? "" : " (gone: mproc gc removes it once unmapped)");
    }
    r = state_facts(&e);
    if (json)
        printf("}\n");
    if (r != 0) {
        fprintf(stderr, "mproc: %s: cannot open: %s\n", name, mproc_strerror(r));
        return 1;
    }
    return 0;
}

static int cmd_rm(int argc, char **argv)
{
    int status = 0;
    for (int i = 0; i < argc; i++) {
        int r = mproc_unlink(argv[i]);
        if (r != 0) {
            fprintf(stderr, "mproc: %s: %s\n", argv[i], mproc_strerror(r));
            status = 1;
        }
    }
    return status;
}

/* 1 if name is among names (or names is empty). */
static int chosen(const char *name, int count, char **names)
{
    if (count == 0)
        return 1;
    for (int i = 0; i < count; i++)
        if (!strcmp(names[i][0] == '/' ? names[i] + 1 : names[i], name))
            return 1;
    return 0;
}

static int cmd_gc(int blocks, int dry_run, int count, char **names)
{
    size_t n;
    struct entry *all = list_all(&n);
    if (all == NULL)
        return 1;
    int status = 0;
    for (size_t i = 0; i < n; i++) {
        const struct entry *e = &all[i];
        if (!chosen(e->name, count, names))
            continue;
        int abandoned;
        if (e->manager > 0) /* its server's to unlink, unless the server is gone */
            abandoned = !e->in_use && !pid_alive(e->manager);
        else if (e->typecode != 0 || !strcmp(e->type, "building"))
            abandoned = !e->in_use && !pid_alive(e->creator);
        else
            abandoned = blocks && !e->in_use;
        if (!abandoned)
            continue;
        printf("%s %s (%s)\n", dry_run ? "would remove" : "removed", e->name, e->type);
        if (!dry_run) {
            int r = mproc_unlink(e->name);
            if (r != 0) {
                fprintf(stderr, "mproc: %s: %s\n", e->name, mproc_strerror(r));
                status = 1;
            }
        }
    }
    free(all);
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "manager"))
        return mproc_tool_manager(argc - 2, argv + 2);
    int blocks = 0, dry_run = 0, rest = argc;
    char **args = argv + 2;
    int nargs = 0;
    for (int i = 2; i < rest; i++) {
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--blocks"))
            blocks = 1;
        else if (!strcmp(argv[i], "--dry-run"))
            dry_run = 1;
        else if (!strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            fprintf(stderr, "mproc: unknown option %s\n", argv[i]);
            usage(stderr);
            return 2;
        } else
            args[nargs++] = argv[i];
    }
    if (!strcmp(cmd, "ls") && nargs == 0)
        return cmd_ls();
    if (!strcmp(cmd, "info") && nargs == 1)
        return cmd_info(args[0]);
    if (!strcmp(cmd, "rm") && nargs >= 1)
        return cmd_rm(nargs, args);
    if (!strcmp(cmd, "gc"))
        return cmd_gc(blocks, dry_run, nargs, args);
    fprintf(stderr, "mproc: bad command line\n");
    usage(stderr);
    return 2;
}
