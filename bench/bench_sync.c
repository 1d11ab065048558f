/* Benchmarks of the synchronisation core against the raw primitives, in one
 * run: uncontended cost per acquire+release, and two processes contending
 * for a counter; how often an idle waiter wakes up. Prints a table; `make
 * bench` adds Python's figures. */
#include <mproc.h>

#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define UNCONTENDED_OPS 5000000L
#define CONTENDED_OPS 1000000L
#define BEST_OF 3
#define CONTENDED_RUNS 7

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *shared(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    return p;
}

static void init_raw_mutex(pthread_mutex_t *m, int type)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutexattr_settype(&a, type);
    pthread_mutex_init(m, &a);
}

/* One benchmarked operation: a pair such as acquire+release, on `obj`. */
typedef void (*op_fn)(void *obj);

static void raw_mutex_op(void *m) { pthread_mutex_lock(m); pthread_mutex_unlock(m); }
static void lock_op(void *l) { mproc_lock_acquire(l, MPROC_FOREVER); mproc_lock_release(l); }
static void rlock_op(void *l) { mproc_rlock_acquire(l, MPROC_FOREVER); mproc_rlock_release(l); }
static void raw_sem_op(void *s) { sem_post(s); sem_wait(s); }
static void sem_op(void *s) { mproc_sem_release(s, 1); mproc_sem_acquire(s, MPROC_FOREVER); }
static void event_op(void *e) { mproc_event_set(e); mproc_event_wait(e, MPROC_FOREVER); mproc_event_clear(e); }
static void cond_lock_op(void *c) { mproc_cond_acquire(c, MPROC_FOREVER); mproc_cond_release(c); }

/* Nanoseconds per op, best of BEST_OF runs. */
static double ns_per_op(op_fn op, void *obj, long ops)
{
    double best = 1e30;
    for (int run = 0; run < BEST_OF; run++) {
        double t0 = now();
        for (long i = 0; i < ops; i++)
            op(obj);
        double ns = (now() - t0) * 1e9 / (double)ops;
        if (ns < best)
            best = ns;
    }
    return best;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *values, int n)
{
    qsort(values, (size_t)n, sizeof *values, compare_doubles);
    return values[n / 2];
}

static void row(const char *what, double ns, const char *base, double base_ns, double target)
{
    printf("  %-34s %8.1f ns   %-28s %8.1f ns   ratio %.2fx (target <= %.1fx)\n", what, ns, base,
           base_ns, ns / base_ns, target);
}

/* Each counter with its lock on one cache line of their own: the same layout
 * for both, and no false sharing between them. */
struct contended {
    _Alignas(64) volatile long raw_counter;
    pthread_mutex_t raw;
    _Alignas(64) volatile long counter;
    mproc_lock_t lock;
    _Alignas(64) mproc_barrier_t start;
};

static int use_mproc;

static void count(struct contended *c, long ops)
{
    for (long i = 0; i < ops; i++) {
        if (use_mproc) {
            mproc_lock_acquire(&c->lock, MPROC_FOREVER);
            c->counter++;
            mproc_lock_release(&c->lock);
        } else {
            pthread_mutex_lock(&c->raw);
            c->raw_counter++;
            pthread_mutex_unlock(&c->raw);
        }
    }
}

/* Increments per second, two processes each doing CONTENDED_OPS. */
static double contended_rate(struct contended *c, int mproc)
{
    use_mproc = mproc;
    c->counter = c->raw_counter = 0;
    pid_t kid = fork();
    if (kid == 0) {
        mproc_barrier_wait(&c->start, MPROC_FOREVER);
        count(c, CONTENDED_OPS);
        _exit(0);
    }
    mproc_barrier_wait(&c->start, MPROC_FOREVER);
    double t0 = now();
    count(c, CONTENDED_OPS);
    waitpid(kid, NULL, 0);
    double secs = now() - t0;
    long total = mproc ? c->counter : c->raw_counter;
    if (total != 2 * CONTENDED_OPS) {
        fprintf(stderr, "lost increments: %ld\n", total);
        exit(1);
    }
    return 2.0 * CONTENDED_OPS / secs;
}

/* ---- idle waiters: how often does a waiter that waits for nothing wake up? ---- */

struct idle {
    mproc_sem_t sem;
    mproc_event_t event;
    mproc_cond_t cond;
    mproc_barrier_t barrier;
};

static int idle_sem(struct idle *w) { return mproc_sem_acquire(&w->sem, MPROC_FOREVER); }
static int idle_event(struct idle *w) { return mproc_event_wait(&w->event, MPROC_FOREVER); }
static int idle_cond(struct idle *w)
{
    mproc_cond_acquire(&w->cond, MPROC_FOREVER);
    return mproc_cond_wait(&w->cond, MPROC_FOREVER);
}
static int idle_barrier(struct idle *w) { return mproc_barrier_wait(&w->barrier, MPROC_FOREVER); }
static int idle_timed_sem(struct idle *w) { return mproc_sem_acquire(&w->sem, 3600); }

/* Voluntary context switches of pid so far: one per sleep, so per wake-up. */
static long switches(pid_t pid)
{
    char path[64], line[128];
    long n = -1;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "voluntary_ctxt_switches: %ld", &n) == 1)
            break;
    fclose(f);
    return n;
}

#define IDLE_SECONDS 3.0

static void idle_wakeups(void)
{
    struct idle *w = shared(sizeof *w);
    mproc_sem_init(&w->sem, 0, 0);
    mproc_event_init(&w->event);
    mproc_cond_init(&w->cond);
    mproc_barrier_init(&w->barrier, 2);
    static const struct {
        const char *what;
        int (*wait)(struct idle *);
    } kinds[] = {
        { "Semaphore acquire(FOREVER)", idle_sem },
        { "Semaphore acquire(3600 s)", idle_timed_sem },
        { "Event wait(FOREVER)", idle_event },
        { "Condition wait(FOREVER)", idle_cond },
        { "Barrier wait(FOREVER)", idle_barrier },
    };
    enum { KINDS = sizeof kinds / sizeof kinds[0] };
    pid_t pids[KINDS];
    for (int i = 0; i < KINDS; i++) {
        pids[i] = fork();
        if (pids[i] == 0)
            _exit(kinds[i].wait(w));
    }
    struct timespec settle = { 0, 200000000 };
    nanosleep(&settle, NULL); /* let them fall asleep: not a synchronisation */
    long before[KINDS];
    for (int i = 0; i < KINDS; i++)
        before[i] = switches(pids[i]);
    double t0 = now();
    struct timespec idle = { (time_t)IDLE_SECONDS, 0 };
    nanosleep(&idle, NULL);
    double took = now() - t0;
    printf("\nidle waiters: wake-ups per second of a waiter that nothing wakes (over %.0f s)\n",
           IDLE_SECONDS);
    for (int i = 0; i < KINDS; i++) {
        double rate = (double)(switches(pids[i]) - before[i]) / took;
        printf("  %-34s %8.2f /s   %-28s %8.2f /s\n", kinds[i].what, rate, "sem_wait (pshared)", 0.0);
        kill(pids[i], SIGKILL);
        waitpid(pids[i], NULL, 0);
    }
}

int main(void)
{
    struct objects { /* one cache line (or more) each */
        _Alignas(64) pthread_mutex_t raw;
        _Alignas(64) pthread_mutex_t raw_recursive;
        _Alignas(64) sem_t raw_sem;
        _Alignas(64) mproc_lock_t lock;
        _Alignas(64) mproc_rlock_t rlock;
        _Alignas(64) mproc_sem_t sem;
        _Alignas(64) mproc_event_t event;
        _Alignas(64) mproc_cond_t cond;
    } *o = shared(sizeof *o);
    init_raw_mutex(&o->raw, PTHREAD_MUTEX_NORMAL);
    init_raw_mutex(&o->raw_recursive, PTHREAD_MUTEX_RECURSIVE);
    sem_init(&o->raw_sem, 1, 0);
    mproc_lock_init(&o->lock);
    mproc_rlock_init(&o->rlock);
    mproc_sem_init(&o->sem, 0, 0);
    mproc_event_init(&o->event);
    mproc_cond_init(&o->cond);

    printf("uncontended, one process, objects in shared memory (best of %d x %ld ops)\n", BEST_OF,
           UNCONTENDED_OPS);
    double raw = ns_per_op(raw_mutex_op, &o->raw, UNCONTENDED_OPS);
    double raw_rec = ns_per_op(raw_mutex_op, &o->raw_recursive, UNCONTENDED_OPS);
    double raw_sem = ns_per_op(raw_sem_op, &o->raw_sem, UNCONTENDED_OPS);
    row("Lock acquire+release", ns_per_op(lock_op, &o->lock, UNCONTENDED_OPS),
        "robust pshared mutex", raw, 1.3);
    row("RLock acquire+release", ns_per_op(rlock_op, &o->rlock, UNCONTENDED_OPS),
        "robust pshared recursive", raw_rec, 2.0);
    row("Condition acquire+release", ns_per_op(cond_lock_op, &o->cond, UNCONTENDED_OPS),
        "robust pshared recursive", raw_rec, 2.0);
    row("Semaphore release+acquire", ns_per_op(sem_op, &o->sem, UNCONTENDED_OPS),
        "sem_post+sem_wait (pshared)", raw_sem, 2.0);
    row("Event set+wait+clear", ns_per_op(event_op, &o->event, UNCONTENDED_OPS),
        "sem_post+sem_wait (pshared)", raw_sem, 2.0);

    struct contended *c = shared(sizeof *c);
    init_raw_mutex(&c->raw, PTHREAD_MUTEX_NORMAL);
    mproc_lock_init(&c->lock);
    mproc_barrier_init(&c->start, 2);
    printf("\ntwo processes incrementing one counter under a lock (median of %d runs, %ld increments each)\n",
           CONTENDED_RUNS, CONTENDED_OPS);
    /* Contended rates swing with scheduling (a run where one process keeps
     * the lock for long stretches is fast): the median of CONTENDED_RUNS,
     * raw and mproc interleaved. */
    double raw_rates[CONTENDED_RUNS], mproc_rates[CONTENDED_RUNS];
    for (int run = 0; run < CONTENDED_RUNS; run++) {
        raw_rates[run] = contended_rate(c, 0);
        mproc_rates[run] = contended_rate(c, 1);
    }
    double raw_rate = median(raw_rates, CONTENDED_RUNS);
    double mproc_rate = median(mproc_rates, CONTENDED_RUNS);
    printf("  %-34s %8.2f M/s  %-28s %8.2f M/s  ratio %.2fx (target >= 0.8x)\n",
           "mproc Lock", mproc_rate / 1e6, "robust pshared mutex", raw_rate / 1e6,
           mproc_rate / raw_rate);
    idle_wakeups();
    return 0;
}
