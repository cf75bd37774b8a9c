"""The system tools the tests run, and the one step that provisions them.

``TOOLS`` is the one declaration: command -> the Debian package that provides it. tox
runs this file before pytest (``python tests/systools.py``): on Debian as root it
installs whatever is missing with apt-get; anywhere else it stops at once with one
line naming the packages to install. Tests ask for a tool with :func:`require`, which
fails (never skips) when the tool is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import Sequence

#: command -> Debian package. Add a tool here and every test run provisions it.
TOOLS = {
    "bash": "bash",
    "dash": "dash",
    "zsh": "zsh",
    "fish": "fish",
    "gcc": "gcc",
    "make": "make",
    "tar": "tar",
    "unzip": "unzip",
    "sha256sum": "coreutils",
    "mksquashfs": "squashfs-tools",
    "unsquashfs": "squashfs-tools",
    "bsdtar": "libarchive-tools",
    # multi-member gzip (condapack's tar.gz) must read with the standard tools
    "gzip": "gzip",
    # the benchmark's peak RSS of a command alone (a child's ru_maxrss starts at its parent's peak)
    "time": "time",
    "pigz": "pigz",
    # a minimal host (PATH of busybox applets) for sh installers and conda-unpack without Python
    "busybox": "busybox-static",
    # OCI images: a real registry (the CNCF distribution) and real readers of images
    "docker-registry": "docker-registry",
    "skopeo": "skopeo",
    "umoci": "umoci",
    # Debian's wine depends on wine64 (the 64-bit loader) on amd64.
    "wine": "wine",
    # the HTML size report opens in a real browser (headless, over the DevTools pipe)
    "chromium": "chromium",
}


def missing_tools(wanted: Sequence[str] = ()) -> list[str]:
    """The declared commands (or those of them ``wanted``) that are not on PATH."""
    return [tool for tool in (wanted or TOOLS) if shutil.which(tool) is None]


def packages_for(tools: list[str]) -> list[str]:
    """The Debian packages that provide ``tools``, each once, in declaration order."""
    return list(dict.fromkeys(TOOLS[tool] for tool in tools))


def require(tool: str) -> str:
    """The path of a declared tool; a test that needs a missing one fails, saying how to fix it."""
    path = shutil.which(tool)
    if path is None:
        import pytest  # only here: the demo uses the test kits without pytest

        pytest.fail(f"{tool} is not installed: run `python tests/systools.py` as root, or "
                    f"apt-get install {TOOLS[tool]}", pytrace=False)
    return path


def _can_apt() -> bool:
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


def _apt_install(packages: list[str]) -> bool:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # another test run (or the system) may hold apt's locks: wait for them instead of failing
    wait = ["-o", "DPkg::Lock::Timeout=600"]
    steps = [["apt-get", *wait, "update", "-qq"],
             ["apt-get", *wait, "install", "-y", "-qq", "--no-install-recommends", *packages]]
    for step in steps:
        done = subprocess.run(step, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
            print(f"systools: {' '.join(step[:2])} failed: {tail}", file=sys.stderr)
            return False
    return True


def main(wanted: Sequence[str] = ()) -> int:
    """Install missing tools (all, or those ``wanted``) when this is Debian and we are root;
    else name them and fail."""
    unknown = [tool for tool in wanted if tool not in TOOLS]
    if unknown:
        print(f"systools: {', '.join(unknown)} not declared in TOOLS; name some of: {', '.join(TOOLS)}",
              file=sys.stderr)
        return 2
    missing = missing_tools(wanted)
    if not missing:
        return 0
    packages = packages_for(missing)
    if _can_apt():
        print(f"systools: installing {' '.join(packages)} (for {', '.join(missing)})", file=sys.stderr)
        if _apt_install(packages) and not missing_tools(wanted):
            return 0
        missing = missing_tools(wanted)
        packages = packages_for(missing)
    print(f"systools: the tests need {', '.join(missing)}: install them with "
          f"`apt-get install {' '.join(packages)}` (as root), then run the tests again", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
