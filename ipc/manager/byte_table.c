/* Insertion-ordered hash table of byte strings (see byte_table.h). */
#include "manager/byte_table.h"
#include "manager/protocol.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define EMPTY (-1)
#define DELETED (-2)
#define MIN_INDEX 8

/* ---- SipHash-2-4 (Aumasson and Bernstein), keyed once per process ---- */

static uint64_t sip_key[2];
static pthread_once_t sip_once = PTHREAD_ONCE_INIT;

static void sip_init(void)
{
    if (getrandom(sip_key, sizeof sip_key, GRND_NONBLOCK) != (ssize_t)sizeof sip_key) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        sip_key[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15u ^ (uint64_t)getpid();
        sip_key[1] = (uint64_t)ts.tv_sec * 0xc2b2ae3d27d4eb4fu;
    }
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                             \
    do {                                                                                     \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);                            \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                                               \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                                               \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);                            \
    } while (0)

static uint64_t siphash(const unsigned char *in, size_t n)
{
    pthread_once(&sip_once, sip_init);
    uint64_t v0 = 0x736f6d6570736575u ^ sip_key[0], v1 = 0x646f72616e646f6du ^ sip_key[1];
    uint64_t v2 = 0x6c7967656e657261u ^ sip_key[0], v3 = 0x7465646279746573u ^ sip_key[1];
    uint64_t b = (uint64_t)n << 56, m;
    const unsigned char *end = in + (n & ~(size_t)7);
    for (; in != end; in += 8) {
        memcpy(&m, in, 8); /* little-endian machines only: Linux on x86 and ARM */
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    for (size_t i = 0; i < (n & 7); i++)
        b |= (uint64_t)in[i] << (8 * i);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- the table ---- */

mproc_buf_t mproc__buf_copy(const void *p, size_t n)
{
    mproc_buf_t b = { mproc__mgr_malloc(n + 1), n };
    if (b.data != NULL) {
        if (n > 0)
            memcpy(b.data, p, n);
        ((char *)b.data)[n] = '\0';
    }
    return b;
}

/* The index slot holding the entry for key, or the empty slot where it
 * would go (*found 0). */
static size_t probe(const mproc__table_t *t, const void *key, size_t klen, uint64_t hash, int *found)
{
    size_t mask = t->index_size - 1, i = (size_t)hash & mask;
    for (;; i = (i + 1) & mask) {
        int64_t at = t->index[i];
        if (at == EMPTY) {
            *found = 0;
            return i;
        }
        if (at >= 0) {
            const mproc__entry_t *e = &t->entries[at];
            if (e->hash == hash && e->key.len == klen && memcmp(e->key.data, key, klen) == 0) {
                *found = 1;
                return i;
            }
        }
    }
}

int64_t mproc__table_find(const mproc__table_t *t, const void *key, size_t klen)
{
    if (t->live == 0)
        return -1;
    int found;
    size_t slot = probe(t, key, klen, siphash(key, klen), &found);
    return found ? t->index[slot] : -1;
}

/* Drops the holes from the entries and rebuilds an index with room for
 * `want` live entries at most two thirds full. 0 or -1 (out of memory;
 * the table is unchanged). */
static int rebuild(mproc__table_t *t, size_t want)
{
    size_t size = MIN_INDEX;
    while (size * 2 < want * 3)
        size *= 2;
    size_t cap = size * 2 / 3;
    int64_t *index = mproc__mgr_malloc(size * sizeof *index);
    if (index == NULL)
        return -1;
    if (cap > t->entries_cap) {
        mproc__entry_t *grown = mproc__mgr_realloc(t->entries, cap * sizeof *grown);
        if (grown == NULL) {
            free(index);
            return -1;
        }
        t->entries = grown;
        t->entries_cap = cap;
    }
    size_t kept = 0;
    for (size_t i = 0; i < t->used; i++)
        if (t->entries[i].key.data != NULL)
            t->entries[kept++] = t->entries[i];
    t->used = kept;
    for (size_t i = 0; i < size; i++)
        index[i] = EMPTY;
    free(t->index);
    t->index = index;
    t->index_size = size;
    for (size_t i = 0; i < kept; i++) {
        size_t slot = (size_t)t->entries[i].hash & (size - 1);
        while (index[slot] != EMPTY)
            slot = (slot + 1) & (size - 1);
        index[slot] = (int64_t)i;
    }
    return 0;
}

int64_t mproc__table_set(mproc__table_t *t, const void *key, size_t klen, mproc_buf_t value)
{
    uint64_t hash = siphash(key, klen);
    int found = 0;
    size_t slot = 0;
    if (t->index != NULL)
        slot = probe(t, key, klen, hash, &found);
    if (found) {
        mproc__entry_t *e = &t->entries[t->index[slot]];
        free(e->value.data);
        e->value = value;
        return t->index[slot];
    }
    /* Full of entries (live or holes) -- counted against the index, not
     * the entries array, which a rebuild never shrinks: after a big dict
     * was emptied the index is small again, and holes must not fill it
     * (a probe needs an empty slot to end). */
    if (t->index == NULL || t->used + 1 > t->index_size * 2 / 3 || t->used + 1 > t->entries_cap) {
        /* grow when live, compact when holes */
        if (rebuild(t, t->live + 1 > t->entries_cap / 2 ? (t->live + 1) * 2 : t->live + 1) != 0) {
            free(value.data);
            return -1;
        }
        slot = probe(t, key, klen, hash, &found);
    }
    mproc_buf_t k = mproc__buf_copy(key, klen);
    if (k.data == NULL) {
        free(value.data);
        return -1;
    }
    int64_t pos = (int64_t)t->used++;
    t->entries[pos] = (mproc__entry_t){ k, value, hash };
    t->index[slot] = pos;
    t->live++;
    return pos;
}

void mproc__table_remove(mproc__table_t *t, int64_t pos, mproc_buf_t *out)
{
    mproc__entry_t *e = &t->entries[pos];
    int found;
    size_t slot = probe(t, e->key.data, e->key.len, e->hash, &found);
    t->index[slot] = DELETED;
    free(e->key.data);
    if (out != NULL)
        *out = e->value;
    else
        free(e->value.data);
    e->key.data = NULL;
    e->value.data = NULL;
    t->live--;
}

void mproc__table_clear(mproc__table_t *t, void (*free_value)(void *))
{
    for (size_t i = 0; i < t->used; i++) {
        if (t->entries[i].key.data == NULL)
            continue;
        free(t->entries[i].key.data);
        (free_value ? free_value : free)(t->entries[i].value.data);
    }
    free(t->entries);
    free(t->index);
    memset(t, 0, sizeof *t);
}
