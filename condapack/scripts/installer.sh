#!/bin/sh
# @NAME@: a conda environment that installs itself. Made by condapack.
#
#   sh THIS_FILE [--prefix DIR] [--force] [-q]   install (default: @NAME@ beside this file)
#   sh THIS_FILE --help | --list | --check
#
# Everything after this header is the payload: a @COMPRESSION@-compressed tar of the
# environment, starting at byte payload_offset. It is streamed from this file to tar,
# never held in memory; its sha256 is checked before anything is written.
name=@QNAME@
payload_sha256=@SHA256@
payload_offset=@OFFSET@
payload_size=@SIZE@
need_kib=@NEED_KIB@
compression=@COMPRESSION@

me=${0##*/}
cr=$(printf '\r')

usage() {
    cat <<EOF
usage: sh $me [--prefix DIR] [--force] [-q] [--no-verify]
       sh $me --list | --check | --help

Install the conda environment '$name' into DIR (default: a directory named
'$name' beside this file) and set it up for that location.

  -p, --prefix DIR  where to install; it must not exist or be an empty directory
  -f, --force       replace DIR if it exists
  -q, --quiet       print nothing but errors
  --list            list the files of the environment
  --check           verify the payload's sha256 and exit
  --no-verify       install without checking the sha256 (when no sha256 tool exists)
  -h, --help        show this help
EOF
}

# @LOCATION_SH@

die() {
    printf '%s: error: %s\n' "$me" "$1" >&2
    exit 1
}

say() {
    [ -n "$quiet" ] || printf '%s\n' "$1" >&2
}

payload() {
    tail -c +"$payload_offset" "$self"
}

# The decompressor for the payload -> $decompress.
find_decompressor() {
    case $compression in
        gzip) tools="gzip" ;;
        xz) tools="xz xzcat" ;;
        zstd) tools="zstd unzstd" ;;
    esac
    for tool in $tools; do
        if command -v "$tool" >/dev/null 2>&1; then
            case $tool in
                xzcat) decompress=xzcat ;;
                zstd|unzstd) decompress="$tool -dcq" ;;
                *) decompress="$tool -dc" ;;
            esac
            return
        fi
    done
    die "the payload is $compression-compressed and this system has no $compression command; install $compression (package $compression, or xz-utils / zstd) and run again"
}

# sha256 of the payload -> $actual; fails when there is no tool for it.
payload_sha256() {
    if command -v sha256sum >/dev/null 2>&1; then
        actual=$(payload | sha256sum)
    elif command -v shasum >/dev/null 2>&1; then
        actual=$(payload | shasum -a 256)
    elif command -v openssl >/dev/null 2>&1; then
        actual=$(payload | openssl dgst -sha256 | sed 's/.* //')
    else
        return 1
    fi
    actual=${actual%% *}
}

verify() {
    if ! payload_sha256; then
        [ -n "$no_verify" ] && { say "$me: no sha256 tool here (sha256sum, shasum, openssl): not verified"; return; }
        die "no sha256 tool found (sha256sum, shasum or openssl) to verify the payload; install one or pass --no-verify"
    fi
    [ "$actual" = "$payload_sha256" ] \
        || die "the payload's sha256 is $actual, not $payload_sha256: the file is truncated or corrupted; download it again"
}

parse_args() {
    prefix= force= quiet= no_verify= action=install
    while [ $# -gt 0 ]; do
        case $1 in
            -h|--help) action=help ;;
            --list) action=list ;;
            --check) action=check ;;
            -f|--force) force=1 ;;
            -q|--quiet) quiet=1 ;;
            --no-verify) no_verify=1 ;;
            -p|--prefix)
                [ $# -ge 2 ] && [ -n "$2" ] || die "$1 needs a directory"
                prefix=$2
                shift ;;
            --prefix=*) prefix=${1#--prefix=} ;;
            *) die "unknown argument '$1'; see sh $me --help" ;;
        esac
        shift
    done
}

# Absolute, without trailing slashes: $1 -> $abs.
absolute() {
    case $1 in
        /*) abs=$1 ;;
        *) abs=$(pwd)/$1 ;;
    esac
    while [ "${abs%/}" != "$abs" ]; do abs=${abs%/}; done
}

check_target() {
    case $target in
        '') die "--prefix cannot be the root directory" ;;
        *'
'*|*"$cr"*) die "a location with a line break cannot hold an environment; choose another --prefix" ;;
    esac
    _cp_utf8 "$target" || die "a location that is not UTF-8 cannot hold an environment; choose another --prefix"
    case $self_abs in
        "$target"/*) die "the installer is inside '$target'; move it elsewhere or choose another --prefix" ;;
    esac
    if [ -e "$target" ] || [ -L "$target" ]; then
        if [ -d "$target" ] && [ ! -L "$target" ] && [ -z "$(ls -A "$target")" ]; then
            return
        fi
        [ -n "$force" ] || die "'$target' already exists and is not empty; choose another --prefix or pass --force to replace it"
    fi
}

check_space() {
    command -v df >/dev/null 2>&1 || return 0
    avail=$(df -Pk "$parent" 2>/dev/null | { read -r _ && read -r _ _ _ kib _ && printf '%s' "$kib"; })
    case $avail in ''|*[!0-9]*) return 0 ;; esac
    [ "$avail" -ge "$need_kib" ] \
        || die "not enough space in $parent: $need_kib KiB needed, $avail KiB free; free some space or choose another --prefix"
}

# Temporary directories of installs that were killed: their process is gone.
remove_stale() {
    for stale in "$parent/.$base.condapack-install."*; do
        [ -d "$stale" ] || continue
        pid=${stale##*.}
        case $pid in ''|*[!0-9]*) continue ;; esac
        kill -0 "$pid" 2>/dev/null || rm -rf "$stale" "$stale.old"
    done
}

cleanup() {
    [ -z "$tmp" ] || rm -rf "$tmp" "$tmp.failed"
    [ -z "$old" ] || [ ! -d "$old" ] || { [ -e "$target" ] && rm -rf "$old"; } || mv "$old" "$target"
}

extract() {
    mkdir "$tmp" || die "cannot create $tmp; check the permissions of $parent"
    { payload || : > "$tmp.failed"; } | { $decompress || : > "$tmp.failed"; } | (cd "$tmp" && tar -xf -) \
        || : > "$tmp.failed"
    [ ! -e "$tmp.failed" ] || die "cannot unpack into $tmp (disk full, or a damaged payload); nothing was installed"
    if [ -f "$tmp/bin/conda-unpack" ]; then
        "$tmp/bin/conda-unpack" --dest "$target" ${quiet:+-q} || die "setting up the environment for $target failed; nothing was installed"
    fi
}

install() {
    [ -n "$prefix" ] || prefix=${self_abs%/*}/$name
    absolute "$prefix"
    target=$abs
    check_target
    parent=${target%/*}
    parent=${parent:-/}
    base=${target##*/}
    mkdir -p "$parent" || die "cannot create $parent"
    find_decompressor
    [ -n "$no_verify" ] || verify
    check_space
    remove_stale
    tmp="$parent/.$base.condapack-install.$$"
    old=
    trap cleanup EXIT
    trap 'exit 129' HUP
    trap 'exit 130' INT
    trap 'exit 143' TERM
    say "Installing $name into $target ..."
    extract
    if [ -e "$target" ] || [ -L "$target" ]; then
        if [ -d "$target" ] && [ ! -L "$target" ] && [ -z "$(ls -A "$target")" ]; then
            rmdir "$target" || die "cannot replace $target"
        else
            old="$tmp.old"
            mv "$target" "$old" || die "cannot move $target aside to replace it"
        fi
    fi
    mv "$tmp" "$target" || die "cannot rename $tmp to $target"
    tmp=
    [ -z "$old" ] || rm -rf "$old"
    old=
    say "Installed $name into $target; activate it with: . $target/bin/activate"
}

main() {
    parse_args "$@"
    self=$0
    [ -f "$self" ] || die "run the installer from its file (sh FILE), not from a pipe"
    absolute "$self"
    self_abs=$abs
    case $action in
        help) usage ;;
        check) verify; say "$me: payload OK (sha256 $payload_sha256)" ;;
        list) find_decompressor; payload | $decompress | tar -tf - ;;
        install) install ;;
    esac
}

main "$@"
exit $?
