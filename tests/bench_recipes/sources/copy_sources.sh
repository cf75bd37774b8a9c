#!/usr/bin/env bash
# Copy every .py file under $SRC_STDLIB (not site-packages) $COPIES times into
# site-packages/benchsrc_N/, keeping the directory structure.
set -euo pipefail

SP="$("$PREFIX/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
list="$(mktemp)"
(cd "$SRC_STDLIB" && find . -path ./site-packages -prune -o -name '*.py' -type f -print | LC_ALL=C sort) > "$list"
for n in $(seq 1 "$COPIES"); do
    dest="$SP/benchsrc_$n"
    mkdir -p "$dest"
    (cd "$SRC_STDLIB" && tr '\n' '\0' < "$list" | xargs -0 cp --parents -t "$dest")
    touch "$dest/__init__.py"
done
rm -f "$list"
