# Leave the conda environment activated with `source ENV/bin/activate`:
#     source ENV/bin/deactivate      (or: . ENV/bin/deactivate)
# Written by condapack. It undoes whatever environment condapack activated, from the
# exported _CONDAPACK_* variables; with none active it does nothing. Every helper
# below is named _condapack_d_* and removed at the end.

_condapack_d_main() {
    if [ -z "${_CONDAPACK_PREFIX+x}" ]; then
        return 0
    fi
    _condapack_d_source_all_reversed "$_CONDAPACK_PREFIX/etc/conda/deactivate.d"
    _condapack_d_restore
    _condapack_d_remove_path_entry "$_CONDAPACK_PREFIX/bin"
    unset _CONDAPACK_PREFIX _CONDAPACK_SAVED
    hash -r 2>/dev/null || :
}

# Put back every variable listed in _CONDAPACK_SAVED: its old value, or unset it.
_condapack_d_restore() {
    _condapack_d_rest=${_CONDAPACK_SAVED-}
    while [ -n "$_condapack_d_rest" ]; do
        _condapack_d_name=${_condapack_d_rest%% *}
        case $_condapack_d_rest in
            *" "*) _condapack_d_rest=${_condapack_d_rest#* } ;;
            *) _condapack_d_rest= ;;
        esac
        case $_condapack_d_name in
            '' | [0-9]* | *[!A-Za-z0-9_]*) continue ;;
        esac
        if eval "[ -n \"\${_CONDAPACK_OLD_$_condapack_d_name+x}\" ]"; then
            eval "$_condapack_d_name=\$_CONDAPACK_OLD_$_condapack_d_name"
            unset "_CONDAPACK_OLD_$_condapack_d_name"
        else
            unset "$_condapack_d_name"
        fi
    done
}

# Remove the first PATH entry equal to $1, keeping every other entry as it is.
_condapack_d_remove_path_entry() {
    _condapack_d_path=":${PATH-}:"
    _condapack_d_entry=":$1:"
    case $_condapack_d_path in
        *"$_condapack_d_entry"*) ;;
        *) return 0 ;;
    esac
    _condapack_d_rest=${_condapack_d_path#*"$_condapack_d_entry"}
    _condapack_d_path=${_condapack_d_path%%"$_condapack_d_entry"*}:$_condapack_d_rest
    _condapack_d_path=${_condapack_d_path#:}
    PATH=${_condapack_d_path%:}
    export PATH
}

# Source every $1/*.sh in reverse sorted order (as conda does for deactivate.d).
_condapack_d_source_all_reversed() {
    if [ -n "${ZSH_VERSION-}" ]; then
        # zsh's nomatch would make a directory without scripts an error. Not the (N)
        # glob qualifier: zsh emulating sh cannot parse it.
        if eval '[[ -o nullglob ]]'; then _condapack_d_globopts=:; else _condapack_d_globopts='unsetopt nullglob'; fi
        setopt nullglob
        set -- "$1"/*.sh
        eval "$_condapack_d_globopts"
    elif [ -n "${BASH_VERSION-}" ]; then
        # The user's failglob would make a directory without scripts an error.
        _condapack_d_globopts=$(shopt -p failglob nullglob) || :
        shopt -u failglob
        set -- "$1"/*.sh
        eval "$_condapack_d_globopts"
    else
        set -- "$1"/*.sh
    fi
    _condapack_d_i=$#
    while [ "$_condapack_d_i" -gt 0 ]; do
        eval "_condapack_d_script=\${$_condapack_d_i}"
        if [ -f "$_condapack_d_script" ]; then
            _condapack_d_source
        fi
        _condapack_d_i=$((_condapack_d_i - 1))
    done
}

# A function of its own, so the sourced script sees no positional parameters.
_condapack_d_source() {
    . "$_condapack_d_script"
}

if [ -n "${BASH_VERSION-}" ] && [ "${BASH_SOURCE-}" = "$0" ]; then
    echo "condapack: $0 must be sourced, not run: source $0" >&2
    false
else
    _condapack_d_main
fi
eval "unset -f _condapack_d_main _condapack_d_restore _condapack_d_remove_path_entry _condapack_d_source_all_reversed _condapack_d_source
unset _condapack_d_rest _condapack_d_name _condapack_d_path _condapack_d_entry _condapack_d_globopts _condapack_d_i _condapack_d_script
[ $? = 0 ]"
