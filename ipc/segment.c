/* Segments: the shared memory under every object made by mproc_T_create.
 *
 * Layout: a 64-byte header, then the payload. The header lets an opener check
 * that a name holds a complete object of the expected type and layout before
 * touching it, and lets `mproc ls` describe what is in /dev/shm.
 *
 * Publication: a named segment is created and fully initialised under a
 * temporary name, and only then renamed to its real name with
 * RENAME_NOREPLACE. No process can ever open a half-built object, and the
 * rename is the exclusive create (EEXIST if the name is taken).
 *
 * Mappings made here are recorded in a process-private registry, so close
 * can refuse pointers it did not map (an object made by mproc_T_init, a
 * pointer closed twice) instead of unmapping whatever lies before them. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MPROC__SEGMENT_MAGIC "MPROCSEG"
/* Bump when the header or any object's shared layout changes incompatibly:
 * processes built against different layouts then get MPROC_ETYPE. */
#define MPROC__LAYOUT_VERSION 2

struct segment_header {
    char magic[8];
    uint32_t layout;
    uint32_t type;
    uint64_t total_size;   /* bytes mapped, header included */
    uint64_t payload_size;
    int32_t creator_pid;
    _Atomic uint32_t ready; /* stored last, after the payload is initialised */
    unsigned char reserved[24];
};
_Static_assert(sizeof(struct segment_header) == 64, "segment header is 64 bytes");
#define HEADER_SIZE sizeof(struct segment_header)

/* ---- the registry of this process's mappings ---- */

struct mapping {
    struct mapping *next;
    struct segment_header *base;
};

static struct mapping *mappings;
static pthread_mutex_t mappings_lock = PTHREAD_MUTEX_INITIALIZER;

/* Keep the registry consistent across fork: no thread can be half-way through
 * changing it when the child's copy is made. */
static void registry_lock(void) { pthread_mutex_lock(&mappings_lock); }
static void registry_unlock(void) { pthread_mutex_unlock(&mappings_lock); }

__attribute__((constructor)) static void registry_fork_handlers(void)
{
    pthread_atfork(registry_lock, registry_unlock, registry_unlock);
}

static void registry_add(struct mapping *node, struct segment_header *base)
{
    node->base = base;
    registry_lock();
    node->next = mappings;
    mappings = node;
    registry_unlock();
}

/* Unlinks and returns the node of base, or NULL if base was not mapped here. */
static struct mapping *registry_remove(struct segment_header *base, int type)
{
    registry_lock();
    struct mapping **link = &mappings;
    while (*link != NULL && (*link)->base != base)
        link = &(*link)->next;
    struct mapping *node = *link;
    if (node != NULL && base->type == (uint32_t)type)
        *link = node->next;
    else
        node = NULL;
    registry_unlock();
    return node;
}

/* ---- create, open, close ---- */

static void shm_file_path(char *out, size_t cap, const char *shm_name)
{
    snprintf(out, cap, "%s%s", MPROC__SHM_DIR, shm_name);
}

int mproc__shm_reserve(int fd, size_t total)
{
    int r = posix_fallocate(fd, 0, (off_t)total);
    if (r == EOPNOTSUPP || r == EINVAL)
        return ftruncate(fd, (off_t)total) == 0 ? 0 : mproc__errno(errno);
    return r == 0 ? 0 : mproc__errno(r);
}

int mproc__segment_create(void **payload, const char *name, int type, size_t size,
                          mproc__init_fn init, const void *arg)
{
    char path[MPROC__NAME_MAX + 2], tmp[64];
    char path_file[sizeof MPROC__SHM_DIR + sizeof path], tmp_file[sizeof MPROC__SHM_DIR + sizeof tmp];
    if (payload == NULL || size == 0)
        return MPROC_EINVAL;
    if (name != NULL) {
        int r = mproc__name_path(name, path);
        if (r != 0)
            return r;
    }
    if (size > SIZE_MAX / 2 - HEADER_SIZE)
        return MPROC_ENOMEM;
    size_t total = HEADER_SIZE + size;

    int r = 0, fd = -1;
    struct segment_header *base = MAP_FAILED;
    struct mapping *node = malloc(sizeof *node);
    if (node == NULL)
        return MPROC_ENOMEM;

    if (name == NULL) {
        base = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (base == MAP_FAILED) {
            r = mproc__errno(errno);
            goto fail;
        }
    } else {
        /* a fresh unguessable build name; a clash (another user's squatter,
         * or chance) only means another try */
        for (int tries = 0; tries < MPROC__BUILD_TRIES; tries++) {
            mproc__build_name(tmp, sizeof tmp, "seg");
            fd = shm_open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
            if (fd >= 0 || errno != EEXIST)
                break;
        }
        shm_file_path(tmp_file, sizeof tmp_file, tmp);
        shm_file_path(path_file, sizeof path_file, path);
        if (fd < 0) {
            r = mproc__errno(errno);
            goto fail;
        }
        if (fchmod(fd, 0600) != 0 || (r = mproc__shm_reserve(fd, total)) != 0) {
            if (r == 0)
                r = mproc__errno(errno);
            goto fail;
        }
        base = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (base == MAP_FAILED) {
            r = mproc__errno(errno);
            goto fail;
        }
    }

    memcpy(base->magic, MPROC__SEGMENT_MAGIC, sizeof base->magic);
    base->layout = MPROC__LAYOUT_VERSION;
    base->type = (uint32_t)type;
    base->total_size = total;
    base->payload_size = size;
    base->creator_pid = (int32_t)getpid();
    if ((r = init((char *)base + HEADER_SIZE, arg)) != 0)
        goto fail;
    MPROC__CRASH(SEGMENT_INITIALISED);
    atomic_store_explicit(&base->ready, 1, memory_order_release);
    MPROC__CRASH(SEGMENT_READY);

    if (name != NULL) {
        if (renameat2(AT_FDCWD, tmp_file, AT_FDCWD, path_file, RENAME_NOREPLACE) != 0) {
            r = mproc__errno(errno);
            goto fail;
        }
        MPROC__CRASH(SEGMENT_PUBLISHED);
        close(fd);
    }
    registry_add(node, base);
    *payload = (char *)base + HEADER_SIZE;
    return 0;

fail:
    if (base != MAP_FAILED)
        munmap(base, total);
    if (fd >= 0) {
        shm_unlink(tmp);
        close(fd);
    }
    free(node);
    return r;
}

int mproc__segment_open(void **payload, const char *name, int type, size_t size)
{
    char path[MPROC__NAME_MAX + 2];
    if (payload == NULL)
        return MPROC_EINVAL;
    int r = mproc__name_path(name, path);
    if (r != 0)
        return r;
    struct mapping *node = malloc(sizeof *node);
    if (node == NULL)
        return MPROC_ENOMEM;

    struct segment_header *base = MAP_FAILED;
    struct stat st;
    size_t total = 0;
    int fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0) {
        r = mproc__errno(errno);
        goto fail;
    }
    if (fstat(fd, &st) != 0) {
        r = mproc__errno(errno);
        goto fail;
    }
    /* A file someone else put in /dev/shm, or a raw block: not ours. */
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size < HEADER_SIZE) {
        r = MPROC_ETYPE;
        goto fail;
    }
    total = (size_t)st.st_size;
    base = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        r = mproc__errno(errno);
        goto fail;
    }
    if (memcmp(base->magic, MPROC__SEGMENT_MAGIC, sizeof base->magic) != 0 ||
        base->layout != MPROC__LAYOUT_VERSION || base->type != (uint32_t)type ||
        base->total_size != total || base->payload_size != total - HEADER_SIZE ||
        (size != 0 && base->payload_size != size) ||
        atomic_load_explicit(&base->ready, memory_order_acquire) != 1) {
        r = MPROC_ETYPE;
        goto fail;
    }
    close(fd);
    registry_add(node, base);
    *payload = (char *)base + HEADER_SIZE;
    return 0;

fail:
    if (base != MAP_FAILED)
        munmap(base, total);
    if (fd >= 0)
        close(fd);
    free(node);
    return r;
}

void mproc__segment_peek(int fd, struct mproc__segment_info *info)
{
    struct segment_header h;
    struct stat st;
    memset(info, 0, sizeof *info);
    if (fstat(fd, &st) != 0 || pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h)
        return;
    if (memcmp(h.magic, MPROC__SEGMENT_MAGIC, sizeof h.magic) != 0 || h.layout != MPROC__LAYOUT_VERSION ||
        h.total_size != (uint64_t)st.st_size || atomic_load(&h.ready) != 1)
        return;
    info->type = (int)h.type;
    info->payload_size = h.payload_size;
    info->creator_pid = h.creator_pid;
}

const char *mproc__type_name(int type)
{
    static const char *const names[] = { "block", "lock", "rlock", "cond", "event", "sem",
                                         "barrier", "queue", "value", "array" };
    return type >= 0 && type < (int)(sizeof names / sizeof names[0]) ? names[type] : "unknown";
}

size_t mproc__segment_payload_size(const void *payload)
{
    const struct segment_header *base =
        (const struct segment_header *)(const void *)((const char *)payload - HEADER_SIZE);
    return (size_t)base->payload_size;
}

int mproc__segment_close(void *payload, int type)
{
    if (payload == NULL)
        return MPROC_EINVAL;
    struct segment_header *base = (struct segment_header *)((char *)payload - HEADER_SIZE);
    struct mapping *node = registry_remove(base, type);
    if (node == NULL)
        return MPROC_EINVAL;
    munmap(base, base->total_size);
    free(node);
    return 0;
}
