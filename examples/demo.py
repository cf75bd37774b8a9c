"""The quick-start demo: build a real conda environment offline, pack it, ship it, run it.

1. Build the test recipes into a local channel and install the ``basic`` environment
   (python, a noarch library with an entry point, a C program with a binary prefix).
2. Pack it with ``conda-pack`` into ``examples/dist/basic.tar.gz``.
3. Unpack it at a different location, run ``conda-unpack`` there, then run its python,
   its entry point (without activation) and its C program, and activate it in bash.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import envkit  # noqa: E402

from condapack.cli import conda_pack_main  # noqa: E402


def step(message: str) -> None:
    print(f"==> {message}", flush=True)


def show(cmd: list[str]) -> None:
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env={"PATH": "/usr/bin:/bin"}).stdout
    print(f"$ {' '.join(cmd)}\n{out.rstrip()}", flush=True)


def main() -> int:
    build = HERE / "build"
    dist = HERE / "dist"
    shutil.rmtree(build, ignore_errors=True)
    dist.mkdir(exist_ok=True)
    step("building the example packages into a local channel (cached after the first run)")
    channel = envkit.build_channel()
    step("installing the 'basic' environment")
    env = envkit.create_env("basic", build / "envs" / "basic", channel)
    archive = dist / "basic.tar.gz"
    step(f"conda-pack -p {env} -o {archive}")
    if conda_pack_main(["-p", str(env), "-o", str(archive), "--force"]) != 0:
        return 1
    with tempfile.TemporaryDirectory(prefix="condapack-demo-") as tmp:
        target = Path(tmp) / "somewhere" / "else" / "basic"
        target.mkdir(parents=True)
        step(f"unpacking into {target}")
        with tarfile.open(archive) as tf:
            options = {"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}
            tf.extractall(target, **options)  # type: ignore[arg-type]
        show([str(target / "bin/conda-unpack")])
        show([str(target / "bin/python"), "-c", "import sys; print(sys.prefix)"])
        show([str(target / envkit.ENTRY_POINT)])
        show([str(target / envkit.C_PROGRAM)])
        show(["bash", "-c", f". {target}/bin/activate && echo CONDA_PREFIX=$CONDA_PREFIX && which python"])
    size = archive.stat().st_size
    step(f"done: {archive} ({size / 1e6:.1f} MB) works at a new location")
    return 0


if __name__ == "__main__":
    sys.exit(main())
