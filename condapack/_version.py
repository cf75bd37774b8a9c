"""The version of condapack, in one place (read by the build backend without importing)."""

from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"


def version_line(prog: str) -> str:
    """What ``--version`` prints: the program, the version and the package it runs from.

    The directory tells a user which of several installs (pip into a venv, a conda
    package, an editable checkout) answered.
    """
    tool = "" if prog == "condapack" else "condapack, "
    return f"{prog} {__version__} ({tool}from {Path(__file__).resolve().parent})"
