#!/usr/bin/env bash
# Build cpdemo-tools: a C program and library with $PREFIX compiled in, text
# files mentioning $PREFIX, symlinks and activation scripts.
set -euo pipefail

CC="${CC:-gcc}"
DEFINE="-DCPDEMO_PREFIX=\"$PREFIX\""
mkdir -p "$PREFIX/bin" "$PREFIX/lib/pkgconfig" "$PREFIX/etc/conda/activate.d" \
         "$PREFIX/etc/conda/deactivate.d" "$PREFIX/share/cpdemo-1.0"

"$CC" -O2 -shared -fPIC "$DEFINE" -o "$PREFIX/lib/libcpdemo.so" libcpdemo.c
"$CC" -O2 "$DEFINE" -o "$PREFIX/bin/cpdemo-prefix" cpdemo-prefix.c \
    -L"$PREFIX/lib" -lcpdemo -Wl,-rpath,'$ORIGIN/../lib'

subst() { sed "s|@PREFIX@|$PREFIX|g" "$1" > "$2"; }
subst cpdemo-script "$PREFIX/bin/cpdemo-script"
subst cpdemo-pyscript "$PREFIX/bin/cpdemo-pyscript"
chmod 755 "$PREFIX/bin/cpdemo-script" "$PREFIX/bin/cpdemo-pyscript"
subst cpdemo.pc "$PREFIX/lib/pkgconfig/cpdemo.pc"
subst cpdemo.conf "$PREFIX/etc/cpdemo.conf"

cp activate.sh "$PREFIX/etc/conda/activate.d/cpdemo.sh"
cp deactivate.sh "$PREFIX/etc/conda/deactivate.d/cpdemo.sh"
cp activate.fish "$PREFIX/etc/conda/activate.d/cpdemo.fish"
cp deactivate.fish "$PREFIX/etc/conda/deactivate.d/cpdemo.fish"
cp greeting.txt "$PREFIX/share/cpdemo-1.0/greeting.txt"

ln -s cpdemo-prefix "$PREFIX/bin/cpdemo-link"
ln -s cpdemo-1.0 "$PREFIX/share/cpdemo-current"
