/* Shared library whose data embeds the build prefix (a binary placeholder). */
const char *cpdemo_lib_prefix(void) {
    static const char prefix[] = CPDEMO_PREFIX;
    return prefix;
}
