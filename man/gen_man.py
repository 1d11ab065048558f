"""Generates the section-3 man pages from the public headers' contract
comments, with an example program from examples/ in each.

The headers are the single source of truth for signatures and return codes:
regenerate after changing them (python3 man/gen_man.py, from the project
root) and commit the pages; `make check` lints them and tests/test_man.sh
fails when a page is stale. man/mproc.7 is written by hand, but for its list
of error codes, which is made here from common.h's one list."""
import os
import re
import sys

VERSION = re.search(r"AC_INIT\(\[mproc\], \[([^]]+)\]", open("configure.ac").read()).group(1)
DATE = "2026-11-25"

# page: (title, header, first marker, end marker or None, example, see also)
PAGES = {
    "mproc_lock": ("Lock and RLock: mutual exclusion between threads and processes",
                   "sync.h", "---- Lock", "---- Condition", "hello_lock.c", ["mproc_cond"]),
    "mproc_cond": ("Condition: wait for a state to change, with notify(n) and notify_all",
                   "sync.h", "---- Condition", "---- Event", "cond_notify_all.c", ["mproc_lock"]),
    "mproc_event": ("Event: a flag that processes wait on", "sync.h", "---- Event", "---- Semaphore",
                    "event_waiters.c", ["mproc_cond"]),
    "mproc_sem": ("Semaphore and BoundedSemaphore", "sync.h", "---- Semaphore", "---- Barrier",
                  "null_semaphore.c", ["mproc_lock"]),
    "mproc_barrier": ("Barrier: parties meet, with an action, abort and reset", "sync.h", "---- Barrier",
                      "---- Thread-local", "barrier_action.c", ["mproc_event"]),
    "mproc_local": ("thread-local data (threading.local)", "sync.h", "---- Thread-local", None,
                    "thread_local.c", []),
    "mproc_queue": ("FIFO, LIFO and priority queues between processes", "queue.h", None, None,
                    "queue_producer_consumer.c", ["mproc_conn"]),
    "mproc_shm": ("named shared-memory blocks, as Python's SharedMemory", "shared.h",
                  "---- Shared-memory blocks", "---- Value and Array", "shm_with_python.c", ["mproc_value"]),
    "mproc_value": ("Value and Array: typed items in shared memory", "shared.h", "---- Value and Array",
                    "---- ShareableList", "shared_counter.c", ["mproc_shm", "mproc_lock"]),
    "mproc_shlist": ("ShareableList: a list in shared memory, in Python's own layout", "shared.h",
                     "---- ShareableList", None, "shlist_with_python.c", ["mproc_shm", "mproc_lock"]),
    "mproc_conn": ("Pipe, Connection, Listener and Client in Python's wire format", "connection.h",
                   None, None, "pipe_workers.c", ["mproc_manager"]),
    "mproc_manager": ("the Manager: shared dicts and lists in a server process", "manager.h", None, None,
                      "word_count.c", ["mproc_conn"]),
    "mproc_process": ("Process: forking workers", "process.h", None, None, "worker_pool.c", []),
}


def roff_escape(text):
    text = text.replace("\\", "\\e")
    return "\n".join(("\\&" + line) if line.startswith((".", "'")) else line for line in text.split("\n"))


def comment_text(comment):
    """The text of a /* ... */ comment, its lines joined, marks removed."""
    body = comment.strip()[2:-2]
    lines = [re.sub(r"^\s*\*\s?", "", line) for line in body.split("\n")]
    return "\n".join(lines).strip()


def parse(header, start, end):
    """Yields ("intro", text) for section comments and ("fn", comment, prototype)."""
    src = open(os.path.join("include/mproc", header)).read()
    if start is not None:
        src = src[src.index("/* " + start):]
    if end is not None:
        src = src[:src.index("/* " + end)]
    else:
        cut = src.find("#ifdef __cplusplus\n}")
        src = src[:cut] if cut >= 0 else src
    items = []
    pending = None
    pos = 0
    token = re.compile(r"/\*.*?\*/|MPROC_API[^;]*;|typedef\s+struct\s*\{[^}]*\}\s*\w+;|typedef[^;{]*;"
                       r"|#define [^\n]*", re.S)
    for m in token.finditer(src):
        between = src[pos:m.start()]
        pos = m.end()
        t = m.group(0)
        line_start = src.rfind("\n", 0, m.start()) + 1
        if t.startswith("/*") and src[line_start:m.start()].strip():
            # a comment after code on its line: more about that code
            if items and items[-1][0] in ("fn", "decl"):
                kind, doc, proto = items[-1]
                items[-1] = (kind, (doc + " " + comment_text(t)).strip(), proto)
            continue
        if t.startswith("/*"):
            if pending is not None:
                items.append(("intro", comment_text(pending)))
            pending = t
            if "---- " in t.split("\n")[0] or start is None and not items and header in t:
                items.append(("intro", comment_text(t)))
                pending = None
        elif t.startswith("MPROC_API"):
            proto = re.sub(r"\s+", " ", t[len("MPROC_API"):]).strip()
            items.append(("fn", comment_text(pending) if pending else "", proto))
            pending = None
        else:
            if pending is not None and "\n\n" not in between:
                items.append(("decl", comment_text(pending), re.sub(r"\s+", " ", t).strip()))
            elif pending is not None:
                items.append(("intro", comment_text(pending)))
            pending = None
    return items


def clean_intro(text, header):
    text = re.sub(r"^mproc/\S+\.h: (.)", lambda m: m.group(1).upper(), text)
    text = text.replace("Include <mproc.h>, not this file.", "").strip()
    return text


def paragraphs(text):
    out = []
    first, _, rest = text.strip().partition("\n")
    if "----" in first or len(first) < 40 and not rest:
        # a section marker: its first line is a heading
        heading = re.sub(r"\s*-{3,}\s*", " ", first).strip()
        out.append(".SS " + roff_escape(heading[:1].upper() + heading[1:]))
        text = rest
    for para in re.split(r"\n\s*\n", text.strip()):
        if para.strip():
            out.append(".PP\n" + roff_escape(" ".join(l.strip() for l in para.split("\n"))))
    return "\n".join(out)


def counterpart(name, documented):
    """For a call documented only by its twin (mproc_rlock_open by
    mproc_lock_open): a pointer to the twin."""
    suffix = name.split("_", 2)[-1]
    for other in documented:
        if other.split("_", 2)[-1] == suffix and other != name:
            return f"As \\fB{other}\\fP() above, for this type."
    if suffix in ("init", "destroy", "create", "open", "close"):
        return (f"As \\fBmproc_lock_{suffix}\\fP() in \\fBmproc_lock\\fP(3), for this type "
                "(every type has the same life cycle; see also \\fBmproc\\fP(7)).")
    return "Described with the entry before it."


def page(name, spec):
    title, header, start, end, example, see = spec
    items = parse(header, start, end)
    fns = [i for i in items if i[0] == "fn"]
    names = []
    for f in fns:
        n = re.search(r"(\w+)\s*\(", f[2]).group(1)
        if n not in names:
            names.append(n)
    out = [
        f'.TH {name.upper()} 3 {DATE} "mproc {VERSION}" "mproc manual"',
        ".SH NAME",
        ", ".join(names) + " \\- " + roff_escape(title),
        ".SH SYNOPSIS",
        ".nf",
        ".B #include <mproc.h>",
        "",
    ]
    for kind, *rest in items:
        if kind == "decl":
            out.append(roff_escape(rest[1]))
    for f in fns:
        out.append(roff_escape(f[2]))
    out += [".fi", ".PP", "Compile and link with", "\\fIpkg\\-config \\-\\-cflags \\-\\-libs mproc\\fP.",
            ".SH DESCRIPTION"]
    # in the header's order: section texts, then the entries they introduce
    documented = {}
    for kind, *rest in items:
        if kind == "intro":
            text = clean_intro(rest[0], header)
            if not text:
                continue
            if "----" in text.split("\n")[0]:
                out.append(paragraphs(text))
            else:
                out.append(paragraphs("x\n" + text)[len(".SS X\n"):])
        elif kind == "decl" and rest[0]:
            out.append(".TP\n.B " + roff_escape(re.sub(r"\s*\{.*", "", rest[1]).rstrip(";")))
            out.append(roff_escape(" ".join(rest[0].split())))
        elif kind == "fn":
            n = re.search(r"(\w+)\s*\(", rest[1]).group(1)
            out.append(".TP\n.BR " + n + " ()")
            if rest[0]:
                documented[n] = True
                out.append(roff_escape(" ".join(rest[0].split())))
            else:
                out.append(counterpart(n, documented))
    out += [
        ".SH RETURN VALUE",
        "0 on success (or the non-negative value described above); otherwise a negative",
        "MPROC_E* code, named by",
        ".BR mproc_strerror ().",
        "The codes each call returns are listed with it above; see",
        ".BR mproc (7)",
        "for the error model and timeouts.",
        ".SH EXAMPLE",
        f"examples/{example} from the mproc sources:",
        ".PP",
        ".EX",
        roff_escape(open(os.path.join("examples", example)).read().rstrip("\n")),
        ".EE",
        ".SH SEE ALSO",
        ",\n".join(f".BR {s} (3)" for s in see + []) + ("," if see else ""),
        ".BR mproc (7)",
    ]
    text = "\n".join(out) + "\n"
    text = text.replace(".SH DESCRIPTION\n.PP\n", ".SH DESCRIPTION\n")
    return re.sub(r"(\.SS [^\n]*\n)\.PP\n", r"\1", text)


ERRORS_BEGIN = '.\\" the list below is generated from include/mproc/common.h by man/gen_man.py\n'
ERRORS_END = '.\\" end of the generated list\n'


def overview():
    """man/mproc.7 (written by hand) with its list of error codes made anew
    from the one list in common.h."""
    text = open("man/mproc.7").read()
    src = open("include/mproc/common.h").read()
    entries = []
    for name, value, message in re.findall(r'X\((\w+),\s*(-?\w+),\s*"([^"]*)"\)', src):
        shown = "\\-" + value[1:] if value.startswith("-") else value
        entries.append(f".TP\n.B MPROC_{name}\n{roff_escape(message)} ({shown})\n")
    start = text.index(ERRORS_BEGIN) + len(ERRORS_BEGIN)
    return text[:start] + "".join(entries) + text[text.index(ERRORS_END):]


def main():
    check = "--check" in sys.argv
    stale = []
    pages = {name + ".3": page(name, spec) for name, spec in PAGES.items()}
    pages["mproc.7"] = overview()
    for filename, text in pages.items():
        path = os.path.join("man", filename)
        if check:
            if not os.path.exists(path) or open(path).read() != text:
                stale.append(path)
        else:
            with open(path, "w") as f:
                f.write(text)
    if stale:
        print("stale man pages (run python3 man/gen_man.py):", " ".join(stale))
        sys.exit(1)


if __name__ == "__main__":
    main()
