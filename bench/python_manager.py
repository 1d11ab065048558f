"""Python's Manager().dict(), measured like bench_manager measures mproc:
set and get alternating from one client, one round trip each."""
import multiprocessing as mp
import time

OPS = 20_000


def main():
    with mp.get_context("fork").Manager() as manager:
        d = manager.dict()
        t0 = time.perf_counter()
        for i in range(0, OPS, 2):
            key = "key:%06d" % (i % 10000)
            d[key] = "xxx"
            d[key]
        rate = OPS / (time.perf_counter() - t0)
    print(f"  {'Python Manager().dict(), set/get':<40} {rate:8.0f} ops/s")


if __name__ == "__main__":
    main()
