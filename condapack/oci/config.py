"""The image config of an environment: platform, environment variables, command, history.

Variables come from what activation would set where that can be known without running
a shell: ``PATH`` and ``CONDA_PREFIX``, plain ``export NAME=VALUE`` lines of the
``etc/conda/activate.d/*.sh`` scripts (a value may use ``$CONDA_PREFIX``; a line with any
other expansion, or indented inside a condition, is left to the script), and the
variables of ``conda-meta/state``.
"""

from __future__ import annotations

import re
import shlex
import time
from typing import Any, Iterable, Mapping, Optional, Sequence

import attrs

from ..errors import ArchiveError
from ..members import Member

__all__ = ["PLATFORMS", "platform_for", "activation_exports", "ImageSettings", "image_config", "created_at",
           "split_command"]

#: conda subdir -> OCI platform (os, architecture, variant).
PLATFORMS: dict[str, tuple[str, str, str]] = {
    "linux-64": ("linux", "amd64", ""), "linux-aarch64": ("linux", "arm64", ""),
    "linux-ppc64le": ("linux", "ppc64le", ""), "linux-s390x": ("linux", "s390x", ""),
    "linux-32": ("linux", "386", ""), "linux-armv7l": ("linux", "arm", "v7"),
    "linux-armv6l": ("linux", "arm", "v6"), "osx-64": ("darwin", "amd64", ""),
    "osx-arm64": ("darwin", "arm64", ""),
}
_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_EXPORT = re.compile(r"export ([A-Za-z_][A-Za-z0-9_]*)=(.*)\Z")
_PREFIX_REF = re.compile(r"\$\{CONDA_PREFIX\}|\$CONDA_PREFIX(?![A-Za-z0-9_])")


def platform_for(subdirs: Iterable[str]) -> dict[str, str]:
    """The platform of an environment's packages (noarch ones say nothing)."""
    found = sorted({s for s in subdirs if s and s != "noarch"})
    if len(found) > 1:
        raise ArchiveError(f"the environment mixes packages for {', '.join(found)}; an image has one platform")
    if not found:
        return {"os": "linux", "architecture": "amd64"}
    if found[0] not in PLATFORMS:
        raise ArchiveError(f"format oci: packages for {found[0]} cannot run in a container image; "
                           f"pack an environment for one of {', '.join(PLATFORMS)}")
    os_, arch, variant = PLATFORMS[found[0]]
    return {"os": os_, "architecture": arch, **({"variant": variant} if variant else {})}


def activation_exports(members: Sequence[Member], dest_prefix: str) -> list[tuple[str, str]]:
    """The plain exports of the activate.d shell scripts, in script order."""
    root = dest_prefix.strip("/") + "/etc/conda/activate.d/"
    out: list[tuple[str, str]] = []
    for member in members:
        if member.kind == "file" and member.name.startswith(root) and member.name.endswith(".sh"):
            text = bytes(member.read()).decode("utf-8", "replace")
            out += [pair for line in text.splitlines() if (pair := _plain_export(line, dest_prefix))]
    return out


def _plain_export(line: str, dest_prefix: str) -> Optional[tuple[str, str]]:
    match = _EXPORT.match(line.rstrip())
    if match is None:
        return None
    name, raw = match.groups()
    if raw.startswith("'") and raw.endswith("'") and len(raw) > 1 and "'" not in raw[1:-1]:
        return name, raw[1:-1]
    if raw.startswith('"') and raw.endswith('"') and len(raw) > 1:
        raw = raw[1:-1]
    elif any(c in raw for c in " \t'\"\\;&|<>()#"):
        return None
    value = _PREFIX_REF.sub(dest_prefix.replace("\\", "\\\\"), raw)
    if any(c in value for c in "$`\\\""):
        return None
    return name, value


def split_command(value: Optional[str], option: str) -> Optional[list[str]]:
    """An entry point or command given as one string, split as a POSIX shell would."""
    if value is None:
        return None
    try:
        return shlex.split(value)
    except ValueError as exc:
        raise ArchiveError(f"{option} {value!r}: {exc}; quote it as a shell would") from None


def created_at(epoch: int) -> str:
    """An RFC 3339 UTC time."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


@attrs.frozen
class ImageSettings:
    """What the image config says besides its layers."""

    name: str
    dest_prefix: str
    platform: Mapping[str, str]
    env: tuple[tuple[str, str], ...]
    created: str
    entrypoint: Optional[tuple[str, ...]] = None
    cmd: Optional[tuple[str, ...]] = None
    workdir: Optional[str] = None
    user: Optional[str] = None


def _merged_env(base_env: Sequence[str], settings: ImageSettings) -> list[str]:
    """The base's variables, then the environment's (which win): PATH gets the env's bin first."""
    variables = {name: value for name, _, value in (item.partition("=") for item in base_env)}
    path = variables.get("PATH") or _DEFAULT_PATH
    ours = [("PATH", f"{settings.dest_prefix}/bin:{path}"), ("CONDA_PREFIX", settings.dest_prefix),
            ("CONDA_DEFAULT_ENV", settings.name), *settings.env]
    for name, value in ours:
        variables.pop(name, None)
        variables[name] = value
    return [f"{name}={value}" for name, value in variables.items()]


def image_config(settings: ImageSettings, diff_ids: Sequence[str], history: Sequence[str],
                 base: Optional[Mapping[str, Any]] = None) -> dict[str, Any]:
    """The image config: the base's (if any) with the environment's layers and settings on top."""
    base = base or {}
    inner = dict(base.get("config") or {})
    inner["Env"] = _merged_env(inner.get("Env") or [], settings)
    for key, value in (("Entrypoint", settings.entrypoint), ("Cmd", settings.cmd),
                       ("WorkingDir", settings.workdir), ("User", settings.user)):
        if value is not None:
            inner[key] = list(value) if isinstance(value, tuple) else value
    if settings.entrypoint is not None and settings.cmd is None:
        inner.pop("Cmd", None)  # the base's command was meant for the base's entry point
    base_rootfs = base.get("rootfs") or {}
    entries = [{"created": settings.created, "created_by": f"condapack: {what}"} for what in history]
    return {**{k: v for k, v in base.items() if k not in ("config", "rootfs", "history", "created")},
            **settings.platform, "created": settings.created, "config": inner,
            "rootfs": {"type": "layers", "diff_ids": [*(base_rootfs.get("diff_ids") or []), *diff_ids]},
            "history": [*(base.get("history") or []), *entries]}
