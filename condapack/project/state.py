"""The local build state under ``.condapack/``: what each output was built as, by which condapack.

It lets a no-op build trust an output's recorded digest while its stat is unchanged; it
is never part of the lock, and anything damaged in it only costs a re-hash.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Optional

import attrs

from .._version import __version__
from ..bounded import MIB, NotAFile, check_directory, read_bounded
from ..digest import content_digest
from ..output import write_if_changed
from .config import Project
from .memo import StatKey, stat_key

__all__ = ["BuildState", "BuiltOutput", "output_digest"]

#: The largest state file read: an entry per target.
STATE_LIMIT = 64 * MIB


@attrs.frozen
class BuiltOutput:
    """One output as built here: its stat then, its sha256, and the condapack that built it.

    ``fetched_for``: the output was fetched from the cache for a lock that recorded no
    sha256 for it, and this is the lock's input digest then. Such a digest never enters
    the lock (the cache never outranks it); it lives here, where only this checkout
    trusts it, while the input is unchanged.
    """

    stat: StatKey
    sha256: str
    condapack: str
    fetched_for: Optional[str] = None

    @classmethod
    def from_doc(cls, doc: object) -> Optional[BuiltOutput]:
        """The entry :meth:`to_doc` wrote, or None when ``doc`` is not one."""
        if not (isinstance(doc, dict) and doc.keys() - {"fetched_for"} == {"stat", "sha256", "condapack"}):
            return None
        stat, sha256, condapack, fetched_for = doc["stat"], doc["sha256"], doc["condapack"], doc.get("fetched_for")
        if not (isinstance(stat, list) and len(stat) == 4 and all(_is_int(n) for n in stat)):
            return None
        if not (_is_sha256(sha256) and isinstance(condapack, str) and isinstance(fetched_for, (str, type(None)))):
            return None
        return cls((stat[0], stat[1], stat[2], stat[3]), sha256, condapack, fetched_for)

    def to_doc(self) -> dict[str, object]:
        """As JSON, for the state file."""
        doc: dict[str, object] = {"stat": list(self.stat), "sha256": self.sha256, "condapack": self.condapack}
        if self.fetched_for is not None:
            doc["fetched_for"] = self.fetched_for
        return doc


def _is_sha256(value: object) -> bool:
    """A digest as :func:`content_digest` writes it: anything else would be copied into SHA256SUMS."""
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class BuildState:
    """What this checkout knows of its built outputs (stat + digest), kept under ``.condapack/``."""

    def __init__(self, project: Project) -> None:
        self.path = project.state_dir / "state.json"
        self._targets = {target.name for target in project.targets}
        doc = self._doc()
        self.outputs: dict[str, BuiltOutput] = _entries(doc)
        #: image reference -> what was last pushed to it from here (manifest digests, comma-separated)
        self.pushed: dict[str, str] = _strings(doc, "pushed")
        self._noted: set[str] = set()
        self._pushes: set[str] = set()
        #: target name -> the token of this build's claim on it (None: given up)
        self._claims: dict[str, Optional[str]] = {}

    def _doc(self) -> dict[str, object]:
        try:
            data = json.loads(read_bounded(self.path, STATE_LIMIT, own=True))
        except (OSError, ValueError, RecursionError, NotAFile):
            return {}
        return data if isinstance(data, dict) else {}

    def note_push(self, reference: str, what: str) -> None:
        """Remember that ``what`` (the images' manifest digests) is at ``reference``."""
        self.pushed[reference] = what
        self._pushes.add(reference)

    def note(self, name: str, output: Path, sha256: str, fetched_for: Optional[str] = None) -> None:
        """Remember what was built (or fetched, for lock input ``fetched_for``) for ``name``."""
        self.outputs[name] = BuiltOutput(stat_key(output.stat()), sha256, __version__, fetched_for)
        self._noted.add(name)

    def forget(self, name: str) -> None:
        """Drop what is known of ``name``'s output (it is about to be replaced)."""
        self.outputs.pop(name, None)
        self._noted.add(name)

    def claim(self, name: str, token: str) -> None:
        """Forget ``name``'s output and mark it as being replaced by the build of ``token``."""
        self.forget(name)
        self._claims[name] = token

    def release(self, names: Iterable[str]) -> set[str]:
        """Give up the claims on ``names``; return those still ours (no build claimed them since).

        Only meaningful under the project's mutex, which every claim is made under.
        """
        names = list(names)
        building = _strings(self._doc(), "building") if names else {}
        ours = set()
        for name in names:
            token = self._claims.pop(name, None)
            if token is not None and building.get(name) == token:
                self._claims[name] = None
                ours.add(name)
            else:  # the build that claimed it since records its output: this one must not write over it
                self._noted.discard(name)
        return ours

    def restore(self, name: str, entry: BuiltOutput) -> None:
        """Put back what was known of ``name``'s output before it was claimed (it was left as it was)."""
        self.outputs[name] = entry
        self._noted.add(name)

    def trusted(self, name: str, path: Path) -> Optional[BuiltOutput]:
        """What is recorded of ``name``'s output while ``path`` is still that file (its stat unchanged)."""
        entry = self.outputs.get(name)
        try:
            return entry if entry is not None and entry.stat == stat_key(path.stat()) else None
        except OSError:  # gone, or not reachable: nothing there is the recorded file
            return None

    def withdraw(self, name: str) -> None:
        """Take back what this build noted of ``name``: another output was put in its place since."""
        self.outputs.pop(name, None)
        self._noted.discard(name)

    def fetched(self, name: str, input_digest: str) -> Optional[str]:
        """The sha256 of the archive fetched for ``name`` at this lock input, if there is one."""
        entry = self.outputs.get(name)
        return entry.sha256 if entry is not None and entry.fetched_for == input_digest else None

    def built_by(self, name: str) -> Optional[str]:
        """The condapack version that built ``name`` here, if known."""
        entry = self.outputs.get(name)
        return entry.condapack if entry is not None else None

    def save(self) -> None:
        """Write the state atomically, merged with what other builds recorded meanwhile."""
        disk = self._doc()
        merged = {**_entries(disk), **{name: self.outputs.get(name) for name in self._noted}}
        # what other builds recorded is known from now on: SHA256SUMS is written from it
        self.outputs = {name: entry for name, entry in merged.items() if entry is not None}
        doc: dict[str, object] = {"version": 1, "outputs": {name: e.to_doc() for name, e in self.outputs.items()}}
        pushed = {**_strings(disk, "pushed"), **{ref: self.pushed[ref] for ref in self._pushes}}
        if pushed:
            doc["pushed"] = pushed
        # a claim on a name that is no target of the project is left by a damaged or older file: nobody gives it up
        building = {name: token for name, token in {**_strings(disk, "building"), **self._claims}.items()
                    if token is not None and name in self._targets}
        if building:
            doc["building"] = building
        check_directory(self.path.parent)
        write_if_changed(self.path, json.dumps(doc, indent=1, sort_keys=True).encode())
        # a claim given up is gone from disk: a later save must not erase another build's claim on it
        self._claims = {name: token for name, token in self._claims.items() if token is not None}
        # what is saved is on disk: a later save must not write it again over what other builds recorded since
        self._noted.clear()
        self._pushes.clear()


def _entries(doc: dict[str, object]) -> dict[str, BuiltOutput]:
    """The outputs of a state file; anything damaged is dropped (it only costs a re-hash)."""
    outputs = doc.get("outputs")
    if not isinstance(outputs, dict):
        return {}
    entries = {name: BuiltOutput.from_doc(entry) for name, entry in outputs.items()}
    return {name: entry for name, entry in entries.items() if entry is not None}


def _strings(doc: dict[str, object], key: str) -> dict[str, str]:
    """A table of strings of a state file (``pushed``, ``building``); anything damaged is dropped."""
    table = doc.get(key)
    if not isinstance(table, dict):
        return {}
    return {name: value for name, value in table.items() if isinstance(value, str)}


def output_digest(path: Path, state: BuildState, name: str) -> Optional[str]:
    """The sha256 of an output (trusting the recorded one while its stat is unchanged)."""
    if not path.exists():
        return None
    entry = state.trusted(name, path)
    return entry.sha256 if entry is not None else content_digest(path)
