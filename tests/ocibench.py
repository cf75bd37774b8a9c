"""The benchmark's image rows: format oci against tar.gz, and what a push sends.

Part of ``tox -e bench`` (tests/benchmark.py calls :func:`oci_lines`); also runnable on
any environment: ``python tests/ocibench.py PREFIX [--runs N]``. It measures, at the
same ``-j``:

- the pack of an OCI archive (``.oci.tar``) against the pack of a ``tar.gz``: median wall
  and CPU time, peak RSS, size;
- a first push of the image to a real registry (``docker-registry`` on loopback) and a
  push after one package changed (one file of the package with the fewest files gets a
  line appended): the bytes each sends, and how many of the second push's are that
  package's layer and how many are the config and manifest.

The changed file is a new file renamed over the original, whose inode waits as a hard link
in ``PREFIX.ocibench/`` (beside the environment) and is renamed back afterwards: the
environment gets back the very file (content, mtime, inode). A run killed in between
leaves it there, and the next run (:func:`restore_originals`, also called by the
benchmark before it measures) puts it back first.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator, Sequence

from ocikit import Registry

_PACK = [sys.executable, "-m", "condapack", "pack", "-f", "-q"]
_PUSH = [sys.executable, "-m", "condapack", "push", "--json"]


def _pack_once(prefix: Path, output: Path, threads: int, workdir: Path) -> tuple[float, float, int, int]:
    """Wall seconds, CPU seconds, peak RSS and output size of packing ``prefix`` to ``output``."""
    from benchmark import run_small_cpu  # benchmark imports this module: import it when used

    output.unlink(missing_ok=True)
    seconds, cpu, rss = run_small_cpu([*_PACK, "-p", str(prefix), "-o", str(output), "-j", str(threads)], workdir)
    size = output.stat().st_size
    output.unlink()
    return seconds, cpu, rss, size


def pack_lines(prefix: Path, workdir: Path, runs: int, threads: int = 2) -> list[str]:
    """oci against tar.gz at the same thread count, interleaved run by run."""
    rows: dict[str, list[tuple[float, float, int, int]]] = {"tar.gz": [], "oci": []}
    for i in range(runs):
        for fmt in ("tar.gz", "oci")[::1 if i % 2 == 0 else -1]:
            output = workdir / ("env.tar.gz" if fmt == "tar.gz" else "env.oci.tar")
            rows[fmt].append(_pack_once(prefix, output, threads, workdir))
    gz, oci = ((statistics.median(r[0] for r in rows[f]), statistics.median(r[1] for r in rows[f]),
                max(r[2] for r in rows[f]), rows[f][0][3]) for f in ("tar.gz", "oci"))
    return [
        f"| format (-j{threads}, median of {runs}) | seconds | CPU seconds | peak RSS (MiB) | size (MB) |",
        "| --- | --: | --: | --: | --: |",
        f"| tar.gz | {gz[0]:.2f} | {gz[1]:.2f} | {gz[2] / 2**20:.0f} | {gz[3] / 1e6:.1f} |",
        f"| oci (.oci.tar) | {oci[0]:.2f} | {oci[1]:.2f} | {oci[2] / 2**20:.0f} | {oci[3] / 1e6:.1f} |",
        f"| oci / tar.gz | {oci[0] / gz[0]:.2f}x | {oci[1] / gz[1]:.2f}x | {oci[2] / gz[2]:.2f}x "
        f"| {oci[3] / gz[3]:.3f}x |",
    ]


def smallest_package_file(prefix: Path) -> tuple[str, Path]:
    """The package with the fewest files (at least one regular file) and its first regular file."""
    best: tuple[int, str, Path] | None = None
    for record in sorted((prefix / "conda-meta").glob("*.json")):
        doc = json.loads(record.read_text())
        files = [prefix / f for f in doc.get("files", []) if (prefix / f).is_file() and not (prefix / f).is_symlink()]
        if files and (best is None or len(doc["files"]) < best[0]):
            best = (len(doc["files"]), str(doc["name"]), files[0])
    if best is None:
        raise RuntimeError(f"{prefix}: no package owns a regular file")
    return best[1], best[2]


def _push(image: Path, target: str, workdir: Path) -> tuple[list[str], int]:
    """The digests uploaded and the bytes sent by ``condapack push --json``."""
    done = subprocess.run([*_PUSH, str(image), target], cwd=workdir, check=True, capture_output=True, text=True)
    result = json.loads(done.stdout)
    return [str(d) for d in result["uploaded"]], int(result["uploaded_bytes"])


def _blob_sizes(layout: Path) -> dict[str, int]:
    """Layer digest -> size, from the layout's one manifest."""
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads((layout / "blobs/sha256" / index["manifests"][0]["digest"][7:]).read_text())
    return {layer["digest"]: layer["size"] for layer in manifest["layers"]}


def _aside(prefix: Path) -> Path:
    """Where a changed file's original inode waits, beside the environment (same file system)."""
    return prefix.with_name(prefix.name + ".ocibench")


def restore_originals(prefix: Path) -> None:
    """Rename back every original file of ``prefix`` set aside by :func:`changed_file`
    (also by a run killed before it could), with its directory's times."""
    aside = _aside(prefix)
    originals = aside / "originals"
    for kept in sorted(originals.rglob("*")) if originals.is_dir() else []:
        if kept.is_file():
            target = prefix / kept.relative_to(originals)
            times = target.parent.stat()
            os.replace(kept, target)
            os.utime(target.parent, ns=(times.st_atime_ns, times.st_mtime_ns))
    shutil.rmtree(aside, ignore_errors=True)


@contextlib.contextmanager
def changed_file(prefix: Path, path: Path, data: bytes) -> Iterator[None]:
    """``path`` (a file of ``prefix``) holding ``data`` for a while, its original put back after."""
    restore_originals(prefix)
    kept = _aside(prefix) / "originals" / path.relative_to(prefix)
    kept.parent.mkdir(parents=True)
    os.link(path, kept)
    try:
        new = _aside(prefix) / "new"
        new.write_bytes(data)
        shutil.copymode(kept, new)
        times = path.parent.stat()
        os.replace(new, path)
        os.utime(path.parent, ns=(times.st_atime_ns, times.st_mtime_ns))
        yield
    finally:
        restore_originals(prefix)


def push_lines(prefix: Path, workdir: Path, threads: int = 2) -> list[str]:
    """Bytes of a first push and of a push after one package changed."""
    restore_originals(prefix)
    registry = Registry(workdir)
    image = workdir / "env.oci"
    pack = [*_PACK, "-p", str(prefix), "-o", str(image), "-j", str(threads)]
    package, changed = smallest_package_file(prefix)
    try:
        subprocess.run(pack, cwd=workdir, check=True)
        first = _push(image, f"{registry.host}/bench/env:1", workdir)
        with changed_file(prefix, changed, changed.read_bytes() + b"\n"):
            subprocess.run(pack, cwd=workdir, check=True)
        second = _push(image, f"{registry.host}/bench/env:2", workdir)
    finally:
        registry.stop()
    layers = _blob_sizes(image)
    sent = [d for d in second[0] if d in layers]
    layer_bytes = sum(layers[d] for d in sent)
    return [
        f"| push to docker-registry (-j{threads}) | blobs sent | bytes sent |",
        "| --- | --: | --: |",
        f"| first push | {len(first[0])} | {first[1]} |",
        f"| after {package} changed | {len(second[0])} | {second[1]} |",
        f"| of which {package}'s layer ({len(sent)} layer) | | {layer_bytes} |",
        f"| of which config and manifest | | {second[1] - layer_bytes} |",
    ]


def oci_lines(prefix: Path, workdir: Path, runs: int) -> list[str]:
    """The benchmark's image tables."""
    return [*pack_lines(prefix, workdir, runs), "", *push_lines(prefix, workdir)]


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="ocibench.py", description=__doc__.splitlines()[0])
    parser.add_argument("prefix", type=Path,
                        help="the environment to pack (one of its files is changed for a while, then put back)")
    parser.add_argument("--runs", type=int, default=3, help="pack runs per format (median; default 3)")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="condapack-ocibench-"))
    try:
        print("\n".join(oci_lines(args.prefix.resolve(), workdir, args.runs)))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
