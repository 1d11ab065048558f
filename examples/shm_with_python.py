"""The Python half of examples/shm_with_python.c: opens the block C made,
reads C's greeting, writes a reply 1024 bytes in."""
import sys
from multiprocessing import resource_tracker, shared_memory

shm = shared_memory.SharedMemory(name=sys.argv[1])
# Python 3.8-3.12 would unlink a block it merely opened when it exits; the
# block belongs to the C program, so tell the tracker to leave it alone.
resource_tracker.unregister(shm._name, "shared_memory")
greeting = bytes(shm.buf[:64]).split(b"\0", 1)[0].decode()
assert greeting == "hello from C", greeting
reply = f"hello from python {sys.version_info.major}.{sys.version_info.minor}".encode() + b"\0"
shm.buf[1024:1024 + len(reply)] = reply
shm.close()
