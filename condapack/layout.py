"""Where things live in an environment: POSIX (``bin/``) or Windows (``Scripts/``).

Everything that differs between the two layouts is kept here. Which one an
environment has is read from its package records (``subdir`` ``win-*``), never from
the OS that packs it, so a Windows environment packed on Linux gives the same archive
as on Windows.
"""

from __future__ import annotations

from typing import Iterable

import attrs

__all__ = ["Layout", "POSIX", "WINDOWS", "LAYOUT", "CONDAPACK_DIR", "layout_for", "HISTORY", "is_record",
           "is_installers"]

#: Directory (relative to the prefix) that holds condapack's relocation data.
CONDAPACK_DIR = "conda-meta/condapack"


#: The log of what the installer did; it names the prefix the environment was created at.
HISTORY = "conda-meta/history"


def is_record(path: str) -> bool:
    """Whether ``path`` (relative to the prefix) is a top-level ``conda-meta`` package record."""
    return path.startswith("conda-meta/") and path.count("/") == 1 and path.endswith(".json")


def is_installers(path: str) -> bool:
    """Whether ``path`` is the installer's own (a record or the history), not a package's file."""
    return path == HISTORY or is_record(path)

# On Windows what runs is decided by the name, not a mode bit; these get 0755 in
# archives whatever mode the packing OS reports, so both OSes give the same bytes.
_WINDOWS_EXECUTABLE = (".exe", ".bat", ".cmd", ".com")


@attrs.frozen
class Layout:
    """Names of the directories and generated scripts of an environment."""

    windows: bool
    bin_dir: str
    #: The command the user runs, then what it runs (conda-style launcher + script).
    unpack_script: str
    unpack_helpers: tuple[str, ...]
    activate_scripts: tuple[str, ...]
    # Files older conda versions dropped into child environments; they point at the
    # conda that created the environment and never work after a move.
    stale_scripts: tuple[str, ...]

    def site_packages(self, python_version: str) -> str:
        """Relative site-packages directory for a ``major.minor`` Python version."""
        if self.windows:
            return "Lib/site-packages"
        return f"lib/python{python_version}/site-packages"

    @property
    def generated(self) -> frozenset[str]:
        """Paths condapack writes into every archive that has ``conda-unpack``."""
        return frozenset((self.unpack_script, *self.unpack_helpers, *self.activate_scripts))

    def file_mode(self, name: str, mode: int) -> int:
        """0o755 for anything executable, else 0o644: the umask at install time is noise."""
        if self.windows:
            return 0o755 if name.lower().endswith(_WINDOWS_EXECUTABLE) else 0o644
        return 0o755 if mode & 0o111 else 0o644


POSIX = Layout(
    windows=False,
    bin_dir="bin",
    unpack_script="bin/conda-unpack",
    unpack_helpers=(),
    activate_scripts=("bin/activate", "bin/deactivate", "bin/activate.fish", "bin/deactivate.fish"),
    stale_scripts=("bin/conda", "bin/activate", "bin/deactivate"),
)

WINDOWS = Layout(
    windows=True,
    bin_dir="Scripts",
    unpack_script="Scripts/conda-unpack.exe",
    unpack_helpers=("Scripts/conda-unpack-script.py",),
    activate_scripts=("Scripts/activate.bat", "Scripts/deactivate.bat"),
    stale_scripts=("Scripts/conda.exe", "Scripts/conda-script.py", "Scripts/activate.bat",
                   "Scripts/deactivate.bat", "Scripts/activate", "Scripts/deactivate"),
)

#: The layout of environments whose records name no platform.
LAYOUT = POSIX


def layout_for(subdirs: Iterable[str]) -> Layout:
    """The layout of an environment whose packages were built for ``subdirs``."""
    return WINDOWS if any(subdir.startswith("win-") for subdir in subdirs) else POSIX
