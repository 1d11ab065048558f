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
    uint64_t owner; /* while held */
    size_t len;
    unsigned char data[];
};

struct list {
    struct item *head, *tail;
    size_t n;
};

struct mproc__rq {
    struct mproc__rq *next;
    uint64_t maxsize;
    uint64_t unfinished;
    struct list waiting, held;
    size_t nlen;
    unsigned char name[];
};

struct mproc__qstore {
    struct mproc__rq *queues;
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

void mproc__qstore_free(mproc__qstore_t *qs)
{
    if (qs == NULL)
        return;
    while (qs->queues != NULL) {
        struct mproc__rq *q = qs->queues;
        qs->queues = q->next;
        list_free(&q->waiting);
        list_free(&q->held);
        free(q);
    }
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
    q->next = qs->queues;
    qs->queues = q;
    *out = q;
    return 0;
}

int mproc__rq_full(const mproc__rq_t *q)
{
    return q->maxsize > 0 && q->waiting.n >= q->maxsize;
}

int mproc__rq_put(mproc__rq_t *q, const void *data, size_t len)
{
    if (mproc__rq_full(q))
        return MPROC_EFULL;
    struct item *it = mproc__mgr_malloc(sizeof *it + len);
    if (it == NULL)
        return MPROC_ENOMEM;
    it->len = len;
    if (len > 0)
        memcpy(it->data, data, len);
    list_push_back(&q->waiting, it);
    q->unfinished++;
    return 0;
}

int mproc__rq_take(mproc__rq_t *q, uint64_t owner, const void **data, size_t *len)
{
    struct item *it = q->waiting.head;
    if (it == NULL)
        return MPROC_EEMPTY;
    list_unlink(&q->waiting, it);
    it->owner = owner;
    list_push_back(&q->held, it);
    *data = it->data;
    *len = it->len;
    return 0;
}

int mproc__rq_done(mproc__rq_t *q, uint64_t owner)
{
    for (struct item *it = q->held.head; it != NULL; it = it->next)
        if (it->owner == owner) {
            list_unlink(&q->held, it);
            free(it);
            q->unfinished--;
            return 0;
        }
    return MPROC_EOVERFLOW;
}

size_t mproc__rq_waiting(const mproc__rq_t *q)
{
    return q->waiting.n;
}

uint64_t mproc__rq_unfinished(const mproc__rq_t *q)
{
    return q->unfinished;
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
