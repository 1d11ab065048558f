"""Python's Connection.send_bytes / recv_bytes, measured like bench_conn
measures mproc: one-way 64-byte messages from a forked writer over
Pipe(duplex=False), and round trips over a duplex Pipe."""
import multiprocessing as mp
import time

MESSAGES = 200_000
ROUND_TRIPS = 50_000
PAYLOAD = bytes(64)


def write(conn, n):
    for _ in range(n):
        conn.send_bytes(PAYLOAD)


def echo(conn, n):
    for _ in range(n):
        conn.send_bytes(conn.recv_bytes())


def main():
    ctx = mp.get_context("fork")
    r, w = ctx.Pipe(duplex=False)
    t0 = time.perf_counter()
    writer = ctx.Process(target=write, args=(w, MESSAGES))
    writer.start()
    for _ in range(MESSAGES):
        r.recv_bytes()
    writer.join()
    rate = MESSAGES / (time.perf_counter() - t0)
    print(f"  {'Python Pipe(duplex=False) send_bytes':<36} {rate / 1e6:8.2f} M msgs/s")

    a, b = ctx.Pipe()
    other = ctx.Process(target=echo, args=(b, ROUND_TRIPS))
    other.start()
    t0 = time.perf_counter()
    for _ in range(ROUND_TRIPS):
        a.send_bytes(PAYLOAD)
        a.recv_bytes()
    us = (time.perf_counter() - t0) / ROUND_TRIPS * 1e6
    other.join()
    print(f"  {'Python duplex Pipe round trip':<36} {us:8.2f} us")


if __name__ == "__main__":
    main()
