"""How a path or a name is written into each script language condapack generates.

One function per language: :func:`sh_word` (POSIX sh: bash, dash, zsh, busybox; the
``/bin/sh`` shebang trampoline; the self-installer), :func:`fish_word` (fish) and
:func:`cmd_set_value` (cmd.exe's ``set "NAME=VALUE"``). :func:`location_problem` says
which locations a language cannot carry, so every unpacker refuses them before anything
changes. Shipped inside every archive with the rest of the package (conda-unpack and the
trampoline it writes use it), so it uses the standard library only and runs on
Python >= 3.6.
"""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

__all__ = ["sh_word", "fish_word", "cmd_set_value", "location_problem"]

# What cmd.exe cannot carry in a location: activate.bat is run, and runs its hooks and
# deactivate.bat, by `call "PATH"`, and call expands `%NAME%` in PATH once more and
# doubles a quoted `^`; `!` is eaten when delayed expansion is on (cmd /v:on, or the
# registry); a quote ends the quoting. A `;` splits the PATH activate.bat sets (and
# CPython on Windows does not start from such a directory). Everything else (`&()';=,`,
# blanks, non-ASCII) is plain inside the quotes.
_WINDOWS_UNSAFE = '"%!;^'


def sh_word(text: str) -> str:
    """``text`` as one POSIX shell word that expands to exactly ``text``.

    Single quotes hold everything but a quote; a quote is written as ``'"'"'`` and a
    backslash as ``\\\\`` outside the quotes, so the word never holds three quotes in a
    row nor a lone backslash: the trampoline's line is also a valid Python string.
    """
    return "'" + text.replace("'", "'\"'\"'").replace("\\", "'\\\\'") + "'"


def fish_word(text: str) -> str:
    """``text`` as one fish word: in single quotes, fish escapes only ``\\`` and ``'``."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def cmd_set_value(text: str) -> str:
    """``text`` as the VALUE of a ``set "NAME=VALUE"`` line of a .bat file.

    Inside the quotes ``&|<>^`` are plain characters; only ``%`` expands, and ``%%``
    is one ``%``. Refuse what :func:`location_problem` refuses for Windows first.
    """
    return text.replace("%", "%%")


def location_problem(path: str, windows: bool = False) -> "Optional[str]":
    """Why an environment cannot live at ``path`` (its scripts could not name it), or None."""
    if "\n" in path or "\r" in path:
        return "a location with a line break cannot hold an environment"
    if "\0" in path:
        return "a location with a NUL byte cannot hold an environment"
    if any("\udc80" <= c <= "\udcff" for c in path):  # undecodable bytes, as os.fsdecode keeps them
        return "a location that is not UTF-8 cannot hold an environment"
    if windows:
        bad = sorted(set(c for c in path if c in _WINDOWS_UNSAFE))
        if bad:
            return ("a location with %s cannot hold a Windows environment: cmd.exe or PATH cannot carry it"
                    % " or ".join(repr(c) for c in bad))
    return None
