"""The Python client of examples/serve_python.c: connects to the mproc
Listener with the shared authkey and sends three words.
usage: serve_python.py ADDRESS AUTHKEY"""
import sys
from multiprocessing.connection import Client

address, authkey = sys.argv[1], sys.argv[2].encode()
with Client(address, authkey=authkey) as conn:
    for word in [b"mproc", b"speaks", b"python"]:
        conn.send_bytes(word)
        print("python got:", conn.recv_bytes().decode())
    conn.send_bytes(b"bye")
