"""The values of ``condapack.toml``: errors that name the file and key path, and the rule of each kind.

Each rule takes the :class:`Reader` of the file, the value and where it is
(``env.web.formats[0]``), and returns the value checked or raises a one-line
:class:`~condapack.errors.ConfigError` naming both.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..archive.formats import ALIASES, FORMATS
from ..errors import ConfigError, did_you_mean
from ..unpack.safepath import UnsafePath, plain_name

__all__ = ["PLACEHOLDERS", "Reader", "checked", "env_key", "format_name", "join", "pattern", "reference", "show",
           "slim", "template"]

#: The placeholders of an output template.
PLACEHOLDERS = ("env", "format", "ext")


class Reader:
    """Error reporting with the file name and key path."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, message: str) -> ConfigError:
        """The error to raise: ``FILE: WHERE: MESSAGE``."""
        where = where if where.isprintable() else repr(where)
        return ConfigError(f"{self.path.name}: {where}: {message}" if where else f"{self.path.name}: {message}")

    def check_keys(self, table: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
        """Refuse a key of ``table`` that is not ``allowed``, suggesting the closest one."""
        for key in table:
            if key not in allowed:
                raise self.fail(join(where, key), f"unknown key {key!r}{did_you_mean(key, list(allowed))}")

    def typed(self, value: Any, kind: type | tuple[type, ...], where: str, what: str) -> Any:
        """``value`` if it is of ``kind`` (never a bool for an int), else an error saying ``what`` it must be."""
        if isinstance(value, bool) and kind is int or not isinstance(value, kind):
            raise self.fail(where, f"must be {what}, got {show(value)}")
        return value


def join(where: str, key: str) -> str:
    """The key path of ``key`` inside the table at ``where``."""
    return f"{where}.{key}" if where else key


def show(value: Any) -> str:
    """A value as an error quotes it: a scalar's repr, else its type."""
    return repr(value) if isinstance(value, (str, int, float, bool)) else type(value).__name__


def slim(reader: Reader, value: Any, where: str) -> str:
    """``slim = ["tests", "docs"]``: the preset names, canonical (declaration order, comma-joined)."""
    from ..slim import parse_slim, preset_problem

    names = reader.typed(value, list, where, "a list of slimming presets")
    for i, name in enumerate(names):
        problem = preset_problem(reader.typed(name, str, f"{where}[{i}]", "a preset name"))
        if problem:
            raise reader.fail(f"{where}[{i}]", problem)
    return ",".join(parse_slim(",".join(names)))


def checked(reader: Reader, rule: Callable[[Any], str], value: Any, where: str, fix: str) -> str:
    """Apply a :mod:`condapack.unpack.safepath` rule; its refusal becomes a key-path error."""
    try:
        return rule(value)
    except UnsafePath as exc:
        raise reader.fail(where, f"{exc}; {fix}") from None


def env_key(reader: Reader, key: str) -> None:
    """Environment keys become file names through ``{env}`` and target names ``ENV:FORMAT``."""
    try:
        plain_name(key)
    except UnsafePath as exc:
        raise reader.fail("env", f"environment key {key!r} {exc}; rename the [env] table") from None
    if ":" in key or not key.isprintable() or key != key.strip():
        raise reader.fail("env", f"environment key {key!r} may not contain ':', spaces at its ends or "
                          "control characters; rename the [env] table")


def pattern(reader: Reader, value: Any, where: str) -> str:
    """A gitignore-style pattern (``exclude``)."""
    text = str(reader.typed(value, str, where, "a pattern string"))
    import pathspec  # only projects with patterns pay for importing it

    try:
        pathspec.GitIgnoreSpec.from_lines([text])
    except (ValueError, TypeError) as exc:
        raise reader.fail(where, f"invalid pattern {text!r} ({exc})") from None
    return text


def format_name(reader: Reader, value: Any, where: str) -> str:
    """A format name, its alias resolved."""
    name = str(reader.typed(value, str, where, "a format name"))
    name = ALIASES.get(name, name)
    if name not in FORMATS:
        hint = did_you_mean(name, [*FORMATS, *ALIASES], listed=list(FORMATS), shown=len(FORMATS))
        raise reader.fail(where, f"unknown format {name!r}{hint}")
    return name


def reference(reader: Reader, value: str, where: str) -> str:
    """An image reference to push to: a tag, never a digest."""
    from ..errors import RegistryError
    from ..oci.client import parse_reference

    try:
        ref = parse_reference(value)
    except RegistryError as exc:
        raise reader.fail(where, str(exc)) from None
    if ref.digest:
        raise reader.fail(where, f"{value!r} names a digest; push to a tag (REGISTRY/REPOSITORY:TAG)")
    return value


def template(reader: Reader, value: str, where: str) -> str:
    """An output file name template (:data:`PLACEHOLDERS`)."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(value) if f is not None]
    except ValueError as exc:
        raise reader.fail(where, f"invalid template {value!r} ({exc})") from None
    for field in fields:
        if field not in PLACEHOLDERS:
            hint = did_you_mean(field, list(PLACEHOLDERS))
            raise reader.fail(where, f"unknown placeholder {{{field}}} {field!r}{hint}")
    if "/" in value or value.startswith("."):
        raise reader.fail(where, f"must be a plain file name (outputs go to output-dir), got {value!r}")
    return value
