/* Value and Array (multiprocessing.sharedctypes): typed items in a named or
 * anonymous segment, optionally guarded by an RLock. A Value is an Array of
 * one item under another type tag, so that opening one as the other is
 * MPROC_ETYPE. */
#include "internal.h"

#include <string.h>

struct ctypes_impl {
    mproc_rlock_t lock;
    char typecode;
    uint8_t has_lock;
    uint16_t itemsize;
    uint32_t reserved;
    uint64_t length;
    unsigned char pad[48];
    _Alignas(64) unsigned char data[]; /* length * itemsize bytes */
};

struct ctypes_params {
    char typecode;
    int lock;
    uint64_t length;
};

static int init_payload(void *payload, const void *arg)
{
    const struct ctypes_params *p = arg;
    struct ctypes_impl *c = payload;
    c->typecode = p->typecode;
    c->has_lock = (uint8_t)p->lock;
    c->itemsize = (uint16_t)mproc_typesize(p->typecode);
    c->length = p->length;
    return p->lock ? mproc_rlock_init(&c->lock) : 0;
}

static int create(void **obj, const char *name, int type, char typecode, size_t length, int lock)
{
    size_t itemsize = mproc_typesize(typecode);
    if (itemsize == 0 || (lock != 0 && lock != 1) || length == 0)
        return MPROC_EINVAL;
    if (length > (SIZE_MAX / 2 - sizeof(struct ctypes_impl)) / itemsize)
        return MPROC_ENOMEM;
    struct ctypes_params p = { typecode, lock, length };
    return mproc__segment_create(obj, name, type, sizeof(struct ctypes_impl) + length * itemsize,
                                 init_payload, &p);
}

static int open_checked(void **obj, const char *name, int type)
{
    int r = mproc__segment_open(obj, name, type, 0);
    if (r != 0)
        return r;
    const struct ctypes_impl *c = *obj;
    size_t itemsize = mproc_typesize(c->typecode);
    if (itemsize == 0 || c->itemsize != itemsize || c->has_lock > 1 || c->length == 0 ||
        mproc__segment_payload_size(c) != sizeof *c + c->length * itemsize) {
        mproc__segment_close(*obj, type);
        return MPROC_ETYPE;
    }
    return 0;
}

/* Takes the lock if there is one: 0 or MPROC_EOWNERDEAD (taken either way). */
static int lock(struct ctypes_impl *c)
{
    return c->has_lock ? mproc_rlock_acquire(&c->lock, MPROC_FOREVER) : 0;
}

static void unlock(struct ctypes_impl *c)
{
    if (c->has_lock)
        mproc_rlock_release(&c->lock);
}

/* Copies one item; without a lock, as one atomic access to the shared
 * slot, so that a raw Value is never read torn. The caller's side (in or
 * out) may be unaligned: it is copied with memcpy through a local, never
 * accessed atomically (an unaligned atomic access is undefined, and on some
 * machines a fault). to_shared: dst is the slot, else src is. */
static void copy_item(struct ctypes_impl *c, void *dst, const void *src, int to_shared)
{
    if (c->has_lock) {
        memcpy(dst, src, c->itemsize);
        return;
    }
    union {
        uint8_t u8;
        uint16_t u16;
        uint32_t u32;
        uint64_t u64;
    } v;
    if (to_shared) {
        memcpy(&v, src, c->itemsize);
        switch (c->itemsize) {
        case 1: __atomic_store_n((uint8_t *)dst, v.u8, __ATOMIC_SEQ_CST); break;
        case 2: __atomic_store_n((uint16_t *)dst, v.u16, __ATOMIC_SEQ_CST); break;
        case 4: __atomic_store_n((uint32_t *)dst, v.u32, __ATOMIC_SEQ_CST); break;
        default: __atomic_store_n((uint64_t *)dst, v.u64, __ATOMIC_SEQ_CST); break;
        }
        return;
    }
    switch (c->itemsize) {
    case 1: v.u8 = __atomic_load_n((const uint8_t *)src, __ATOMIC_SEQ_CST); break;
    case 2: v.u16 = __atomic_load_n((const uint16_t *)src, __ATOMIC_SEQ_CST); break;
    case 4: v.u32 = __atomic_load_n((const uint32_t *)src, __ATOMIC_SEQ_CST); break;
    default: v.u64 = __atomic_load_n((const uint64_t *)src, __ATOMIC_SEQ_CST); break;
    }
    memcpy(dst, &v, c->itemsize);
}

/* Copies one item under the lock (if any): 0 or MPROC_EOWNERDEAD. */
static int locked_copy(struct ctypes_impl *c, void *dst, const void *src, int to_shared)
{
    int r = lock(c);
    copy_item(c, dst, src, to_shared);
    unlock(c);
    return r;
}

/* slot += delta for a float type: under the lock, plainly; raw, by
 * compare-and-swap on the bit pattern. */
#define ADD_FLOAT(FT, UT, slot, delta, result, atomic)                          \
    do {                                                                        \
        FT d_, sum_;                                                            \
        memcpy(&d_, delta, sizeof d_);                                          \
        UT old_ = __atomic_load_n((UT *)(slot), __ATOMIC_SEQ_CST), new_;        \
        do {                                                                    \
            FT cur_;                                                            \
            memcpy(&cur_, &old_, sizeof cur_);                                  \
            sum_ = cur_ + d_;                                                   \
            memcpy(&new_, &sum_, sizeof new_);                                  \
            if (!(atomic)) {                                                    \
                *(UT *)(slot) = new_;                                           \
                break;                                                          \
            }                                                                   \
        } while (!__atomic_compare_exchange_n((UT *)(slot), &old_, new_, 0,     \
                                              __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)); \
        if (result)                                                             \
            memcpy(result, &sum_, sizeof sum_);                                 \
    } while (0)

/* slot += delta for an integer type of `size` bytes, wrapping like unsigned
 * arithmetic (no undefined overflow for the signed types). */
#define ADD_INT(UT, slot, delta, result, atomic)                                \
    do {                                                                        \
        UT d_, sum_;                                                            \
        memcpy(&d_, delta, sizeof d_);                                          \
        if (atomic)                                                             \
            sum_ = __atomic_add_fetch((UT *)(slot), d_, __ATOMIC_SEQ_CST);      \
        else                                                                    \
            sum_ = *(UT *)(slot) = (UT)(*(UT *)(slot) + d_);                    \
        if (result)                                                             \
            memcpy(result, &sum_, sizeof sum_);                                 \
    } while (0)

static void add_item(struct ctypes_impl *c, void *slot, const void *delta, void *result)
{
    int atomic = !c->has_lock;
    if (c->typecode == 'f')
        ADD_FLOAT(float, uint32_t, slot, delta, result, atomic);
    else if (c->typecode == 'd')
        ADD_FLOAT(double, uint64_t, slot, delta, result, atomic);
    else if (c->itemsize == 1)
        ADD_INT(uint8_t, slot, delta, result, atomic);
    else if (c->itemsize == 2)
        ADD_INT(uint16_t, slot, delta, result, atomic);
    else if (c->itemsize == 4)
        ADD_INT(uint32_t, slot, delta, result, atomic);
    else
        ADD_INT(uint64_t, slot, delta, result, atomic);
}

/* ---- Value ---- */

#define VALUE(v) ((struct ctypes_impl *)(void *)(v))

int mproc_value_create(mproc_value_t **v, const char *name, char typecode, int lock)
{
    return create((void **)v, name, MPROC__TYPE_VALUE, typecode, 1, lock);
}

int mproc_value_open(mproc_value_t **v, const char *name)
{
    return open_checked((void **)v, name, MPROC__TYPE_VALUE);
}

int mproc_value_close(mproc_value_t *v)
{
    return mproc__segment_close(v, MPROC__TYPE_VALUE);
}

void *mproc_value_ptr(mproc_value_t *v)
{
    return VALUE(v)->data;
}

int mproc_value_get(mproc_value_t *v, void *out)
{
    return locked_copy(VALUE(v), out, VALUE(v)->data, 0);
}

int mproc_value_set(mproc_value_t *v, const void *in)
{
    return locked_copy(VALUE(v), VALUE(v)->data, in, 1);
}

int mproc_value_add(mproc_value_t *v, const void *delta, void *result)
{
    struct ctypes_impl *c = VALUE(v);
    if (c->typecode == 'c' || delta == NULL)
        return MPROC_EINVAL; /* a char is a byte of text, not a number */
    int r = lock(c);
    add_item(c, c->data, delta, result);
    unlock(c);
    return r;
}

char mproc__value_typecode(mproc_value_t *v)
{
    return VALUE(v)->typecode;
}

mproc_rlock_t *mproc_value_get_lock(mproc_value_t *v)
{
    return VALUE(v)->has_lock ? &VALUE(v)->lock : NULL;
}

/* ---- Array ---- */

#define ARRAY(a) ((struct ctypes_impl *)(void *)(a))

int mproc_array_create(mproc_array_t **a, const char *name, char typecode, size_t length, int lock)
{
    return create((void **)a, name, MPROC__TYPE_ARRAY, typecode, length, lock);
}

int mproc_array_open(mproc_array_t **a, const char *name)
{
    return open_checked((void **)a, name, MPROC__TYPE_ARRAY);
}

int mproc_array_close(mproc_array_t *a)
{
    return mproc__segment_close(a, MPROC__TYPE_ARRAY);
}

void *mproc_array_ptr(mproc_array_t *a)
{
    return ARRAY(a)->data;
}

size_t mproc_array_len(mproc_array_t *a)
{
    return (size_t)ARRAY(a)->length;
}

char mproc_array_typecode(mproc_array_t *a)
{
    return ARRAY(a)->typecode;
}

/* 1 if [start, start + count) lies within the array. */
static int in_range(const struct ctypes_impl *c, size_t start, size_t count)
{
    return start <= c->length && count <= c->length - start;
}

int mproc_array_get(mproc_array_t *a, size_t i, void *out)
{
    struct ctypes_impl *c = ARRAY(a);
    if (i >= c->length)
        return MPROC_EINDEX;
    return locked_copy(c, out, c->data + i * c->itemsize, 0);
}

int mproc_array_set(mproc_array_t *a, size_t i, const void *in)
{
    struct ctypes_impl *c = ARRAY(a);
    if (i >= c->length)
        return MPROC_EINDEX;
    return locked_copy(c, c->data + i * c->itemsize, in, 1);
}

int mproc_array_read(mproc_array_t *a, size_t start, size_t count, void *out)
{
    struct ctypes_impl *c = ARRAY(a);
    if (!in_range(c, start, count))
        return MPROC_EINDEX;
    int r = lock(c);
    memcpy(out, c->data + start * c->itemsize, count * c->itemsize);
    unlock(c);
    return r;
}

int mproc_array_write(mproc_array_t *a, size_t start, size_t count, const void *in)
{
    struct ctypes_impl *c = ARRAY(a);
    if (!in_range(c, start, count))
        return MPROC_EINDEX;
    int r = lock(c);
    memcpy(c->data + start * c->itemsize, in, count * c->itemsize);
    unlock(c);
    return r;
}

mproc_rlock_t *mproc_array_get_lock(mproc_array_t *a)
{
    return ARRAY(a)->has_lock ? &ARRAY(a)->lock : NULL;
}
