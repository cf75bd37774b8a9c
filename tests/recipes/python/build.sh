#!/usr/bin/env bash
# Copy the interpreter installation at $SRC_PYTHON_PREFIX into $PREFIX.
set -euo pipefail

mkdir -p "$PREFIX/bin" "$PREFIX/lib"
cp -p "$SRC_PYTHON_PREFIX/bin/python$PY_SHORT" "$PREFIX/bin/"
ln -s "python$PY_SHORT" "$PREFIX/bin/python3"
ln -s "python$PY_SHORT" "$PREFIX/bin/python"
cp -P -p "$SRC_PYTHON_PREFIX"/lib/libpython3*.so* "$PREFIX/lib/"

# The standard library, without site-packages contents, tests, GUI bits,
# ensurepip, bytecode caches and the static libpython archive.
tar -C "$SRC_PYTHON_PREFIX/lib" -cf - \
    --exclude="python$PY_SHORT/site-packages" \
    --exclude=test --exclude=tests --exclude=idlelib --exclude=tkinter \
    --exclude=turtledemo --exclude=ensurepip --exclude=__pycache__ \
    --exclude='*.a' \
    "python$PY_SHORT" | tar -C "$PREFIX/lib" -xf -
mkdir -p "$PREFIX/lib/python$PY_SHORT/site-packages"
cp site-packages/README.txt "$PREFIX/lib/python$PY_SHORT/site-packages/"

# Ship bytecode, compiled by the packaged interpreter itself.
"$PREFIX/bin/python$PY_SHORT" -m compileall -q -j 2 "$PREFIX/lib/python$PY_SHORT" >/dev/null
