"""``condapack.lock``: the canonical record of environments, targets and outputs.

The lock is a pure function of the project file and the environments' content: JSON
with sorted keys, a format version, no timestamps, and only paths the project file
itself names (relative to it). Writing an unchanged lock leaves the file untouched.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping, Optional

from ..archive.formats import compresses
from ..errors import ConfigError
from ..options import schema
from .config import Project, TargetSpec
from .fingerprint import EnvFingerprint

__all__ = ["LOCK_VERSION", "target_options", "input_digest", "render_lock", "read_lock", "dump_lock",
           "describe_env_change", "describe_lock_drift"]

LOCK_VERSION = 1
Doc = dict[str, Any]


def _rel(project: Project, path: Path) -> str:
    rel = os.path.relpath(path, project.root)
    return Path(rel).as_posix()


def target_options(project: Project, target: TargetSpec) -> dict[str, Any]:
    """The settings that decide a target's bytes: the locked options under their toml keys.

    Threads never change the bytes, so they are left out; an uncompressed format's bytes
    do not depend on the level, so it is None there.
    """
    doc: dict[str, Any] = {"format": target.format, "output": _rel(project, target.output),
                           "exclude": list(target.exclude)}
    for spec in schema():
        if spec.locked and spec.toml:
            table, _, key = spec.toml.partition(".")
            value = getattr(target.options, spec.name)
            if not key:
                doc[table] = value
            elif value is not None:
                doc.setdefault(table, {})[key] = value
            else:
                doc.setdefault(table, {})
    if not compresses(target.format):
        doc["compress-level"] = None
    return doc


def input_digest(env: EnvFingerprint, options: Mapping[str, Any]) -> str:
    """What a target's output is a function of."""
    doc = {"environment": env.digest, "options": options}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def _env_doc(project: Project, key: str, env: EnvFingerprint) -> Doc:
    spec = project.env(key)
    source = {"prefix": _rel(project, spec.prefix)} if spec.prefix is not None else {"name": spec.conda_name}
    return {"source": source, "packages": env.packages_json(),
            "files": {"count": env.files_count, "sha256": env.files_digest}}


def render_lock(project: Project, envs: Mapping[str, EnvFingerprint], previous: Optional[Doc],
                built: Mapping[str, tuple[str, int]] = {}) -> Doc:
    """The lock for the current state: outputs carried over while their input is unchanged."""
    old_targets = (previous or {}).get("targets", {})
    targets: Doc = {}
    for target in project.targets:
        options = target_options(project, target)
        digest = input_digest(envs[target.env], options)
        entry: Doc = {"options": options, "input": digest}
        old = old_targets.get(target.name, {})
        if target.name in built:
            entry["sha256"], entry["size"] = built[target.name]
        elif old.get("input") == digest and "sha256" in old:
            entry["sha256"], entry["size"] = old["sha256"], old.get("size")
        targets[target.name] = entry
    environments = {key: _env_doc(project, key, envs[key]) for key in sorted(envs)}
    return {"version": LOCK_VERSION, "environments": environments, "targets": targets}


def dump_lock(doc: Doc) -> bytes:
    """Canonical bytes of a lock document."""
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


def read_lock(path: Path) -> Optional[Doc]:
    """The lock at ``path``, or None when there is none."""
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError, RecursionError) as exc:
        detail = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise ConfigError(f"{path.name}: not a valid lock file ({detail}); delete it and run condapack lock") from None
    if not isinstance(doc, dict) or doc.get("version") != LOCK_VERSION:
        version = doc.get("version") if isinstance(doc, dict) else "?"
        raise ConfigError(f"{path.name}: lock format version {version!r:.20} is not {LOCK_VERSION}; "
                          "delete it and run condapack lock")
    problem = _lock_problem(doc)
    if problem:
        raise ConfigError(f"{path.name}: not a valid lock file ({problem}); delete it and run condapack lock")
    return doc


def _lock_problem(doc: Doc) -> Optional[str]:
    """What is structurally wrong with a lock document (the parts the planner reads), or None."""
    envs, targets = doc.get("environments", {}), doc.get("targets", {})
    if not isinstance(envs, dict) or not isinstance(targets, dict):
        return "environments and targets must be objects"
    for key, env in envs.items():
        packages = env.get("packages", []) if isinstance(env, dict) else None
        if not isinstance(packages, list) or not isinstance(env.get("files", {}), dict) or not all(
                isinstance(p, dict) and isinstance(p.get("name"), str) and isinstance(p.get("version"), str)
                for p in packages):
            return f"environment {key!r:.40} is malformed"
    for name, entry in targets.items():
        if not (isinstance(entry, dict) and isinstance(entry.get("options", {}), dict)
                and isinstance(entry.get("input", ""), str) and isinstance(entry.get("sha256", ""), str)):
            return f"target {name!r:.40} is malformed"
    return None


def _label(p: Mapping[str, str]) -> str:
    return f"{p['name']} {p['version']}"


def describe_env_change(old: Optional[Doc], new: Doc) -> list[str]:
    """Human-readable differences between two environment entries of a lock."""
    if old is None:
        return ["new environment"]
    before = {p["name"]: p for p in old.get("packages", [])}
    after = {p["name"]: p for p in new["packages"]}
    out = []
    added = [_label(after[n]) for n in sorted(after.keys() - before.keys())]
    removed = [_label(before[n]) for n in sorted(before.keys() - after.keys())]
    changed = [f"{n} {before[n]['version']} -> {after[n]['version']}" if before[n]["version"] != after[n]["version"]
               else f"{n} {after[n]['version']} (rebuilt)"
               for n in sorted(before.keys() & after.keys()) if before[n] != after[n]]
    if added:
        out.append("packages added: " + ", ".join(added))
    if removed:
        out.append("packages removed: " + ", ".join(removed))
    if changed:
        out.append("packages changed: " + ", ".join(changed))
    if old.get("files") != new["files"]:
        out.append(f"unmanaged files changed ({old.get('files', {}).get('count', 0)} -> "
                   f"{new['files']['count']} files)")
    if old.get("source") != new["source"]:
        out.append("source changed")
    return out


def describe_lock_drift(old: Optional[Doc], new: Doc) -> list[str]:
    """Why a lock on disk does not match the current project and environments."""
    if old is None:
        return ["there is no lock"]
    out = []
    for key, env in new["environments"].items():
        changes = describe_env_change(old.get("environments", {}).get(key), env)
        out += [f"env {key}: {c}" for c in changes]
    for key in sorted(old.get("environments", {}).keys() - new["environments"].keys()):
        out.append(f"env {key}: removed from the project")
    old_targets = old.get("targets", {})
    for name, entry in new["targets"].items():
        before = old_targets.get(name)
        env_reported = any(line.startswith(f"env {name.split(':')[0]}:") for line in out)
        if before is None:
            out.append(f"target {name}: new")
        elif before.get("options") != entry["options"]:
            keys = sorted(k for k in entry["options"] if before.get("options", {}).get(k) != entry["options"][k])
            out.append(f"target {name}: options changed ({', '.join(keys)})")
        elif before.get("input") != entry["input"] and not env_reported:
            out.append(f"target {name}: inputs changed")
    for name in sorted(old_targets.keys() - new["targets"].keys()):
        out.append(f"target {name}: removed from the project")
    return out or ["its contents differ from what condapack would write"]
