"""The activation scripts shipped inside every archive: bin/activate and friends."""

from __future__ import annotations

import json
import pathlib
import re
from typing import Mapping

from condapack.errors import EnvError
from condapack.unpack.quoting import cmd_set_value, fish_word, location_problem, sh_word

__all__ = ["read_env_vars", "activation_files", "windows_activation_files"]

_TEMPLATES = pathlib.Path(__file__).parent / "scripts"

#: The scripts are sourced, never run, so they are not executable: `./bin/activate`
#: then fails loudly instead of activating a throwaway child shell.
SCRIPT_MODE = 0o644

_SHELL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_PLACEHOLDER = re.compile(r"@CONDAPACK_(PREFIX|ENV_VARS)@")

# How the POSIX and the fish scripts name the environment's location at run time.
_POSIX_LOCATION = '"$_condapack_a_loc"'
_FISH_LOCATION = '"$_condapack_loc"'


def read_env_vars(prefix: pathlib.Path) -> dict[str, str]:
    """Variables set with `conda env config vars set` (conda-meta/state), {} if none."""
    path = prefix / "conda-meta" / "state"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise EnvError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        state = json.loads(data)
    except ValueError as exc:
        raise EnvError(f"{path}: not valid JSON ({exc}); fix or delete the file") from None
    env_vars = state.get("env_vars", {}) if isinstance(state, dict) else None
    if not isinstance(env_vars, dict) or not all(
        isinstance(value, str) for value in env_vars.values()
    ):
        raise EnvError(
            f"{path}: env_vars must be an object of names to strings; fix or delete the file"
        )
    return dict(env_vars)


def activation_files(prefix: str, env_vars: Mapping[str, str]) -> dict[str, tuple[bytes, int]]:
    """The scripts to put in the archive: relative path -> (content, file mode)."""
    problem = location_problem(prefix)
    if problem:
        raise EnvError(f"{prefix!r}: {problem}; choose another")
    for name, value in env_vars.items():
        _check_env_var(name, value)
    posix_vars = "".join(
        f"    _condapack_a_setenv {name} {_posix_word(value, prefix)}\n"
        for name, value in env_vars.items()
    )
    fish_vars = "".join(
        f"    _condapack_setenv {name} {_fish_word(value, prefix)}\n"
        for name, value in env_vars.items()
    )
    return {
        "bin/activate": (_render("activate.sh", prefix, posix_vars), SCRIPT_MODE),
        "bin/deactivate": (_render("deactivate.sh", prefix, ""), SCRIPT_MODE),
        "bin/activate.fish": (_render("activate.fish", prefix, fish_vars), SCRIPT_MODE),
        "bin/deactivate.fish": (_render("deactivate.fish", prefix, ""), SCRIPT_MODE),
    }


def windows_activation_files(env_vars: Mapping[str, str],
                             home: str = "") -> dict[str, tuple[bytes, int]]:
    """Scripts\\activate.bat and deactivate.bat. They hold no prefix: they find the
    environment from their own location. Values naming ``home`` follow it."""
    for name, value in env_vars.items():
        _check_env_var(name, value)
        if '"' in value or "\n" in value or "\r" in value:
            raise EnvError(f"environment variable {name!r} holds a quote or a line break, which cmd.exe "
                           f"cannot set; change it with `conda env config vars set` and pack again")
    set_vars = "".join(f'@set "_CONDAPACK_OLD_V_{name}=%{name}%"\n@set "{name}={_cmd_value(value, home)}"\n'
                       for name, value in env_vars.items())
    unset_vars = "".join(f'@set "{name}=%_CONDAPACK_OLD_V_{name}%"\n@set "_CONDAPACK_OLD_V_{name}="\n'
                         for name, value in env_vars.items())
    return {
        "Scripts/activate.bat": (_crlf(_render("activate.bat", "", set_vars)), SCRIPT_MODE),
        "Scripts/deactivate.bat": (_crlf(_render("deactivate.bat", "", unset_vars)), SCRIPT_MODE),
    }


def _cmd_value(value: str, home: str) -> str:
    return "%CONDA_PREFIX%".join(cmd_set_value(part) for part in _split(value, home))


def _crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _check_env_var(name: str, value: str) -> None:
    hint = f"remove it with `conda env config vars unset {name}` and pack again"
    if not _SHELL_NAME.match(name) or name.lower().startswith("_condapack"):
        raise EnvError(f"environment variable {name!r} cannot be set by a shell; {hint}")
    if "\0" in value:
        raise EnvError(f"environment variable {name!r} contains a NUL byte; {hint}")


def _render(template: str, prefix: str, env_vars: str) -> bytes:
    # One pass, so that text put in is never searched for placeholders again. The
    # prefix goes in only where a plain byte replacement (conda-unpack) keeps the
    # script valid whatever the new location is: a quoted here-document line.
    values = {"PREFIX": prefix, "ENV_VARS": env_vars.rstrip("\n")}
    text = (_TEMPLATES / template).read_text(encoding="utf-8")
    text = _PLACEHOLDER.sub(lambda match: values[match.group(1)], text)
    return text.encode("utf-8", "surrogateescape")


def _posix_word(value: str, prefix: str) -> str:
    """`value` as one POSIX shell word, with the env's location where it names `prefix`."""
    return _POSIX_LOCATION.join(sh_word(part) for part in _split(value, prefix))


def _fish_word(value: str, prefix: str) -> str:
    """`value` as one fish word, with the env's location where it names `prefix`."""
    return _FISH_LOCATION.join(fish_word(part) for part in _split(value, prefix))


def _split(value: str, prefix: str) -> list[str]:
    # Values naming the packed location follow the environment where it is activated,
    # like every other file conda-unpack relocates; this also keeps the literal prefix
    # out of quoted strings, where a new location containing a quote would break them.
    return value.split(prefix) if prefix else [value]
