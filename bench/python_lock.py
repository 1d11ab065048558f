"""Python's multiprocessing.Lock, measured like bench_sync measures mproc:
uncontended acquire+release, and two processes incrementing a shared
counter under the lock. Prints the same kind of rows."""
import multiprocessing as mp
import time

OPS = 1_000_000
CONTENDED = 200_000


def uncontended(lock, ops):
    t0 = time.perf_counter()
    for _ in range(ops):
        lock.acquire()
        lock.release()
    return (time.perf_counter() - t0) * 1e9 / ops


def count(lock, value, start, ops):
    start.wait()
    for _ in range(ops):
        with lock:
            value.value += 1


def main():
    ctx = mp.get_context("fork")
    lock = ctx.Lock()
    ns = min(uncontended(lock, OPS) for _ in range(3))
    print(f"  {'Python multiprocessing.Lock':<34} {ns:8.1f} ns   (acquire+release, uncontended)")

    value = ctx.Value("l", 0, lock=False)
    start = ctx.Barrier(2)
    other = ctx.Process(target=count, args=(lock, value, start, CONTENDED))
    other.start()
    t0 = time.perf_counter()
    count(lock, value, start, CONTENDED)
    other.join()
    secs = time.perf_counter() - t0
    assert value.value == 2 * CONTENDED, value.value
    print(f"  {'Python multiprocessing.Lock':<34} {2 * CONTENDED / secs / 1e6:8.2f} M/s  "
          "(two processes incrementing one counter)")


if __name__ == "__main__":
    main()
