"""The quick-start demo: a two-environment release, built offline, end to end.

1. ``examples/release/make_envs.py`` creates two real conda environments offline (the
   packages are built from the test recipes into a cached local channel).
2. ``make -j release`` in ``examples/release`` builds every archive declared in its
   ``condapack.toml`` (app: tar.gz and zip; tools: tar.zst), writes ``condapack.lock``
   and ``SHA256SUMS``, and verifies the sums.
3. ``make -j release`` again: nothing is rebuilt.
4. One archive is unpacked somewhere else, ``conda-unpack`` fixes it up, and its python,
   entry point and C program run from the new location, without activation.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

RELEASE = Path(__file__).resolve().parent / "release"


def step(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def sh(cmd: list[str], cwd: Path = RELEASE, env: dict[str, str] | None = None) -> str:
    """Run a command, echo it and its output, fail loudly."""
    print(f"$ {shlex.join(cmd)}", flush=True)
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    print(proc.stdout.rstrip(), flush=True)
    if proc.returncode != 0:
        raise SystemExit(f"demo failed: {shlex.join(cmd)} exited {proc.returncode}")
    return proc.stdout


def release() -> None:
    condapack = f"{shlex.quote(sys.executable)} -m condapack"
    make = ["make", "--no-print-directory", f"CONDAPACK={condapack}", f"PYTHON={shlex.quote(sys.executable)}"]
    step("create the example environments (offline)")
    sh([*make, "envs"])
    step("build the release: every target, in parallel")
    sh([*make, "-j2", "release"])
    step("build it again: everything is up to date")
    again = sh([*make, "-j2", "release"])
    if "condapack build" in again:
        raise SystemExit("demo failed: the second release rebuilt something")
    sh([sys.executable, "-m", "condapack", "plan"])


def run_elsewhere() -> None:
    archive = RELEASE / "dist" / "app.tar.gz"
    with tempfile.TemporaryDirectory(prefix="condapack-demo-") as tmp:
        target = Path(tmp) / "somewhere" / "else" / "app"
        target.mkdir(parents=True)
        step(f"unpack {archive.name} into {target} and use it without activation")
        with tarfile.open(archive) as tf:
            options = {"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}
            tf.extractall(target, **options)  # type: ignore[arg-type]
        clean = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/")}
        sh([str(target / "bin/conda-unpack")], env=clean)
        sh([str(target / "bin/python"), "-c", "import sys; print(sys.prefix)"], env=clean)
        sh([str(target / "bin/cpdemo-hello")], env=clean)
        sh([str(target / "bin/cpdemo-prefix")], env=clean)
        sh(["bash", "-c", f". {shlex.quote(str(target))}/bin/activate && echo CONDA_PREFIX=$CONDA_PREFIX"],
           env=clean)


def main() -> int:
    release()
    run_elsewhere()
    step("done: " + ", ".join(p.name for p in sorted((RELEASE / "dist").iterdir())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
