# Activate this conda environment in fish:
#     source ENV/bin/activate.fish
# and leave it again with `deactivate` or:
#     source ENV/bin/deactivate.fish
# Written by condapack. Every helper below is named _condapack_* and removed at the
# end; what deactivate needs is kept in exported _CONDAPACK_* variables.

function _condapack_activate -a _condapack_script
    set -l _condapack_loc (_condapack_env_of $_condapack_script)
    if not test -f "$_condapack_loc/bin/activate.fish"
        echo "condapack: cannot tell where this environment is; source bin/activate.fish by its path" >&2
        return 1
    end
    if set -q _CONDAPACK_PREFIX; and test -f $_condapack_loc/bin/deactivate.fish
        # Another environment activated by condapack: leave it first.
        source $_condapack_loc/bin/deactivate.fish
    end

    set -gx _CONDAPACK_SAVED
    _condapack_save CONDA_PREFIX
    _condapack_save CONDA_DEFAULT_ENV
    set -gx CONDA_PREFIX $_condapack_loc
    set -gx CONDA_DEFAULT_ENV $_condapack_loc
    set -gx _CONDAPACK_PREFIX $_condapack_loc
    set -gx PATH $_condapack_loc/bin $PATH
    if test -z "$CONDAPACK_NO_PROMPT"; and test -z "$VIRTUAL_ENV_DISABLE_PROMPT"
        _condapack_wrap_prompt
    end
    if not functions -q deactivate
        function deactivate -d 'Leave the environment activated by condapack'
            if set -q _CONDAPACK_PREFIX
                source $_CONDAPACK_PREFIX/bin/deactivate.fish
            end
        end
        set -g _CONDAPACK_FISH_DEACTIVATE 1
    end
    for _condapack_script in $_condapack_loc/etc/conda/activate.d/*.fish
        source $_condapack_script
    end

    # Variables set with `conda env config vars set`, recorded when packing.
@CONDAPACK_ENV_VARS@
    return 0
end

# The environment above the script at $argv[1], as a logical absolute path.
function _condapack_env_of -a _condapack_script
    if not string match -q -- '/*' "$_condapack_script"
        set _condapack_script $PWD/$_condapack_script
    end
    set -l _condapack_parts
    for _condapack_part in (string split -- / "$_condapack_script/../..")
        switch $_condapack_part
            case '' .
            case ..
                set -q _condapack_parts[1]; and set -e _condapack_parts[-1]
            case '*'
                set -a _condapack_parts $_condapack_part
        end
    end
    string join / -- '' $_condapack_parts
end

# Remember the value of variable $argv[1] (or that it was unset), once, for deactivate.
function _condapack_save -a _condapack_name
    if contains -- $_condapack_name (string split ' ' -- "$_CONDAPACK_SAVED")
        return 0
    end
    if set -q $_condapack_name
        set -gx _CONDAPACK_OLD_$_condapack_name $$_condapack_name
    else
        set -e -g _CONDAPACK_OLD_$_condapack_name
    end
    set -gx _CONDAPACK_SAVED $_CONDAPACK_SAVED $_condapack_name
end

# Set and export variable $argv[1] to $argv[2], remembering its previous value.
function _condapack_setenv -a _condapack_name _condapack_value
    _condapack_save $_condapack_name
    set -gx $_condapack_name $_condapack_value
end

# Prefix the prompt with "(envname) "; deactivate puts the old one back.
function _condapack_wrap_prompt
    if functions -q fish_prompt
        functions -c fish_prompt _condapack_old_fish_prompt
    end
    function fish_prompt
        # Run the user's prompt first: it may depend on $status.
        set -l _condapack_prompt
        if functions -q _condapack_old_fish_prompt
            set _condapack_prompt (_condapack_old_fish_prompt)
        end
        printf '(%s) ' (string replace -r '.*/' '' -- "$_CONDAPACK_PREFIX")
        if set -q _condapack_prompt[1]
            string join -- \n $_condapack_prompt
        end
    end
    set -g _CONDAPACK_FISH_PROMPT 1
end

_condapack_activate (status filename)
set -l _condapack_status $status
functions -e _condapack_activate _condapack_env_of _condapack_save _condapack_setenv _condapack_wrap_prompt
# Not `return`: inside a function (deactivate) it would return from that function.
test $_condapack_status = 0
