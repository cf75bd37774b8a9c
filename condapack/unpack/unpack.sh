# conda-unpack without Python. Sourced by bin/conda-unpack, which sets $prefix (where
# the environment is), $dest (the location to set it up for) and $quiet.
#
# Needs only a POSIX sh and sed, grep, dd, od, cat, tail, ls, chmod, wc, mv, rm, mkdir,
# rmdir, sleep: what busybox and every minimal image have. It takes the same steps as
# the Python implementation (the package unpack/ beside it), on the same files, and gives
# the same bytes:
# - conda-meta/condapack/unpack.txt, the manifest the Python one reads too, lists the files,
#   escaped as printf formats (any byte can be in a name); its format is described in
#   unpack/manifest.py. Text files get every occurrence of the old prefix replaced (sed,
#   with both prefixes escaped) and an interpreter line valid for the new one. Binaries
#   get each recorded C string overwritten in place (dd conv=notrunc), NUL-padded to
#   its recorded length: offsets were found at pack time, so nothing is searched.
# - All-or-nothing: changed files are written beside their targets first; the file
#   "pending" marks the renames, so an interrupted run is finished by the next one.
# - Like the Python one it never writes through a symbolic link nor outside the prefix:
#   names are checked (relative, no ".."), targets must be regular files whose directory
#   resolves inside the prefix, temps are created with noclobber (set -C) after a check
#   that no link sits at their name. Runs in one prefix are serialised by the mutex
#   directory (the protocol: unpack/mutex.py); Ctrl-C, SIGTERM and SIGHUP remove the
#   temps, or wait for the renames.

LC_ALL=C
export LC_ALL
set -f
set -C
_cu_state="$prefix/conda-meta/condapack"
_cu_list="$_cu_state/unpack.txt"
_cu_header='condapack-unpack 3'
_cu_suffix=.condapack-unpack
_cu_nl='
'
_cu_cr=$(printf '\r')
_cu_mutex="$_cu_state/unpack.mutex"
_cu_held= _cu_phase=

# @LOCATION_SH@

_cu_die() {
    printf 'conda-unpack: error: %s\n' "$1" >&2
    _cu_release
    exit 1
}

# Hold this prefix's mutex, as unpack/mutex.py describes: a directory holding the owner's
# pid (mkdir is atomic). A mutex whose owner is gone (killed) is taken over, as is one that
# stays without a pid for five checks; a live one is waited for.
_cu_take_mutex() {
    case $(cd "$_cu_state" 2>/dev/null && pwd -P)/ in
        "$_cu_real"*) ;;
        *) _cu_die "$_cu_state is missing or a symbolic link out of the environment; unpack the archive again" ;;
    esac
    _cu_pidless=0
    until mkdir "$_cu_mutex" 2>/dev/null; do
        [ -d "$_cu_mutex" ] && [ ! -h "$_cu_mutex" ] || _cu_die "cannot create $_cu_mutex; check the permissions of the environment"
        if _cu_read "$_cu_mutex/pid" && [ -n "$_cu_val" ]; then
            _cu_pidless=0
            kill -0 "$_cu_val" 2>/dev/null || _cu_pidless=5
        else
            _cu_pidless=$((_cu_pidless + 1))
        fi
        if [ "$_cu_pidless" -ge 5 ]; then
            rm -f "$_cu_mutex/pid"
            rmdir "$_cu_mutex" 2>/dev/null
            _cu_pidless=0
            continue
        fi
        sleep 1
    done
    _cu_held=1
    printf '%s' "$$" > "$_cu_mutex/pid" || _cu_die "cannot write $_cu_mutex/pid; check the permissions of the environment"
}

_cu_release() {
    [ -n "$_cu_held" ] || return 0
    _cu_held=
    rm -f "$_cu_mutex/pid"
    rmdir "$_cu_mutex" 2>/dev/null || :
}

# Ctrl-C, SIGTERM, SIGHUP: before the renames, remove the temps and stop; during them,
# finish them first (the trap runs between commands, so no mv is cut).
_cu_signal() {
    if [ "$_cu_phase" = commit ]; then
        _cu_phase=interrupted
        return
    fi
    trap '' INT TERM HUP
    [ "$_cu_phase" != prepare ] || _cu_each_temp rm
    _cu_interrupted
}

_cu_interrupted() {
    _cu_release
    printf 'conda-unpack: interrupted; nothing is left half done: run conda-unpack again to relocate the environment\n' >&2
    exit 130
}

# $1: a state file -> $_cu_val (its bytes, trailing newlines kept); fails if it is missing.
_cu_read() {
    [ -e "$1" ] || [ -h "$1" ] || return 1
    _cu_check_file "$1" 1048576
    _cu_val=$(cat "$1" && printf x) || return 1
    _cu_val=${_cu_val%x}
}

# $1: a file of conda-unpack's own, $2: its cap in bytes (unpack.py's). Anything but a
# regular file (a link, a FIFO, a device, a directory) or one past the cap is refused.
_cu_check_file() {
    [ -f "$1" ] && [ ! -h "$1" ] || _cu_die "cannot read $1 (not a regular file); unpack the archive again"
    _cu_size=$(wc -c < "$1") && _cu_size=${_cu_size##* } || _cu_size=
    case $_cu_size in
        ''|*[!0-9]*) _cu_die "cannot read $1; unpack the archive again" ;;
    esac
    [ "$_cu_size" -le "$2" ] || _cu_die "cannot read $1 (larger than $(($2 >> 20)) MiB); unpack the archive again"
}

# $1: state file name, $2: value; replaced atomically (a new temp, never through a link).
# On failure without a "pending" the temps are not renames to finish: they are removed
# (the Python one looks for temps beside every file only after a run that was killed).
_cu_write() {
    rm -f "$_cu_state/$1$_cu_suffix"
    printf '%s' "$2" > "$_cu_state/$1$_cu_suffix" && mv -f "$_cu_state/$1$_cu_suffix" "$_cu_state/$1" && return
    [ -f "$_cu_state/pending" ] || _cu_each_temp rm
    _cu_die "cannot write $_cu_state/$1; check the permissions of the environment"
}

# $1: a name from unpack.txt -> $_cu_path (relative to the prefix).
_cu_decode() {
    _cu_path=$(printf "${1}x")
    _cu_path=${_cu_path%x}
}

# The manifest's first line is its header; every name must stay below the prefix
# (safepath.relative_path).
_cu_validate() {
    IFS= read -r _cu_h < "$_cu_list" || :
    [ "$_cu_h" = "$_cu_header" ] || _cu_bad "the first line is not '$_cu_header'"
    { IFS= read -r _cu_h <&3; while IFS=' ' read -r _cu_k _cu_n _cu_rest <&3; do
        case $_cu_k in t|b) ;; *) _cu_bad "bad line '$_cu_k $_cu_n'" ;; esac
        case $_cu_n in *'\000'*) _cu_bad "file '$_cu_n' contains a NUL byte" ;; esac
        _cu_decode "$_cu_n"
        case /$_cu_path/ in
            //) _cu_bad "file '' may not be empty, got ''" ;;
            //*) _cu_bad "file '$_cu_path' must be a relative path, got '$_cu_path'" ;;
            */../*) _cu_bad "file '$_cu_path' may not contain '..', got '$_cu_path'" ;;
        esac
    done; } 3< "$_cu_list"
    [ -z "$_cu_k$_cu_n" ] || _cu_bad "the last line is cut short"
}

_cu_bad() {
    _cu_die "$_cu_list is malformed ($1); unpack the archive again"
}

# $1: a path -> whether its directory resolves inside the prefix (links followed).
_cu_inside() {
    _cu_d=${1%/*}
    [ "$_cu_d" != "$_cu_last_dir" ] || return "$_cu_last_ok"
    _cu_last_dir=$_cu_d _cu_last_ok=1
    case $(cd "$_cu_d" 2>/dev/null && pwd -P)/ in
        "$_cu_real"*) _cu_last_ok=0 ;;
    esac
    return "$_cu_last_ok"
}

# $1: a file -> $_cu_mode, its permission bits in octal (from ls, which every host has).
_cu_mode_of() {
    _cu_m=$(ls -ld "$1") || return 1
    _cu_m=${_cu_m%% *}
    _cu_m=${_cu_m#?}
    _cu_mode= _cu_special=0
    for _cu_bit in 4 2 1; do
        _cu_digit=0
        case $_cu_m in r*) _cu_digit=4 ;; esac
        _cu_m=${_cu_m#?}
        case $_cu_m in w*) _cu_digit=$((_cu_digit + 2)) ;; esac
        _cu_m=${_cu_m#?}
        case $_cu_m in [xst]*) _cu_digit=$((_cu_digit + 1)) ;; esac
        case $_cu_m in [sStT]*) _cu_special=$((_cu_special + _cu_bit)) ;; esac
        _cu_m=${_cu_m#?}
        _cu_mode=$_cu_mode$_cu_digit
    done
    _cu_mode=$_cu_special$_cu_mode
}

# $1: mv or rm; applied to every temp a run left beside its target.
_cu_each_temp() {
    { IFS= read -r _cu_h <&3; while IFS=' ' read -r _cu_k _cu_n _cu_rest <&3; do
        _cu_decode "$_cu_n"
        _cu_t="$prefix/$_cu_path$_cu_suffix"
        [ -h "$_cu_t" ] || [ -e "$_cu_t" ] || continue
        _cu_inside "$_cu_t" || continue
        if [ "$1" = mv ] && [ -f "$_cu_t" ] && [ ! -h "$_cu_t" ]; then
            mv -f "$_cu_t" "$prefix/$_cu_path" || _cu_die "cannot rename $_cu_t; fix the cause and run conda-unpack again"
        else
            rm -f "$_cu_t"
        fi
    done; } 3< "$_cu_list"
    for _cu_t in "$_cu_state/prefix$_cu_suffix" "$_cu_state/pending$_cu_suffix"; do
        rm -f "$_cu_t"
    done
}

# $1: text -> $_cu_r, with every occurrence of $_cu_old replaced by $_cu_new.
_cu_subst() {
    _cu_r= _cu_s=$1
    while :; do
        case $_cu_s in
            *"$_cu_old"*) _cu_r=$_cu_r${_cu_s%%"$_cu_old"*}$_cu_new; _cu_s=${_cu_s#*"$_cu_old"} ;;
            *) break ;;
        esac
    done
    _cu_r=$_cu_r$_cu_s
}

# $1 -> $_cu_q: one shell word for it, as quoting.sh_word writes it: in single quotes, a
# quote written '"'"' and a backslash '\\' (also a valid Python string in a trampoline).
_cu_sh_word() {
    _cu_q= _cu_s=$1
    while :; do
        case $_cu_s in
            *[\'\\]*)
                _cu_r=${_cu_s%%[\'\\]*}
                _cu_s=${_cu_s#"$_cu_r"}
                case $_cu_s in
                    \'*) _cu_q="$_cu_q$_cu_r'\"'\"'" ;;
                    *) _cu_q="$_cu_q$_cu_r'\\\\'" ;;
                esac
                _cu_s=${_cu_s#?} ;;
            *) break ;;
        esac
    done
    _cu_q="'$_cu_q$_cu_s'"
}

# $1: what follows "'''exec' " in a trampoline -> $_cu_interp and $_cu_r (the rest): the
# interpreter read back from pip's "INTERP" or from _cu_sh_word's form; fails otherwise.
_cu_unquote() {
    _cu_r=$1 _cu_interp=
    case $_cu_r in
        '"'*'"'*)
            _cu_r=${_cu_r#'"'}
            _cu_interp=${_cu_r%%'"'*}
            _cu_r=${_cu_r#*'"'}
            return 0 ;;
    esac
    while :; do
        case $_cu_r in
            \'*\'*)
                _cu_r=${_cu_r#?}
                _cu_interp=$_cu_interp${_cu_r%%\'*}
                _cu_r=${_cu_r#*\'} ;;
            \"\'\"*) _cu_interp=$_cu_interp\'; _cu_r=${_cu_r#???} ;;
            \\\\*) _cu_interp=$_cu_interp\\; _cu_r=${_cu_r#??} ;;
            *) break ;;
        esac
    done
    [ "$_cu_r" != "$1" ] || return 1
    case $_cu_r in [' 	']*) return 0 ;; esac
    return 1
}

# The header for interpreter $1 with arguments $2 (rewrite.make_shebang): a "#!" line when
# the kernel can read it, else the trampoline for Python, /usr/bin/env for the others.
_cu_make_shebang() {
    _cu_head="#!$1$2"
    case $1 in
        *[' 	']*) ;;
        *) [ ${#_cu_head} -le 127 ] && return ;;
    esac
    case ${1##*/} in
        python*)
            _cu_sh_word "$1"
            _cu_head="#!/bin/sh$_cu_nl'''exec' $_cu_q$2 \"\$0\" \"\$@\"$_cu_nl' '''" ;;
        *) _cu_head="#!/usr/bin/env ${1##*/}$2" ;;
    esac
}

# $1: a text file. Sets $_cu_head and $_cu_skip (header lines it replaces) when its
# interpreter lies in the old prefix (rewrite.relocated_header): the header is read
# before the prefix is replaced, as a trampoline's interpreter is quoted.
_cu_shebang() {
    _cu_skip=0 _cu_n=0 _cu_l1= _cu_l2= _cu_l3=
    { IFS= read -r _cu_l1 && _cu_n=1 && IFS= read -r _cu_l2 && _cu_n=2 && IFS= read -r _cu_l3 && _cu_n=3; } < "$1" || :
    case $_cu_l1 in '#!'*) ;; *) return ;; esac
    _cu_interp= _cu_args=
    if [ "$_cu_l1" = '#!/bin/sh' ] && [ "$_cu_n" = 3 ] && [ "$_cu_l3" = "' '''" ]; then
        case $_cu_l2 in
            "'''exec' "*' "$0" "$@"')
                if _cu_unquote "${_cu_l2#"'''exec' "}"; then
                    _cu_args=${_cu_r%' "$0" "$@"'}
                    _cu_skip=3
                fi ;;
        esac
    fi
    if [ "$_cu_skip" = 0 ]; then
        [ "$_cu_n" -ge 1 ] || return
        _cu_r=${_cu_l1#??}
        while :; do case $_cu_r in [' 	']*) _cu_r=${_cu_r#?} ;; *) break ;; esac; done
        _cu_interp=
        case $_cu_r in
            "$_cu_old"/*) _cu_interp=$_cu_old _cu_r=${_cu_r#"$_cu_old"} ;;
        esac
        _cu_interp=$_cu_interp${_cu_r%%[' 	']*}
        _cu_args=${_cu_r#"${_cu_r%%[' 	']*}"}
        [ -n "$_cu_interp" ] || return
        _cu_skip=1
    fi
    case $_cu_interp in
        "$_cu_old"/*)
            _cu_subst "$_cu_interp"
            _cu_interp=$_cu_r
            _cu_subst "$_cu_args"
            _cu_make_shebang "$_cu_interp" "$_cu_r" ;;
        *) _cu_skip=0 ;;
    esac
}

# $1: text file, $2: its temp. Returns 1 when the file does not hold the old prefix.
_cu_text() {
    grep -F -q -e "$_cu_old" -e "$_cu_old_q" "$1"
    case $? in 0) ;; 1) return 1 ;; *) _cu_fail "cannot be read"; return 1 ;; esac
    _cu_mode_of "$1" || { _cu_fail "cannot be read"; return 1; }
    _cu_shebang "$1"
    if [ "$_cu_skip" = 0 ]; then
        sed -e "s/$_cu_old_re/$_cu_new_re/g" "$1" > "$2"
    else
        { printf '%s\n' "$_cu_head" && tail -n +$((_cu_skip + 1)) "$1" | sed -e "s/$_cu_old_re/$_cu_new_re/g"; } > "$2"
    fi && chmod "$_cu_mode" "$2" || { _cu_fail "cannot be rewritten"; return 1; }
}

# $1: temp copy of a binary, $2: one field OFFSET:LENGTH:FIXED:COUNT:FORMAT.
_cu_field() {
    _cu_f=$2
    _cu_off=${_cu_f%%:*}; _cu_f=${_cu_f#*:}
    _cu_len=${_cu_f%%:*}; _cu_f=${_cu_f#*:}
    [ $((_cu_off + _cu_len)) -le "$_cu_size" ] || { _cu_fail "a recorded field lies beyond the end of the file"; return 1; }
    _cu_fixed=${_cu_f%%:*}; _cu_f=${_cu_f#*:}
    _cu_count=${_cu_f%%:*}; _cu_f=${_cu_f#*:}
    _cu_body=$((_cu_fixed + _cu_count * ${#_cu_new}))
    [ "$_cu_body" -lt "$_cu_len" ] || { _cu_fail "a string holding the prefix has no room to grow"; return 1; }
    _cu_tmp=$1
    set --
    while [ $# -lt "$_cu_count" ]; do set -- "$@" "$_cu_new"; done
    { printf "$_cu_f" "$@" && dd if=/dev/zero bs=$((_cu_len - _cu_body)) count=1 2>/dev/null; } \
        | dd of="$_cu_tmp" bs=1 seek="$_cu_off" conv=notrunc 2>/dev/null || { _cu_fail "cannot be written"; return 1; }
}

# $1: binary, $2: its temp, $3: capacity, $4...: fields.
_cu_binary() {
    [ $# -gt 3 ] || return 1
    if [ ${#_cu_new} -gt "$3" ]; then
        _cu_fail "the new prefix is ${#_cu_new} bytes long but the binary has room for $3"
        return 1
    fi
    { _cu_mode_of "$1" && cat "$1" > "$2" && chmod "$_cu_mode" "$2"; } || { _cu_fail "cannot be copied"; return 1; }
    _cu_size=$(wc -c < "$2") || { _cu_fail "cannot be read"; return 1; }
    _cu_b=$2
    shift 3
    for _cu_one in "$@"; do
        _cu_field "$_cu_b" "$_cu_one" || return 1
    done
}

_cu_fail() {
    _cu_errors=$((_cu_errors + 1))
    if [ "$_cu_errors" -le 3 ]; then
        _cu_why="$_cu_why${_cu_why:+; }$_cu_path: $1"
    elif [ "$_cu_errors" = 4 ]; then
        _cu_why="$_cu_why ..."
    fi
}

_cu_prepare() {
    _cu_errors=0 _cu_written=0 _cu_why=
    { IFS= read -r _cu_h <&3; while IFS=' ' read -r _cu_k _cu_n _cu_rest <&3; do
        _cu_decode "$_cu_n"
        _cu_target="$prefix/$_cu_path"
        if ! _cu_inside "$_cu_target"; then
            _cu_fail "is below a symbolic link that leaves the environment"
            continue
        elif [ -h "$_cu_target" ] || { [ -e "$_cu_target" ] && [ ! -f "$_cu_target" ]; }; then
            _cu_fail "is not a regular file (conda-unpack never writes through a symbolic link)"
            continue
        elif [ -h "$_cu_target$_cu_suffix" ] || [ -e "$_cu_target$_cu_suffix" ]; then
            _cu_fail "its temporary file $_cu_path$_cu_suffix exists; run conda-unpack again"
            continue
        fi
        if [ "$_cu_k" = t ]; then
            _cu_text "$_cu_target" "$_cu_target$_cu_suffix" || continue
        else
            # shellcheck disable=SC2086  # capacity and fields: words without glob characters
            _cu_binary "$_cu_target" "$_cu_target$_cu_suffix" $_cu_rest || continue
        fi
        _cu_written=$((_cu_written + 1))
    done; } 3< "$_cu_list"
}

_cu_main() {
    case $dest in
        *"$_cu_nl"*|*"$_cu_cr"*) _cu_die "a location with a line break cannot hold an environment; choose another location" ;;
    esac
    _cp_utf8 "$dest" || _cu_die "a location that is not UTF-8 cannot hold an environment; choose another location"
    _cu_real=$(cd "$prefix" && pwd -P)/ || _cu_die "cannot enter $prefix"
    _cu_last_dir= _cu_last_ok=1
    trap _cu_signal INT TERM HUP
    _cu_take_mutex
    [ -e "$_cu_list" ] || [ -h "$_cu_list" ] || _cu_die "$_cu_list is missing; unpack the archive again"
    _cu_check_file "$_cu_list" 1073741824
    _cu_validate
    # The Python one changes files in place and journals their original bytes; only it rolls
    # a journal back.
    if [ -e "$_cu_state/journal" ] || [ -h "$_cu_state/journal" ]; then
        _cu_die "$_cu_state/journal was left by an interrupted conda-unpack that used Python; run conda-unpack without --sh (a Python is needed) to restore the files, then again"
    fi
    if _cu_read "$_cu_state/pending"; then
        _cu_each_temp mv
        _cu_write prefix "$_cu_val"
        rm -f "$_cu_state/pending"
    fi
    _cu_each_temp rm
    _cu_read "$_cu_state/prefix" || _cu_die "$_cu_state/prefix is missing; unpack the archive again"
    _cu_old=$_cu_val
    if [ "$_cu_old" = "$dest" ]; then
        [ -n "$quiet" ] || printf 'conda-unpack: %s is already set up for this location\n' "$dest" >&2
        _cu_release
        exit 0
    fi
    _cu_new=$dest
    # How a trampoline spells the old prefix, when that differs from the prefix itself.
    _cu_sh_word "$_cu_old"
    _cu_old_q=${_cu_q%\'}
    [ "$_cu_old_q" != "'$_cu_old" ] || _cu_old_q=$_cu_old
    _cu_old_re=$(printf '%s\n' "$_cu_old" | sed -e 's/[]\/$*.^[]/\\&/g')
    _cu_new_re=$(printf '%s\n' "$_cu_new" | sed -e 's/[\/&]/\\&/g')
    _cu_phase=prepare
    _cu_prepare
    if [ "$_cu_errors" -gt 0 ]; then
        _cu_each_temp rm
        _cu_die "cannot relocate $_cu_errors files to $dest ($_cu_why); nothing was changed: fix the cause (or choose a shorter path) and run conda-unpack again"
    fi
    _cu_phase=commit
    _cu_write pending "$dest"
    _cu_each_temp mv
    _cu_write prefix "$dest"
    rm -f "$_cu_state/pending"
    [ "$_cu_phase" = commit ] || _cu_interrupted
    _cu_phase=
    _cu_release
    [ -n "$quiet" ] || printf 'conda-unpack: relocated %d files to %s\n' "$_cu_written" "$dest" >&2
    exit 0
}

_cu_main
