#!/bin/sh
# The man pages: generated ones match the headers (man/gen_man.py --check),
# and every page passes a lint (mandoc -T lint, else groff -ww). Run by
# `make check`.
set -u
src=${MPROC_SRCDIR:-.}
fail=0
if command -v python3 >/dev/null 2>&1; then
    (cd "$src" && python3 man/gen_man.py --check) || fail=1
fi
for page in "$src"/man/mproc.7 "$src"/man/*.3; do
    if command -v mandoc >/dev/null 2>&1; then
        out=$(mandoc -T lint -W warning "$page" 2>&1)
    else
        out=$(groff -ww -z -man "$page" 2>&1)
    fi
    if [ -n "$out" ]; then
        echo "FAIL: $page"; echo "$out"; fail=1
    fi
done
[ $fail -eq 0 ] && echo "ok: man pages"
exit $fail
