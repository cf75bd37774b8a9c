"""The benchmark's size rows: the archive with each slimming preset, and how long ``condapack size`` takes.

Called by ``tests/benchmark.py`` for each variant (``--skip-size`` leaves it out); its
results go into the results file the docs read (``docs/_ext/benchtable.py``).
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import Any, Callable

from condapack.slim import PRESETS

#: The format and threads the slimmed archives are packed with (a row of the comparison table).
FORMAT, THREADS = "tar.gz", 2
#: ``slim`` of the archive with every preset at once.
ALL = "all"

Timer = Callable[[list[str], Path], float]


def size_results(prefix: Path, workdir: Path, runs: int, timed: Timer) -> dict[str, Any]:
    """The archive size with no preset, each preset and all of them; the seconds ``condapack size`` takes."""
    return {"format": f"{FORMAT} -j{THREADS}", "archives": _archives(prefix, workdir, timed),
            "seconds": _size_seconds(prefix, workdir, runs, timed)}


def _archives(prefix: Path, workdir: Path, timed: Timer) -> list[dict[str, Any]]:
    out = workdir / f"slim.{FORMAT}"
    rows = []
    for slim in ["", *PRESETS, ALL]:
        presets = ",".join(PRESETS) if slim == ALL else slim
        command = [sys.executable, "-m", "condapack", "pack", "-p", str(prefix), "-o", str(out), "-f", "-q",
                   "--format", FORMAT, "-j", str(THREADS), *(["--slim", presets] if presets else [])]
        seconds = timed(command, workdir)
        rows.append({"slim": slim or "none", "size": out.stat().st_size, "seconds": round(seconds, 3)})
        out.unlink()
    return rows


def _size_seconds(prefix: Path, workdir: Path, runs: int, timed: Timer) -> dict[str, float]:
    """``condapack size`` of a project target (first: it reads the environment; then with a fresh stat
    cache) and of the environment's path (always read)."""
    project = workdir / "size-project"
    project.mkdir()
    (project / "condapack.toml").write_text(f'[env.big]\nprefix = "{prefix}"\nformats = ["{FORMAT}"]\n')
    target = [sys.executable, "-m", "condapack", "size", f"big:{FORMAT}"]
    first = timed(target, project)
    fresh = statistics.median(timed(target, project) for _ in range(runs))
    path = statistics.median(timed([sys.executable, "-m", "condapack", "size", str(prefix)], project)
                             for _ in range(runs))
    return {"target_fresh": round(fresh, 3), "target_first": round(first, 3), "path": round(path, 3)}


def size_lines(results: dict[str, Any], runs: int) -> list[str]:
    """The size rows as markdown tables for the benchmark's output."""
    none = results["archives"][0]["size"]
    lines = [f"| slimming ({results['format']}) | archive MB | saved | pack seconds |", "| --- | --: | --: | --: |"]
    lines += [f"| {row['slim']} | {row['size'] / 1e6:.1f} | {1 - row['size'] / none:.1%} | {row['seconds']:.2f} |"
              for row in results["archives"]]
    seconds = results["seconds"]
    return lines + ["", "| condapack size | seconds |", "| --- | --: |",
                    f"| TARGET, fresh memo (median of {runs}) | {seconds['target_fresh']:.2f} |",
                    f"| TARGET, first run (reads the environment) | {seconds['target_first']:.2f} |",
                    f"| ENV path (reads the environment; median of {runs}) | {seconds['path']:.2f} |"]
