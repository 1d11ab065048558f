/* Manager queues on mproc's server (queue_store.h).
 *
 * A queue is a doubly linked list of waiting items and a list of held items
 * in the order they were taken; each held item is also on its owner's list
 * (mproc__qholder_t), so a task_done or a connection's end costs what that
 * owner holds, not what the queue or the store holds. An acknowledged item
 * is freed; a released one moves back to the front of the waiting list, so
 * it is the next one got (at-least-once delivery). unfinished counts the
 * items put and not yet acknowledged, as Python's JoinableQueue does.
 * Queues are found by name in a hash table (byte_table.h, keyed with
 * SipHash: names a client picks cannot make it walk), items by id in a
 * hash of their own (for the journal's replay, which names them by id). */
#include "manager/server/queue_store.h"

#include "manager/byte_table.h"

#include <stdlib.h>
#include <string.h>

struct mproc__qitem {
    struct mproc__qitem *prev, *next;   /* on its queue's waiting or held list */
    struct mproc__qitem *hprev, *hnext; /* on its holder's list, while held */
    struct mproc__rq *q;
    mproc__qholder_t *holder; /* while held (the store's `nobody` after a restart) */
    uint64_t id;              /* unique in the store: how the journal names it */
    size_t len;
    unsigned char data[];
};
typedef struct mproc__qitem item_t;

struct list {
    item_t *head, *tail;
    size_t n;
};

struct mproc__rq {
    struct mproc__qstore *qs;
    uint64_t maxsize;
    struct list waiting, held;
    size_t nlen;
    unsigned char name[];
};

/* id -> item: open addressing, linear probing, deletion by backward shift
 * (no tombstones: a long run of puts and dones never degrades it). */
struct ids {
    item_t **slot;
    size_t cap; /* a power of two, or 0 */
    size_t n;
};

struct mproc__qstore {
    mproc__table_t names; /* name -> struct mproc__rq *, in value.data */
    struct ids ids;
    mproc__qholder_t nobody; /* what was held when the old server ended */
    mproc__quota_t *quota;
    uint64_t next_id;
};

#define ITEM_COST(len) ((len) + (size_t)MPROC__QITEM_OVERHEAD)
#define QUEUE_COST(nlen) ((nlen) + (size_t)MPROC__QUEUE_OVERHEAD)

static int fits(const mproc__quota_t *quota, size_t delta)
{
    return quota->max == 0 || (quota->used <= quota->max && delta <= quota->max - quota->used);
}

/* ---- ids ---- */

static size_t id_slot(const struct ids *t, uint64_t id)
{
    /* a 64-bit finaliser (MurmurHash3's): sequential ids spread over the table */
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdull;
    id ^= id >> 33;
    return (size_t)id & (t->cap - 1);
}

static item_t *ids_find(const struct ids *t, uint64_t id)
{
    if (t->cap == 0)
        return NULL;
    for (size_t i = id_slot(t, id);; i = (i + 1) & (t->cap - 1)) {
        if (t->slot[i] == NULL)
            return NULL;
        if (t->slot[i]->id == id)
            return t->slot[i];
    }
}

static void ids_place(struct ids *t, item_t *it)
{
    size_t i = id_slot(t, it->id);
    while (t->slot[i] != NULL)
        i = (i + 1) & (t->cap - 1);
    t->slot[i] = it;
    t->n++;
}

/* Adds it (its id not there yet). 0 or MPROC_ENOMEM (nothing changed). */
static int ids_add(struct ids *t, item_t *it)
{
    if ((t->n + 1) * 2 > t->cap) { /* at most half full: probes stay short */
        size_t cap = t->cap > 0 ? t->cap * 2 : 64;
        item_t **slot = mproc__mgr_calloc(cap, sizeof *slot);
        if (slot == NULL)
            return MPROC_ENOMEM;
        struct ids old = *t;
        *t = (struct ids){ slot, cap, 0 };
        for (size_t i = 0; i < old.cap; i++)
            if (old.slot[i] != NULL)
                ids_place(t, old.slot[i]);
        free(old.slot);
    }
    ids_place(t, it);
    return 0;
}

static void ids_remove(struct ids *t, const item_t *it)
{
    if (t->cap == 0)
        return;
    size_t mask = t->cap - 1, i = id_slot(t, it->id);
    while (t->slot[i] != it) {
        if (t->slot[i] == NULL)
            return;
        i = (i + 1) & mask;
    }
    t->slot[i] = NULL;
    t->n--;
    /* pull back the entries after it that probed past the hole */
    for (size_t j = (i + 1) & mask; t->slot[j] != NULL; j = (j + 1) & mask) {
        size_t home = id_slot(t, t->slot[j]->id);
        /* j's entry may move to the hole unless its home lies in (i, j] */
        int stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            t->slot[i] = t->slot[j];
            t->slot[j] = NULL;
            i = j;
        }
    }
}

/* ---- lists ---- */

static void list_unlink(struct list *l, item_t *it)
{
    if (it->prev != NULL)
        it->prev->next = it->next;
    else
        l->head = it->next;
    if (it->next != NULL)
        it->next->prev = it->prev;
    else
        l->tail = it->prev;
    it->prev = it->next = NULL;
    l->n--;
}

static void list_push_back(struct list *l, item_t *it)
{
    it->next = NULL;
    it->prev = l->tail;
    if (l->tail != NULL)
        l->tail->next = it;
    else
        l->head = it;
    l->tail = it;
    l->n++;
}

static void list_push_front(struct list *l, item_t *it)
{
    it->prev = NULL;
    it->next = l->head;
    if (l->head != NULL)
        l->head->prev = it;
    else
        l->tail = it;
    l->head = it;
    l->n++;
}

static void hold(mproc__qholder_t *h, item_t *it)
{
    it->holder = h;
    it->hnext = NULL;
    it->hprev = h->tail;
    if (h->tail != NULL)
        h->tail->hnext = it;
    else
        h->head = it;
    h->tail = it;
}

static void unhold(item_t *it)
{
    mproc__qholder_t *h = it->holder;
    if (it->hprev != NULL)
        it->hprev->hnext = it->hnext;
    else
        h->head = it->hnext;
    if (it->hnext != NULL)
        it->hnext->hprev = it->hprev;
    else
        h->tail = it->hprev;
    it->hprev = it->hnext = NULL;
    it->holder = NULL;
}

/* Frees an item already off its lists. */
static void item_free(mproc__qstore_t *qs, item_t *it)
{
    ids_remove(&qs->ids, it);
    qs->quota->used -= ITEM_COST(it->len);
    free(it);
}

static void queue_free(void *p)
{
    struct mproc__rq *q = p;
    if (q == NULL)
        return;
    mproc__qstore_t *qs = q->qs;
    struct list *lists[2] = { &q->waiting, &q->held };
    for (int k = 0; k < 2; k++)
        while (lists[k]->head != NULL) {
            item_t *it = lists[k]->head;
            list_unlink(lists[k], it);
            if (it->holder != NULL)
                unhold(it);
            item_free(qs, it);
        }
    qs->quota->used -= QUEUE_COST(q->nlen);
    free(q);
}

mproc__qstore_t *mproc__qstore_new(mproc__quota_t *quota)
{
    mproc__qstore_t *qs = mproc__mgr_calloc(1, sizeof(mproc__qstore_t));
    if (qs != NULL)
        qs->quota = quota;
    return qs;
}

void mproc__qstore_clear(mproc__qstore_t *qs)
{
    mproc__table_clear(&qs->names, queue_free);
    memset(&qs->names, 0, sizeof qs->names);
    free(qs->ids.slot);
    qs->ids = (struct ids){ 0 };
    qs->nobody = (mproc__qholder_t){ 0 };
}

void mproc__qstore_free(mproc__qstore_t *qs)
{
    if (qs == NULL)
        return;
    mproc__qstore_clear(qs);
    free(qs);
}

static struct mproc__rq *find_queue(const mproc__qstore_t *qs, const void *name, size_t nlen)
{
    int64_t pos = mproc__table_find(&qs->names, name, nlen);
    return pos >= 0 ? qs->names.entries[pos].value.data : NULL;
}

int mproc__qstore_open(mproc__qstore_t *qs, const void *name, size_t nlen, uint64_t maxsize,
                       mproc__rq_t **out)
{
    struct mproc__rq *q = find_queue(qs, name, nlen);
    if (q != NULL) {
        *out = q;
        return 0;
    }
    if (!fits(qs->quota, QUEUE_COST(nlen)))
        return MPROC_ENOMEM;
    q = mproc__mgr_calloc(1, sizeof *q + nlen);
    if (q == NULL)
        return MPROC_ENOMEM;
    q->maxsize = maxsize;
    q->nlen = nlen;
    memcpy(q->name, name, nlen);
    q->qs = qs;
    mproc_buf_t value = { q, 0 };
    if (mproc__table_set(&qs->names, name, nlen, value) < 0)
        return MPROC_ENOMEM; /* q was freed with the value */
    qs->quota->used += QUEUE_COST(nlen);
    *out = q;
    return 0;
}

uint64_t mproc__rq_maxsize(const mproc__rq_t *q)
{
    return q->maxsize;
}

int mproc__rq_full(const mproc__rq_t *q)
{
    return q->maxsize > 0 && q->waiting.n >= q->maxsize;
}

/* A new item of q with that id, counted and findable by id, on no list
 * yet; NULL: MPROC_ENOMEM (nothing changed). The quota is the caller's. */
static item_t *new_item(struct mproc__rq *q, const void *data, size_t len, uint64_t id)
{
    item_t *it = mproc__mgr_malloc(sizeof *it + len);
    if (it == NULL)
        return NULL;
    *it = (item_t){ .q = q, .id = id, .len = len };
    if (len > 0)
        memcpy(it->data, data, len);
    if (ids_add(&q->qs->ids, it) != 0) {
        free(it);
        return NULL;
    }
    q->qs->quota->used += ITEM_COST(len);
    return it;
}

int mproc__rq_put(mproc__rq_t *q, const void *data, size_t len, uint64_t *id)
{
    if (mproc__rq_full(q))
        return MPROC_EFULL;
    if (!fits(q->qs->quota, ITEM_COST(len)))
        return MPROC_ENOMEM;
    item_t *it = new_item(q, data, len, q->qs->next_id + 1);
    if (it == NULL)
        return MPROC_ENOMEM;
    q->qs->next_id++;
    list_push_back(&q->waiting, it);
    *id = it->id;
    return 0;
}

int mproc__rq_take(mproc__rq_t *q, mproc__qholder_t *owner, const void **data, size_t *len, uint64_t *id)
{
    item_t *it = q->waiting.head;
    if (it == NULL)
        return MPROC_EEMPTY;
    list_unlink(&q->waiting, it);
    list_push_back(&q->held, it);
    hold(owner, it);
    *data = it->data;
    *len = it->len;
    *id = it->id;
    return 0;
}

int mproc__rq_done(mproc__rq_t *q, mproc__qholder_t *owner, uint64_t *id)
{
    for (item_t *it = owner->head; it != NULL; it = it->hnext)
        if (it->q == q) {
            *id = it->id;
            unhold(it);
            list_unlink(&q->held, it);
            item_free(q->qs, it);
            return 0;
        }
    return MPROC_EOVERFLOW;
}

size_t mproc__rq_waiting(const mproc__rq_t *q)
{
    return q->waiting.n;
}

/* An item leaves only when acknowledged: what is left is what join waits for. */
uint64_t mproc__rq_unfinished(const mproc__rq_t *q)
{
    return q->waiting.n + q->held.n;
}

size_t mproc__qstore_release(mproc__qstore_t *qs, mproc__qholder_t *owner)
{
    if (owner == NULL)
        owner = &qs->nobody;
    size_t n = 0;
    /* newest first, each to the front of its queue: the oldest ends up first */
    while (owner->tail != NULL) {
        item_t *it = owner->tail;
        unhold(it);
        list_unlink(&it->q->held, it);
        list_push_front(&it->q->waiting, it);
        n++;
    }
    return n;
}

/* ---- the journal and snapshots ---- */

void mproc__qstore_record(mproc__wbuf_t *w, unsigned qop, const mproc__rq_t *q, uint64_t num,
                          const void *data, size_t len)
{
    mproc__wbuf_reset(w);
    mproc__put_u8(w, qop);
    mproc__put_u16(w, (unsigned)q->nlen);
    mproc__put_raw(w, q->name, q->nlen);
    mproc__put_u64(w, num);
    if (qop == MPROC__QREC_PUT)
        mproc__put_bytes(w, data, len);
}

int mproc__qstore_apply(mproc__qstore_t *qs, const unsigned char *body, size_t len)
{
    mproc__rbuf_t r = { body, body + len, 0 };
    unsigned qop = mproc__get_u8(&r);
    size_t nlen = mproc__get_u16(&r);
    if (r.bad || nlen == 0 || nlen > MPROC__MGR_NAME_MAX || (size_t)(r.end - r.p) < nlen)
        return MPROC_EPROTO;
    const unsigned char *name = r.p;
    r.p += nlen;
    uint64_t num = mproc__get_u64(&r);
    mproc_buf_t data = { 0 };
    if (qop == MPROC__QREC_PUT)
        data = mproc__get_bytes(&r, MPROC__MGR_VALUE_MAX);
    if (r.bad || r.p != r.end || qop < MPROC__QREC_OPEN || qop > MPROC__QREC_DONE)
        return MPROC_EPROTO;
    mproc__rq_t *q;
    int e = mproc__qstore_open(qs, name, nlen, qop == MPROC__QREC_OPEN ? num : 0, &q);
    if (e != 0 || qop == MPROC__QREC_OPEN)
        return e;
    if (qop == MPROC__QREC_PUT) {
        if (num <= qs->next_id)
            return MPROC_EPROTO; /* ids only grow */
        item_t *it = new_item(q, data.data, data.len, num);
        if (it == NULL)
            return MPROC_ENOMEM;
        qs->next_id = num;
        list_push_back(&q->waiting, it);
        return 0;
    }
    /* a take or a done names an item by id (found by hash: a replay is
     * linear in the journal); one taken again after a restart may be held
     * by nobody, or waiting */
    item_t *it = ids_find(&qs->ids, num);
    if (it == NULL || it->q != q)
        return MPROC_EPROTO;
    if (it->holder != NULL) {
        unhold(it);
        list_unlink(&q->held, it);
    } else {
        list_unlink(&q->waiting, it);
    }
    if (qop == MPROC__QREC_DONE) {
        item_free(qs, it);
        return 0;
    }
    list_push_back(&q->held, it);
    hold(&qs->nobody, it);
    return 0;
}

void mproc__qstore_save(const mproc__qstore_t *qs, mproc__wbuf_t *out)
{
    for (size_t i = 0; i < qs->names.used; i++) {
        if (qs->names.entries[i].key.data == NULL)
            continue;
        const struct mproc__rq *q = qs->names.entries[i].value.data;
        mproc__put_u8(out, MPROC__QSNAP_KIND);
        mproc__put_u16(out, (unsigned)q->nlen);
        mproc__put_raw(out, q->name, q->nlen);
        mproc__put_u64(out, q->maxsize);
        mproc__put_u64(out, qs->next_id);
        mproc__put_u32(out, (uint32_t)(q->held.n + q->waiting.n));
        /* held ones first: they go back to the front after a restart */
        for (const item_t *it = q->held.head; it != NULL; it = it->next) {
            mproc__put_u64(out, it->id);
            mproc__put_u8(out, 1);
            mproc__put_bytes(out, it->data, it->len);
        }
        for (const item_t *it = q->waiting.head; it != NULL; it = it->next) {
            mproc__put_u64(out, it->id);
            mproc__put_u8(out, 0);
            mproc__put_bytes(out, it->data, it->len);
        }
    }
}

int mproc__qstore_load(mproc__qstore_t *qs, mproc__rbuf_t *r)
{
    size_t nlen = mproc__get_u16(r);
    if (r->bad || nlen == 0 || nlen > MPROC__MGR_NAME_MAX || (size_t)(r->end - r->p) < nlen)
        return MPROC_EPROTO;
    const unsigned char *name = r->p;
    r->p += nlen;
    uint64_t maxsize = mproc__get_u64(r);
    uint64_t next_id = mproc__get_u64(r);
    uint32_t count = mproc__get_u32(r);
    if (r->bad || (uint64_t)count * 13 > (uint64_t)(r->end - r->p))
        return MPROC_EPROTO;
    if (find_queue(qs, name, nlen) != NULL)
        return MPROC_EPROTO; /* a name twice */
    mproc__rq_t *q;
    int e = mproc__qstore_open(qs, name, nlen, maxsize, &q);
    if (e != 0)
        return e;
    if (next_id > qs->next_id)
        qs->next_id = next_id;
    for (uint32_t i = 0; i < count; i++) {
        uint64_t id = mproc__get_u64(r);
        unsigned held = mproc__get_u8(r);
        mproc_buf_t b = mproc__get_bytes(r, MPROC__MGR_VALUE_MAX);
        if (r->bad || held > 1 || id > qs->next_id || ids_find(&qs->ids, id) != NULL)
            return MPROC_EPROTO; /* an id twice, too */
        item_t *it = new_item(q, b.data, b.len, id);
        if (it == NULL)
            return MPROC_ENOMEM;
        list_push_back(held ? &q->held : &q->waiting, it);
        if (held)
            hold(&qs->nobody, it);
    }
    return 0;
}
