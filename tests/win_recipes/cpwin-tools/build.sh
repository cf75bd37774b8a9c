#!/usr/bin/env bash
set -euo pipefail

share="$PREFIX/Library/share/cpwin"
mkdir -p "$share" "$PREFIX/etc/conda/activate.d" "$PREFIX/etc/conda/deactivate.d"
printf 'prefix=%s\r\n' "$PREFIX" > "$share/prefix.txt"
printf 'data=%s/Library/share/cpwin\r\n' "$PREFIX" > "$share/with space.txt"
cp activate.bat "$PREFIX/etc/conda/activate.d/cpwin.bat"
cp deactivate.bat "$PREFIX/etc/conda/deactivate.d/cpwin.bat"
