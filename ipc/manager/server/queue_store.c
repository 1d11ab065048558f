/* Manager queues on mproc's server (queue_store.h).
 *
 * A queue is a doubly linked list of waiting items and a list of held items
 * in the order they were taken, each tagged with its owner. An acknowledged
 * item is freed; a released one moves back to the front of the waiting list,
 * so it is the next one got (at-least-once delivery). unfinished counts the
 * items put and not yet acknowledged, as Python's JoinableQueue does. */
#include "manager/server/queue_store.h"

#include <stdlib.h>
#include <string.h>

struct item {
    struct item *prev, *next;
    uint64_t id;    /* unique in the store: how the journal names it */
    uint64_t owner; /* while held; 0: held by nobody (after a restart) */
    size_t len;
    unsigned char data[];
};

struct list {
    struct item *head, *tail;
    size_t n;
};

struct mproc__rq {
    struct mproc__rq *next;
    struct mproc__qstore *qs;
    uint64_t maxsize;
    struct list waiting, held;
    size_t nlen;
    unsigned char name[];
};

struct mproc__qstore {
    struct mproc__rq *queues;
    uint64_t next_id;
};

static void list_unlink(struct list *l, struct item *it)
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

static void list_push_back(struct list *l, struct item *it)
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

static void list_push_front(struct list *l, struct item *it)
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

static void list_free(struct list *l)
{
    while (l->head != NULL) {
        struct item *it = l->head;
        l->head = it->next;
        free(it);
    }
    l->tail = NULL;
    l->n = 0;
}

mproc__qstore_t *mproc__qstore_new(void)
{
    return mproc__mgr_calloc(1, sizeof(mproc__qstore_t));
}

void mproc__qstore_clear(mproc__qstore_t *qs)
{
    while (qs->queues != NULL) {
        struct mproc__rq *q = qs->queues;
        qs->queues = q->next;
        list_free(&q->waiting);
        list_free(&q->held);
        free(q);
    }
}

void mproc__qstore_free(mproc__qstore_t *qs)
{
    if (qs == NULL)
        return;
    mproc__qstore_clear(qs);
    free(qs);
}

int mproc__qstore_open(mproc__qstore_t *qs, const void *name, size_t nlen, uint64_t maxsize,
                       mproc__rq_t **out)
{
    for (struct mproc__rq *q = qs->queues; q != NULL; q = q->next)
        if (q->nlen == nlen && memcmp(q->name, name, nlen) == 0) {
            *out = q;
            return 0;
        }
    struct mproc__rq *q = mproc__mgr_calloc(1, sizeof *q + nlen);
    if (q == NULL)
        return MPROC_ENOMEM;
    q->maxsize = maxsize;
    q->nlen = nlen;
    memcpy(q->name, name, nlen);
    q->qs = qs;
    q->next = qs->queues;
    qs->queues = q;
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

static struct item *new_item(const void *data, size_t len, uint64_t id)
{
    struct item *it = mproc__mgr_malloc(sizeof *it + len);
    if (it == NULL)
        return NULL;
    it->prev = it->next = NULL;
    it->id = id;
    it->owner = 0;
    it->len = len;
    if (len > 0)
        memcpy(it->data, data, len);
    return it;
}

int mproc__rq_put(mproc__rq_t *q, const void *data, size_t len, uint64_t *id)
{
    if (mproc__rq_full(q))
        return MPROC_EFULL;
    struct item *it = new_item(data, len, q->qs->next_id + 1);
    if (it == NULL)
        return MPROC_ENOMEM;
    q->qs->next_id++;
    list_push_back(&q->waiting, it);
    *id = it->id;
    return 0;
}

int mproc__rq_take(mproc__rq_t *q, uint64_t owner, const void **data, size_t *len, uint64_t *id)
{
    struct item *it = q->waiting.head;
    if (it == NULL)
        return MPROC_EEMPTY;
    list_unlink(&q->waiting, it);
    it->owner = owner;
    list_push_back(&q->held, it);
    *data = it->data;
    *len = it->len;
    *id = it->id;
    return 0;
}

int mproc__rq_done(mproc__rq_t *q, uint64_t owner, uint64_t *id)
{
    for (struct item *it = q->held.head; it != NULL; it = it->next)
        if (it->owner == owner) {
            *id = it->id;
            list_unlink(&q->held, it);
            free(it);
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

size_t mproc__qstore_release(mproc__qstore_t *qs, uint64_t owner)
{
    size_t n = 0;
    for (struct mproc__rq *q = qs->queues; q != NULL; q = q->next) {
        /* newest first, each to the front: the oldest ends up first */
        for (struct item *it = q->held.tail, *prev; it != NULL; it = prev) {
            prev = it->prev;
            if (it->owner != owner)
                continue;
            list_unlink(&q->held, it);
            list_push_front(&q->waiting, it);
            n++;
        }
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

static struct item *find_id(struct list *l, uint64_t id)
{
    for (struct item *it = l->head; it != NULL; it = it->next)
        if (it->id == id)
            return it;
    return NULL;
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
        struct item *it = new_item(data.data, data.len, num);
        if (it == NULL)
            return MPROC_ENOMEM;
        qs->next_id = num;
        list_push_back(&q->waiting, it);
        return 0;
    }
    /* a take or a done names an item taken again after a restart: it may
     * be held by nobody, or waiting */
    struct item *it = find_id(&q->waiting, num);
    struct list *from = &q->waiting;
    if (it == NULL) {
        it = find_id(&q->held, num);
        from = &q->held;
    }
    if (it == NULL)
        return MPROC_EPROTO;
    list_unlink(from, it);
    if (qop == MPROC__QREC_DONE) {
        free(it);
        return 0;
    }
    it->owner = 0;
    list_push_back(&q->held, it);
    return 0;
}

void mproc__qstore_save(const mproc__qstore_t *qs, mproc__wbuf_t *out)
{
    for (const struct mproc__rq *q = qs->queues; q != NULL; q = q->next) {
        mproc__put_u8(out, MPROC__QSNAP_KIND);
        mproc__put_u16(out, (unsigned)q->nlen);
        mproc__put_raw(out, q->name, q->nlen);
        mproc__put_u64(out, q->maxsize);
        mproc__put_u64(out, qs->next_id);
        mproc__put_u32(out, (uint32_t)(q->held.n + q->waiting.n));
        /* held ones first: they go back to the front after a restart */
        for (const struct item *it = q->held.head; it != NULL; it = it->next) {
            mproc__put_u64(out, it->id);
            mproc__put_u8(out, 1);
            mproc__put_bytes(out, it->data, it->len);
        }
        for (const struct item *it = q->waiting.head; it != NULL; it = it->next) {
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
    for (struct mproc__rq *q = qs->queues; q != NULL; q = q->next)
        if (q->nlen == nlen && memcmp(q->name, name, nlen) == 0)
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
        if (r->bad || held > 1 || id > qs->next_id)
            return MPROC_EPROTO;
        struct item *it = new_item(b.data, b.len, id);
        if (it == NULL)
            return MPROC_ENOMEM;
        list_push_back(held ? &q->held : &q->waiting, it);
    }
    return 0;
}
