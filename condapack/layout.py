"""Where things live in an environment on this operating system.

Everything that differs between POSIX (``bin/``) and Windows (``Scripts/``) layouts is
kept here, so that supporting Windows is a change to this module only.
"""

from __future__ import annotations

import attrs

__all__ = ["Layout", "LAYOUT", "CONDAPACK_DIR"]

#: Directory (relative to the prefix) that holds condapack's relocation data.
CONDAPACK_DIR = "conda-meta/condapack"


@attrs.frozen
class Layout:
    """Names of the directories and generated scripts of an environment."""

    bin_dir: str
    unpack_script: str
    activate_scripts: tuple[str, ...]
    # Files older conda versions dropped into child environments; they point at the
    # conda that created the environment and never work after a move.
    stale_scripts: tuple[str, ...]

    def site_packages(self, python_version: str) -> str:
        """Relative site-packages directory for a ``major.minor`` Python version."""
        return f"lib/python{python_version}/site-packages"

    @property
    def generated(self) -> frozenset[str]:
        """Paths condapack writes into every archive that has ``conda-unpack``."""
        return frozenset((self.unpack_script, *self.activate_scripts))


POSIX = Layout(
    bin_dir="bin",
    unpack_script="bin/conda-unpack",
    activate_scripts=("bin/activate", "bin/deactivate", "bin/activate.fish", "bin/deactivate.fish"),
    stale_scripts=("bin/conda", "bin/activate", "bin/deactivate"),
)

# Windows (Scripts/, .bat activation) arrives in a later issue as a second Layout.
LAYOUT = POSIX
