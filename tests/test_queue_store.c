/* White-box checks of the queue's storage (sync/queue_store.c, compiled in
 * here): what each side's recovery may write. A FIFO queue has one mutex
 * per side, and a side's recovery runs while the other side may be working
 * under its own mutex: it must leave every byte the other side owns alone.
 * (A consumer's recovery that rewrote the producers' cached head once let a
 * reset put overwrite a committed message; test_crash_points catches that
 * write only when it follows its stop point, these checks wherever it is.) */
#include "helpers.h"
#include "queue_store.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define CAPACITY 4096u
#define SENTINEL 0x5eed5eed5eed5eedull

struct fifo {
    struct queue_shared *q;
    size_t size;
};

/* A FIFO queue in private memory (no mutexes needed: one thread), with
 * five messages put and two taken, so that head and tail are both past
 * offset 0 and apart (the checks set both cached words themselves). */
static struct fifo new_fifo(void)
{
    struct fifo f = { NULL, queue_store_size(CAPACITY, 0) };
    f.q = aligned_alloc(64, (f.size + 63) & ~(size_t)63);
    ck_assert_ptr_nonnull(f.q);
    memset(f.q, 0, f.size);
    queue_store_init(f.q, MPROC_FIFO, 0, CAPACITY, 0);
    ck_assert(queue_store_valid(f.q, f.size));
    char msg[40] = "a message";
    for (int i = 0; i < 5; i++) {
        ck_assert(queue_store_has_room(f.q, sizeof msg));
        queue_store_put(f.q, msg, sizeof msg, 0);
    }
    for (int i = 0; i < 2; i++) {
        struct queue_entry e;
        ck_assert(queue_store_has_item(f.q));
        queue_store_peek(f.q, &e);
        queue_store_take(f.q, &e);
    }
    ck_assert_uint_eq(queue_store_items(f.q), 3);
    return f;
}

/* Every byte of the queue but the 8 at `field` is as in `before`. */
static void only_changed(const struct fifo *f, const unsigned char *before, size_t field)
{
    const unsigned char *now = (const unsigned char *)f->q;
    ck_assert_mem_eq(now, before, field);
    ck_assert_mem_eq(now + field + 8, before + field + 8, f->size - field - 8);
}

static uint64_t word_at(const struct fifo *f, size_t at)
{
    uint64_t w;
    memcpy(&w, (const unsigned char *)f->q + at, sizeof w);
    return w;
}

/* One side's recovery, on a queue where that side's cached word (at `own`)
 * is stale and the other side's (at `other`) holds a sentinel: afterwards
 * only `own` has changed, to the side's view of the other's word (at
 * `source`). */
static void recovery_writes_only(void (*recover)(struct queue_shared *), size_t own, size_t other,
                                 size_t source)
{
    struct fifo f = new_fifo();
    uint64_t sentinel = SENTINEL, stale = 0;
    memcpy((unsigned char *)f.q + other, &sentinel, sizeof sentinel);
    memcpy((unsigned char *)f.q + own, &stale, sizeof stale);
    unsigned char *before = malloc(f.size);
    ck_assert_ptr_nonnull(before);
    memcpy(before, f.q, f.size);
    recover(f.q);
    only_changed(&f, before, own);
    ck_assert_uint_eq(word_at(&f, other), SENTINEL);
    ck_assert_uint_eq(word_at(&f, own), word_at(&f, source));
    free(before);
    free(f.q);
}

START_TEST(a_consumers_recovery_writes_only_the_consumers_cached_tail)
{
    recovery_writes_only(queue_store_recover_get, offsetof(struct queue_shared, tail_seen),
                         offsetof(struct queue_shared, head_seen), offsetof(struct queue_shared, tail));
}
END_TEST

START_TEST(a_producers_recovery_writes_only_the_producers_cached_head)
{
    recovery_writes_only(queue_store_recover_put, offsetof(struct queue_shared, head_seen),
                         offsetof(struct queue_shared, tail_seen), offsetof(struct queue_shared, head));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("queue_store");
    TCase *t = tcase_create("recovery");
    tcase_add_test(t, a_consumers_recovery_writes_only_the_consumers_cached_tail);
    tcase_add_test(t, a_producers_recovery_writes_only_the_producers_cached_head);
    suite_add_tcase(s, t);
    return run_suite(s);
}
