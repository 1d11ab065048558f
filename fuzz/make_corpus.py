"""Writes fuzz/corpus: one valid Manager request of every operation
(docs/manager-protocol.md). Run from the project root: python3 fuzz/make_corpus.py"""
import os
import struct


def name(n=b"obj"):
    return struct.pack(">H", len(n)) + n


def b(data):
    return struct.pack(">I", len(data)) + data


def i64(v):
    return struct.pack(">q", v)


def request(op, body=b""):
    return bytes([1, op]) + body


CORPUS = {
    "ping": request(0x01),
    "shutdown": request(0x02),
    "dict_open": request(0x10, name()),
    "dict_set": request(0x11, name() + b(b"key") + b(b"value")),
    "dict_get": request(0x12, name() + b(b"key")),
    "dict_del": request(0x13, name() + b(b"key")),
    "dict_contains": request(0x14, name() + b(b"key")),
    "dict_pop": request(0x15, name() + b(b"key")),
    "dict_setdefault": request(0x16, name() + b(b"key") + b(b"default")),
    "dict_incr": request(0x17, name() + b(b"count") + i64(-3)),
    "dict_len": request(0x18, name()),
    "dict_keys": request(0x19, name()),
    "dict_items": request(0x1A, name()),
    "dict_update": request(0x1B, name() + struct.pack(">I", 2) + b(b"a") + b(b"1") + b(b"b") + b(b"22")),
    "dict_clear": request(0x1C, name()),
    "list_open": request(0x20, name(b"lst")),
    "list_append": request(0x21, name(b"lst") + b(b"item")),
    "list_extend": request(0x22, name(b"lst") + struct.pack(">I", 3) + b(b"x") + b(b"") + b(b"zz")),
    "list_get": request(0x23, name(b"lst") + i64(-1)),
    "list_set": request(0x24, name(b"lst") + i64(0) + b(b"new")),
    "list_insert": request(0x25, name(b"lst") + i64(-100) + b(b"first")),
    "list_pop": request(0x26, name(b"lst") + i64(-1)),
    "list_remove": request(0x27, name(b"lst") + b(b"x")),
    "list_index": request(0x28, name(b"lst") + b(b"zz")),
    "list_len": request(0x29, name(b"lst")),
    "list_slice": request(0x2A, name(b"lst") + i64(1) + i64(2**62)),
    "list_clear": request(0x2B, name(b"lst")),
}

os.makedirs("fuzz/corpus", exist_ok=True)
for label, data in CORPUS.items():
    with open(os.path.join("fuzz/corpus", label), "wb") as f:
        f.write(data)
