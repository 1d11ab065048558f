/* Forked workers sum a big shared Array in parallel: each takes a slice,
 * adds it up, and adds its part to a shared total Value (mproc_value_add is
 * atomic). Prints each worker's part and "sum 2000001000000 (expected
 * 2000001000000)". */
#include <mproc.h>

#include <stdio.h>

#define N 2000000L
#define WORKERS 4

static mproc_array_t *numbers;
static mproc_value_t *total;

static int sum_slice(void *arg)
{
    long w = (long)(intptr_t)arg, from = w * N / WORKERS, to = (w + 1) * N / WORKERS;
    const long long *x = mproc_array_ptr(numbers); /* read-only now: no lock needed */
    long long part = 0;
    for (long i = from; i < to; i++)
        part += x[i];
    printf("worker %ld: items %ld..%ld sum to %lld\n", w, from, to - 1, part);
    return mproc_value_add(total, &part, NULL) == 0 ? 0 : 1;
}

int main(void)
{
    if (mproc_array_create(&numbers, NULL, 'q', N, 0) != 0 || mproc_value_create(&total, NULL, 'q', 1) != 0)
        return 1;
    long long *x = mproc_array_ptr(numbers);
    for (long i = 0; i < N; i++)
        x[i] = i + 1;

    mproc_process_t *workers[WORKERS];
    for (long w = 0; w < WORKERS; w++)
        mproc_process_start(&workers[w], sum_slice, (void *)(intptr_t)w);
    int ok = 1;
    for (int w = 0; w < WORKERS; w++) {
        int code;
        mproc_process_join(workers[w], MPROC_FOREVER, &code);
        mproc_process_free(workers[w]);
        ok &= code == 0;
    }
    long long sum;
    mproc_value_get(total, &sum);
    long long expected = (long long)N * (N + 1) / 2;
    printf("sum %lld (expected %lld)\n", sum, expected);
    return ok && sum == expected ? 0 : 1;
}
