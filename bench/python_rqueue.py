"""Python's Manager().JoinableQueue(), measured like bench_rqueue measures
mproc: put + get + task_done from one client, median of 5 runs."""
import multiprocessing as mp
import statistics
import time

OPS = 5_000


def main():
    with mp.get_context("fork").Manager() as manager:
        q = manager.JoinableQueue()
        rates = []
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(OPS):
                q.put("item-000000")
                q.get()
                q.task_done()
            rates.append(OPS / (time.perf_counter() - t0))
    rates.sort()
    print(f"  {'Python Manager().JoinableQueue()':<40} {statistics.median(rates):8.0f} items/s "
          f"(put+get+task_done; 5 runs: {rates[0]:.0f} .. {rates[-1]:.0f})")


if __name__ == "__main__":
    main()
