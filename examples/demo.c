/* The mproc demo: forked workers sharing state, and surviving a crash.
 *
 * Four worker processes count the primes below 2,000,000 in chunks:
 *   - an Event starts them all at once;
 *   - a Barrier with an action separates the warm-up phase from the work;
 *   - a Lock guards the shared work list and the totals;
 *   - a Condition carries progress to the parent, which prints a live line;
 *   - a Semaphore caps how many workers may be inside the heavy part at once;
 *   - one worker is killed with SIGKILL while it holds the Lock. The next
 *     worker to take the Lock gets MPROC_EOWNERDEAD, sees which chunk the
 *     dead worker had claimed, and puts it back. The final count is checked
 *     against a count done by the parent alone: nothing lost, nothing twice.
 */
#include <mproc.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define WORKERS 4
#define LIMIT 2000000L
#define CHUNK 20000L
#define CHUNKS (LIMIT / CHUNK)
#define VICTIM 2            /* this worker dies holding the lock ... */
#define VICTIM_AFTER 10     /* ... after finishing this many chunks */

struct shared {
    mproc_event_t start;
    mproc_barrier_t warmed_up;
    mproc_lock_t lock;        /* guards everything below but `progress` */
    mproc_sem_t heavy_slots;
    mproc_cond_t progress;    /* guards chunks_done */

    long next_chunk;
    long retry[WORKERS];      /* chunks given back after a death; -1 = none */
    int holder;               /* worker holding the lock */
    long claimed[WORKERS];    /* chunk each worker is counting; -1 = none */
    long primes;
    long per_worker[WORKERS];
    int recoveries;
    int chunks_done;
};

static struct shared *s;

static int is_prime(long n)
{
    if (n < 2)
        return 0;
    for (long d = 2; d * d <= n; d++)
        if (n % d == 0)
            return 0;
    return 1;
}

static long count_primes(long from, long to)
{
    long n = 0;
    for (long i = from; i < to; i++)
        n += is_prime(i);
    return n;
}

/* Takes the lock; after a holder's death, repairs what it left behind. */
static void lock_shared(int me)
{
    if (mproc_lock_acquire(&s->lock, MPROC_FOREVER) == MPROC_EOWNERDEAD) {
        int dead = s->holder;
        if (s->claimed[dead] >= 0) {
            s->retry[dead] = s->claimed[dead]; /* its chunk was never counted */
            s->claimed[dead] = -1;
        }
        s->recoveries++;
        printf("\nworker %d: lock recovered from dead worker %d, chunk %ld re-queued\n",
               me, dead, s->retry[dead]);
        fflush(stdout);
    }
    s->holder = me;
}

/* Next chunk to count, -1 when none is left. Lock held. */
static long take_chunk(void)
{
    for (int i = 0; i < WORKERS; i++) {
        if (s->retry[i] >= 0) {
            long c = s->retry[i];
            s->retry[i] = -1;
            return c;
        }
    }
    return s->next_chunk < CHUNKS ? s->next_chunk++ : -1;
}

static int announce_phase(void *arg)
{
    (void)arg;
    printf("\nall %d workers warmed up; counting primes below %ld\n", WORKERS, LIMIT);
    fflush(stdout);
    return 0;
}

static int worker(void *arg)
{
    int me = (int)(intptr_t)arg;
    if (mproc_event_wait(&s->start, 10) != 0)
        return 1;
    count_primes(0, 1000); /* warm-up */
    if (mproc_barrier_wait_action(&s->warmed_up, 10, announce_phase, NULL) < 0)
        return 2;

    for (int done = 0;; done++) {
        lock_shared(me);
        long chunk = take_chunk();
        s->claimed[me] = chunk;
        if (me == VICTIM && done == VICTIM_AFTER)
            raise(SIGKILL); /* crash at the worst moment: holding the lock */
        mproc_lock_release(&s->lock);
        if (chunk < 0)
            return 0;

        mproc_sem_acquire(&s->heavy_slots, MPROC_FOREVER);
        long n = count_primes(chunk * CHUNK, (chunk + 1) * CHUNK);
        mproc_sem_release(&s->heavy_slots, 1);

        lock_shared(me);
        s->primes += n;
        s->per_worker[me] += n;
        s->claimed[me] = -1;
        mproc_lock_release(&s->lock);

        mproc_cond_acquire(&s->progress, MPROC_FOREVER);
        s->chunks_done++;
        mproc_cond_notify_all(&s->progress);
        mproc_cond_release(&s->progress);
    }
}

static int all_done(void)
{
    return s->chunks_done == CHUNKS;
}

int main(void)
{
    s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED)
        return 1;
    memset(s->retry, 0xff, sizeof s->retry);     /* -1 */
    memset(s->claimed, 0xff, sizeof s->claimed); /* -1 */
    if (mproc_event_init(&s->start) || mproc_barrier_init(&s->warmed_up, WORKERS) ||
        mproc_lock_init(&s->lock) || mproc_sem_init(&s->heavy_slots, 3, 3) ||
        mproc_cond_init(&s->progress))
        return 1;

    printf("mproc %s demo: %d forked workers, worker %d will be killed mid-run\n",
           mproc_version_string(), WORKERS, VICTIM);
    mproc_process_t *workers[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        int r = mproc_process_start(&workers[i], worker, (void *)(intptr_t)i);
        if (r != 0) {
            fprintf(stderr, "cannot start worker: %s\n", mproc_strerror(r));
            return 1;
        }
    }
    mproc_event_set(&s->start);

    /* Progress: the parent wakes on every finished chunk. */
    mproc_cond_acquire(&s->progress, MPROC_FOREVER);
    while (!all_done()) {
        printf("\rprogress: %3d/%ld chunks", s->chunks_done, CHUNKS);
        fflush(stdout);
        mproc_cond_wait(&s->progress, 1.0);
    }
    mproc_cond_release(&s->progress);
    printf("\rprogress: %3d/%ld chunks\n", s->chunks_done, CHUNKS);

    int ok = 1;
    for (int i = 0; i < WORKERS; i++) {
        int code;
        mproc_process_join(workers[i], MPROC_FOREVER, &code);
        if (code == -SIGKILL)
            printf("worker %d: killed (SIGKILL), as planned\n", i);
        else
            printf("worker %d: exit %d, counted %ld primes\n", i, code, s->per_worker[i]);
        ok &= i == VICTIM ? code == -SIGKILL : code == 0;
        mproc_process_free(workers[i]);
    }
    long expected = count_primes(0, LIMIT);
    printf("primes below %ld: %ld (checked alone: %ld) - %s\n", LIMIT, s->primes, expected,
           s->primes == expected ? "correct" : "WRONG");
    printf("lock recoveries after a death: %d\n", s->recoveries);
    ok &= s->primes == expected && s->recoveries == 1;
    return ok ? 0 : 1;
}
