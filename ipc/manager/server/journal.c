/* The Manager's append-only journal (see journal.h for the format and the
 * promises). Redis's AOF is the model: the event loop writes each round's
 * changes in one write() before their replies go (so a killed server has
 * handed them to the kernel), fsyncs them too before the replies with
 * `always` (one fsync for every client served in the round: group commit),
 * or leaves the fsync to a thread once a second with `everysec`. */
#include "manager/server/journal.h"
#include "manager/server/queue_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_REWRITE_MIN ((size_t)16 << 20)
/* compact when the journal has grown to this many times its size after
 * the last compaction (Redis: auto-aof-rewrite-percentage 100) */
#define REWRITE_FACTOR 2

struct mproc__journal {
    int fd;               /* appending; swapped under lock by a rewrite */
    int lockfd;           /* path.lock, write-locked while the server lives */
    int fsync;            /* MPROC_FSYNC_* */
    char *path;
    mproc__wbuf_t batch;  /* records not yet written */
    size_t size;          /* bytes in the file */
    size_t base;          /* its size after the last compaction (or at open) */
    size_t rewrite_min;
    /* everysec */
    pthread_t syncer;
    int syncer_running;
    pthread_mutex_t lock; /* fd against the syncer; stop, dirty */
    pthread_cond_t wake;
    int stop, dirty;
};

/* ---- CRC-32C ---- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t mproc__crc32c(const void *p, size_t n)
{
    pthread_once(&crc_once, crc_init);
    const unsigned char *b = p;
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++)
        c = crc_table[(c ^ b[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- reading ---- */

static int all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return 0;
    return 1;
}

/* Applies one record's payload. 0, MPROC_EPROTO (*why), MPROC_ENOMEM. */
static int apply(mproc__store_t *s, const unsigned char *payload, size_t len, mproc__wbuf_t *reply,
                 const char **why)
{
    unsigned kind = payload[0];
    if (kind == MPROC__JREC_SNAPSHOT) {
        mproc__store_clear(s);
        int r = mproc__store_load(s, payload + 1, len - 1);
        if (r == MPROC_EPROTO)
            *why = "a snapshot record that is not a snapshot";
        return r;
    }
    if (kind == MPROC__JREC_QUEUE) {
        int r = mproc__qstore_apply(mproc__store_queues(s), payload + 1, len - 1);
        if (r == MPROC_EPROTO)
            *why = "a queue record that does not apply (the journal is not this data's)";
        return r;
    }
    if (kind != MPROC__JREC_REQUEST) {
        *why = "a record of an unknown kind (written by a newer mproc?)";
        return MPROC_EPROTO;
    }
    int shutdown = 0;
    int r = mproc__store_execute(s, payload + 1, len - 1, reply, &shutdown);
    if (r == MPROC_EPROTO) {
        *why = "a request record that does not decode";
        return r;
    }
    if (r != 0)
        return r;
    int32_t status = (int32_t)be32(reply->data + 1);
    if (status == MPROC_ENOMEM)
        return MPROC_ENOMEM;
    if (status != 0) {
        *why = "a request record that does not apply (the journal is not this data's)";
        return MPROC_EPROTO;
    }
    return 0;
}

int mproc__journal_replay(mproc__store_t *s, const unsigned char *data, size_t len, size_t *keep,
                          const char **why, size_t *at)
{
    *keep = 0;
    *at = 0;
    *why = NULL;
    if (len < MPROC__JOURNAL_HEADER) {
        if (memcmp(data, MPROC__JOURNAL_MAGIC, len) == 0)
            return 0; /* a header cut short (or an empty file): start afresh */
        *why = "not an mproc journal";
        return MPROC_EPROTO;
    }
    if (memcmp(data, MPROC__JOURNAL_MAGIC, MPROC__JOURNAL_HEADER) != 0) {
        *why = "not an mproc journal";
        return MPROC_EPROTO;
    }
    mproc__wbuf_t reply = { 0 };
    size_t p = MPROC__JOURNAL_HEADER;
    int r = 0;
    while (p < len) {
        size_t left = len - p;
        *at = p;
        if (left < MPROC__JOURNAL_RECORD_HEADER)
            break; /* a header cut short: torn */
        const unsigned char *h = data + p;
        uint32_t n = be32(h);
        if (mproc__crc32c(h, 4) != be32(h + 4)) {
            if (all_zero(h, left))
                break; /* space the file system gave, never written: torn */
            *why = "a damaged record header";
            r = MPROC_EPROTO;
            break;
        }
        if (n == 0) {
            *why = "a record without a kind";
            r = MPROC_EPROTO;
            break;
        }
        if (n > left - MPROC__JOURNAL_RECORD_HEADER)
            break; /* the payload cut short: torn */
        const unsigned char *payload = h + MPROC__JOURNAL_RECORD_HEADER;
        size_t end = p + MPROC__JOURNAL_RECORD_HEADER + n;
        if (mproc__crc32c(payload, n) != be32(h + 8)) {
            if (end == len)
                break; /* the last record, half written: torn */
            *why = "a damaged record (its checksum fails) before the last one";
            r = MPROC_EPROTO;
            break;
        }
        if ((r = apply(s, payload, n, &reply, why)) != 0)
            break;
        p = end;
    }
    mproc__wbuf_free(&reply);
    if (r != 0) {
        mproc__store_clear(s);
        return r;
    }
    *keep = p;
    return 0;
}

/* ---- writing ---- */

void mproc__journal_add(mproc__journal_t *j, unsigned kind, const void *body, size_t len)
{
    unsigned char k = (unsigned char)kind;
    uint32_t n = (uint32_t)(len + 1);
    unsigned char nb[4] = { (unsigned char)(n >> 24), (unsigned char)(n >> 16), (unsigned char)(n >> 8),
                            (unsigned char)n };
    /* the payload's checksum over the kind byte and the body */
    uint32_t c = mproc__crc32c(&k, 1);
    pthread_once(&crc_once, crc_init);
    c ^= 0xFFFFFFFFu;
    const unsigned char *b = body;
    for (size_t i = 0; i < len; i++)
        c = crc_table[(c ^ b[i]) & 0xFF] ^ (c >> 8);
    c ^= 0xFFFFFFFFu;
    mproc__put_raw(&j->batch, nb, 4);
    mproc__put_u32(&j->batch, mproc__crc32c(nb, 4));
    mproc__put_u32(&j->batch, c);
    mproc__put_u8(&j->batch, k);
    mproc__put_raw(&j->batch, body, len);
}

int mproc__journal_pending(const mproc__journal_t *j)
{
    return j->batch.len > 0 || j->batch.failed;
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? mproc__errno(errno) : MPROC_ENOMEM; /* no room */
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int mproc__journal_commit(mproc__journal_t *j)
{
    if (j->batch.failed) {
        mproc__wbuf_free(&j->batch);
        return MPROC_ENOMEM;
    }
    if (j->batch.len == 0)
        return 0;
    int r = write_all(j->fd, j->batch.data, j->batch.len);
    if (r == 0) {
        j->size += j->batch.len;
        if (j->fsync == MPROC_FSYNC_ALWAYS && fdatasync(j->fd) != 0)
            r = mproc__errno(errno);
        if (j->fsync == MPROC_FSYNC_EVERYSEC) {
            pthread_mutex_lock(&j->lock);
            j->dirty = 1;
            pthread_mutex_unlock(&j->lock);
        }
    }
    if (j->batch.cap > ((size_t)1 << 20))
        mproc__wbuf_free(&j->batch);
    else
        mproc__wbuf_reset(&j->batch);
    return r;
}

/* everysec: fsync once a second what the loop wrote, off the loop's path. */
static void *syncer(void *arg)
{
    mproc__journal_t *j = arg;
    pthread_mutex_lock(&j->lock);
    while (!j->stop) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        t.tv_sec += 1;
        while (!j->stop && pthread_cond_timedwait(&j->wake, &j->lock, &t) == 0)
            ;
        if (j->dirty) {
            j->dirty = 0;
            /* under the lock: a rewrite cannot swap the descriptor meanwhile
             * (the loop never waits for this lock but in a rewrite) */
            fdatasync(j->fd);
        }
    }
    pthread_mutex_unlock(&j->lock);
    return NULL;
}

static int sync_directory(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(dir, sizeof dir, ".");
    else if ((size_t)(slash - path) + 1 >= sizeof dir)
        return MPROC_EINVAL;
    else
        snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return mproc__errno(errno);
    int r = fsync(fd) == 0 ? 0 : mproc__errno(errno);
    close(fd);
    return r;
}

/* Writes header + one snapshot record of s to a fresh file beside path
 * (an unpredictable name, created exclusively), fsyncs it, renames it over
 * path and fsyncs the directory. The new descriptor (appending) or an
 * errno code; the old file is untouched on failure. */
static int write_compacted(const char *path, const mproc__store_t *s, size_t *size)
{
    mproc__wbuf_t image = { 0 };
    int r = mproc__store_save(s, &image);
    if (r != 0) {
        mproc__wbuf_free(&image);
        return r;
    }
    mproc__journal_t tmp = { .fd = -1 };
    mproc__put_raw(&tmp.batch, MPROC__JOURNAL_MAGIC, MPROC__JOURNAL_HEADER);
    mproc__journal_add(&tmp, MPROC__JREC_SNAPSHOT, image.data, image.len);
    mproc__wbuf_free(&image);
    char name[4096];
    if ((size_t)snprintf(name, sizeof name, "%s.rewrite-XXXXXX", path) >= sizeof name) {
        mproc__wbuf_free(&tmp.batch);
        return MPROC_EINVAL;
    }
    int fd = tmp.batch.failed ? -1 : mkostemp(name, O_CLOEXEC | O_APPEND);
    r = tmp.batch.failed ? MPROC_ENOMEM : fd < 0 ? mproc__errno(errno) : 0;
    if (r == 0)
        r = write_all(fd, tmp.batch.data, tmp.batch.len);
    if (r == 0 && fdatasync(fd) != 0)
        r = mproc__errno(errno);
    if (r == 0 && rename(name, path) != 0)
        r = mproc__errno(errno);
    if (r == 0)
        r = sync_directory(path);
    *size = tmp.batch.len;
    mproc__wbuf_free(&tmp.batch);
    if (r != 0) {
        if (fd >= 0) {
            unlink(name);
            close(fd);
        }
        return r;
    }
    return fd;
}

int mproc__journal_maybe_rewrite(mproc__journal_t *j, const mproc__store_t *s, int force)
{
    if (!force && (j->size < j->rewrite_min || j->size < REWRITE_FACTOR * j->base))
        return 0;
    size_t size = 0;
    int fd = write_compacted(j->path, s, &size);
    if (fd < 0)
        return fd;
    pthread_mutex_lock(&j->lock);
    close(j->fd); /* the old file: already gone from its name */
    j->fd = fd;
    j->dirty = 0;
    pthread_mutex_unlock(&j->lock);
    j->size = j->base = size;
    return 0;
}

/* Removes what a rewrite killed half-way left: path.rewrite-XXXXXX. */
static void remove_leftovers(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    const char *base = slash != NULL ? slash + 1 : path;
    if (slash == NULL)
        snprintf(dir, sizeof dir, ".");
    else
        snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    size_t blen = strlen(base);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, base, blen) == 0 && strncmp(e->d_name + blen, ".rewrite-", 9) == 0 &&
            strlen(e->d_name + blen + 9) == 6) {
            char full[8192];
            snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
            unlink(full);
        }
    }
    closedir(d);
}

/* One server per journal: a second one would replay the same file and then
 * append to it (or compact it away) behind the first one's back. The lock
 * is a POSIX record lock (F_SETLK) on "path.lock", a file of its own: the
 * journal itself is replaced by every compaction, so a lock on it would be
 * left behind on the old file. A POSIX lock belongs to the process: the
 * kernel drops it when the process dies, however it dies, and a child
 * forked to write a snapshot (SIGUSR1) does not inherit it, so a server
 * killed while such a child still writes can be restarted at once (an
 * flock or an OFD lock lives in the open file description the child
 * shares, and would keep the new server out until the child is done). The
 * lock file is never removed: unlinking it would let a third server lock
 * a new file while the second still holds the old one. 0; MPROC_EBUSY
 * (msg says which process has it); an errno code. */
static int lock_journal(mproc__journal_t *j, const char *path, char *msg, size_t msgsize)
{
    char name[4096];
    if ((size_t)snprintf(name, sizeof name, "%s.lock", path) >= sizeof name)
        return MPROC_EINVAL;
    j->lockfd = open(name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (j->lockfd < 0)
        return mproc__errno(errno);
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
    if (fcntl(j->lockfd, F_SETLK, &fl) == 0)
        return 0;
    if (errno != EACCES && errno != EAGAIN)
        return mproc__errno(errno);
    struct flock who = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
    if (fcntl(j->lockfd, F_GETLK, &who) == 0 && who.l_type != F_UNLCK)
        snprintf(msg, msgsize, "journal %s: in use by another Manager server (pid %ld); refusing to start",
                 path, (long)who.l_pid);
    else
        snprintf(msg, msgsize, "journal %s: in use by another Manager server; refusing to start", path);
    return MPROC_EBUSY;
}

static int read_file(int fd, mproc__wbuf_t *data)
{
    unsigned char chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return mproc__errno(errno);
        if (n == 0)
            return data->failed ? MPROC_ENOMEM : 0;
        mproc__put_raw(data, chunk, (size_t)n);
    }
}

int mproc__journal_open(mproc__journal_t **jp, const char *path, int fsync_mode, size_t rewrite_min,
                        mproc__store_t *s, char *msg, size_t msgsize)
{
    mproc__journal_t *j = calloc(1, sizeof *j);
    if (j == NULL || (j->path = strdup(path)) == NULL) {
        free(j);
        return MPROC_ENOMEM;
    }
    j->fd = -1;
    j->lockfd = -1;
    j->fsync = fsync_mode;
    j->rewrite_min = rewrite_min > 0 ? rewrite_min : DEFAULT_REWRITE_MIN;
    pthread_mutex_init(&j->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&j->wake, &ca);
    pthread_condattr_destroy(&ca);
    mproc__wbuf_t data = { 0 };
    /* locked first: the leftovers to remove could be another server's
     * compaction in progress */
    int r = lock_journal(j, path, msg, msgsize);
    if (r == 0)
        remove_leftovers(path);
    if (r == 0 && (j->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
        r = mproc__errno(errno);
    if (r == 0)
        r = read_file(j->fd, &data);
    size_t keep = 0, at = 0;
    const char *why = NULL;
    if (r == 0 && data.len > 0) {
        r = mproc__journal_replay(s, data.data, data.len, &keep, &why, &at);
        if (r == MPROC_EPROTO)
            snprintf(msg, msgsize, "journal %s: %s at byte %zu; refusing to start (move it aside to start empty)",
                     path, why, at);
    }
    if (r == 0 && keep < MPROC__JOURNAL_HEADER) {
        /* new, empty, or a header cut short: begin with what s holds */
        size_t size;
        int fd = write_compacted(path, s, &size);
        if (fd < 0) {
            r = fd;
        } else {
            close(j->fd);
            j->fd = fd;
            j->size = size;
        }
    } else if (r == 0) {
        if (keep < data.len && (ftruncate(j->fd, (off_t)keep) != 0 || fsync(j->fd) != 0))
            r = mproc__errno(errno); /* the torn tail goes, for good */
        j->size = keep;
    }
    mproc__wbuf_free(&data);
    j->base = j->size;
    if (r == 0 && fsync_mode == MPROC_FSYNC_EVERYSEC) {
        /* the thread takes no signals: the loop's signalfd gets them all */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        if (pthread_create(&j->syncer, NULL, syncer, j) != 0)
            r = MPROC_EAGAIN;
        else
            j->syncer_running = 1;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    if (r != 0) {
        mproc__journal_close(j);
        return r;
    }
    *jp = j;
    return 0;
}

void mproc__journal_close(mproc__journal_t *j)
{
    if (j == NULL)
        return;
    if (j->syncer_running) {
        pthread_mutex_lock(&j->lock);
        j->stop = 1;
        pthread_cond_signal(&j->wake);
        pthread_mutex_unlock(&j->lock);
        pthread_join(j->syncer, NULL);
    }
    if (j->fd >= 0) {
        if (j->fsync != MPROC_FSYNC_NO)
            fdatasync(j->fd);
        close(j->fd);
    }
    if (j->lockfd >= 0)
        close(j->lockfd); /* the lock goes with it */
    pthread_mutex_destroy(&j->lock);
    pthread_cond_destroy(&j->wake);
    mproc__wbuf_free(&j->batch);
    free(j->path);
    free(j);
}
