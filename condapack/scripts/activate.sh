# Activate this conda environment in bash, zsh, dash or another POSIX shell:
#     source ENV/bin/activate        (or: . ENV/bin/activate)
# and leave it again with:
#     source ENV/bin/deactivate
# Written by condapack. Every helper below is named _condapack_a_* and removed at the
# end; what deactivate needs is kept in exported _CONDAPACK_* variables.

_condapack_a_main() {
    _condapack_a_loc=
    if [ -n "${BASH_VERSION-}" ]; then
        _condapack_a_locate "${BASH_SOURCE-}"
    elif [ -n "${ZSH_VERSION-}" ]; then
        # Inside eval so that other shells can still parse this file.
        eval '_condapack_a_locate "${(%):-%x}"'
    fi
    if [ -z "$_condapack_a_loc" ]; then
        # dash and plain sh cannot tell a sourced script its own path: use the location
        # recorded when the archive was packed, which conda-unpack rewrites.
        IFS= read -r _condapack_a_loc <<'_CONDAPACK_RECORDED_PREFIX_'
@CONDAPACK_PREFIX@
_CONDAPACK_RECORDED_PREFIX_
        if [ ! -f "$_condapack_a_loc/bin/activate" ]; then
            echo "condapack: cannot tell where this environment is from this shell; source it from bash, zsh or fish, or run conda-unpack first" >&2
            return 1
        fi
    fi
    if [ -n "${_CONDAPACK_PREFIX+x}" ] && [ -f "$_condapack_a_loc/bin/deactivate" ]; then
        # Another environment activated by condapack: leave it first.
        . "$_condapack_a_loc/bin/deactivate"
    fi

    _CONDAPACK_SAVED=
    export _CONDAPACK_SAVED
    _condapack_a_save CONDA_PREFIX
    _condapack_a_save CONDA_DEFAULT_ENV
    export CONDA_PREFIX="$_condapack_a_loc" CONDA_DEFAULT_ENV="$_condapack_a_loc"
    export _CONDAPACK_PREFIX="$_condapack_a_loc"
    if [ -n "${PATH-}" ]; then
        PATH="$_condapack_a_loc/bin:$PATH"
    else
        PATH="$_condapack_a_loc/bin"
    fi
    export PATH
    hash -r 2>/dev/null || :
    if [ -z "${CONDAPACK_NO_PROMPT-}" ] && [ -z "${VIRTUAL_ENV_DISABLE_PROMPT-}" ]; then
        _condapack_a_save PS1
        PS1="(${_condapack_a_loc##*/}) ${PS1-}"
    fi
    _condapack_a_source_all "$_condapack_a_loc/etc/conda/activate.d"

    # Variables set with `conda env config vars set`, recorded when packing.
@CONDAPACK_ENV_VARS@
}

# Set _condapack_a_loc to the environment above the script at $1, if that is one.
_condapack_a_locate() {
    case $1 in
        */*) _condapack_a_dir=${1%/*} ;;
        *) _condapack_a_dir=. ;;
    esac
    case $_condapack_a_dir in
        /*) ;;
        *) _condapack_a_dir=$PWD/$_condapack_a_dir ;;
    esac
    # A logical path (like pwd without -P), computed in a subshell; the x keeps
    # trailing newlines of the path from being stripped.
    _condapack_a_dir=$(unset -f cd 2>/dev/null || :; \cd "$_condapack_a_dir/.." >/dev/null 2>&1 && printf '%sx' "$PWD") || return 0
    _condapack_a_dir=${_condapack_a_dir%x}
    if [ -f "$_condapack_a_dir/bin/activate" ]; then
        _condapack_a_loc=$_condapack_a_dir
    fi
}

# Remember the value of variable $1 (or that it was unset), once, for deactivate.
_condapack_a_save() {
    case " $_CONDAPACK_SAVED " in
        *" $1 "*) return 0 ;;
    esac
    if eval "[ -n \"\${$1+x}\" ]"; then
        eval "_CONDAPACK_OLD_$1=\$$1; export _CONDAPACK_OLD_$1"
    else
        unset "_CONDAPACK_OLD_$1"
    fi
    _CONDAPACK_SAVED="${_CONDAPACK_SAVED:+$_CONDAPACK_SAVED }$1"
}

# Set and export variable $1 to $2, remembering its previous value.
_condapack_a_setenv() {
    _condapack_a_save "$1"
    eval "$1=\$2; export $1"
}

# Source every $1/*.sh in sorted order.
_condapack_a_source_all() {
    if [ -n "${ZSH_VERSION-}" ]; then
        # zsh's nomatch would make a directory without scripts an error. Not the (N)
        # glob qualifier: zsh emulating sh cannot parse it.
        if eval '[[ -o nullglob ]]'; then _condapack_a_globopts=:; else _condapack_a_globopts='unsetopt nullglob'; fi
        setopt nullglob
        set -- "$1"/*.sh
        eval "$_condapack_a_globopts"
    elif [ -n "${BASH_VERSION-}" ]; then
        # The user's failglob would make a directory without scripts an error.
        _condapack_a_globopts=$(shopt -p failglob nullglob) || :
        shopt -u failglob
        set -- "$1"/*.sh
        eval "$_condapack_a_globopts"
    else
        set -- "$1"/*.sh
    fi
    for _condapack_a_script do
        if [ -f "$_condapack_a_script" ]; then
            _condapack_a_source
        fi
    done
}

# A function of its own, so the sourced script sees no positional parameters.
_condapack_a_source() {
    . "$_condapack_a_script"
}

if [ -n "${BASH_VERSION-}" ] && [ "${BASH_SOURCE-}" = "$0" ]; then
    echo "condapack: $0 must be sourced, not run: source $0" >&2
    false
else
    _condapack_a_main
fi
eval "unset -f _condapack_a_main _condapack_a_locate _condapack_a_save _condapack_a_setenv _condapack_a_source_all _condapack_a_source
unset _condapack_a_loc _condapack_a_dir _condapack_a_globopts _condapack_a_script
[ $? = 0 ]"
