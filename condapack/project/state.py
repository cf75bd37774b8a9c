"""The local build state under ``.condapack/``: what each output was built as, by which condapack.

It lets a no-op build trust an output's recorded digest while its stat is unchanged; it
is never part of the lock, and anything damaged in it only costs a re-hash.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from .._version import __version__
from ..digest import content_digest
from ..output import write_if_changed
from .config import Project

__all__ = ["BuildState", "output_digest"]

Doc = dict[str, Any]


class BuildState:
    """Local record of built outputs (stat + digest), kept under ``.condapack/``."""

    def __init__(self, project: Project) -> None:
        self.path = project.state_dir / "state.json"
        self.outputs: dict[str, Doc] = self._load()
        self._recorded: set[str] = set()

    def _load(self) -> dict[str, Doc]:
        """The entries on disk; anything damaged is dropped (it only costs a re-hash)."""
        try:
            data = json.loads(self.path.read_bytes())
        except (OSError, ValueError, RecursionError):
            return {}
        outputs = data.get("outputs") if isinstance(data, dict) else None
        if not isinstance(outputs, dict):
            return {}
        return {name: entry for name, entry in outputs.items() if _valid_state(entry)}

    def record(self, name: str, output: Path, sha256: str) -> None:
        """Remember what was built for ``name`` by this condapack."""
        self.outputs[name] = {"stat": _stat_key(output), "sha256": sha256, "condapack": __version__}
        self._recorded.add(name)

    def built_by(self, name: str) -> Optional[str]:
        """The condapack version that built ``name`` here, if known."""
        entry = self.outputs.get(name)
        return str(entry.get("condapack")) if entry else None

    def save(self) -> None:
        """Write the state atomically, merged with what other builds recorded meanwhile."""
        outputs = {**self._load(), **{name: self.outputs[name] for name in self._recorded}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_if_changed(self.path, json.dumps({"version": 1, "outputs": outputs}, indent=1,
                                               sort_keys=True).encode())


def _valid_state(entry: object) -> bool:
    return (isinstance(entry, dict) and isinstance(entry.get("sha256"), str)
            and isinstance(entry.get("stat"), list) and isinstance(entry.get("condapack", ""), str))


def _stat_key(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def output_digest(path: Path, state: BuildState, name: str) -> Optional[str]:
    """The sha256 of an output (trusting the recorded one while its stat is unchanged)."""
    if not path.exists():
        return None
    entry = state.outputs.get(name)
    if entry and entry.get("stat") == _stat_key(path):
        return str(entry["sha256"])
    return content_digest(path)
