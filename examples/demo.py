"""The quick-start demo: a two-environment release, built offline, end to end.

1. ``examples/release/make_envs.py`` creates two real conda environments offline (the
   packages are built from the test recipes into a cached local channel).
2. ``make -j release`` in ``examples/release`` builds every archive declared in its
   ``condapack.toml`` (app: tar.gz and zip; tools: tar.zst), writes ``condapack.lock``
   and ``SHA256SUMS``, and verifies the sums.
3. ``make -j release`` again: nothing is rebuilt.
4. One archive is unpacked somewhere else, ``conda-unpack`` fixes it up, and its python,
   entry point and C program run from the new location, without activation.
5. The app environment becomes a container image (format oci, over a tiny busybox base
   made here), is pushed to a registry started on 127.0.0.1 (Debian's docker-registry),
   pushed again (nothing to send), pulled back with skopeo, unpacked with umoci and run
   under chroot. This step needs those tools and root; without them it says so and is
   left out.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

RELEASE = Path(__file__).resolve().parent / "release"
TESTS = RELEASE.parent.parent / "tests"
#: What the container step runs, besides this Python.
IMAGE_TOOLS = ("docker-registry", "skopeo", "umoci", "busybox", "ldd", "unshare", "mount", "chroot")


def step(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def sh(cmd: list[str], cwd: Path = RELEASE, env: dict[str, str] | None = None) -> str:
    """Run a command, echo it and its output, fail loudly."""
    print(f"$ {shlex.join(cmd)}", flush=True)
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.stdout.strip():
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


def container() -> None:
    missing = [tool for tool in IMAGE_TOOLS if shutil.which(tool) is None]
    if missing or os.geteuid() != 0:
        step("container image: left out (needs root and " + ", ".join(missing or IMAGE_TOOLS) + "; "
             "python3 tests/systools.py as root installs them)")
        return
    sys.path.insert(0, str(TESTS))
    from envkit import C_PROGRAM, PYTHON_BIN
    from ocikit import Registry, busybox_base

    app, place = RELEASE / "envs" / "app", "/opt/conda/envs/app"
    with tempfile.TemporaryDirectory(prefix="condapack-demo-") as tmp:
        work = Path(tmp)
        step("pack the app environment as an OCI image: one layer per package, over a busybox base")
        base = busybox_base(work / "base", app / PYTHON_BIN, app / C_PROGRAM)
        image = work / "app.oci.tar"
        condapack = [sys.executable, "-m", "condapack"]
        sh([*condapack, "pack", "-q", "-p", str(app), "-o", str(image), "--base", str(base),
            "--entrypoint", "cpdemo-hello"], cwd=work)
        registry = Registry(work)
        try:
            ref = f"{registry.host}/demo/app:1"
            step(f"push it to a registry on 127.0.0.1 ({ref}), then again: nothing is sent twice")
            sh([*condapack, "push", str(image), ref], cwd=work)
            sh([*condapack, "push", str(image), ref], cwd=work)
            step("pull it back with skopeo, unpack it with umoci, run it under chroot")
            sh(["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{ref}", f"oci:{work / 'pulled'}:1"])
        finally:
            registry.stop()
        sh(["umoci", "unpack", "--image", f"{work / 'pulled'}:1", str(work / "bundle")])
        rootfs = work / "bundle" / "rootfs"
        unshare, mount, chroot = (str(shutil.which(tool)) for tool in ("unshare", "mount", "chroot"))
        inside = [unshare, "--mount", "--propagation", "private", "/bin/sh", "-c",
                  f'{mount} -t proc proc "$0/proc" && exec {chroot} "$0" "$@"', str(rootfs)]
        clean = {"PATH": f"{place}/bin:/bin"}
        sh([*inside, f"{place}/bin/python", "-c", "import sys; print(sys.prefix)"], env=clean)
        sh([*inside, "cpdemo-hello"], env=clean)
        sh([*inside, f"{place}/{C_PROGRAM}"], env=clean)


def main() -> int:
    release()
    run_elsewhere()
    container()
    step("done: " + ", ".join(p.name for p in sorted((RELEASE / "dist").iterdir())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
