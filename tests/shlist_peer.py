"""The Python side of tests/test_shlist.c's interop case, for Python 3.8+.

    shlist_peer.py create NAME        ShareableList(CORNER, name=NAME)
    shlist_peer.py check NAME WHICH   the list reads as READ ("corner") or FINAL ("changed")
    shlist_peer.py change NAME        sl[i] = v for every (i, v) in CHANGES
    shlist_peer.py truncated NAME     ShareableList(TRUNCATED, name=NAME), checked as Python
                                      reads it back

Exits 0 on success, 1 (with the difference on stderr) on a mismatch. The
lists below have twins in test_shlist.c: change both together. Blocks are
never unlinked here (the resource tracker is told to leave them alone)."""
import math
import sys
from multiprocessing import resource_tracker
from multiprocessing.shared_memory import ShareableList

inf = float("inf")
nan = float("nan")

CORNER = [0, -1, 2**63 - 1, -2**63, 0.0, -0.0, inf, -inf, nan, 5e-324, 1.7976931348623157e308,
          True, False, None, "", "ascii", "abcdefgh", "a\0b", "trail\0\0", "\u00e9",
          "\u00fcn\u00efc\u00f8d\u00e9 \u2713", "\U0001d11e", b"", b"\0\x01\0", b"bytes\0\0",
          b"\xff" * 9]
# what reading CORNER back gives: trailing NULs stripped, as Python does
READ = list(CORNER)
READ[18] = "trail"
READ[23] = b"\0\x01"
READ[24] = b"bytes"
# every type replaced by another, full slots, trailing NULs again
CHANGES = [(0, "str!"), (1, "12345678"), (2, None), (3, True), (4, b"\0abc"), (5, -2**63),
           (11, 3.5), (13, 7), (14, 42), (16, False), (17, b"xyz"), (20, "\u00ff" * 8), (22, ""),
           (24, "back\0"), (25, -0.0)]
FINAL = list(READ)
for i, v in CHANGES:
    FINAL[i] = v.rstrip("\0") if isinstance(v, str) else v


# Python sizes a str's slot by its characters, so these are cut to 8 bytes:
# the first in the middle of a character (reading it raises), the second
# after 4 of its 7 characters
TRUNCATED = ["a" + "\u00e9" * 6, "\u00e9" * 7]


def same(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    return a == b


def untrack(sl):
    # Python 3.8-3.13 would unlink a block it opened when it exits
    resource_tracker.unregister(sl.shm._name, "shared_memory")


def main():
    mode, name = sys.argv[1], sys.argv[2]
    if mode == "create":
        sl = ShareableList(CORNER, name=name)
    elif mode == "truncated":
        sl = ShareableList(TRUNCATED, name=name)
    else:
        sl = ShareableList(name=name)
    untrack(sl)
    status = 0
    if mode == "check":
        want = READ if sys.argv[3] == "corner" else FINAL
        if len(sl) != len(want):
            print("length %d, want %d" % (len(sl), len(want)), file=sys.stderr)
            status = 1
        for i, w in enumerate(want):
            got = sl[i]
            if not same(got, w):
                print("item %d: %r, want %r" % (i, got, w), file=sys.stderr)
                status = 1
    elif mode == "truncated":
        try:
            sl[0]
            status = 1
        except UnicodeDecodeError:
            pass
        if sl[1] != "\u00e9" * 4:
            status = 1
    elif mode == "change":
        for i, v in CHANGES:
            sl[i] = v
    sl.shm.close()
    return status


if __name__ == "__main__":
    sys.exit(main())
