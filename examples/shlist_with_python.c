/* A Python script and a C worker share a ShareableList of results.
 * examples/shlist_with_python.py (run with python3) makes the list with
 * Python's own ShareableList: four limits, four empty results, a mean, a done
 * flag and a signature. It starts this program with the list's name; the C
 * worker counts the primes below each limit and writes the results into the
 * list, where Python reads them. Prints, from Python, "primes below 10: 4"
 * ... "primes below 10000: 1229", "mean: 356.5" and "done: True, by: C
 * worker". Run without arguments it starts the script; without python3 it
 * says so and exits 0. */
#include <mproc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int64_t primes_below(int64_t n)
{
    int64_t count = 0;
    for (int64_t k = 2; k < n; k++) {
        int prime = 1;
        for (int64_t d = 2; d * d <= k && prime; d++)
            prime = k % d != 0;
        count += prime;
    }
    return count;
}

/* The worker: fills in the list Python made. */
static int work(const char *name)
{
    mproc_shlist_t *results;
    int r = mproc_shlist_open(&results, name); /* Python 3.8's layout or 3.9's */
    if (r != 0) {
        fprintf(stderr, "open %s: %s\n", name, mproc_strerror(r));
        return 1;
    }
    double sum = 0;
    for (int i = 0; i < 4; i++) {
        mproc_sl_item_t limit;
        if ((r = mproc_shlist_get(results, i, &limit)) != 0 || limit.type != MPROC_SL_INT)
            break;
        mproc_sl_item_t count = {.type = MPROC_SL_INT, .i = primes_below(limit.i)};
        sum += (double)count.i;
        if ((r = mproc_shlist_set(results, 4 + i, &count)) != 0) /* None becomes an int */
            break;
    }
    static const char by[] = "C worker"; /* fits the 16-byte slot Python made */
    mproc_sl_item_t mean = {.type = MPROC_SL_FLOAT, .f = sum / 4};
    mproc_sl_item_t done = {.type = MPROC_SL_BOOL, .i = 1};
    mproc_sl_item_t sign = {.type = MPROC_SL_STR, .data = (void *)by, .len = strlen(by)};
    if (r == 0 && (r = mproc_shlist_set(results, 8, &mean)) == 0 &&
        (r = mproc_shlist_set(results, -1, &sign)) == 0)
        r = mproc_shlist_set(results, -2, &done); /* last: the flag Python checks */
    if (r != 0)
        fprintf(stderr, "worker: %s\n", mproc_strerror(r));
    mproc_shlist_close(results); /* the list stays: Python unlinks it */
    return r == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 2)
        return work(argv[1]);
    if (system("command -v python3 >/dev/null 2>&1") != 0) {
        printf("python3 not found: skipped\n");
        return 0;
    }
    /* the script sits next to this program's source; it starts this very
     * program as its worker */
    const char *dir = getenv("MPROC_EXAMPLES_DIR");
    char command[1024];
    snprintf(command, sizeof command, "python3 %s/shlist_with_python.py /proc/%d/exe",
             dir ? dir : "examples", (int)getpid());
    fflush(stdout);
    return system(command) == 0 ? 0 : 1;
}
