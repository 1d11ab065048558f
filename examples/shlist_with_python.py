"""The Python half of examples/shlist_with_python.c: makes a ShareableList,
runs the C worker (the path in argv[1]) on it by name, prints the results
the worker wrote."""
import subprocess
import sys
from multiprocessing.shared_memory import ShareableList

limits = [10, 100, 1000, 10000]
# the results start as None; str slots are sized at creation, so the
# signature gets room for 16 bytes
results = ShareableList(limits + [None] * 4 + [0.0, False, " " * 15])
try:
    subprocess.run([sys.argv[1], results.shm.name], check=True)
    for i, n in enumerate(limits):
        print(f"primes below {n}: {results[4 + i]}")
    print(f"mean: {results[8]}")
    print(f"done: {results[9]}, by: {results[10]}")
finally:
    results.shm.close()
    results.shm.unlink()  # Python made it, Python removes it
