/* Prints its compiled-in prefix, then the library's. */
#include <stdio.h>

const char *bench_prefix(void);

static const char *const own_prefix = BENCH_PREFIX;
static const char *const own_tool = BENCH_PREFIX "/bin/bench-prog";

int main(void) {
    printf("%s\n%s\n", own_prefix, bench_prefix());
    fprintf(stderr, "tool %d: %s\n", BENCH_ID, own_tool);
    return 0;
}
