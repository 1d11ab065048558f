"""Python's multiprocessing.Queue, 1 producer -> 1 consumer process,
64-byte messages, measured like bench_queue measures mproc."""
import multiprocessing as mp
import time

COUNT = 200_000


def produce(q, count):
    msg = bytes(64)
    for _ in range(count):
        q.put(msg)


def main():
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    t0 = time.perf_counter()
    producer = ctx.Process(target=produce, args=(q, COUNT))
    producer.start()
    for _ in range(COUNT):
        q.get()
    producer.join()
    rate = COUNT / (time.perf_counter() - t0)
    print(f"  {'Python multiprocessing.Queue':<30} {rate / 1e6:10.2f} M msgs/s   (64-byte messages)")


if __name__ == "__main__":
    main()
