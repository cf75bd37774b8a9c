#!/bin/sh
# Benchmark helper script @N@.
PREFIX="@PREFIX@"
export BENCH_HOME="$PREFIX/share/bench-prefixed"
exec "$PREFIX/bin/bench-prog-1" "$@"
