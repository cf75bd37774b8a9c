"""Benchmark condapack against conda-pack 0.9.2 on big real conda environments.

Run it with ``tox -e bench`` (arguments after ``--`` go to this script).  Not a
test: pytest does not collect it.

Two content mixes (``--variant``), each over 1 GB and 40,000 files, are built
once and cached next to envkit's test channel. The PyPI wheels installed in the
running interpreter (numpy, scipy, pandas, pyarrow, plotly, matplotlib,
scikit-learn, sympy, llvmlite, botocore, ...) are repackaged by the recipes
under ``tests/bench_recipes/`` into a few big conda packages, next to a package
of C programs and text files that embed the prefix and one of the interpreter's
standard library sources, replicated; py-rattler installs them (as copies) with
the test channel's python. ``binary`` is compiled-library- and pip-heavy;
``source`` is mostly ``.py`` sources, all conda-managed.

Each configuration packs the environment with ``python -m condapack pack`` and
with conda-pack's own module (the ``conda-pack`` script on PATH is condapack's
drop-in), alternating which goes first, and reports the median wall time, the
peak RSS of the packing process (GNU time's, the largest process of the tree;
a child's own ``ru_maxrss`` would start at this script's peak) and the output size.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from resource import struct_rusage
from typing import Any

import envkit
from benchsize import size_lines, size_results
from ocibench import oci_lines, restore_originals

#: Recipes of the benchmark's packages (not built by the test suite).
BENCH_RECIPES_DIR = Path(__file__).resolve().parent / "bench_recipes"
#: Recipes in build order.
BENCH_RECIPE_ORDER = ("pydists", "prefixed", "sources")
#: rattler-build package format: zstd level 1, so building is not dominated by compression.
PACKAGE_FORMAT = "conda:1"
#: conda package -> the installed distributions it repackages (see pydists/recipe.yaml).
DIST_GROUPS: dict[str, tuple[str, ...]] = {
    "bench-numeric": ("numpy", "scipy", "pandas", "pyarrow", "python-dateutil", "six"),
    "bench-viz": (
        "plotly",
        "tenacity",
        "narwhals",
        "matplotlib",
        "contourpy",
        "cycler",
        "fonttools",
        "kiwisolver",
        "pillow",
        "pyparsing",
    ),
    "bench-ml": ("scikit-learn", "joblib", "threadpoolctl", "sympy", "mpmath", "llvmlite"),
    "bench-cloud": ("botocore", "jmespath", "urllib3"),
}
#: Groups added on top as `pip install` would: unmanaged files (no conda-meta record), as
#: in many real environments (ML stacks are often pip-installed into conda envs).
#: conda-pack stores such files uncompressed in zip archives, so they matter for a fair
#: comparison.
PIP_GROUPS = ("bench-ml", "bench-cloud")
#: Copies of the interpreter's standard library sources in ``bench-sources``.
SOURCE_COPIES = 17


@dataclass(frozen=True)
class Variant:
    """One content mix: the conda packages installed, then the groups added as pip would."""

    name: str
    description: str
    specs: tuple[str, ...]
    pip_groups: tuple[str, ...] = ()


_PYTHON = (f"python =={envkit.PY_VERSION}", "pip")
VARIANTS = (
    Variant("binary", "binary- and pip-heavy: compiled libraries, a pip-installed ML stack",
            (*_PYTHON, *(g for g in DIST_GROUPS if g not in PIP_GROUPS), "bench-prefixed"), PIP_GROUPS),
    Variant("source", f"source-heavy: numeric libraries plus {SOURCE_COPIES} copies of the standard "
            "library's .py files, all conda-managed", (*_PYTHON, "bench-numeric", "bench-sources", "bench-prefixed")),
)
#: The environment should be at least this big.
MIN_BYTES = 1 << 30
MIN_FILES = 40_000
MIB = 1 << 20
#: Where the results file goes by default: the docs' performance page renders it.
RESULTS = Path(__file__).resolve().parent.parent / "docs" / "bench-results.json"

# --------------------------------------------------------------------------
# The environment
# --------------------------------------------------------------------------


def _group_variable(package: str) -> str:
    """``bench-numeric`` -> ``BENCH_NUMERIC_ITEMS`` (read by pydists/recipe.yaml)."""
    return "BENCH_" + package.removeprefix("bench-").upper().replace("-", "_") + "_ITEMS"


def _bench_environ() -> dict[str, str]:
    """Variables for the recipes: the site-packages and each group's entries."""
    env: dict[str, str] = {}
    sites = set()
    for package, dists in DIST_GROUPS.items():
        items: list[str] = []
        for dist in dists:
            site, dist_items = envkit._dist_items(dist)
            sites.add(site)
            items += [item for item in dist_items if item not in items]
        env[_group_variable(package)] = " ".join(items)
    if len(sites) != 1:
        raise RuntimeError(f"the repackaged distributions are spread over {sorted(sites)}")
    env["BENCH_SITE"] = str(sites.pop())
    env["BENCH_STDLIB"] = sysconfig.get_paths()["stdlib"]
    env["BENCH_SOURCE_COPIES"] = str(SOURCE_COPIES)
    return env


def _dist_versions() -> dict[str, str]:
    """Versions of every repackaged distribution (part of the channel key)."""
    return {dist: metadata.version(dist) for dists in DIST_GROUPS.values() for dist in dists}


def bench_channel_spec(test_channel: Path) -> envkit.ChannelSpec:
    """The benchmark's channel: its recipes, with python from ``test_channel``."""
    return envkit.ChannelSpec(
        name="bench-channel",
        recipes_dir=BENCH_RECIPES_DIR,
        order=BENCH_RECIPE_ORDER,
        environ=_bench_environ,
        channels=(test_channel,),
        package_format=PACKAGE_FORMAT,
        key_extra=json.dumps([_dist_versions(), SOURCE_COPIES], sort_keys=True),
    )


@dataclass(frozen=True)
class BenchEnv:
    """The installed benchmark environment and what building it cost."""

    prefix: Path
    package_cache: Path
    channel_seconds: float
    install_seconds: float


def build_bench_env(cache_root: Path, variant: Variant) -> BenchEnv:
    """Build (or reuse) the channels and the environment under ``cache_root``.

    The prefix ``bench-env-KEY`` is keyed by the channel and the specs; a
    ``.done`` marker beside it tells a complete install from an interrupted one.
    """
    start = time.perf_counter()
    test_channel = envkit.build_channel(cache_root)
    channel = envkit.build_channel(cache_root, bench_channel_spec(test_channel))
    channel_seconds = time.perf_counter() - start
    parts = [channel.name, variant.specs, variant.pip_groups, "with-pyc"]
    key = hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]
    prefix = cache_root.resolve() / f"bench-env-{key}"
    cache = envkit.package_cache_for(channel)
    done = prefix.with_name(prefix.name + ".done")
    start = time.perf_counter()
    with envkit.file_lock(prefix.with_name(prefix.name + ".lock")):
        if not done.is_file():
            shutil.rmtree(prefix, ignore_errors=True)
            envkit.install_packages(prefix, variant.specs, [channel, test_channel], cache)
            for group in variant.pip_groups:
                pip_install_unmanaged(prefix, DIST_GROUPS[group])
            done.touch()
    return BenchEnv(prefix, cache, channel_seconds, time.perf_counter() - start)


def pip_install_unmanaged(prefix: Path, dists: Sequence[str]) -> None:
    """Copy installed distributions into the env's site-packages, as pip leaves them."""
    target = prefix / envkit.SITE_PACKAGES
    for dist in dists:
        site, items = envkit._dist_items(dist)
        for item in items:
            source = site / item
            if source.is_dir():
                # with the .pyc files pip compiles at install time
                shutil.copytree(source, target / item, dirs_exist_ok=True)
            elif source.is_file():
                shutil.copy2(source, target / item)


@dataclass(frozen=True)
class EnvStats:
    """Size and make-up of an environment."""

    bytes: int
    files: int
    symlinks: int
    text_prefix_files: int
    binary_prefix_files: int


def _walk_files(root: Path) -> Iterator[os.DirEntry[str]]:
    """Every non-directory entry under ``root``, without following symlinks."""
    stack = [str(root)]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    yield entry


def env_stats(prefix: Path) -> EnvStats:
    """Count the files, bytes and prefix placeholders of ``prefix``."""
    size = files = links = 0
    for entry in _walk_files(prefix):
        if entry.is_symlink():
            links += 1
        else:
            files += 1
            size += entry.stat(follow_symlinks=False).st_size
    modes: dict[str, int] = {"text": 0, "binary": 0}
    for record in (prefix / "conda-meta").glob("*.json"):
        for path in json.loads(record.read_text())["paths_data"]["paths"]:
            if "prefix_placeholder" in path:
                modes[path.get("file_mode", "text")] += 1
    return EnvStats(size, files, links, modes["text"], modes["binary"])


def warm_page_cache(*roots: Path) -> float:
    """Read every file under ``roots`` once (untimed runs are not penalised);
    return the seconds it took."""
    start = time.perf_counter()
    for root in roots:
        for entry in _walk_files(root):
            if entry.is_file(follow_symlinks=False):
                with open(entry.path, "rb", buffering=0) as handle:
                    while handle.read(1 << 20):
                        pass
    return time.perf_counter() - start


# --------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """One packing configuration, run by both tools."""

    id: str
    format: str
    threads: int
    level: int | None = None
    #: Only the output size matters: run once.
    size_only: bool = False


@dataclass(frozen=True)
class Reference:
    """A raw tar pipeline to compare against, with the config it relates to."""

    id: str
    tool: str
    pipeline: str
    compare: str


CONFIGS = (
    Config("tar-j1", "tar", 1),
    Config("tar.gz-j1", "tar.gz", 1),
    Config("tar.gz-j2", "tar.gz", 2),
    Config("tar.zst-j2", "tar.zst", 2),
    Config("zip", "zip", 1),
    # conda-pack's zip is single-threaded whatever -j says; condapack's uses the threads
    Config("zip-j2", "zip", 2),
    Config("tar.zst-l9", "tar.zst", 2, level=9, size_only=True),
)
REFERENCES = (
    Reference("pigz", "pigz", "tar -cf - . | pigz -p 2", compare="tar.gz-j2"),
    Reference("zstd", "zstd", "tar -cf - . | zstd -q -T2 -4", compare="tar.zst-j2"),
)
TOOLS = ("condapack", "conda-pack")


@dataclass(frozen=True)
class Sample:
    """One run: wall seconds, peak RSS of the packing process, output bytes."""

    seconds: float
    max_rss: int
    size: int


def _tool_command(tool: str, prefix: Path, output: Path, config: Config) -> list[str]:
    """Command line packing ``prefix`` into ``output`` with ``tool``."""
    if tool == "condapack":
        command = [sys.executable, "-m", "condapack", "pack"]
    else:  # the conda-pack script on PATH may be condapack's drop-in
        command = [sys.executable, "-m", "conda_pack.cli"]
    command += ["-p", str(prefix), "-o", str(output), "-f", "-q", "--format", config.format]
    command += ["-j", str(config.threads)]
    if config.level is not None:
        command += ["--compress-level", str(config.level)]
    return command


def measure(command: list[str], output: Path, cwd: Path) -> Sample:
    """Run ``command`` in ``cwd`` (it writes ``output``), measure it, delete the output.

    Not in the source tree: ``python -m condapack`` would import the checkout
    there instead of the installed package.
    """
    output.unlink(missing_ok=True)
    seconds, max_rss = run_measured(command, cwd)
    size = output.stat().st_size
    output.unlink()
    return Sample(seconds, max_rss, size)


def run_measured(command: list[str], cwd: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS in bytes (the largest process of its tree) of a command that must succeed.

    Measured by GNU time where it is installed (:func:`run_small`): ``ru_maxrss`` of a
    child of this interpreter starts at this interpreter's own peak, which grows over the
    run and would floor every row."""
    if os.access("/usr/bin/time", os.X_OK):
        return run_small(command, cwd)
    seconds, usage = run_usage(command, cwd)
    return seconds, usage.ru_maxrss * 1024  # Linux: ru_maxrss is in KiB


def cpu_seconds(usage: struct_rusage) -> float:
    """User and system CPU seconds of a process and the children it waited for (Linux's wait4)."""
    return float(usage.ru_utime + usage.ru_stime)


def run_usage(command: list[str], cwd: Path) -> tuple[float, struct_rusage]:
    """Wall seconds and resource usage of a command that must succeed."""
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        proc = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=errors)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # interrupted: leave no packer running
            proc.kill()
            os.wait4(proc.pid, 0)
            raise
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            errors.seek(0)
            tail = errors.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"{' '.join(command)} exited {proc.returncode}:\n{tail}")
    return seconds, usage


def _run_order(index: int) -> tuple[str, ...]:
    """Alternate which tool goes first, run after run and config after config."""
    return TOOLS if index % 2 == 0 else TOOLS[::-1]


Samples = dict[tuple[str, str], list[Sample]]
Failures = dict[tuple[str, str], str]


def _record(samples: Samples, failures: Failures, key: tuple[str, str], run: Callable[[], Sample]) -> None:
    """Append ``run()``'s sample under ``key``; remember a failure instead."""
    if key in failures:
        return
    try:
        samples.setdefault(key, []).append(run())
    except RuntimeError as error:
        failures[key] = str(error)
        print(f"  {key[0]} / {key[1]}: FAILED\n{error}", file=sys.stderr)


def run_benchmark(
    prefix: Path,
    workdir: Path,
    configs: Sequence[Config],
    references: Sequence[Reference],
    tools: Sequence[str],
    runs: int,
) -> tuple[Samples, Failures]:
    """Measure every config with every tool and every reference, ``runs``
    times each (once for size-only configs), interleaved."""
    samples: Samples = {}
    failures: Failures = {}
    for run in range(runs):
        print(f"run {run + 1}/{runs}", file=sys.stderr, flush=True)
        for index, config in enumerate(configs):
            if config.size_only and run > 0:
                continue
            for tool in _run_order(run + index):
                if tool in tools:
                    output = workdir / f"{tool}.{config.format}"
                    command = _tool_command(tool, prefix, output, config)
                    _record(
                        samples,
                        failures,
                        (config.id, tool),
                        functools.partial(measure, command, output, workdir),
                    )
                    _progress(config.id, tool, samples, failures)
        for ref in references:
            output = workdir / f"reference-{ref.id}"
            command = ["bash", "-o", "pipefail", "-c", f"{ref.pipeline} > {shlex.quote(str(output))}"]
            run_ref = functools.partial(measure, command, output, prefix)
            _record(samples, failures, (ref.id, "reference"), run_ref)
            _progress(ref.id, "reference", samples, failures)
    return samples, failures


def _progress(config: str, tool: str, samples: Samples, failures: Failures) -> None:
    """One stderr line per measurement."""
    if (config, tool) in failures:
        return
    last = samples[(config, tool)][-1]
    print(
        f"  {config:<11} {tool:<10} {last.seconds:7.2f} s  {last.size / MIB:8.1f} MiB  "
        f"{last.max_rss / MIB:7.1f} MiB RSS",
        file=sys.stderr,
        flush=True,
    )


# --------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """Median seconds, median size and the largest peak RSS of a series."""

    seconds: float
    size: int
    max_rss: int


def summarize(series: Sequence[Sample]) -> Summary:
    """Summarize the runs of one config and tool."""
    return Summary(
        statistics.median(s.seconds for s in series),
        int(statistics.median(s.size for s in series)),
        max(s.max_rss for s in series),
    )


def _value(summary: Summary | None, field: str) -> float | None:
    """One field of a summary (None when there is none)."""
    return None if summary is None else float(getattr(summary, field))


def _fmt(summary: Summary | None, field: str, exact: bool = False) -> str:
    """A summary's field with its unit (``exact``: sizes in bytes too), or a dash."""
    value = _value(summary, field)
    if value is None:
        return "-"
    if field == "seconds":
        return f"{value:.2f} s"
    return f"{value / MIB:.1f} MiB" + (f" ({int(value):,} B)" if exact else "")


def _ratio(ours: Summary | None, theirs: Summary | None, field: str, digits: int = 2) -> str:
    """``ours / theirs`` of one field, or a dash."""
    a, b = _value(ours, field), _value(theirs, field)
    return f"{a / b:.{digits}f}" if a is not None and b else "-"


def _row(cells: Sequence[str]) -> str:
    """One markdown table row."""
    return "| " + " | ".join(cells) + " |"


COMPARISON_HEADER = (
    "config",
    "condapack time",
    "conda-pack time",
    "time ratio",
    "condapack size",
    "conda-pack size",
    "size ratio",
    "condapack peak RSS",
    "conda-pack peak RSS",
)
REFERENCE_HEADER = (
    "reference",
    "time",
    "size",
    "peak RSS",
    "condapack config",
    "condapack time / reference",
    "condapack size / reference",
)


def comparison_table(samples: Samples, configs: Sequence[Config]) -> list[str]:
    """Markdown rows comparing condapack with conda-pack per config."""
    rows = [_row(COMPARISON_HEADER), _row(["---"] + ["--:"] * (len(COMPARISON_HEADER) - 1))]
    for config in configs:
        ours, theirs = (_summary(samples, config.id, tool) for tool in TOOLS)
        label = config.id + (" (size only, 1 run)" if config.size_only else "")
        cells = [label, _fmt(ours, "seconds"), _fmt(theirs, "seconds"), _ratio(ours, theirs, "seconds")]
        exact = config.size_only  # there the size is all that matters: show it to the byte
        cells += [_fmt(ours, "size", exact), _fmt(theirs, "size", exact)]
        cells.append(_ratio(ours, theirs, "size", 4 if exact else 2))
        rows.append(_row(cells + [_fmt(ours, "max_rss"), _fmt(theirs, "max_rss")]))
    return rows


def reference_table(samples: Samples, references: Sequence[Reference]) -> list[str]:
    """Markdown rows for the raw tar pipelines, against condapack's config."""
    rows = [_row(REFERENCE_HEADER), _row(["---", "--:", "--:", "--:", "---", "--:", "--:"])]
    for ref in references:
        raw, ours = _summary(samples, ref.id, "reference"), _summary(samples, ref.compare, "condapack")
        cells = [
            f"`{ref.pipeline}`".replace("|", "\\|"),
            _fmt(raw, "seconds"),
            _fmt(raw, "size"),
            _fmt(raw, "max_rss"),
        ]
        rows.append(_row(cells + [ref.compare, _ratio(ours, raw, "seconds"), _ratio(ours, raw, "size")]))
    return rows


def _summary(samples: Samples, config: str, tool: str) -> Summary | None:
    """The summary of one series, or None when it was not run or failed."""
    series = samples.get((config, tool))
    return summarize(series) if series else None


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The benchmark's options."""
    names = [c.id for c in CONFIGS] + [r.id for r in REFERENCES]
    parser = argparse.ArgumentParser(prog="benchmark.py", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per configuration (median; default 3)")
    parser.add_argument(
        "--only",
        action="append",
        choices=names,
        metavar="CONFIG",
        help=f"measure only this configuration (repeatable): {', '.join(names)}",
    )
    parser.add_argument("--skip-conda-pack", action="store_true", help="measure condapack only")
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="write the packing results as JSON here, for the docs' performance page "
                             "(default docs/bench-results.json)")
    parser.add_argument(
        "--variant",
        action="append",
        choices=[v.name for v in VARIANTS],
        help="measure only this content mix (repeatable; default: all): "
        + "; ".join(f"{v.name}: {v.description}" for v in VARIANTS),
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help=f"cache root (default: ${envkit.CACHE_ENV_VAR} or ~/.cache/condapack-tests)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="directory for the archives (default: the system temporary directory)",
    )
    parser.add_argument("--build-only", action="store_true", help="build the environment, measure nothing")
    parser.add_argument("--skip-project", action="store_true", help="skip the condapack build (no-op) timing")
    parser.add_argument("--skip-unpack", action="store_true", help="skip the env.sh install and conda-unpack timings")
    parser.add_argument("--skip-size", action="store_true",
                        help="skip the archive size with each slimming preset and the condapack size timings")
    parser.add_argument("--skip-oci", action="store_true",
                        help="skip the image rows (oci against tar.gz, bytes of a first and a one-package push)")
    parser.add_argument("--scale", action="store_true",
                        help="also run the scale series: pack, first and no-op condapack build of the "
                             "environment plus 1..3 hard-linked copies of its lib/ as unmanaged files "
                             "(up to ~200k files)")
    parser.add_argument("--scale-only", action="store_true",
                        help="run only the scale series (implies --scale)")
    parser.add_argument("--scale-format", default="tar.gz", help="the scale series' format (default tar.gz)")
    parser.add_argument("--scale-copies", type=lambda v: tuple(int(c) for c in v.split(",")),
                        default=SCALE_COPIES,
                        help="copies of lib/ per point, comma-separated (default 0,1,2,3)")
    parser.add_argument("--unpack-only", action="store_true",
                        help="only the conda-unpack rows (after extracting a tar), ours and conda-pack's")
    return parser.parse_args(argv)


def _timed(command: list[str], cwd: Path) -> float:
    """Wall seconds of one command that must succeed."""
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


#: ``condapack build -q`` with the tree signature's forked helper off: what it buys is measured, not assumed.
_WITHOUT_HELPER = [sys.executable, "-c", "import sys; from condapack.project import signature; "
                   "signature._SHARE_FROM = 1 << 62; from condapack.cli import main; sys.exit(main(['build', '-q']))"]


def project_lines(prefix: Path, workdir: Path, runs: int) -> list[str]:
    """Full and no-op ``condapack build`` of a one-target project over the environment."""
    project = workdir / "project"
    project.mkdir()
    (project / "condapack.toml").write_text(
        f'[env.big]\nprefix = "{prefix}"\nformats = ["tar.gz"]\nthreads = 2\n')
    build = [sys.executable, "-m", "condapack", "build", "-q"]
    full = _timed(build, project)
    noop: list[tuple[float, struct_rusage]] = []
    plain: list[tuple[float, struct_rusage]] = []
    for i in range(runs):  # interleaved: the helper's worth is measured against the same moment's load
        for into, command in ((noop, build), (plain, _WITHOUT_HELPER))[::1 if i % 2 == 0 else -1]:
            into.append(run_usage(command, project))
    plan = [_timed([sys.executable, "-m", "condapack", "plan"], project) for _ in range(runs)]
    cold = project / ".condapack"
    shutil.rmtree(cold)
    uncached = _timed([sys.executable, "-m", "condapack", "plan"], project)
    return [
        "| condapack project (tar.gz -j2) | seconds |",
        "| --- | --: |",
        f"| full build | {full:.2f} |",
        f"| no-op build (median of {runs}) | {statistics.median(t for t, _ in noop):.2f} |",
        f"| no-op build, CPU user + system (median of {runs}) | "
        f"{statistics.median(cpu_seconds(u) for _, u in noop):.2f} |",
        f"| no-op build without the forked re-stat helper (median of {runs}, interleaved) | "
        f"{statistics.median(t for t, _ in plain):.2f} |",
        f"| plan (median of {runs}) | {statistics.median(plan):.2f} |",
        f"| plan without the memo | {uncached:.2f} |",
        *cache_lines(project, build, workdir, runs),
    ]


def _extracted(archive: Path, dest: Path) -> Path:
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir()
    subprocess.run(["tar", "-xf", str(archive), "-C", str(dest)], check=True)
    return dest


def run_small(command: list[str], cwd: Path) -> tuple[float, int]:
    """Like ``run_measured``, with the peak RSS measured by GNU time: a child forked from
    this interpreter starts with its memory, which ``ru_maxrss`` would report."""
    seconds, _cpu, rss = run_small_cpu(command, cwd)
    return seconds, rss


def run_small_cpu(command: list[str], cwd: Path) -> tuple[float, float, int]:
    """:func:`run_small`'s wall seconds and peak RSS, and the CPU seconds (user + system) between them."""
    with tempfile.NamedTemporaryFile("r") as report:
        seconds, usage = run_usage(["/usr/bin/time", "-f", "%M", "-o", report.name, *command], cwd)
        return seconds, cpu_seconds(usage), int(report.read().split()[-1]) * 1024


def unpack_lines(prefix: Path, workdir: Path, runs: int, with_conda_pack: bool, install: bool = True) -> list[str]:
    """Installing ``env.sh`` (time, peak RSS) and conda-unpack with and without Python."""
    if not os.access("/usr/bin/time", os.X_OK):
        print("/usr/bin/time not found: skipping the install/unpack rows (apt-get install time)", file=sys.stderr)
        return []
    pack = [sys.executable, "-m", "condapack", "pack", "-p", str(prefix), "-f", "-q", "-j", "2", "-o"]
    subprocess.run([*pack, str(workdir / "env.tar")], check=True, cwd=workdir)
    rows = []
    if install:
        subprocess.run([*pack, str(workdir / "env.sh")], check=True, cwd=workdir)
        installs = []
        for _ in range(runs):
            shutil.rmtree(workdir / "installed", ignore_errors=True)
            installs.append(run_small(["sh", str(workdir / "env.sh"), "-p", str(workdir / "installed"), "-q"],
                                      workdir))
        shutil.rmtree(workdir / "installed", ignore_errors=True)
        rows.append(("sh env.sh (verify, extract, conda-unpack)", statistics.median(t for t, _ in installs),
                     max(rss for _, rss in installs)))
    unpackers: tuple[tuple[str, list[str]], ...] = (
        ("condapack conda-unpack (Python)", []), ("condapack conda-unpack --sh (no Python)", ["--sh"]))
    for label, flags in unpackers:
        samples = [run_small([str(_extracted(workdir / "env.tar", workdir / "u") / "bin/conda-unpack"), *flags],
                                workdir) for _ in range(runs)]
        rows.append((label, statistics.median(t for t, _ in samples), max(rss for _, rss in samples)))
    if with_conda_pack:
        subprocess.run([sys.executable, "-m", "conda_pack.cli", "-p", str(prefix), "-o", str(workdir / "ref.tar"),
                        "-q", "-f"], check=True, cwd=workdir)
        samples = [run_small([str(prefix / "bin/python"), str(_extracted(workdir / "ref.tar", workdir / "u")
                                                                 / "bin/conda-unpack")], workdir) for _ in range(runs)]
        rows.append(("conda-pack 0.9.2 conda-unpack", statistics.median(t for t, _ in samples),
                     max(rss for _, rss in samples)))
    shutil.rmtree(workdir / "u", ignore_errors=True)
    return ["| install / unpack | seconds | peak RSS |", "| --- | --: | --: |",
            *(f"| {label} | {seconds:.2f} | {rss / MIB:.0f} MiB |" for label, seconds, rss in rows)]


def cache_lines(project: Path, build: list[str], workdir: Path, runs: int) -> list[str]:
    """Build and upload to a local S3 server (moto), then fetch with the output deleted."""
    from s3server import BUCKET, S3Server

    server = S3Server(workdir)
    env = {**os.environ, **server.aws_env()}
    cached = [*build, "--force", "--cache", f"s3://{BUCKET}/bench"]
    try:
        start = time.perf_counter()
        subprocess.run([*cached, "--cache-write"], cwd=project, env=env, check=True)
        upload = time.perf_counter() - start
        fetches = []
        for _ in range(runs):
            shutil.rmtree(project / "dist")
            start = time.perf_counter()
            subprocess.run([*build, "--cache", f"s3://{BUCKET}/bench"], cwd=project, env=env, check=True)
            fetches.append(time.perf_counter() - start)
    finally:
        server.kill()
    return [f"| build and upload to a local S3 server | {upload:.2f} |",
            f"| fetch from the local S3 server instead of building (median of {runs}) | "
            f"{statistics.median(fetches):.2f} |"]


# --------------------------------------------------------------------------
# Scale: the environment plus hard-linked copies of its lib/ as unmanaged files
# --------------------------------------------------------------------------

#: Copies of ``lib/`` added for each point of the scale series (0: the environment alone).
SCALE_COPIES = (0, 1, 2, 3)


@dataclass(frozen=True)
class ScalePoint:
    """One size of the scale series: pack, first and no-op build (median seconds, peak RSS, median CPU seconds)."""

    copies: int
    stats: EnvStats
    rows: dict[str, tuple[float, int, float]]


def _grow(scaled: Path, prefix: Path, copies: int) -> None:
    """Make ``scaled`` the environment (hard links) plus ``copies`` copies of its lib/ under share/."""
    if not scaled.exists():
        subprocess.run(["cp", "-al", str(prefix), str(scaled)], check=True)
    for index in range(1, copies + 1):
        copy = scaled / "share" / f"bench-copy-{index}"
        if not copy.exists():
            subprocess.run(["cp", "-al", str(prefix / "lib"), str(copy)], check=True)


def _median_run(command: list[str], cwd: Path, runs: int,
                before: Callable[[], None]) -> tuple[float, int, float]:
    """Median seconds, largest peak RSS and median CPU seconds of ``runs`` runs, calling ``before`` ahead of each."""
    samples = []
    for _ in range(runs):
        before()
        samples.append(run_small_cpu(command, cwd))
    return (statistics.median(t for t, _, _ in samples), max(rss for _, _, rss in samples),
            statistics.median(cpu for _, cpu, _ in samples))


def scale_point(scaled: Path, workdir: Path, fmt: str, runs: int) -> dict[str, tuple[float, int, float]]:
    """Pack, first ``condapack build`` (fresh project each run) and no-op build of ``scaled``."""
    output = workdir / f"scaled.{fmt}"
    pack = [sys.executable, "-m", "condapack", "pack", "-p", str(scaled), "-o", str(output), "-f", "-q",
            "--format", fmt, "-j", "2"]
    project = workdir / "scale-project"

    def fresh_project() -> None:
        shutil.rmtree(project, ignore_errors=True)
        project.mkdir()
        (project / "condapack.toml").write_text(
            f'[env.big]\nprefix = "{scaled}"\nformats = ["{fmt}"]\nthreads = 2\n')

    build = [sys.executable, "-m", "condapack", "build", "-q"]
    rows = {"pack": _median_run(pack, workdir, runs, lambda: output.unlink(missing_ok=True))}
    output.unlink(missing_ok=True)
    rows["first build"] = _median_run(build, project, runs, fresh_project)
    rows["no-op build"] = _median_run(build, project, runs, lambda: None)
    shutil.rmtree(project, ignore_errors=True)
    return rows


def scale_lines(prefix: Path, workdir: Path, runs: int, fmt: str, copies: Sequence[int]) -> list[str]:
    """The scale series: each point adds a hard-linked copy of ``lib/`` (unmanaged files)."""
    scaled = workdir / "scaled-env"
    points = []
    for count in copies:
        _grow(scaled, prefix, count)
        stats = env_stats(scaled)
        print(f"scale: {stats.files} files, {stats.bytes / 1e9:.2f} GB; {_load()}", flush=True)
        points.append(ScalePoint(count, stats, scale_point(scaled, workdir, fmt, runs)))
    shutil.rmtree(scaled, ignore_errors=True)
    kinds = ("pack", "first build", "no-op build")
    header = " | ".join(f"{k} s | {k} peak RSS" for k in kinds)
    # a loaded machine inflates wall times: the no-op's CPU time says what it costs
    lines = [f"| scale ({fmt} -j2, median of {runs}) | files | GB | {header} | no-op CPU s |",
             "| --- | --: | --: |" + " --: | --: |" * len(kinds) + " --: |"]
    for point in points:
        cells = " | ".join(f"{point.rows[k][0]:.2f} | {point.rows[k][1] / MIB:.0f} MiB" for k in kinds)
        lines.append(f"| env + {point.copies} copies of lib/ | {point.stats.files} "
                     f"| {point.stats.bytes / 1e9:.2f} | {cells} | {point.rows['no-op build'][2]:.2f} |")
    return lines


def _available_references(references: Sequence[Reference]) -> list[Reference]:
    """The references whose compressor is installed; say which are skipped."""
    found = []
    for ref in references:
        if shutil.which(ref.tool) and shutil.which("tar"):
            found.append(ref)
        else:
            print(
                f"{ref.tool} not found: skipping the `{ref.pipeline}` row "
                f"(install it, e.g. apt-get install {ref.tool})",
                file=sys.stderr,
            )
    return found


def describe_env(variant: Variant, env: BenchEnv, stats: EnvStats) -> list[str]:
    """Lines describing the environment and what it cost to build."""
    versions = ", ".join(f"{name} {metadata.version(name)}" for name in TOOLS)
    return [
        f"## variant {variant.name}: {variant.description}",
        f"environment: {env.prefix}",
        f"  {stats.bytes / 1e9:.2f} GB in {stats.files} files and {stats.symlinks} symlinks",
        f"  {stats.text_prefix_files} text and {stats.binary_prefix_files} binary prefix placeholder files",
        f"  channels ready in {env.channel_seconds:.1f} s, environment ready in {env.install_seconds:.1f} s",
        f"{versions}, Python {envkit.PY_VERSION}, {os.cpu_count()} cpus",
    ]


def _load() -> str:
    """The 1-minute load average (other work on the machine skews the timings)."""
    return f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cpus"


def main(argv: Sequence[str]) -> int:
    """Build each variant's environment, measure, print the tables."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still remove the archives
    chosen = [v for v in VARIANTS if v.name in (args.variant or [v.name for v in VARIANTS])]
    failed = False
    measured: list[dict[str, object]] = []
    for variant in chosen:
        failed |= bench_variant(args, variant, measured)
    if measured:
        args.results.write_text(json.dumps(results_doc(argv, args.runs, measured), indent=2) + "\n")
        print(f"wrote {args.results}", file=sys.stderr)
    return 1 if failed else 0


def results_doc(argv: Sequence[str], runs: int, variants: list[dict[str, object]]) -> dict[str, object]:
    """The results file the docs render: when, where and how it was run, and each variant's medians."""
    return {
        "version": 1,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": shlex.join(["tox", "-e", "bench", *(["--", *argv] if argv else [])]),
        "machine": {"cpus": os.cpu_count(), "platform": sysconfig.get_platform(), "python": envkit.PY_VERSION,
                    "load": round(os.getloadavg()[0], 2)},
        "tools": {name: metadata.version(name) for name in TOOLS},
        "runs": runs,
        "variants": variants,
    }


def variant_doc(variant: Variant, stats: EnvStats, samples: Samples, configs: Sequence[Config],
                references: Sequence[Reference], size: dict[str, Any] | None = None) -> dict[str, object]:
    """One variant's environment, the median of each configuration and reference pipeline, and the
    size rows (:mod:`benchsize`) when measured."""
    def summary(config: str, tool: str) -> dict[str, float] | None:
        found = _summary(samples, config, tool)
        return None if found is None else {"seconds": round(found.seconds, 3), "size": found.size,
                                            "max_rss": found.max_rss}

    return {
        "name": variant.name, "description": variant.description, "files": stats.files, "bytes": stats.bytes,
        "configs": [{"id": c.id, "format": c.format, "threads": c.threads,
                     "results": {tool: summary(c.id, tool) for tool in TOOLS}} for c in configs],
        "references": [{"id": r.id, "pipeline": r.pipeline, "compare": r.compare,
                        "result": summary(r.id, "reference")} for r in references],
        "size": size,
    }


def bench_variant(args: argparse.Namespace, variant: Variant, measured: list[dict[str, object]]) -> bool:
    """Measure one variant, print its tables and add its results to ``measured``; return whether anything
    failed."""
    env = build_bench_env((args.cache or envkit.default_cache_root()).resolve(), variant)
    restore_originals(env.prefix)  # a file a killed image row changed
    stats = env_stats(env.prefix)
    print("\n".join(describe_env(variant, env, stats)), flush=True)
    if stats.bytes < MIN_BYTES or stats.files < MIN_FILES:
        print(
            f"warning: the {variant.name} environment is smaller than {MIN_BYTES / 1e9:.2f} GB / {MIN_FILES} files",
            file=sys.stderr,
        )
    if args.build_only:
        return False
    selected = set(args.only or [c.id for c in CONFIGS] + [r.id for r in REFERENCES])
    configs = [c for c in CONFIGS if c.id in selected]
    references = _available_references([r for r in REFERENCES if r.id in selected])
    tools = TOOLS[:1] if args.skip_conda_pack else TOOLS
    print(f"page cache warmed in {warm_page_cache(env.prefix, env.package_cache):.1f} s", flush=True)
    print(_load(), flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="condapack-bench-", dir=args.workdir))
    if args.unpack_only:
        try:
            print("\n".join(["", *unpack_lines(env.prefix, workdir, args.runs, not args.skip_conda_pack, False)]))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return False
    only_scale = args.scale_only
    try:
        samples, failures = ({}, {}) if only_scale else \
            run_benchmark(env.prefix, workdir, configs, references, tools, args.runs)
        project = [] if args.skip_project or only_scale else project_lines(env.prefix, workdir, args.runs)
        unpack = [] if args.skip_unpack or only_scale else \
            unpack_lines(env.prefix, workdir, args.runs, not args.skip_conda_pack)
        size = None if args.skip_size or only_scale else size_results(env.prefix, workdir, args.runs, _timed)
        oci = [] if args.skip_oci or only_scale else oci_lines(env.prefix, workdir, args.runs)
        scale = scale_lines(env.prefix, workdir, args.runs, args.scale_format, args.scale_copies) \
            if args.scale or only_scale else []
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\nmedian of {args.runs} runs; peak RSS is the largest over the runs; {_load()}\n")
    if not only_scale:
        measured.append(variant_doc(variant, stats, samples, configs, references, size))
        print("\n".join(comparison_table(samples, configs)))
    if references and not only_scale:
        print()
        print("\n".join(reference_table(samples, references)))
    for table in (project, unpack, size_lines(size, args.runs) if size else [], oci, scale):
        if table:
            print()
            print("\n".join(table))
    print()
    return bool(failures)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
