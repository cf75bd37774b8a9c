# Leave the conda environment activated with `source ENV/bin/activate.fish`:
#     source ENV/bin/deactivate.fish      (or: deactivate)
# Written by condapack. It undoes whatever environment condapack activated, from the
# exported _CONDAPACK_* variables; with none active it does nothing. Every helper
# below is named _condapack_* and removed at the end.

function _condapack_deactivate
    set -q _CONDAPACK_PREFIX; or return 0
    # Reverse sorted order, as conda does for deactivate.d.
    set -l _condapack_scripts $_CONDAPACK_PREFIX/etc/conda/deactivate.d/*.fish
    if set -q _condapack_scripts[1]
        for _condapack_script in $_condapack_scripts[-1..1]
            source $_condapack_script
        end
    end
    _condapack_restore
    if set -l _condapack_i (contains -i -- $_CONDAPACK_PREFIX/bin $PATH)
        set -e PATH[$_condapack_i]
    end
    if set -q _CONDAPACK_FISH_PROMPT
        functions -e fish_prompt
        if functions -q _condapack_old_fish_prompt
            functions -c _condapack_old_fish_prompt fish_prompt
            functions -e _condapack_old_fish_prompt
        end
        set -e -g _CONDAPACK_FISH_PROMPT
    end
    if set -q _CONDAPACK_FISH_DEACTIVATE
        functions -e deactivate
        set -e -g _CONDAPACK_FISH_DEACTIVATE
    end
    set -e -g _CONDAPACK_PREFIX
    set -e -g _CONDAPACK_SAVED
end

# Put back every variable listed in _CONDAPACK_SAVED: its old value, or erase it.
function _condapack_restore
    for _condapack_name in (string split ' ' -- "$_CONDAPACK_SAVED")
        string match -q -r -- '^[A-Za-z_][A-Za-z0-9_]*$' "$_condapack_name"; or continue
        set -l _condapack_old _CONDAPACK_OLD_$_condapack_name
        if set -q $_condapack_old
            set -gx $_condapack_name $$_condapack_old
            set -e -g $_condapack_old
        else
            set -e -g $_condapack_name
        end
    end
end

_condapack_deactivate
set -l _condapack_status $status
functions -e _condapack_deactivate _condapack_restore
# Not `return`: inside a function (deactivate) it would return from that function.
test $_condapack_status = 0
