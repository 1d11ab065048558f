"""Python's multiprocessing.Queue, 1 producer -> 1 consumer process,
64-byte messages, measured like bench_queue measures mproc. With --sizes:
one line per message size (size, MB/s), for `make bench-plot`."""
import multiprocessing as mp
import sys
import time

COUNT = 200_000


def produce(q, count, size):
    msg = bytes(size)
    for _ in range(count):
        q.put(msg)


def rate(size, count):
    """Messages per second."""
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    t0 = time.perf_counter()
    producer = ctx.Process(target=produce, args=(q, count, size))
    producer.start()
    for _ in range(count):
        q.get()
    producer.join()
    return count / (time.perf_counter() - t0)


def main():
    if "--sizes" in sys.argv:
        for size in (16, 64, 256, 1024, 4096, 16384, 65536):
            count = min(100_000, int(64e6 / size))
            print(f"{size} {rate(size, count) * size / 1e6:.1f}", flush=True)
        return
    r = rate(64, COUNT)
    print(f"  {'Python multiprocessing.Queue':<30} {r / 1e6:10.2f} M msgs/s   (64-byte messages)")


if __name__ == "__main__":
    main()
