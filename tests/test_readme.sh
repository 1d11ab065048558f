#!/bin/sh
# README shows no code that does not compile: every block of C in it (an
# indented block with an #include or a statement ending in ');') must follow a line naming its
# file ("... examples/NAME.c:") and be that file exactly; `make` builds those
# files and tests/test_examples.sh runs them. Run by `make check`.
set -u
src=${MPROC_SRCDIR:-.}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
# Writes each named block to $tmp/blocks/NAME.c, and each unnamed block of C
# to $tmp/unnamed (its first line).
mkdir "$tmp/blocks"
awk -v dir="$tmp" '
    function flush() {
        if (nlines == 0) return
        while (nlines > 0 && lines[nlines] == "") nlines--
        if (name != "") {
            out = dir "/blocks/" name
            for (i = 1; i <= nlines; i++) print lines[i] > out
            close(out)
        } else if (is_c) {
            print FILENAME ": " first >> (dir "/unnamed")
        }
        nlines = 0; name = ""; is_c = 0
    }
    (/^    / && (nlines > 0 || blank)) || (/^$/ && nlines > 0) {
        if (nlines == 0) { first = $0; name = pending }
        pending = ""
        blank = 0
        line = $0; sub(/^    /, "", line)
        lines[++nlines] = line
        if (line ~ /^#include/ || line ~ /\);[ \t]*(\/\*.*\*\/)?[ \t]*$/) is_c = 1
        next
    }
    /^$/ { blank = 1; next }
    {
        blank = 0
        flush()
        pending = ""
        if (match($0, /examples\/[a-z_0-9]+\.c:$/)) pending = substr($0, RSTART + 9, RLENGTH - 10)
    }
    END { flush() }
' "$src/README"
fail=0
count=0
for block in "$tmp"/blocks/*; do
    [ -e "$block" ] || continue
    name=$(basename "$block")
    count=$((count + 1))
    if ! diff -u "$src/examples/$name" "$block" >"$tmp/diff"; then
        echo "FAIL: README's copy of examples/$name differs from the file:"; cat "$tmp/diff"; fail=1
    fi
done
if [ -s "$tmp/unnamed" ]; then
    echo "FAIL: README shows C that is not a file in examples/:"; cat "$tmp/unnamed"; fail=1
fi
[ "$count" -ge 12 ] || { echo "FAIL: only $count example programs found in README"; fail=1; }
[ $fail -eq 0 ] && echo "ok: README's $count programs are examples/ files"
exit $fail
