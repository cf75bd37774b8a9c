# Whether $1 is UTF-8: Python reads every file it runs as UTF-8, and a location written
# into a script or a module must be, so a location that is not is refused (the same rule
# as condapack.unpack.quoting.location_problem). Pasted into unpack.sh and the installer where
# their "@LOCATION_SH@" line stands. Needs od (POSIX; busybox has it).
_cp_utf8() {
    _cp_more=0 _cp_lo=128 _cp_hi=191
    for _cp_b in $(printf '%s' "$1" | od -An -v -tu1); do
        if [ "$_cp_more" -gt 0 ]; then
            [ "$_cp_b" -ge "$_cp_lo" ] && [ "$_cp_b" -le "$_cp_hi" ] || return 1
            _cp_more=$((_cp_more - 1)) _cp_lo=128 _cp_hi=191
            continue
        fi
        if [ "$_cp_b" -lt 128 ]; then continue
        elif [ "$_cp_b" -lt 194 ] || [ "$_cp_b" -gt 244 ]; then return 1
        elif [ "$_cp_b" -lt 224 ]; then _cp_more=1
        elif [ "$_cp_b" -lt 240 ]; then _cp_more=2
        else _cp_more=3
        fi
        # no overlong forms, no surrogates, nothing past U+10FFFF
        case $_cp_b in 224) _cp_lo=160 ;; 237) _cp_hi=159 ;; 240) _cp_lo=144 ;; 244) _cp_hi=143 ;; esac
    done
    [ "$_cp_more" -eq 0 ]
}
