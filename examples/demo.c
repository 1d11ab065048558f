/* The mproc demo: a pool of forked workers doing real work on shared state,
 * and surviving a crash.
 *
 *   - a Queue feeds the workers their jobs (task_done/join tell the parent
 *     when all are done, and a join timeout paces its progress line);
 *   - phase 1 counts the primes below 2,000,000 in chunks; each chunk's count
 *     goes to its slot of a shared Array, and a shared Value counts the jobs
 *     done;
 *   - a Barrier with an action separates phase 1 from phase 2;
 *   - phase 2 counts the words of a text the parent wrote into a named
 *     shared-memory block (the workers open it by name) into one Manager
 *     dict, with atomic increments;
 *   - a Lock guards the table of which worker holds which job; worker 2 is
 *     killed with SIGKILL while it holds that Lock. The next worker to take
 *     the Lock gets MPROC_EOWNERDEAD, finds the job the dead one had taken
 *     and puts it back on the Queue. Both counts are checked against counts
 *     made by the parent alone: nothing lost, nothing counted twice.
 */
#include <mproc.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define WORKERS 4
#define LIMIT 2000000L
#define PRIME_JOBS 100           /* chunks of LIMIT / PRIME_JOBS numbers */
#define WORDS 40000
#define WORD_JOBS 40             /* chunks of WORDS / WORD_JOBS words */
#define VICTIM 2                 /* this worker dies holding the lock ... */
#define VICTIM_AT_WORD_JOB 1     /* ... on taking its first word job */

enum kind { PRIMES, BARRIER, WORD_COUNT };
struct job { enum kind kind; int chunk; };

/* State the processes share, in one anonymous mapping made before the fork;
 * the Queue, Value, Array, block and Manager are objects of their own. */
struct shared {
    mproc_lock_t lock;           /* guards the two fields below */
    int holder;                  /* the worker holding the lock */
    struct job taken[WORKERS];   /* the job each worker works on; chunk -1: none */
    mproc_barrier_t phase_end;
    int recoveries;
};

static struct shared *s;
static mproc_queue_t *jobs;
static mproc_value_t *jobs_done;
static mproc_array_t *primes_per_chunk;
static mproc_dict_t *word_counts;
static char block_name[64];

static const char *vocabulary[] = { "the", "queue", "lock", "of", "worker", "shared", "and",
                                    "memory", "process", "barrier", "fork", "value" };
#define VOCABULARY (sizeof vocabulary / sizeof vocabulary[0])

static const char *word_at(unsigned i) /* the text: a fixed, skewed choice of words */
{
    unsigned x = i * 2654435761u;
    x ^= x >> 15;
    unsigned r = x % 100;
    return vocabulary[r * r / 100 * VOCABULARY / 100];
}

static long count_primes(long from, long to)
{
    long n = 0;
    for (long i = from < 2 ? 2 : from; i < to; i++) {
        long d = 2;
        while (d * d <= i && i % d != 0)
            d++;
        n += d * d > i;
    }
    return n;
}

/* Takes the lock; after a holder's death, gives its job back to the queue. */
static void lock_jobs(int me)
{
    if (mproc_lock_acquire(&s->lock, MPROC_FOREVER) == MPROC_EOWNERDEAD) {
        int dead = s->holder;
        struct job lost = s->taken[dead];
        if (lost.chunk >= 0) {
            mproc_queue_put(jobs, &lost, sizeof lost, MPROC_FOREVER);
            mproc_queue_task_done(jobs); /* the dead one's get will never be done */
            s->taken[dead].chunk = -1;
        }
        s->recoveries++;
        printf("\nworker %d: lock recovered from dead worker %d; its job (word chunk %d) re-queued\n",
               me, dead, lost.chunk);
        fflush(stdout);
    }
    s->holder = me;
}

static int announce_phase_2(void *arg)
{
    (void)arg;
    printf("\nphase 1 done: all %d workers at the barrier; phase 2: counting words\n", WORKERS);
    fflush(stdout);
    return 0;
}

/* Counts one chunk of the text into the Manager dict: counted locally, then
 * one atomic increment per distinct word. */
static int count_words(const char *text, int chunk)
{
    long counts[VOCABULARY] = { 0 };
    for (unsigned i = chunk * (WORDS / WORD_JOBS); i < (chunk + 1u) * (WORDS / WORD_JOBS); i++) {
        const char *w = text + i * 16; /* the block holds one word per 16 bytes */
        for (size_t v = 0; v < VOCABULARY; v++)
            if (strcmp(w, vocabulary[v]) == 0)
                counts[v]++;
    }
    for (size_t v = 0; v < VOCABULARY; v++)
        if (counts[v] > 0 &&
            mproc_dict_incr(word_counts, vocabulary[v], strlen(vocabulary[v]), counts[v], NULL) != 0)
            return -1;
    return 0;
}

static int worker(void *arg)
{
    int me = (int)(intptr_t)arg;
    mproc_shm_t *block; /* opened by name, as an unrelated process would */
    if (mproc_shm_open(&block, block_name) != 0)
        return 1;
    int word_jobs = 0;
    for (;;) {
        struct job job;
        size_t len;
        if (mproc_queue_get(jobs, &job, sizeof job, &len, MPROC_FOREVER) != 0)
            break; /* MPROC_ESHUTDOWN: all done */
        lock_jobs(me);
        s->taken[me] = job;
        if (me == VICTIM && job.kind == WORD_COUNT && ++word_jobs == VICTIM_AT_WORD_JOB)
            raise(SIGKILL); /* crash at the worst moment: job taken, lock held */
        mproc_lock_release(&s->lock);

        if (job.kind == PRIMES) {
            long per = LIMIT / PRIME_JOBS, n = count_primes(job.chunk * per, (job.chunk + 1) * per);
            mproc_array_set(primes_per_chunk, (size_t)job.chunk, &n);
        } else if (job.kind == BARRIER) {
            mproc_barrier_wait_action(&s->phase_end, 60, announce_phase_2, NULL);
        } else if (count_words(mproc_shm_buf(block), job.chunk) != 0) {
            return 2;
        }
        lock_jobs(me);
        s->taken[me].chunk = -1;
        mproc_lock_release(&s->lock);
        long one = 1;
        mproc_value_add(jobs_done, &one, NULL);
        mproc_queue_task_done(jobs);
    }
    mproc_shm_close(block);
    return 0;
}

static void put_job(enum kind kind, int chunk)
{
    struct job job = { kind, chunk };
    mproc_queue_put(jobs, &job, sizeof job, MPROC_FOREVER);
}

static int setup(mproc_manager_t **manager, mproc_shm_t **block)
{
    s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED || mproc_lock_init(&s->lock) || mproc_barrier_init(&s->phase_end, WORKERS))
        return -1;
    for (int i = 0; i < WORKERS; i++)
        s->taken[i].chunk = -1;
    if (mproc_queue_create(&jobs, NULL, NULL) || mproc_value_create(&jobs_done, NULL, 'l', 1) ||
        mproc_array_create(&primes_per_chunk, NULL, 'l', PRIME_JOBS, 1))
        return -1;
    if (mproc_manager_start(manager, NULL, NULL, 0) ||
        mproc_manager_dict(*manager, "word counts", &word_counts))
        return -1;
    snprintf(block_name, sizeof block_name, "mproc-demo-%d", (int)getpid());
    if (mproc_shm_create(block, block_name, (size_t)WORDS * 16))
        return -1;
    for (unsigned i = 0; i < WORDS; i++) /* the text, one word per 16 bytes */
        strcpy((char *)mproc_shm_buf(*block) + i * 16, word_at(i));
    return 0;
}

int main(void)
{
    mproc_manager_t *manager;
    mproc_shm_t *block;
    if (setup(&manager, &block) != 0) {
        fprintf(stderr, "demo: setting up failed\n");
        return 1;
    }
    printf("mproc %s demo: %d forked workers fed by a queue; worker %d will be killed mid-run\n",
           mproc_version_string(), WORKERS, VICTIM);
    printf("phase 1: counting primes below %ld in %d chunks\n", LIMIT, PRIME_JOBS);
    mproc_process_t *workers[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        if (mproc_process_start(&workers[i], worker, (void *)(intptr_t)i) != 0)
            return 1;
    for (int c = 0; c < PRIME_JOBS; c++)
        put_job(PRIMES, c);
    for (int i = 0; i < WORKERS; i++) /* one each: every worker stops at the barrier */
        put_job(BARRIER, 0);
    for (int c = 0; c < WORD_JOBS; c++)
        put_job(WORD_COUNT, c);

    /* join with a timeout paces the progress line */
    long total_jobs = PRIME_JOBS + WORKERS + WORD_JOBS, done = 0;
    while (mproc_queue_join(jobs, 0.2) == MPROC_ETIMEDOUT) {
        mproc_value_get(jobs_done, &done);
        printf("\rprogress: %3ld/%ld jobs", done, total_jobs);
        fflush(stdout);
    }
    mproc_value_get(jobs_done, &done);
    printf("\rprogress: %3ld/%ld jobs\n", done, total_jobs);
    mproc_queue_shutdown(jobs, 0); /* the workers' get returns MPROC_ESHUTDOWN */

    int ok = 1;
    printf("report:\n");
    for (int i = 0; i < WORKERS; i++) {
        int code;
        mproc_process_join(workers[i], MPROC_FOREVER, &code);
        if (code == -SIGKILL)
            printf("worker %d: killed (SIGKILL), as planned\n", i);
        else
            printf("worker %d: exit %d\n", i, code);
        ok &= i == VICTIM ? code == -SIGKILL : code == 0;
        mproc_process_free(workers[i]);
    }

    long primes = 0, n;
    for (size_t c = 0; c < PRIME_JOBS; c++) {
        mproc_array_get(primes_per_chunk, c, &n);
        primes += n;
    }
    long expected = count_primes(0, LIMIT);
    printf("primes below %ld: %ld (checked alone: %ld) - %s\n", LIMIT, primes, expected,
           primes == expected ? "correct" : "WRONG");
    ok &= primes == expected;

    long words = 0, matching = 0;
    printf("word counts in the Manager dict:");
    for (size_t v = 0; v < VOCABULARY; v++) {
        void *text;
        size_t len;
        long alone = 0, counted = 0;
        for (unsigned i = 0; i < WORDS; i++)
            alone += word_at(i) == vocabulary[v];
        if (mproc_dict_get(word_counts, vocabulary[v], strlen(vocabulary[v]), &text, &len) == 0) {
            counted = atol(text);
            free(text);
        }
        if (v < 4)
            printf(" %s %ld,", vocabulary[v], counted);
        words += counted;
        matching += counted == alone;
    }
    printf(" ...\nwords counted: %ld of %d, %ld of %zu counts as counted alone - %s\n", words, WORDS,
           matching, VOCABULARY, words == WORDS && matching == (long)VOCABULARY ? "correct" : "WRONG");
    ok &= words == WORDS && matching == (long)VOCABULARY;
    printf("lock recoveries after a death: %d\n", s->recoveries);
    ok &= s->recoveries == 1;

    mproc_dict_close(word_counts);
    mproc_manager_shutdown(manager);
    mproc_unlink(block_name);
    mproc_shm_close(block);
    printf("shared-memory block %s: removed\n", block_name);
    return ok ? 0 : 1;
}
