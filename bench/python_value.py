"""Python's `with v.get_lock(): v.value += 1` from two processes, measured
like bench_value measures mproc_value_add."""
import multiprocessing as mp
import time

ADDS = 200_000


def add(v, n):
    for _ in range(n):
        with v.get_lock():
            v.value += 1


def main():
    ctx = mp.get_context("fork")
    v = ctx.Value("l", 0)
    t0 = time.perf_counter()
    other = ctx.Process(target=add, args=(v, ADDS))
    other.start()
    add(v, ADDS)
    other.join()
    rate = 2 * ADDS / (time.perf_counter() - t0)
    assert v.value == 2 * ADDS
    print(f"  {'Python Value, with get_lock(): += 1':<36} {rate / 1e6:8.2f} M adds/s")


if __name__ == "__main__":
    main()
