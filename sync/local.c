/* Thread-local data (threading.local): a pthread key, plus a list of every
 * thread's block so that mproc_local_destroy can free them all. Private to
 * the process; nothing here is shared memory. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

struct block {
    struct block *prev, *next;
    struct local_impl *owner;
    max_align_t data[]; /* the user's bytes, suitably aligned */
};

struct local_impl {
    pthread_key_t key;
    size_t size;
    void (*init)(void *data);
    void (*destroy)(void *data);
    pthread_mutex_t lock; /* guards the list */
    struct block *blocks;
};
MPROC__FITS(struct local_impl, mproc_local_t);

#define IMPL(l) ((struct local_impl *)(void *)(l))

static void unlink_block(struct local_impl *li, struct block *b)
{
    if (b->prev != NULL)
        b->prev->next = b->next;
    else
        li->blocks = b->next;
    if (b->next != NULL)
        b->next->prev = b->prev;
}

static void free_block(struct local_impl *li, struct block *b)
{
    if (li->destroy != NULL)
        li->destroy(b->data);
    free(b);
}

/* Runs at thread exit for a thread that has a block. */
static void thread_exit(void *value)
{
    struct block *b = value;
    struct local_impl *li = b->owner;
    pthread_mutex_lock(&li->lock);
    unlink_block(li, b);
    pthread_mutex_unlock(&li->lock);
    free_block(li, b);
}

int mproc_local_init(mproc_local_t *l, size_t size, void (*init)(void *data), void (*destroy)(void *data))
{
    if (l == NULL || size == 0 || size > SIZE_MAX / 2)
        return MPROC_EINVAL;
    struct local_impl *li = IMPL(l);
    memset(l, 0, sizeof *l);
    int r = pthread_key_create(&li->key, thread_exit);
    if (r != 0)
        return MPROC_ENOMEM;
    li->size = size;
    li->init = init;
    li->destroy = destroy;
    pthread_mutex_init(&li->lock, NULL);
    return 0;
}

void *mproc_local_get(mproc_local_t *l)
{
    struct local_impl *li = IMPL(l);
    struct block *b = pthread_getspecific(li->key);
    if (b != NULL)
        return b->data;
    b = calloc(1, sizeof *b + li->size);
    if (b == NULL)
        return NULL;
    b->owner = li;
    if (pthread_setspecific(li->key, b) != 0) {
        free(b);
        return NULL;
    }
    pthread_mutex_lock(&li->lock);
    b->next = li->blocks;
    if (b->next != NULL)
        b->next->prev = b;
    li->blocks = b;
    pthread_mutex_unlock(&li->lock);
    if (li->init != NULL)
        li->init(b->data);
    return b->data;
}

int mproc_local_destroy(mproc_local_t *l)
{
    if (l == NULL)
        return MPROC_EINVAL;
    struct local_impl *li = IMPL(l);
    pthread_key_delete(li->key);
    struct block *b = li->blocks;
    while (b != NULL) {
        struct block *next = b->next;
        free_block(li, b);
        b = next;
    }
    li->blocks = NULL;
    pthread_mutex_destroy(&li->lock);
    return 0;
}
