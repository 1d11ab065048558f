/* The Manager's data and the execution of requests (docs/manager-protocol.md).
 *
 * A request is decoded whole and checked against the limits before anything
 * is touched, so a malformed one changes nothing. Every request is
 * all-or-nothing: what can fail (an allocation, the memory quota) is done
 * before the first change, or the changes made are undone (DICT_UPDATE,
 * LIST_EXTEND), and a reply that carries data has its room reserved before
 * the change it reports (POP). The bytes held are counted (names, keys,
 * values, by length) for max_memory. */
#include "manager/server/store.h"

#include "manager/byte_table.h"
#include "manager/server/queue_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { KIND_DICT = 1, KIND_LIST = 2 };

struct list {
    mproc_buf_t *items;
    size_t n, cap;
};

struct object {
    int kind;
    mproc__table_t dict;
    struct list list;
};

struct mproc__store {
    mproc__table_t names; /* name -> struct object *, in value.data */
    mproc__quota_t quota; /* bytes of names, keys and values held (and of
                             queues: queue_store.h), and the limit (0: none) */
    int changed;          /* the last request changed something */
    int noop;             /* set by an operation that turned out to change nothing */
    mproc__qstore_t *queues; /* Manager queues (queue_store.h) */
};

/* Whether growing by delta bytes stays within the quota. */
static int fits(const mproc__store_t *s, size_t delta)
{
    return s->quota.max == 0 || (s->quota.used <= s->quota.max && delta <= s->quota.max - s->quota.used);
}

void mproc__store_set_limit(mproc__store_t *s, size_t max_memory)
{
    s->quota.max = max_memory;
}

size_t mproc__store_used(const mproc__store_t *s)
{
    return s->quota.used;
}

int mproc__store_changed(const mproc__store_t *s)
{
    return s->changed;
}

static void object_free(void *p)
{
    struct object *o = p;
    if (o == NULL)
        return;
    mproc__table_clear(&o->dict, NULL);
    for (size_t i = 0; i < o->list.n; i++)
        free(o->list.items[i].data);
    free(o->list.items);
    free(o);
}

mproc__store_t *mproc__store_new(void)
{
    mproc__store_t *s = mproc__mgr_calloc(1, sizeof(mproc__store_t));
    if (s != NULL && (s->queues = mproc__qstore_new(&s->quota)) == NULL) {
        free(s);
        s = NULL;
    }
    return s;
}

mproc__qstore_t *mproc__store_queues(mproc__store_t *s)
{
    return s->queues;
}

void mproc__store_free(mproc__store_t *s)
{
    if (s == NULL)
        return;
    mproc__store_clear(s);
    mproc__qstore_free(s->queues);
    free(s);
}

/* The object called name, created as `kind` if missing (*created set).
 * NULL with *err set: MPROC_ETYPE (the other kind), MPROC_ENOMEM (no memory,
 * or the name would pass the quota). */
static struct object *object_for(mproc__store_t *s, mproc_buf_t name, int kind, int *err, int *created)
{
    int64_t pos = mproc__table_find(&s->names, name.data, name.len);
    if (pos >= 0) {
        struct object *o = s->names.entries[pos].value.data;
        if (o->kind != kind) {
            *err = MPROC_ETYPE;
            return NULL;
        }
        return o;
    }
    if (!fits(s, name.len)) {
        *err = MPROC_ENOMEM;
        return NULL;
    }
    struct object *o = mproc__mgr_calloc(1, sizeof *o);
    if (o == NULL) {
        *err = MPROC_ENOMEM;
        return NULL;
    }
    o->kind = kind;
    mproc_buf_t value = { o, 0 };
    if (mproc__table_set(&s->names, name.data, name.len, value) < 0) {
        *err = MPROC_ENOMEM; /* o was freed with the value */
        return NULL;
    }
    s->quota.used += name.len;
    *created = 1;
    return o;
}

/* Removes an object made by a request that then failed. */
static void object_remove(mproc__store_t *s, mproc_buf_t name)
{
    int64_t pos = mproc__table_find(&s->names, name.data, name.len);
    if (pos < 0)
        return;
    mproc_buf_t value;
    mproc__table_remove(&s->names, pos, &value);
    object_free(value.data);
    s->quota.used -= name.len;
}

/* ---- decoding ---- */

enum { A_KEY = 1, A_I64 = 2, A_I64B = 4, A_VALUE = 8, A_ITEMS = 16, A_VALUES = 32 };

/* The arguments each operation takes after its name, in wire order; 0 for an
 * unknown op. NO_NAME marks the two that take no name. */
#define NO_NAME 64
static unsigned op_arguments(unsigned op)
{
    switch (op) {
    case MPROC__OP_PING:
    case MPROC__OP_SHUTDOWN: return NO_NAME;
    case MPROC__OP_DICT_OPEN:
    case MPROC__OP_DICT_LEN:
    case MPROC__OP_DICT_KEYS:
    case MPROC__OP_DICT_ITEMS:
    case MPROC__OP_DICT_CLEAR:
    case MPROC__OP_LIST_OPEN:
    case MPROC__OP_LIST_LEN:
    case MPROC__OP_LIST_CLEAR: return 128; /* the name alone */
    case MPROC__OP_DICT_SET:
    case MPROC__OP_DICT_SETDEFAULT: return A_KEY | A_VALUE;
    case MPROC__OP_DICT_GET:
    case MPROC__OP_DICT_DEL:
    case MPROC__OP_DICT_CONTAINS:
    case MPROC__OP_DICT_POP: return A_KEY;
    case MPROC__OP_DICT_INCR: return A_KEY | A_I64;
    case MPROC__OP_DICT_UPDATE: return A_ITEMS;
    case MPROC__OP_LIST_APPEND:
    case MPROC__OP_LIST_REMOVE:
    case MPROC__OP_LIST_INDEX: return A_VALUE;
    case MPROC__OP_LIST_EXTEND: return A_VALUES;
    case MPROC__OP_LIST_GET:
    case MPROC__OP_LIST_POP: return A_I64;
    case MPROC__OP_LIST_SET:
    case MPROC__OP_LIST_INSERT: return A_I64 | A_VALUE;
    case MPROC__OP_LIST_SLICE: return A_I64 | A_I64B;
    default: return 0;
    }
}

struct request {
    unsigned op;
    mproc_buf_t name, key, value;
    int64_t a, b;
    uint32_t count;          /* items or values */
    mproc__rbuf_t sequence;  /* where they start (already validated) */
};

/* Walks count items (pairs) or values, checking each against the limits. */
static void skip_sequence(mproc__rbuf_t *r, uint32_t count, int pairs)
{
    for (uint32_t i = 0; i < count && !r->bad; i++) {
        if (pairs)
            mproc__get_bytes(r, MPROC__MGR_KEY_MAX);
        mproc__get_bytes(r, MPROC__MGR_VALUE_MAX);
    }
}

static int decode(const unsigned char *data, size_t len, struct request *q)
{
    mproc__rbuf_t r = { data, data + len, 0 };
    memset(q, 0, sizeof *q);
    if (mproc__get_u8(&r) != MPROC__MGR_VERSION)
        return MPROC_EPROTO;
    q->op = mproc__get_u8(&r);
    unsigned args = op_arguments(q->op);
    if (args == 0 || r.bad)
        return MPROC_EPROTO;
    if (!(args & NO_NAME)) {
        size_t n = mproc__get_u16(&r);
        if (n == 0 || n > MPROC__MGR_NAME_MAX || (size_t)(r.end - r.p) < n)
            return MPROC_EPROTO;
        q->name = (mproc_buf_t){ (void *)r.p, n };
        r.p += n;
    }
    if (args & A_KEY)
        q->key = mproc__get_bytes(&r, MPROC__MGR_KEY_MAX);
    if (args & A_I64)
        q->a = (int64_t)mproc__get_u64(&r);
    if (args & A_I64B)
        q->b = (int64_t)mproc__get_u64(&r);
    if (args & A_VALUE)
        q->value = mproc__get_bytes(&r, MPROC__MGR_VALUE_MAX);
    if (args & (A_ITEMS | A_VALUES)) {
        q->count = mproc__get_u32(&r);
        q->sequence = r;
        skip_sequence(&r, q->count, (args & A_ITEMS) != 0);
    }
    if (r.bad || r.p != r.end)
        return MPROC_EPROTO; /* short, over a limit, or bytes left over */
    return 0;
}

/* ---- dicts ---- */

/* The integer of a decimal text: optional sign, at least one digit, nothing
 * else. 0, MPROC_EINVAL, MPROC_EOVERFLOW. */
static int parse_decimal(const unsigned char *p, size_t n, int64_t *out)
{
    size_t i = 0;
    int negative = 0;
    if (n > 0 && (p[0] == '-' || p[0] == '+')) {
        negative = p[0] == '-';
        i = 1;
    }
    if (i == n)
        return MPROC_EINVAL;
    int64_t v = 0;
    for (; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return MPROC_EINVAL;
        int digit = p[i] - '0';
        if (__builtin_mul_overflow(v, 10, &v) ||
            __builtin_add_overflow(v, negative ? -digit : digit, &v))
            return MPROC_EOVERFLOW;
    }
    *out = v;
    return 0;
}

/* Sets key to a copy of v, within the quota. Nothing changed on failure. */
static int dict_store(mproc__store_t *s, mproc__table_t *d, mproc_buf_t key, const void *v, size_t vlen)
{
    int64_t pos = mproc__table_find(d, key.data, key.len);
    size_t old = pos >= 0 ? d->entries[pos].value.len : 0;
    if (vlen > old && !fits(s, (pos >= 0 ? 0 : key.len) + (vlen - old)))
        return MPROC_ENOMEM;
    mproc_buf_t value = mproc__buf_copy(v, vlen);
    if (value.data == NULL)
        return MPROC_ENOMEM;
    if (pos >= 0) {
        free(d->entries[pos].value.data); /* in place: nothing left to fail */
        d->entries[pos].value = value;
        s->quota.used = s->quota.used - old + vlen;
        return 0;
    }
    if (mproc__table_set(d, key.data, key.len, value) < 0)
        return MPROC_ENOMEM; /* value freed, the table as it was */
    s->quota.used += key.len + vlen;
    return 0;
}

static void dict_remove_at(mproc__store_t *s, mproc__table_t *d, int64_t pos)
{
    s->quota.used -= d->entries[pos].key.len + d->entries[pos].value.len;
    mproc__table_remove(d, pos, NULL);
}

static int dict_incr(mproc__store_t *s, mproc__table_t *d, const struct request *q, mproc__wbuf_t *out)
{
    int64_t pos = mproc__table_find(d, q->key.data, q->key.len), v = 0;
    if (pos >= 0) {
        const mproc_buf_t *old = &d->entries[pos].value;
        int r = parse_decimal(old->data, old->len, &v);
        if (r != 0)
            return r;
    }
    if (__builtin_add_overflow(v, q->a, &v))
        return MPROC_EOVERFLOW;
    char text[24];
    int n = snprintf(text, sizeof text, "%lld", (long long)v);
    if (out != NULL && mproc__wbuf_reserve(out, 8) != 0)
        return MPROC_ENOMEM;
    int r = dict_store(s, d, q->key, text, (size_t)n);
    if (r == 0 && out != NULL)
        mproc__put_u64(out, (uint64_t)v);
    return r;
}

/* What DICT_UPDATE needs to undo one item. */
struct undo {
    mproc_buf_t key;
    mproc_buf_t old; /* the value replaced; data NULL: the key was new */
};

/* Applies every item or none: each change is recorded, and on a failure
 * the recorded ones are undone in reverse order (which frees nothing the
 * table still needs and allocates nothing). */
static int dict_update(mproc__store_t *s, mproc__table_t *d, const struct request *q)
{
    if (q->count == 0)
        return 0;
    struct undo *log = mproc__mgr_malloc(q->count * sizeof *log);
    if (log == NULL)
        return MPROC_ENOMEM;
    mproc__rbuf_t r = q->sequence;
    uint32_t done = 0;
    int err = 0;
    for (; done < q->count; done++) {
        mproc_buf_t key = mproc__get_bytes(&r, MPROC__MGR_KEY_MAX);
        mproc_buf_t v = mproc__get_bytes(&r, MPROC__MGR_VALUE_MAX);
        int64_t pos = mproc__table_find(d, key.data, key.len);
        size_t old = pos >= 0 ? d->entries[pos].value.len : 0;
        if (v.len > old && !fits(s, (pos >= 0 ? 0 : key.len) + (v.len - old))) {
            err = MPROC_ENOMEM;
            break;
        }
        mproc_buf_t value = mproc__buf_copy(v.data, v.len);
        if (value.data == NULL) {
            err = MPROC_ENOMEM;
            break;
        }
        log[done].key = key;
        if (pos >= 0) {
            log[done].old = d->entries[pos].value;
            d->entries[pos].value = value;
            s->quota.used = s->quota.used - old + v.len;
        } else {
            log[done].old = (mproc_buf_t){ NULL, 0 };
            if (mproc__table_set(d, key.data, key.len, value) < 0) {
                err = MPROC_ENOMEM;
                break;
            }
            s->quota.used += key.len + v.len;
        }
    }
    for (uint32_t i = done; i-- > 0;) {
        if (err == 0) {
            free(log[i].old.data); /* kept: the values replaced go now */
            continue;
        }
        int64_t pos = mproc__table_find(d, log[i].key.data, log[i].key.len);
        if (log[i].old.data == NULL) {
            dict_remove_at(s, d, pos);
        } else {
            mproc__entry_t *e = &d->entries[pos];
            s->quota.used = s->quota.used - e->value.len + log[i].old.len;
            free(e->value.data);
            e->value = log[i].old;
        }
    }
    free(log);
    return err;
}

/* Executes a dict operation; results go to out after the status. */
static int dict_op(mproc__store_t *s, mproc__table_t *d, const struct request *q, mproc__wbuf_t *out)
{
    int64_t pos;
    switch (q->op) {
    case MPROC__OP_DICT_OPEN:
        return 0;
    case MPROC__OP_DICT_SET:
        return dict_store(s, d, q->key, q->value.data, q->value.len);
    case MPROC__OP_DICT_GET:
        pos = mproc__table_find(d, q->key.data, q->key.len);
        if (pos < 0)
            return MPROC_EKEY;
        mproc__put_bytes(out, d->entries[pos].value.data, d->entries[pos].value.len);
        return 0;
    case MPROC__OP_DICT_DEL:
    case MPROC__OP_DICT_POP: {
        pos = mproc__table_find(d, q->key.data, q->key.len);
        if (pos < 0)
            return MPROC_EKEY;
        if (q->op == MPROC__OP_DICT_POP) {
            /* the reply's room first: the value must not go without it */
            if (mproc__wbuf_reserve(out, 4 + d->entries[pos].value.len) != 0)
                return MPROC_ENOMEM;
            mproc__put_bytes(out, d->entries[pos].value.data, d->entries[pos].value.len);
        }
        dict_remove_at(s, d, pos);
        return 0;
    }
    case MPROC__OP_DICT_CONTAINS:
        mproc__put_u8(out, mproc__table_find(d, q->key.data, q->key.len) >= 0);
        return 0;
    case MPROC__OP_DICT_SETDEFAULT:
        pos = mproc__table_find(d, q->key.data, q->key.len);
        if (pos < 0) {
            if (mproc__wbuf_reserve(out, 4 + q->value.len) != 0)
                return MPROC_ENOMEM;
            int r = dict_store(s, d, q->key, q->value.data, q->value.len);
            if (r != 0)
                return r;
            pos = mproc__table_find(d, q->key.data, q->key.len);
        } else {
            s->noop = 1; /* found: nothing changed, nothing to journal */
        }
        mproc__put_bytes(out, d->entries[pos].value.data, d->entries[pos].value.len);
        return 0;
    case MPROC__OP_DICT_INCR:
        return dict_incr(s, d, q, out);
    case MPROC__OP_DICT_LEN:
        mproc__put_u64(out, d->live);
        return 0;
    case MPROC__OP_DICT_KEYS:
    case MPROC__OP_DICT_ITEMS:
        mproc__put_u32(out, (uint32_t)d->live);
        for (size_t i = 0; i < d->used; i++) {
            const mproc__entry_t *e = &d->entries[i];
            if (e->key.data == NULL)
                continue;
            mproc__put_bytes(out, e->key.data, e->key.len);
            if (q->op == MPROC__OP_DICT_ITEMS)
                mproc__put_bytes(out, e->value.data, e->value.len);
        }
        return 0;
    case MPROC__OP_DICT_UPDATE:
        return dict_update(s, d, q);
    case MPROC__OP_DICT_CLEAR:
        for (size_t i = 0; i < d->used; i++)
            if (d->entries[i].key.data != NULL)
                s->quota.used -= d->entries[i].key.len + d->entries[i].value.len;
        mproc__table_clear(d, NULL);
        return 0;
    }
    return MPROC_EPROTO;
}

/* ---- lists ---- */

static int list_reserve(struct list *l, size_t more)
{
    if (l->cap - l->n >= more)
        return 0;
    size_t cap = l->cap ? l->cap : 8;
    while (cap - l->n < more) {
        if (cap > SIZE_MAX / 2 / sizeof *l->items)
            return MPROC_ENOMEM;
        cap *= 2;
    }
    mproc_buf_t *grown = mproc__mgr_realloc(l->items, cap * sizeof *grown);
    if (grown == NULL)
        return MPROC_ENOMEM;
    l->items = grown;
    l->cap = cap;
    return 0;
}

static int list_insert_at(mproc__store_t *s, struct list *l, size_t i, const mproc_buf_t *v)
{
    if (!fits(s, v->len))
        return MPROC_ENOMEM;
    mproc_buf_t copy = mproc__buf_copy(v->data, v->len);
    if (copy.data == NULL || list_reserve(l, 1) != 0) {
        free(copy.data);
        return MPROC_ENOMEM;
    }
    memmove(&l->items[i + 1], &l->items[i], (l->n - i) * sizeof *l->items);
    l->items[i] = copy;
    l->n++;
    s->quota.used += v->len;
    return 0;
}

/* Appends every value or none: the room and the quota first, then copies;
 * a copy that fails takes the ones made before it back out. */
static int list_extend(mproc__store_t *s, struct list *l, const struct request *q)
{
    mproc__rbuf_t in = q->sequence;
    size_t bytes = 0;
    for (uint32_t k = 0; k < q->count; k++)
        bytes += mproc__get_bytes(&in, MPROC__MGR_VALUE_MAX).len; /* a frame's worth at most */
    if (!fits(s, bytes) || list_reserve(l, q->count) != 0)
        return MPROC_ENOMEM;
    size_t was = l->n;
    in = q->sequence;
    for (uint32_t k = 0; k < q->count; k++) {
        mproc_buf_t v = mproc__get_bytes(&in, MPROC__MGR_VALUE_MAX);
        mproc_buf_t copy = mproc__buf_copy(v.data, v.len);
        if (copy.data == NULL) {
            while (l->n > was)
                free(l->items[--l->n].data);
            return MPROC_ENOMEM;
        }
        l->items[l->n++] = copy;
    }
    s->quota.used += bytes;
    return 0;
}

/* Python's index: negative counts from the end. 0 with *i in range, else
 * MPROC_EINDEX. */
static int list_position(const struct list *l, int64_t index, size_t *i)
{
    if (index < 0)
        index += (int64_t)l->n;
    if (index < 0 || (uint64_t)index >= l->n)
        return MPROC_EINDEX;
    *i = (size_t)index;
    return 0;
}

/* Python's clamping for insert and slices: into [0, n]. */
static size_t list_clamp(const struct list *l, int64_t index)
{
    if (index < 0) {
        index += (int64_t)l->n;
        return index < 0 ? 0 : (size_t)index;
    }
    return (uint64_t)index > l->n ? l->n : (size_t)index;
}

static int64_t list_find(const struct list *l, const mproc_buf_t *v)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->items[i].len == v->len && memcmp(l->items[i].data, v->data, v->len) == 0)
            return (int64_t)i;
    return -1;
}

static int list_op(mproc__store_t *s, struct list *l, const struct request *q, mproc__wbuf_t *out)
{
    size_t i;
    int64_t found;
    int r;
    switch (q->op) {
    case MPROC__OP_LIST_OPEN:
        return 0;
    case MPROC__OP_LIST_APPEND:
        return list_insert_at(s, l, l->n, &q->value);
    case MPROC__OP_LIST_EXTEND:
        return list_extend(s, l, q);
    case MPROC__OP_LIST_GET:
        if ((r = list_position(l, q->a, &i)) != 0)
            return r;
        mproc__put_bytes(out, l->items[i].data, l->items[i].len);
        return 0;
    case MPROC__OP_LIST_SET: {
        if ((r = list_position(l, q->a, &i)) != 0)
            return r;
        size_t old = l->items[i].len;
        if (q->value.len > old && !fits(s, q->value.len - old))
            return MPROC_ENOMEM;
        mproc_buf_t copy = mproc__buf_copy(q->value.data, q->value.len);
        if (copy.data == NULL)
            return MPROC_ENOMEM;
        free(l->items[i].data);
        l->items[i] = copy;
        s->quota.used = s->quota.used - old + q->value.len;
        return 0;
    }
    case MPROC__OP_LIST_INSERT:
        return list_insert_at(s, l, list_clamp(l, q->a), &q->value);
    case MPROC__OP_LIST_POP:
        if ((r = list_position(l, q->a, &i)) != 0)
            return r;
        /* the reply's room first: the value must not go without it */
        if (mproc__wbuf_reserve(out, 4 + l->items[i].len) != 0)
            return MPROC_ENOMEM;
        mproc__put_bytes(out, l->items[i].data, l->items[i].len);
        goto remove;
    case MPROC__OP_LIST_REMOVE:
    case MPROC__OP_LIST_INDEX:
        if ((found = list_find(l, &q->value)) < 0)
            return MPROC_EVALUE;
        i = (size_t)found;
        if (q->op == MPROC__OP_LIST_INDEX) {
            mproc__put_u64(out, i);
            return 0;
        }
    remove:
        s->quota.used -= l->items[i].len;
        free(l->items[i].data);
        memmove(&l->items[i], &l->items[i + 1], (l->n - i - 1) * sizeof *l->items);
        l->n--;
        return 0;
    case MPROC__OP_LIST_LEN:
        mproc__put_u64(out, l->n);
        return 0;
    case MPROC__OP_LIST_SLICE: {
        size_t start = list_clamp(l, q->a), stop = list_clamp(l, q->b);
        if (stop < start)
            stop = start;
        mproc__put_u32(out, (uint32_t)(stop - start));
        for (i = start; i < stop; i++)
            mproc__put_bytes(out, l->items[i].data, l->items[i].len);
        return 0;
    }
    case MPROC__OP_LIST_CLEAR:
        for (i = 0; i < l->n; i++) {
            s->quota.used -= l->items[i].len;
            free(l->items[i].data);
        }
        l->n = 0;
        return 0;
    }
    return MPROC_EPROTO;
}

/* Whether a successful op of this kind changes the data. */
static int op_changes(unsigned op)
{
    switch (op) {
    case MPROC__OP_DICT_SET:
    case MPROC__OP_DICT_DEL:
    case MPROC__OP_DICT_POP:
    case MPROC__OP_DICT_SETDEFAULT:
    case MPROC__OP_DICT_INCR:
    case MPROC__OP_DICT_UPDATE:
    case MPROC__OP_DICT_CLEAR:
    case MPROC__OP_LIST_APPEND:
    case MPROC__OP_LIST_EXTEND:
    case MPROC__OP_LIST_SET:
    case MPROC__OP_LIST_INSERT:
    case MPROC__OP_LIST_POP:
    case MPROC__OP_LIST_REMOVE:
    case MPROC__OP_LIST_CLEAR: return 1;
    default: return 0;
    }
}

/* ---- requests ---- */

int mproc__store_execute(mproc__store_t *s, const unsigned char *req, size_t len, mproc__wbuf_t *out,
                         int *shutdown)
{
    struct request q;
    s->changed = 0;
    if (decode(req, len, &q) != 0)
        return MPROC_EPROTO;
    mproc__wbuf_reset(out);
    mproc__put_u8(out, MPROC__MGR_VERSION);
    mproc__put_u32(out, 0); /* the status, patched below */
    if (out->failed)
        return MPROC_ENOMEM; /* not even room for a status */
    int status = 0, created = 0;
    if (q.op == MPROC__OP_SHUTDOWN)
        *shutdown = 1;
    if (q.op >= MPROC__OP_DICT_OPEN) {
        int kind = q.op >= MPROC__OP_LIST_OPEN ? KIND_LIST : KIND_DICT;
        struct object *o = object_for(s, q.name, kind, &status, &created);
        s->noop = 0;
        if (o != NULL)
            status = kind == KIND_DICT ? dict_op(s, &o->dict, &q, out) : list_op(s, &o->list, &q, out);
        if (status == 0 && out->failed)
            status = MPROC_ENOMEM; /* a reply of data only (the changes reserved theirs) */
        if (status != 0 && created) {
            object_remove(s, q.name); /* all or nothing: the name too */
            created = 0;
        }
        s->changed = created || (status == 0 && op_changes(q.op) && !s->noop);
    }
    if (status != 0) {
        out->failed = 0;
        out->len = 5; /* an error carries no results */
    }
    mproc__patch_u32(out, 1, (uint32_t)status);
    return 0;
}

/* ---- snapshots ---- */

#define SNAPSHOT_MAGIC "MPROCSN1"
#define SNAPSHOT_END "MPROCEND"

int mproc__store_save(const mproc__store_t *s, mproc__wbuf_t *out)
{
    mproc__wbuf_reset(out);
    mproc__put_raw(out, SNAPSHOT_MAGIC, 8);
    for (size_t i = 0; i < s->names.used; i++) {
        const mproc__entry_t *e = &s->names.entries[i];
        if (e->key.data == NULL)
            continue;
        const struct object *o = e->value.data;
        mproc__put_u8(out, (unsigned)o->kind);
        mproc__put_u16(out, (unsigned)e->key.len);
        mproc__put_raw(out, e->key.data, e->key.len);
        if (o->kind == KIND_DICT) {
            mproc__put_u32(out, (uint32_t)o->dict.live);
            for (size_t k = 0; k < o->dict.used; k++) {
                const mproc__entry_t *d = &o->dict.entries[k];
                if (d->key.data == NULL)
                    continue;
                mproc__put_bytes(out, d->key.data, d->key.len);
                mproc__put_bytes(out, d->value.data, d->value.len);
            }
        } else {
            mproc__put_u32(out, (uint32_t)o->list.n);
            for (size_t k = 0; k < o->list.n; k++)
                mproc__put_bytes(out, o->list.items[k].data, o->list.items[k].len);
        }
    }
    mproc__qstore_save(s->queues, out);
    mproc__put_raw(out, SNAPSHOT_END, 8);
    return out->failed ? MPROC_ENOMEM : 0;
}

/* One object of a snapshot into s. 0, MPROC_EPROTO, MPROC_ENOMEM. */
static int load_object(mproc__store_t *s, mproc__rbuf_t *r)
{
    int kind = (int)mproc__get_u8(r);
    if (!r->bad && kind == MPROC__QSNAP_KIND)
        return mproc__qstore_load(s->queues, r);
    size_t n = mproc__get_u16(r);
    if (r->bad || (kind != KIND_DICT && kind != KIND_LIST) || n == 0 || (size_t)(r->end - r->p) < n)
        return MPROC_EPROTO;
    mproc_buf_t name = { (void *)r->p, n };
    r->p += n;
    if (mproc__table_find(&s->names, name.data, name.len) >= 0)
        return MPROC_EPROTO; /* a name twice */
    int err = 0, created = 0;
    struct object *o = object_for(s, name, kind, &err, &created);
    if (o == NULL)
        return err;
    uint32_t count = mproc__get_u32(r);
    for (uint32_t i = 0; i < count && !r->bad; i++) {
        struct request q = { .op = kind == KIND_DICT ? MPROC__OP_DICT_SET : MPROC__OP_LIST_APPEND };
        if (kind == KIND_DICT)
            q.key = mproc__get_bytes(r, MPROC__MGR_KEY_MAX);
        q.value = mproc__get_bytes(r, MPROC__MGR_VALUE_MAX);
        if (r->bad)
            break;
        int e = kind == KIND_DICT ? dict_op(s, &o->dict, &q, NULL) : list_op(s, &o->list, &q, NULL);
        if (e != 0)
            return e;
    }
    return r->bad ? MPROC_EPROTO : 0;
}

int mproc__store_load(mproc__store_t *s, const unsigned char *data, size_t len)
{
    mproc__rbuf_t r = { data, data + len, 0 };
    if (len < 16 || memcmp(data, SNAPSHOT_MAGIC, 8) != 0)
        return MPROC_EPROTO;
    r.p += 8;
    int err = 0;
    size_t max = s->quota.max;
    s->quota.max = 0; /* what was held is loaded (queues too), whatever the quota now */
    while (err == 0 && r.end - r.p > 8)
        err = load_object(s, &r);
    s->quota.max = max;
    if (err == 0 && (r.end - r.p != 8 || memcmp(r.p, SNAPSHOT_END, 8) != 0))
        err = MPROC_EPROTO;
    if (err != 0)
        mproc__store_clear(s);
    return err;
}

void mproc__store_clear(mproc__store_t *s)
{
    mproc__qstore_clear(s->queues);
    mproc__table_clear(&s->names, object_free);
    s->quota.used = 0;
}
