/* Prints the prefix embedded in this program, then the one in libcpdemo. */
#include <stdio.h>

const char *cpdemo_lib_prefix(void);

int main(void) {
    static const char prefix[] = CPDEMO_PREFIX;
    puts(prefix);
    puts(cpdemo_lib_prefix());
    return 0;
}
