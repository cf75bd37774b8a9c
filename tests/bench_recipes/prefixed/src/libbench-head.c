/* Generated functions follow; the prefix is compiled into the data below. */
#include <stdio.h>

const char *bench_prefix(void) { return BENCH_PREFIX; }
const char *bench_data_dir(void) { return BENCH_PREFIX "/share/bench-prefixed"; }
const char *bench_config_file(void) { return BENCH_PREFIX "/etc/bench-prefixed.conf"; }

void bench_describe(FILE *out) {
    fprintf(out, "prefix: %s\ndata: %s\nconfig: %s\n", bench_prefix(), bench_data_dir(),
            bench_config_file());
}

