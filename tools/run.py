"""Run the demo, the tests or any tox environment on a machine that has only Python 3.9+.

    python3 tools/run.py demo      # tox -e demo
    python3 tools/run.py test      # tox (the test suite); arguments after it go to tox
    python3 tools/run.py tox ARGS  # tox ARGS, e.g. -e docs

Standard library only. tox is installed into a private virtual environment inside the
repository (``.run/``, git-ignored), never into the system Python, so it works where pip
refuses to touch the system ("externally managed", PEP 668) and needs neither tox nor
virtualenv beforehand. The environment is reused while its tox still runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".run" / "venv"
TOX = "tox>=4"
COMMANDS = {"demo": ["-e", "demo"], "test": [], "tox": []}


class Failure(Exception):
    """A set-up step failed: one line saying which and what to do."""


def venv_python(home: Path) -> Path:
    """The interpreter of a virtual environment, on POSIX or Windows."""
    return home / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def has_tox(python: Path) -> bool:
    """Whether ``python`` runs a tox (checked by running it, not by a file being there)."""
    if not python.exists():
        return False
    probe = subprocess.run([str(python), "-m", "tox", "--version"], capture_output=True)
    return probe.returncode == 0


def create_venv(home: Path) -> None:
    """A fresh virtual environment with pip; on Debian, python3-venv is installed when missing."""
    try:
        venv.EnvBuilder(clear=True, with_pip=True).create(home)
    except (subprocess.CalledProcessError, OSError) as exc:
        if not _install_debian_venv():
            raise Failure(f"cannot create a virtual environment in {home} ({exc}); install your Python's "
                          "venv module (Debian/Ubuntu: apt-get install python3-venv) and run this again") from None
        venv.EnvBuilder(clear=True, with_pip=True).create(home)


def _install_debian_venv() -> bool:
    """As root on Debian, install the ``python3.X-venv`` package that ensurepip lives in."""
    if os.name == "nt" or os.geteuid() != 0 or not Path("/usr/bin/apt-get").exists():
        return False
    package = f"python{sys.version_info.major}.{sys.version_info.minor}-venv"
    print(f"run.py: installing {package} (apt-get)", file=sys.stderr)
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", package]):
        if subprocess.run(command, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}).returncode != 0:
            return False
    return True


def ensure_tox(home: Path = VENV) -> Path:
    """The private environment's interpreter, with tox installed in it."""
    python = venv_python(home)
    if has_tox(python):
        return python
    print(f"run.py: installing {TOX} into {home.relative_to(ROOT)}", file=sys.stderr)
    create_venv(home)
    install = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", TOX]
    if subprocess.run(install).returncode != 0:
        raise Failure(f"pip could not install {TOX} into {home}; check the network or pip's index settings")
    return python


def tox_arguments(argv: Sequence[str]) -> list[str]:
    """``demo``/``test``/``tox`` and what follows them -> tox's arguments."""
    if not argv or argv[0] not in COMMANDS:
        raise Failure(f"usage: python3 tools/run.py {{{'|'.join(COMMANDS)}}} [tox arguments...]")
    return [*COMMANDS[argv[0]], *argv[1:]]


def main(argv: Sequence[str]) -> int:
    """Bootstrap tox, then run it from the repository's root with the given arguments."""
    try:
        arguments = tox_arguments(argv)
        python = ensure_tox()
    except Failure as exc:
        print(f"run.py: {exc}", file=sys.stderr)
        return 2
    return subprocess.run([str(python), "-m", "tox", *arguments], cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
