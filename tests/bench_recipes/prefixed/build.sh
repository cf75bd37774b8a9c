#!/usr/bin/env bash
# Build bench-prefixed: $PREFIX compiled into a library of generated code and
# into several programs, and written into many text files.
set -euo pipefail

CC="${CC:-gcc}"
N_PROGRAMS=12
N_MODULES=400
N_SCRIPTS=50
N_MANIFEST_LINES=20000
DEFINE="-DBENCH_PREFIX=\"$PREFIX\""
SHARE="$PREFIX/share/bench-prefixed"
mkdir -p "$PREFIX/bin" "$PREFIX/lib/pkgconfig" "$PREFIX/lib/cmake" "$SHARE"

# About a megabyte of machine code, with the prefix in its data.
{
    cat libbench-head.c
    awk -v n=4000 'BEGIN {
        for (i = 0; i < n; i++)
            printf "double bench_f%d(double x, int k) { double s = x; for (int j = 0; j < k; j++) s = s * %d.25 + j / (s + %d.5); return s; }\n", i, i % 97 + 1, i;
    }'
} > libbench.c
"$CC" -O2 -shared -fPIC "$DEFINE" -o "$PREFIX/lib/libbenchprefixed.so" libbench.c
for i in $(seq 1 "$N_PROGRAMS"); do
    "$CC" -O2 "$DEFINE" -DBENCH_ID="$i" -o "$PREFIX/bin/bench-prog-$i" bench-prog.c \
        -L"$PREFIX/lib" -lbenchprefixed -Wl,-rpath,'$ORIGIN/../lib'
done

subst() { sed -e "s|@PREFIX@|$PREFIX|g" -e "s|@N@|$2|g" "$1"; }
for i in $(seq 1 "$N_MODULES"); do
    subst module.pc "$i" > "$PREFIX/lib/pkgconfig/bench-mod-$i.pc"
    mkdir -p "$PREFIX/lib/cmake/bench-mod-$i"
    subst module-config.cmake "$i" > "$PREFIX/lib/cmake/bench-mod-$i/bench-mod-$i-config.cmake"
done
for i in $(seq 1 "$N_SCRIPTS"); do
    subst script.sh "$i" > "$PREFIX/bin/bench-script-$i"
    chmod 755 "$PREFIX/bin/bench-script-$i"
done
awk -v p="$PREFIX" -v n="$N_MANIFEST_LINES" 'BEGIN {
    for (i = 0; i < n; i++)
        printf "%s/share/bench-prefixed/data/item-%05d.dat size=%d mode=0644\n", p, i, (i * 7919) % 100000;
}' > "$SHARE/manifest.txt"
