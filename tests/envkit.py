"""Real conda environments for condapack's tests, made offline.

``build_channel()`` builds the recipes under ``tests/recipes/`` with
py-rattler-build into a local conda channel (cached across runs), and
``create_env()`` solves and installs a named scenario from that channel into a
prefix with py-rattler, then applies the scenario's post-steps (pip installs,
deleted or clobbered files, ...).  The result is a real conda environment with
real ``conda-meta/*.json`` records, like the ones ``conda create`` makes.
Other recipe sets (the benchmark's, under ``tests/bench_recipes/``) are built
the same way from a ``ChannelSpec`` and installed with ``install_packages()``.

Both rattler steps run in a child interpreter (``python envkit.py build|install
...``): py-rattler can print a harmless fatal error at interpreter exit, so the
child reports success with an explicit marker line and ends with ``os._exit``.

Only the standard library is imported at module level; ``rattler`` and
``rattler_build`` are imported in the child.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

# --------------------------------------------------------------------------
# Constants the tests use
# --------------------------------------------------------------------------

#: Directory holding one rattler-build recipe per sub-directory.
RECIPES_DIR = Path(__file__).resolve().parent / "recipes"
#: Recipes in build order (later ones need earlier ones in their host env).
RECIPE_ORDER = ("python", "pip", "cpdemo-py", "cpdemo-tools", "conda")

#: ``X.Y`` of the running interpreter, which the ``python`` package repackages.
PY_SHORT = f"{sys.version_info.major}.{sys.version_info.minor}"
#: Full version of the packaged interpreter (also the ``python`` package version).
PY_VERSION = ".".join(str(part) for part in sys.version_info[:3])
#: Interpreter path inside an env, relative to the prefix.
PYTHON_BIN = f"bin/python{PY_SHORT}"
#: site-packages inside an env, relative to the prefix.
SITE_PACKAGES = f"lib/python{PY_SHORT}/site-packages"

#: noarch: python package; module ``cpdemo``.
CPDEMO_PY_PACKAGE = "cpdemo-py"
#: Console entry point of cpdemo-py (path type ``unix_python_entry_point``).
#: Running it prints two lines: ``sys.prefix`` and ``cpdemo.__file__``.
ENTRY_POINT = "bin/cpdemo-hello"

#: Package with the compiled program, library, text files and symlinks.
CPDEMO_TOOLS_PACKAGE = "cpdemo-tools"
#: C program; prints its compiled-in prefix, then libcpdemo's (two lines,
#: both the env prefix after installation).  Recorded as ``file_mode: binary``.
C_PROGRAM = "bin/cpdemo-prefix"
#: Shared library embedding the prefix; recorded as ``file_mode: binary``.
C_LIBRARY = "lib/libcpdemo.so"
#: ``#!/bin/sh`` script; prints ``PREFIX/share/cpdemo-1.0`` then GREETING.
SHELL_SCRIPT = "bin/cpdemo-script"
#: Script whose shebang is ``PREFIX/bin/pythonX.Y``; prints ``sys.prefix``.
PYTHON_SCRIPT = "bin/cpdemo-pyscript"
#: Text files with the prefix inside (``file_mode: text``), besides the scripts.
PKGCONFIG_FILE = "lib/pkgconfig/cpdemo.pc"
CONF_FILE = "etc/cpdemo.conf"
#: Every cpdemo-tools file recorded with a text / binary prefix placeholder.
TEXT_PREFIX_FILES = (SHELL_SCRIPT, PYTHON_SCRIPT, PKGCONFIG_FILE, CONF_FILE)
BINARY_PREFIX_FILES = (C_PROGRAM, C_LIBRARY)
#: File symlink ``bin/cpdemo-link -> cpdemo-prefix``.
FILE_SYMLINK = "bin/cpdemo-link"
FILE_SYMLINK_TARGET = "cpdemo-prefix"
#: Directory symlink ``share/cpdemo-current -> cpdemo-1.0``.
DIR_SYMLINK = "share/cpdemo-current"
DIR_SYMLINK_TARGET = "cpdemo-1.0"
#: A plain data file under the real directory the symlink points to.
DATA_FILE = "share/cpdemo-1.0/greeting.txt"
GREETING = "hello from cpdemo"
#: Activation scripts: activate exports CPDEMO_ACTIVE=1 and
#: CPDEMO_HOME=$CONDA_PREFIX/share/cpdemo-1.0; deactivate unsets both.
ACTIVATE_SCRIPTS = ("etc/conda/activate.d/cpdemo.sh", "etc/conda/activate.d/cpdemo.fish")
DEACTIVATE_SCRIPTS = ("etc/conda/deactivate.d/cpdemo.sh", "etc/conda/deactivate.d/cpdemo.fish")

#: Files of the fake ``conda`` package (scenario ``has_conda``).
CONDA_FILES = ("bin/conda", "bin/activate", "bin/deactivate")

#: Scenario ``missing_files``: this managed file (of cpdemo-tools) is deleted.
MISSING_FILE = CONF_FILE
#: Scenario ``clobbered``: this managed file (of cpdemo-py) gets new content.
CLOBBERED_FILE = f"{SITE_PACKAGES}/cpdemo/_version.py"
CLOBBERED_CONTENT = '__version__ = "1.0+clobbered-by-pip"\n'

#: Scenario ``pip_unmanaged``: distribution installed by pip from a local wheel.
PIP_DIST = "cpextra"
PIP_DIST_VERSION = "1.0"
#: Its console script (shebang: the env's python) prints ``sys.prefix``.
PIP_SCRIPT = "bin/cpextra-hello"

#: Scenario ``editable``: PEP 660 editable project (pip ``__editable__`` files).
EDITABLE_PEP660 = "cpedit660"
#: Scenario ``editable``: legacy ``setup.py develop`` project (``.egg-link``).
EDITABLE_LEGACY = "cpeditlegacy"

#: Printed by the child interpreter when its rattler work finished.
MARKER = "ENVKIT-CHILD-OK"

#: Environment variable overriding the default cache root.
CACHE_ENV_VAR = "CONDAPACK_TEST_CACHE"
#: Distributions repackaged from the running interpreter's site-packages.
PY_TOOLS = ("pip", "setuptools", "wheel", "packaging")

# --------------------------------------------------------------------------
# The channel
# --------------------------------------------------------------------------


def default_cache_root() -> Path:
    """Return ``$CONDAPACK_TEST_CACHE`` or ``~/.cache/condapack-tests``."""
    override = os.environ.get(CACHE_ENV_VAR)
    if override:
        return Path(override)
    return Path.home() / ".cache" / "condapack-tests"


def _tool_versions() -> dict[str, str]:
    """Versions of the repackaged tools and of the rattler libraries."""
    names = (*PY_TOOLS, "py-rattler", "py-rattler-build")
    return {name: metadata.version(name) for name in names}


def channel_key(spec: ChannelSpec | None = None) -> str:
    """Hash of every recipe file, the interpreter and the tool versions
    (plus, for other specs than the tests', what else the spec names)."""
    spec = spec or TEST_CHANNEL
    digest = hashlib.sha256()
    for path in sorted(spec.recipes_dir.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.relative_to(spec.recipes_dir).as_posix().encode())
            digest.update(path.read_bytes())
    digest.update(sys.version.encode())
    digest.update(sys.base_prefix.encode())
    digest.update(json.dumps(_tool_versions(), sort_keys=True).encode())
    extra = [list(spec.order), [c.name for c in spec.channels], spec.package_format, spec.key_extra]
    if spec.target_platform:
        extra.append(spec.target_platform)
    if spec != TEST_CHANNEL:  # keep the tests' key (and cached channel) as it always was
        digest.update(json.dumps(extra).encode())
    return digest.hexdigest()[:16]


def package_cache_for(channel: Path) -> Path:
    """The rattler package cache belonging to ``channel``.

    Rebuilt packages keep their file names, so each channel gets a cache of
    its own (rebuilding a channel empties it): no stale extracted package.
    """
    return channel.with_name(channel.name + ".pkgs")


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _dist_items(name: str) -> tuple[Path, list[str]]:
    """Site-packages dir of distribution ``name`` and its top-level entries."""
    dist = metadata.distribution(name)
    site = Path(str(dist.locate_file(""))).resolve()
    items: set[str] = set()
    for file in dist.files or ():
        first = file.parts[0]
        if first != ".." and first != "__pycache__" and not first.endswith(".pyc"):
            items.add(first)
    return site, sorted(items)


def _build_environ() -> dict[str, str]:
    """Environment for the build child: what the test recipes read via env.get."""
    env = dict(os.environ)
    env.update(
        CONDAPACK_TEST_PYTHON_PREFIX=sys.base_prefix,
        CONDAPACK_TEST_PYTHON_VERSION=PY_VERSION,
        CONDAPACK_TEST_PYTHON_SHORT=PY_SHORT,
    )
    for name in PY_TOOLS:
        site, items = _dist_items(name)
        env[f"CONDAPACK_TEST_{name.upper()}_SITE"] = str(site)
        env[f"CONDAPACK_TEST_{name.upper()}_VERSION"] = metadata.version(name)
        env[f"CONDAPACK_TEST_{name.upper()}_ITEMS"] = " ".join(items)
    return env


@dataclass(frozen=True)
class ChannelSpec:
    """A directory of recipes built, in order, into one cached local channel."""

    #: Cached as ``CACHE_ROOT/NAME-KEY``.
    name: str
    recipes_dir: Path
    #: Recipe sub-directories in build order.
    order: tuple[str, ...]
    #: Variables for the build child (the recipes read them with ``env.get``).
    environ: Callable[[], Mapping[str, str]] = dict
    #: Built channels the recipes may take host packages from.
    channels: tuple[Path, ...] = ()
    #: rattler-build package format, e.g. ``"conda:1"`` (None: its default).
    package_format: str | None = None
    #: Anything else the packages' content depends on, for the cache key.
    key_extra: str = ""
    #: conda subdir the packages are built for (None: this machine's).
    target_platform: str | None = None


#: The test suite's channel: ``tests/recipes/``.
TEST_CHANNEL = ChannelSpec("channel", RECIPES_DIR, RECIPE_ORDER, environ=_build_environ)


def _run_child(args: list[str], env: dict[str, str] | None = None) -> str:
    """Run ``python envkit.py ARGS``; return its output, raise unless it
    printed MARKER (its exit status may be spoiled by rattler's exit noise)."""
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    if MARKER not in proc.stdout.splitlines():
        raise RuntimeError(f"envkit {args[0]} failed (exit {proc.returncode}):\n{proc.stdout}")
    return proc.stdout


def _clean_channel(channel: Path) -> None:
    """Remove rattler-build's leftovers; keep only the subdir directories."""
    for entry in channel.iterdir():
        if entry.is_dir() and (entry / "repodata.json").is_file():
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def build_channel(cache_root: Path | None = None, spec: ChannelSpec | None = None) -> Path:
    """Build all recipes of ``spec`` (default: the tests') into a local
    channel; return its directory.

    The channel lives at ``CACHE_ROOT/NAME-KEY`` (KEY: ``channel_key(spec)``)
    and is reused while it is complete.  Building happens in a temporary
    directory renamed into place, under a file lock, so concurrent callers
    build once.
    """
    spec = spec or TEST_CHANNEL
    root = (cache_root or default_cache_root()).resolve()
    key = channel_key(spec)
    final = root / f"{spec.name}-{key}"
    if final.is_dir():
        return final
    with file_lock(root / f"{spec.name}-{key}.lock"):
        if final.is_dir():
            return final
        for stale in root.glob(f".{spec.name}-{key}-*"):  # left by a killed build
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{spec.name}-{key}-", dir=root))
        try:
            _run_child(_build_args(tmp, spec), env={**os.environ, **spec.environ()})
            _clean_channel(tmp)
            tmp.chmod(0o755)  # mkdtemp made it private
            shutil.rmtree(package_cache_for(final), ignore_errors=True)
            tmp.rename(final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def _build_args(output_dir: Path, spec: ChannelSpec) -> list[str]:
    """Command line of the build child for ``spec``."""
    args = ["build", str(output_dir), "--recipes-dir", str(spec.recipes_dir.resolve())]
    args += [f"--recipe={name}" for name in spec.order]
    args += [f"--channel={channel.resolve()}" for channel in spec.channels]
    if spec.package_format:
        args.append(f"--package-format={spec.package_format}")
    if spec.target_platform:
        args.append(f"--target-platform={spec.target_platform}")
    return args


# --------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------

PostStep = Callable[[Path], None]


@dataclass(frozen=True)
class Scenario:
    """Packages to install plus steps applied to the prefix afterwards."""

    specs: tuple[str, ...]
    post: tuple[PostStep, ...] = ()
    private_cache: bool = False


def _python_env(prefix: Path) -> dict[str, str]:
    """Environment for running the env's python/pip offline and isolated."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV", "CONDA"))
    }
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_NO_INDEX="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        PYTHONNOUSERSITE="1",
        # Keep pip's own bytecode out of the env (pip still compiles what it installs).
        PYTHONDONTWRITEBYTECODE="1",
        PATH=f"{prefix / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    return env


def run_env_python(prefix: Path, *args: str, cwd: Path | None = None) -> str:
    """Run ``PREFIX/bin/pythonX.Y ARGS`` isolated from the host; return stdout."""
    proc = subprocess.run(
        [str(prefix / PYTHON_BIN), *args],
        env=_python_env(prefix),
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode:
        raise RuntimeError(f"{args} failed in {prefix}:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def _delete_missing_file(prefix: Path) -> None:
    """Delete MISSING_FILE (still listed in conda-meta)."""
    (prefix / MISSING_FILE).unlink()


def _clobber_file(prefix: Path) -> None:
    """Overwrite CLOBBERED_FILE like a pip install over a conda file would:
    replaced (new inode) with different content."""
    target = prefix / CLOBBERED_FILE
    target.unlink()
    target.write_text(CLOBBERED_CONTENT)


def _drop_history(prefix: Path) -> None:
    """Remove conda-meta/history and the records' ``link`` (as pixi leaves
    them): absent in the python record, null in all others."""
    meta = prefix / "conda-meta"
    (meta / "history").unlink(missing_ok=True)
    for record_path in meta.glob("*.json"):
        record = json.loads(record_path.read_text())
        if record["name"] == "python":
            record.pop("link", None)
        else:
            record["link"] = None
        record_path.write_text(json.dumps(record, indent=2))


def make_wheel(directory: Path, name: str = PIP_DIST, version: str = PIP_DIST_VERSION,
               console_script: bool = True) -> Path:
    """Write a pure-python wheel ``name`` with console script ``name-hello``
    (prints ``sys.prefix``; left out when not ``console_script``) into ``directory``;
    return its path."""
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": ("import sys\n\n\ndef main() -> int:\n    print(sys.prefix)\n    return 0\n"),
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: envkit\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{info}/entry_points.txt": f"[console_scripts]\n{name}-hello = {name}:main\n",
    }
    if not console_script:
        del files[f"{info}/entry_points.txt"]
    records = [f"{path},,".encode() for path in files] + [f"{info}/RECORD,,".encode()]
    directory.mkdir(parents=True, exist_ok=True)
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
        archive.writestr(f"{info}/RECORD", b"\n".join(records) + b"\n")
    return wheel


def _pip_install_wheel(prefix: Path) -> None:
    """pip-install a generated wheel (unmanaged files, dist-info, script)."""
    with tempfile.TemporaryDirectory() as tmp:
        wheel = make_wheel(Path(tmp))
        run_env_python(prefix, "-m", "pip", "install", "--no-deps", "-q", str(wheel))


def editable_sources(prefix: Path) -> Path:
    """Directory (next to, outside ``prefix``) with the editable source trees."""
    return prefix.parent / f"{prefix.name}-editable-src"


def _write_editable_projects(root: Path) -> tuple[Path, Path]:
    """Create a pyproject-based and a setup.py-only project under ``root``."""
    modern = root / EDITABLE_PEP660
    (modern / EDITABLE_PEP660).mkdir(parents=True)
    (modern / EDITABLE_PEP660 / "__init__.py").write_text("VALUE = 660\n")
    (modern / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=64", "wheel"]\n'
        'build-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "{EDITABLE_PEP660}"\nversion = "1.0"\n\n'
        f'[tool.setuptools]\npackages = ["{EDITABLE_PEP660}"]\n'
    )
    legacy = root / EDITABLE_LEGACY
    (legacy / EDITABLE_LEGACY).mkdir(parents=True)
    (legacy / EDITABLE_LEGACY / "__init__.py").write_text("VALUE = 1\n")
    (legacy / "setup.py").write_text(
        "from setuptools import setup\n\n"
        f"setup(name={EDITABLE_LEGACY!r}, version='1.0', packages=[{EDITABLE_LEGACY!r}])\n"
    )
    return modern, legacy


def _editable_installs(prefix: Path) -> None:
    """Real ``pip install -e`` of both projects: PEP 660 and legacy develop."""
    root = editable_sources(prefix)
    shutil.rmtree(root, ignore_errors=True)
    modern, legacy = _write_editable_projects(root)
    pip = ("-m", "pip", "install", "--no-deps", "--no-build-isolation", "-q")
    run_env_python(prefix, *pip, "-e", str(modern))
    run_env_python(prefix, *pip, "--no-use-pep517", "-e", str(legacy))


_BASIC = (f"python =={PY_VERSION}", "pip", CPDEMO_PY_PACKAGE, CPDEMO_TOOLS_PACKAGE)

#: Scenario name -> what ``create_env`` installs and does afterwards.
SCENARIO_DEFS: dict[str, Scenario] = {
    "basic": Scenario(_BASIC),
    "nopython": Scenario((CPDEMO_TOOLS_PACKAGE,)),
    "has_conda": Scenario((*_BASIC, "conda")),
    "editable": Scenario((*_BASIC, "setuptools", "wheel"), (_editable_installs,)),
    "missing_files": Scenario(_BASIC, (_delete_missing_file,)),
    "pip_unmanaged": Scenario(_BASIC, (_pip_install_wheel,)),
    "clobbered": Scenario(_BASIC, (_clobber_file,)),
    "no_history": Scenario(_BASIC, (_drop_history,)),
    "uncached": Scenario(_BASIC, private_cache=True),
}
#: Names accepted by ``create_env``.
SCENARIOS: tuple[str, ...] = tuple(SCENARIO_DEFS)
#: Type of the ``real_env`` fixture: ``real_env(scenario)`` -> new env prefix.
EnvFactory = Callable[[str], Path]


def create_env(scenario: str, prefix: Path, channel: Path) -> Path:
    """Install ``scenario`` into the new prefix ``prefix`` from ``channel``.

    Files are copied (never hard/sym-linked) from the package cache.
    ``scenario == "uncached"`` uses a private package cache deleted afterwards;
    the others share ``package_cache_for(channel)``.  rattler's
    ``CACHEDIR.TAG`` is removed from the prefix, as conda leaves none.
    """
    spec = SCENARIO_DEFS[scenario]
    prefix = Path(prefix).resolve()
    with contextlib.ExitStack() as stack:
        if spec.private_cache:
            cache = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="envkit-pkgs-")))
        else:
            cache = package_cache_for(Path(channel).resolve())
        install_packages(prefix, spec.specs, [Path(channel)], cache)
    for step in spec.post:
        step(prefix)
    return prefix


def install_packages(
    prefix: Path,
    specs: Sequence[str],
    channels: Sequence[Path],
    cache: Path,
    *,
    platform: str | None = None,
    installed_as: str | None = None,
) -> Path:
    """Solve ``specs`` against ``channels`` and install them into the new
    prefix ``prefix``, copying every file from the package cache ``cache``;
    rattler's ``CACHEDIR.TAG`` is removed, as conda leaves none.

    ``platform`` (e.g. ``win-64``) installs for another OS, and ``installed_as``
    is the prefix written into the files instead of ``prefix`` (the path the
    environment has on that OS, e.g. ``Z:\\...`` under wine)."""
    prefix = Path(prefix).resolve()
    if prefix.exists() and any(prefix.iterdir()):
        raise FileExistsError(f"prefix not empty: {prefix}")
    args = ["install", str(prefix), str(Path(cache).resolve()), *specs]
    if platform:
        args.append(f"--platform={platform}")
    if installed_as:
        args.append(f"--installed-as={installed_as}")
    _run_child(args + [f"--channel={Path(c).resolve()}" for c in channels])
    _check_installed(prefix, tuple(specs))
    (prefix / "CACHEDIR.TAG").unlink(missing_ok=True)
    return prefix


def _check_installed(prefix: Path, specs: tuple[str, ...]) -> None:
    """Raise unless conda-meta holds a record for every requested package."""
    names = {json.loads(p.read_text())["name"] for p in (prefix / "conda-meta").glob("*.json")}
    missing = {spec.split()[0] for spec in specs} - names
    if missing:
        raise RuntimeError(f"not installed in {prefix}: {sorted(missing)}")


# --------------------------------------------------------------------------
# Child side (runs in a fresh interpreter)
# --------------------------------------------------------------------------


def _child_build(
    output_dir: Path,
    recipes_dir: Path,
    order: Sequence[str],
    channels: Sequence[Path],
    package_format: str | None,
    target_platform: str | None = None,
) -> None:
    """Build the recipes, in order, into ``output_dir`` (also the channel,
    searched before ``channels``), for ``target_platform`` (default: this machine)."""
    from rattler_build import PlatformConfig, RenderConfig, Stage0Recipe, ToolConfiguration

    render = None
    if target_platform:
        platform = PlatformConfig(target_platform=target_platform, host_platform=target_platform)
        render = RenderConfig(platform=platform)

    output_dir.mkdir(parents=True, exist_ok=True)
    urls = [output_dir.resolve().as_uri(), *(c.resolve().as_uri() for c in channels)]
    tool_config = ToolConfiguration(test_strategy="skip")
    for name in order:
        recipe = Stage0Recipe.from_file(recipes_dir / name / "recipe.yaml")
        try:
            recipe.run_build(
                tool_config=tool_config, output_dir=output_dir, channels=urls, package_format=package_format,
                render_config=render,
            )
        except Exception:
            _print_build_log(output_dir)
            raise


def _print_build_log(output_dir: Path, lines: int = 60) -> None:
    """Print the end of the most recent build script log (for failures)."""
    logs = sorted(output_dir.glob("bld/*/work/conda_build.log"), key=lambda p: p.stat().st_mtime)
    if logs:
        print(f"--- {logs[-1]} ---")
        print("\n".join(logs[-1].read_text(errors="replace").splitlines()[-lines:]))


def _child_install(
    channels: list[Path],
    prefix: Path,
    cache: Path,
    specs: list[str],
    platform: str | None = None,
    installed_as: str | None = None,
) -> None:
    """Solve ``specs`` against ``channels`` and install them into ``prefix``,
    copying every file (no hard, soft or reflinks)."""
    from rattler import Config, MatchSpec, PackageCache, Platform, install, solve

    config = Config.from_toml("allow-hard-links = false\nallow-ref-links = false\n")
    # keyword arguments given only for a foreign platform (rattler's defaults are this machine's)
    target: dict[str, Any] = {} if platform is None else {"platform": Platform(platform)}
    platforms: dict[str, Any] = {} if platform is None else {"platforms": [platform, "noarch"]}

    async def run() -> None:
        records = await solve(sources=[channel.as_uri() for channel in channels], specs=specs, **platforms)
        await install(
            records,
            target_prefix=prefix,
            package_cache=PackageCache(cache),
            show_progress=False,
            config=config,
            # py-rattler 0.28's wrapper forwards these unconverted; the native
            # side wants the inner PyMatchSpec objects.
            requested_specs=[MatchSpec(spec)._match_spec for spec in specs],
            alternative_target_prefix=installed_as,
            **target,
        )

    asyncio.run(run())


def _main(argv: list[str]) -> None:
    """Child entry point: ``build OUTDIR [--recipes-dir D --recipe NAME...
    --channel C... --package-format F]`` or ``install PREFIX CACHE SPEC...
    --channel C...``."""
    parser = argparse.ArgumentParser(prog="envkit")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build")
    build.add_argument("output_dir", type=Path)
    build.add_argument("--recipes-dir", type=Path, default=RECIPES_DIR)
    build.add_argument("--recipe", dest="order", action="append", default=[])
    build.add_argument("--channel", dest="channels", type=Path, action="append", default=[])
    build.add_argument("--package-format")
    build.add_argument("--target-platform")
    inst = sub.add_parser("install")
    inst.add_argument("prefix", type=Path)
    inst.add_argument("cache", type=Path)
    inst.add_argument("specs", nargs="+")
    inst.add_argument("--channel", dest="channels", type=Path, action="append", required=True)
    inst.add_argument("--platform")
    inst.add_argument("--installed-as")
    args = parser.parse_args(argv)
    if args.command == "build":
        order = args.order or list(RECIPE_ORDER)
        _child_build(
            args.output_dir, args.recipes_dir, order, args.channels, args.package_format, args.target_platform
        )
    else:
        _child_install(args.channels, args.prefix, args.cache, args.specs, args.platform, args.installed_as)
    print(MARKER, flush=True)
    sys.stderr.flush()
    os._exit(0)  # skip interpreter teardown, where rattler may complain


if __name__ == "__main__":
    _main(sys.argv[1:])
