"""Writes ShareableList blocks made by the running Python into
fuzz/corpus_shlist (the seeds of fuzz/fuzz_shlist_layout.c). Run from the
project root with a Python 3.8 and with a 3.9 or later (the layouts differ):
python3.8 fuzz/make_shlist_corpus.py; python3 fuzz/make_shlist_corpus.py"""
import os
import sys
from multiprocessing import resource_tracker
from multiprocessing.shared_memory import ShareableList

LISTS = {
    "empty": [],
    "one_int": [7],
    "every_type": [-1, 2.5, True, None, "h\u00e9llo", b"\0by\0tes\0", 2**63 - 1, float("nan")],
    "long_items": ["x" * 40, b"y" * 17, "", b""],
}

out = os.path.join("fuzz", "corpus_shlist")
os.makedirs(out, exist_ok=True)
tag = "py%d%d" % sys.version_info[:2]
for name, items in LISTS.items():
    sl = ShareableList(items)
    with open(os.path.join(out, "%s_%s" % (tag, name)), "wb") as f:
        f.write(bytes(sl.shm.buf))
    sl.shm.close()
    sl.shm.unlink()
