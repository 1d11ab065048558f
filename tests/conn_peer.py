"""The Python side of mproc's connection interop tests (tests/test_conn_python.c).

usage: conn_peer.py listen  ADDRESS KEY   print the address, then echo every message
                                          reversed until b'bye'
       conn_peer.py connect ADDRESS KEY   send the test messages, check the echoes
       conn_peer.py handles ADDRESS KEY   receive a descriptor, send back what it
                                          reads; then send a descriptor of its own
ADDRESS as mproc writes it ("/path", "@abstract", "host:port"); KEY in hex, or
"-" for none. Exit status: 0 success, 3 authentication failed, 1 otherwise.
"""
import os
import sys
import tempfile
from multiprocessing import reduction
from multiprocessing.connection import AuthenticationError, Client, Listener

MESSAGES = [b"", b"hello", bytes(range(256)) * 16384 + b"odd"]  # the last: 4 MiB + 3


def python_address(text):
    if text.startswith("@"):
        return "\0" + text[1:]
    if "/" in text:
        return text
    host, port = text.rsplit(":", 1)
    return (host, int(port))


def mproc_address(address):
    if isinstance(address, tuple):
        return "%s:%d" % address[:2]
    if isinstance(address, bytes):  # an abstract socket's name comes back as bytes
        address = address.decode()
    if address.startswith("\0"):
        return "@" + address[1:]
    return address


def listen(address, key):
    with Listener(python_address(address), authkey=key) as listener:
        print(mproc_address(listener.address), flush=True)
        with listener.accept() as conn:
            while True:
                message = conn.recv_bytes()
                if message == b"bye":
                    return 0
                conn.send_bytes(message[::-1])


def connect(address, key):
    with Client(python_address(address), authkey=key) as conn:
        for message in MESSAGES:
            conn.send_bytes(message)
            if conn.recv_bytes() != message[::-1]:
                return 1
        conn.send_bytes(b"bye")
    return 0


def handles(address, key):
    with Client(python_address(address), authkey=key) as conn:
        fd = reduction.recv_handle(conn)
        conn.send_bytes(os.pread(fd, 100, 0))
        os.close(fd)
        with tempfile.TemporaryFile() as f:
            f.write(b"written by python")
            f.flush()
            reduction.send_handle(conn, f.fileno(), os.getppid())
            return 0 if conn.recv_bytes() == b"got it" else 1


def main():
    mode, address, key = sys.argv[1:4]
    key = None if key == "-" else bytes.fromhex(key)
    try:
        return {"listen": listen, "connect": connect, "handles": handles}[mode](address, key)
    except AuthenticationError:
        return 3


if __name__ == "__main__":
    sys.exit(main())
