"""``condapack.lock``: the canonical record of environments, targets and outputs.

The lock is a pure function of the project file and the environments' content: JSON
with sorted keys, a format version, no timestamps, and only paths the project file
itself names (relative to it). Writing an unchanged lock leaves the file untouched.
:class:`Lock` is the one place that reads and writes its JSON; everything else works on
its records.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable, Literal, Mapping, Optional, Sequence, TypeVar, Union

import attrs

from ..archive.formats import compresses
from ..bounded import MIB, NotAFile, read_bounded
from ..errors import ConfigError
from ..options import schema
from ..records import PackageId
from .config import Project, TargetSpec
from .fingerprint import EnvFingerprint

__all__ = ["LOCK_VERSION", "JSON", "Lock", "LockedEnv", "LockedFiles", "LockedImage", "LockedOutput",
           "LockedSource", "LockedTarget", "target_options", "compress_level", "input_digest", "render_lock",
           "read_lock", "changed_options", "describe_env_change", "describe_lock_drift"]

LOCK_VERSION = 1
#: The largest lock read: a lock holds a line per package, not per file.
LOCK_LIMIT = 256 * MIB
#: A JSON value: what json.loads returns, and what a lock's option entries hold.
JSON = Union[None, bool, int, float, str, Sequence["JSON"], Mapping[str, "JSON"]]
T = TypeVar("T")


@attrs.frozen
class LockedFiles:
    """The unmanaged content of an environment: how many entries, and one digest over them."""

    count: int
    sha256: str


@attrs.frozen
class LockedSource:
    """Where an environment is: a ``prefix`` relative to the project file, or a conda ``name``."""

    kind: Literal["prefix", "name"]
    value: str


@attrs.frozen
class LockedEnv:
    """One environment: where it is and what it holds."""

    source: LockedSource
    packages: tuple[PackageId, ...]
    files: LockedFiles


@attrs.frozen
class LockedImage:
    """An OCI image output's manifest digest and its layers' digests (base layers first)."""

    manifest: str
    layers: tuple[str, ...]


@attrs.frozen
class LockedOutput:
    """A built output's digest and size (and, for format oci, its image's digests)."""

    sha256: str
    size: int
    image: Optional[LockedImage] = None


@attrs.frozen
class LockedTarget:
    """One target: the settings that decide its bytes, their input digest, and its output once built.

    ``options`` is derived from the option schema (:func:`target_options`), so a new
    locked option needs no change here.
    """

    options: Mapping[str, JSON]
    input: str
    output: Optional[LockedOutput] = None


@attrs.frozen
class Lock:
    """A whole lock: environments by key, targets by name."""

    environments: Mapping[str, LockedEnv]
    targets: Mapping[str, LockedTarget]
    version: int = LOCK_VERSION

    @classmethod
    def from_json(cls, data: bytes, filename: str) -> Lock:
        """The lock in ``data``; anything else is a one-line :class:`ConfigError` naming ``filename``."""
        try:
            doc: object = json.loads(data)
        except (ValueError, RecursionError) as exc:
            detail = "nested too deeply" if isinstance(exc, RecursionError) else exc
            raise _invalid(filename, str(detail)) from None
        version = doc.get("version") if isinstance(doc, dict) else "?"
        if not isinstance(doc, dict) or _int(version) != LOCK_VERSION:
            raise ConfigError(f"{filename}: lock format version {version!r:.20} is not {LOCK_VERSION}; "
                              "delete it and run condapack lock")
        envs, targets = doc.get("environments", {}), doc.get("targets", {})
        if not isinstance(envs, dict) or not isinstance(targets, dict):
            raise _invalid(filename, "environments and targets must be objects")
        unknown = sorted(doc.keys() - {"version", "environments", "targets"})
        if unknown:
            raise _invalid(filename, f"unknown key {unknown[0]!r:.40}")
        return cls(_parsed(envs, _env, "environment", filename), _parsed(targets, _target, "target", filename))

    def to_json(self) -> bytes:
        """The canonical bytes: sorted keys, two-space indents, a final newline."""
        doc = {"version": self.version, "targets": {name: _target_doc(t) for name, t in self.targets.items()},
               "environments": {key: _env_doc(env) for key, env in self.environments.items()}}
        return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()

    def without_output(self, name: str) -> Lock:
        """This lock with target ``name``'s output forgotten (it is about to be replaced)."""
        if name not in self.targets:
            return self
        targets = {**self.targets, name: attrs.evolve(self.targets[name], output=None)}
        return attrs.evolve(self, targets=targets)


def _invalid(filename: str, problem: str) -> ConfigError:
    return ConfigError(f"{filename}: not a valid lock file ({problem}); delete it and run condapack lock")


def _int(value: object) -> Optional[int]:
    """``value`` when it is an integer (not a boolean, not a float)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: object) -> Optional[str]:
    """``value`` when it is a string."""
    return value if isinstance(value, str) else None


def _parsed(docs: dict[str, object], parse: Callable[[object], Optional[T]], what: str,
            filename: str) -> dict[str, T]:
    """Each entry of ``docs`` parsed; the first malformed one is the error."""
    entries: dict[str, T] = {}
    for key, doc in docs.items():
        entry = parse(doc)
        if entry is None:
            raise _invalid(filename, f"{what} {key!r:.40} is malformed")
        entries[key] = entry
    return entries


def _fields(doc: object, *keys: str) -> Optional[dict[str, object]]:
    """``doc`` when it is an object with exactly these keys (a lock holds nothing else)."""
    return doc if isinstance(doc, dict) and doc.keys() == set(keys) else None


_SOURCE_KINDS: tuple[Literal["prefix", "name"], ...] = ("prefix", "name")


def _source(doc: object) -> Optional[LockedSource]:
    for kind in _SOURCE_KINDS:
        fields = _fields(doc, kind)
        value = _str(fields[kind]) if fields is not None else None
        if value is not None:
            return LockedSource(kind, value)
    return None


def _files(doc: object) -> Optional[LockedFiles]:
    fields = _fields(doc, "count", "sha256")
    if fields is None:
        return None
    count, digest = _int(fields["count"]), _str(fields["sha256"])
    return LockedFiles(count, digest) if count is not None and digest is not None else None


def _env(doc: object) -> Optional[LockedEnv]:
    fields = _fields(doc, "source", "packages", "files")
    if fields is None or not isinstance(fields["packages"], list):
        return None
    source, files = _source(fields["source"]), _files(fields["files"])
    parsed = [PackageId.from_doc(p) for p in fields["packages"]]
    packages = tuple(p for p in parsed if p is not None)
    if source is None or files is None or len(packages) != len(parsed):
        return None
    return LockedEnv(source, packages, files)


def _image(doc: object) -> Optional[LockedImage]:
    fields = _fields(doc, "manifest", "layers")
    if fields is None or not isinstance(fields["layers"], list):
        return None
    manifest, layers = _str(fields["manifest"]), [_str(layer) for layer in fields["layers"]]
    if manifest is None or any(layer is None for layer in layers):
        return None
    return LockedImage(manifest, tuple(str(layer) for layer in layers))


def _output(fields: dict[str, object]) -> Optional[LockedOutput]:
    sha256, size = _str(fields["sha256"]), _int(fields["size"])
    image = _image(fields["image"]) if "image" in fields else None
    if sha256 is None or size is None or ("image" in fields and image is None):
        return None
    return LockedOutput(sha256, size, image)


def _target(doc: object) -> Optional[LockedTarget]:
    # an OCI image's output also names its digests (a lock without images is as it always was)
    built = _fields(doc, "options", "input", "sha256", "size") or _fields(doc, "options", "input", "sha256",
                                                                           "size", "image")
    fields = built if built is not None else _fields(doc, "options", "input")
    if fields is None:
        return None
    options, digest = fields["options"], _str(fields["input"])
    output = _output(built) if built is not None else None
    if not isinstance(options, dict) or digest is None or (built is not None and output is None):
        return None
    return LockedTarget(options, digest, output)


def _env_doc(env: LockedEnv) -> dict[str, JSON]:
    return {"source": {env.source.kind: env.source.value},
            "packages": [p.to_doc() for p in env.packages],
            "files": {"count": env.files.count, "sha256": env.files.sha256}}


def _target_doc(target: LockedTarget) -> dict[str, JSON]:
    doc: dict[str, JSON] = {"options": target.options, "input": target.input}
    if target.output is not None:
        doc.update(sha256=target.output.sha256, size=target.output.size)
        if target.output.image is not None:
            doc["image"] = {"manifest": target.output.image.manifest, "layers": list(target.output.image.layers)}
    return doc


def read_lock(path: Path) -> Optional[Lock]:
    """The lock at ``path``, or None when there is none."""
    try:
        data = read_bounded(path, LOCK_LIMIT, own=True)
    except FileNotFoundError:
        return None
    except NotAFile as exc:
        raise _invalid(path.name, exc.problem) from None
    except OSError as exc:
        raise _invalid(path.name, str(exc)) from None
    return Lock.from_json(data, path.name)


def _rel(project: Project, path: Path) -> str:
    rel = os.path.relpath(path, project.root)
    return Path(rel).as_posix()


def compress_level(target: TargetSpec) -> Optional[int]:
    """The compression level a target's bytes depend on: None for a format that does not compress."""
    return target.options.compress_level if compresses(target.format) else None


def target_options(project: Project, target: TargetSpec) -> dict[str, JSON]:
    """The settings that decide a target's bytes: the locked options under their toml keys.

    Threads never change the bytes, so they are left out; an uncompressed format's bytes
    do not depend on the level, so it is None there.
    """
    doc: dict[str, JSON] = {"format": target.format, "output": _rel(project, target.output),
                            "exclude": list(target.exclude)}
    tables: dict[str, dict[str, JSON]] = {}
    for spec in schema():
        if spec.locked and spec.toml and (not spec.formats or target.format in spec.formats):
            table, _, key = spec.toml.partition(".")
            value = getattr(target.options, spec.name)
            if not key:
                doc[table] = value
            elif value is not None:
                tables.setdefault(table, {})[key] = value
            else:
                tables.setdefault(table, {})
    doc.update(tables)
    doc["compress-level"] = compress_level(target)
    return doc


def input_digest(env: EnvFingerprint, options: Mapping[str, JSON]) -> str:
    """What a target's output is a function of."""
    doc = {"environment": env.digest, "options": options}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def _locked_env(project: Project, key: str, env: EnvFingerprint) -> LockedEnv:
    spec = project.env(key)
    source = LockedSource("prefix", _rel(project, spec.prefix)) if spec.prefix is not None else \
        LockedSource("name", str(spec.conda_name))
    return LockedEnv(source, env.packages, LockedFiles(env.files_count, env.files_digest))


def render_lock(project: Project, envs: Mapping[str, EnvFingerprint], previous: Optional[Lock],
                outputs: Mapping[str, LockedOutput] = {}) -> Lock:
    """The lock for the current state: outputs carried over while their input is unchanged."""
    targets: dict[str, LockedTarget] = {}
    for target in project.targets:
        options = target_options(project, target)
        digest = input_digest(envs[target.env], options)
        old = previous.targets.get(target.name) if previous is not None else None
        output = outputs[target.name] if target.name in outputs else \
            old.output if old is not None and old.input == digest else None
        targets[target.name] = LockedTarget(options, digest, output)
    environments = {key: _locked_env(project, key, envs[key]) for key in sorted(envs)}
    return Lock(environments, targets)


def describe_env_change(old: Optional[LockedEnv], new: LockedEnv) -> list[str]:
    """Human-readable differences between two environment entries of a lock."""
    if old is None:
        return ["new environment"]
    before = {p.name: p for p in old.packages}
    after = {p.name: p for p in new.packages}
    out = []
    added = [after[n].label for n in sorted(after.keys() - before.keys())]
    removed = [before[n].label for n in sorted(before.keys() - after.keys())]
    changed = [f"{n} {before[n].version} -> {after[n].version}" if before[n].version != after[n].version
               else f"{n} {after[n].version} (rebuilt)"
               for n in sorted(before.keys() & after.keys()) if before[n] != after[n]]
    if added:
        out.append("packages added: " + ", ".join(added))
    if removed:
        out.append("packages removed: " + ", ".join(removed))
    if changed:
        out.append("packages changed: " + ", ".join(changed))
    if old.files != new.files:
        out.append(f"unmanaged files changed ({old.files.count} -> {new.files.count} files)")
    if old.source != new.source:
        out.append("source changed")
    return out


def changed_options(old: LockedTarget, new: LockedTarget) -> list[str]:
    """The option keys whose value differs from ``old``'s, sorted."""
    return sorted(k for k in new.options if old.options.get(k) != new.options[k])


def describe_lock_drift(old: Optional[Lock], new: Lock) -> list[str]:
    """Why a lock on disk does not match the current project and environments."""
    if old is None:
        return ["there is no lock"]
    out = []
    for key, env in new.environments.items():
        out += [f"env {key}: {c}" for c in describe_env_change(old.environments.get(key), env)]
    for key in sorted(old.environments.keys() - new.environments.keys()):
        out.append(f"env {key}: removed from the project")
    for name, entry in new.targets.items():
        before = old.targets.get(name)
        env_reported = any(line.startswith(f"env {name.split(':')[0]}:") for line in out)
        if before is None:
            out.append(f"target {name}: new")
        elif before.options != entry.options:
            out.append(f"target {name}: options changed ({', '.join(changed_options(before, entry))})")
        elif before.input != entry.input and not env_reported:
            out.append(f"target {name}: inputs changed")
    for name in sorted(old.targets.keys() - new.targets.keys()):
        out.append(f"target {name}: removed from the project")
    return out or ["its contents differ from what condapack would write"]
