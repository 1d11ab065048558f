/* Event: one atomic word and a wait queue; no lock, so nothing for a dying
 * process to leave held.
 *
 * The word holds the flag (bit 0) and a count of set() calls (bits 1..31).
 * A waiter remembers the count it saw; when the count moves it returns 0
 * even if clear() already lowered the flag again (threading.Event's promise:
 * a waiter blocked when set() happens is released). */
#include "internal.h"

#include <string.h>

struct event_impl {
    _Atomic uint32_t word;
    mproc__waitq_t waitq;
};
MPROC__FITS(struct event_impl, mproc_event_t);

#define IMPL(e) ((struct event_impl *)(void *)(e))
#define FLAG 1u
#define ONE_SET 2u

int mproc_event_init(mproc_event_t *e)
{
    if (e == NULL)
        return MPROC_EINVAL;
    memset(e, 0, sizeof *e);
    return 0;
}

int mproc_event_destroy(mproc_event_t *e)
{
    return e == NULL ? MPROC_EINVAL : 0;
}

static int init_payload(void *payload, const void *arg)
{
    (void)arg;
    return mproc_event_init(payload);
}

int mproc_event_create(mproc_event_t **e, const char *name)
{
    return mproc__segment_create((void **)e, name, MPROC__TYPE_EVENT, sizeof **e, init_payload, NULL);
}

int mproc_event_open(mproc_event_t **e, const char *name)
{
    return mproc__segment_open((void **)e, name, MPROC__TYPE_EVENT, sizeof **e);
}

int mproc_event_close(mproc_event_t *e)
{
    return mproc__segment_close(e, MPROC__TYPE_EVENT);
}

int mproc_event_set(mproc_event_t *e)
{
    struct event_impl *ei = IMPL(e);
    uint32_t w = atomic_load(&ei->word);
    do {
        if (w & FLAG)
            return 0;
    } while (!atomic_compare_exchange_weak(&ei->word, &w, (w + ONE_SET) | FLAG));
    MPROC__CRASH(EVENT_SET_STORED);
    mproc__waitq_wake(&ei->waitq);
    return 0;
}

int mproc_event_clear(mproc_event_t *e)
{
    atomic_fetch_and(&IMPL(e)->word, ~FLAG);
    return 0;
}

int mproc_event_is_set(mproc_event_t *e)
{
    return (atomic_load(&IMPL(e)->word) & FLAG) != 0;
}

struct set_since {
    struct event_impl *event;
    uint32_t seen; /* the word when the wait began */
};

/* Set now, or set (and maybe cleared again) since the wait began. */
static int set_since(void *arg)
{
    const struct set_since *w = arg;
    uint32_t word = atomic_load(&w->event->word);
    return (word & FLAG) || (word & ~FLAG) != (w->seen & ~FLAG);
}

int mproc_event_wait(mproc_event_t *e, double timeout)
{
    mproc__deadline_t d;
    int r = mproc__deadline_init(&d, timeout);
    if (r != 0)
        return r;
    struct set_since w = { IMPL(e), atomic_load(&IMPL(e)->word) };
    return mproc__waitq_wait_for(&w.event->waitq, set_since, &w, &d, MPROC__CP_EVENT_WAIT_WOKEN);
}
