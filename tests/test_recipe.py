"""recipe/recipe.yaml: the conda package builds offline, installs with py-rattler, and works.

Its dependencies are condapack's own, taken from this interpreter's site-packages and
repackaged under conda-forge's names (``tests/condarecipe/deps``), beside the test
channel's python and pip. The package is installed with py-rattler and with a real conda
(``tests/condakit.py``: conda 26.7.1 from ``../shared/conda/``, else skipped naming why).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

import condapack
import envkit
from conftest import conda_or_skip
from helpers import assert_works_at, extract, run

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on older Pythons only
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "recipe" / "recipe.yaml"
#: PyPI distribution -> its conda-forge package: everything the recipe needs to build and run.
DEPENDENCIES = {
    "attrs": "attrs",
    "isal": "python-isal",
    "deflate": "deflate",
    "zlib-ng": "python-zlib-ng",
    "zstandard": "zstandard",
    "pathspec": "pathspec",
    "distlib": "distlib",
    "tomli": "tomli",
    "flit_core": "flit-core",
}


def _requirements(section: str) -> set[str]:
    """The package names listed under ``requirements: <section>:`` in the recipe."""
    text = RECIPE.read_text(encoding="utf-8").split("\nrequirements:\n", 1)[1].split("\ntests:", 1)[0]
    block = text.split(f"  {section}:\n", 1)[1]
    names = []
    for line in block.splitlines():
        if not line.startswith("    "):
            break
        if found := re.match(r"^    - ([a-z0-9-]+)", line):
            names.append(found[1])
    return set(names)


def test_the_recipe_version_is_condapacks() -> None:
    assert f'  version: "{condapack.__version__}"\n' in RECIPE.read_text(encoding="utf-8")


def test_the_recipe_needs_every_runtime_dependency_under_its_conda_forge_name() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pypi = {re.split(r"[ <>=;]", dep, maxsplit=1)[0] for dep in project["dependencies"]}
    assert _requirements("run") == {"python", *(DEPENDENCIES[name] for name in pypi)}
    assert _requirements("host") == {"python", "pip", DEPENDENCIES["flit_core"]}


def _deps_environ() -> dict[str, str]:
    """What tests/condarecipe/deps reads: each distribution's version, site-packages and entries."""
    from importlib import metadata

    env = {}
    for dist in DEPENDENCIES:
        site, items = envkit._dist_items(dist)
        key = f"CONDAPACK_DEP_{dist.upper().replace('-', '_')}"
        env.update({f"{key}_SITE": str(site), f"{key}_ITEMS": " ".join(items),
                    f"{key}_VERSION": metadata.version(dist)})
    return env


def _local_recipe(directory: Path) -> Path:
    """The recipe as it is, built from this checkout for the test channel's python (the only one offline)."""
    text = RECIPE.read_text(encoding="utf-8")
    local = text.replace('  python_min: "3.9"\n', f'  python_min: "{envkit.PY_SHORT}"\n')
    local = local.replace("  path: ../\n", f"  path: {ROOT}\n")
    assert f'python_min: "{envkit.PY_SHORT}"' in local and str(ROOT) in local
    (directory / "recipe").mkdir(parents=True)
    (directory / "recipe" / "recipe.yaml").write_text(local, encoding="utf-8")
    return directory


@pytest.fixture(scope="module")
def condapack_channels(conda_channel: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A channel holding the built condapack package, then the channels it installs from."""
    deps_spec = envkit.ChannelSpec("condapack-deps", Path(__file__).parent / "condarecipe", ("deps",),
                                   environ=_deps_environ, channels=(conda_channel,))
    deps = envkit.build_channel(spec=deps_spec)
    built = tmp_path_factory.mktemp("recipe-channel")
    recipes = _local_recipe(tmp_path_factory.mktemp("recipe-source"))
    envkit._run_child(["build", str(built), "--recipes-dir", str(recipes), "--recipe=recipe",
                       f"--channel={deps}", f"--channel={conda_channel}"])
    return [built, deps, conda_channel]


def install_condapack(prefix: Path, channels: list[Path]) -> Path:
    """Install the built package and python into ``prefix`` (py-rattler; the real conda goes here)."""
    return envkit.install_packages(prefix, ["condapack", "python"], channels,
                                   envkit.package_cache_for(channels[0]))


@pytest.mark.slow
def test_the_conda_package_installs_and_packs_a_relocatable_environment(
        condapack_channels: list[Path], real_env: envkit.EnvFactory, tmp_path: Path) -> None:
    tool = install_condapack(tmp_path / "tool", condapack_channels)
    where = tool / envkit.SITE_PACKAGES / "condapack"
    assert run([str(tool / "bin" / "conda-pack"), "--version"]) == \
        f"conda-pack {condapack.__version__} (condapack, from {where})\n"
    env = real_env("basic")
    archive = tmp_path / "basic.tar.gz"
    run([str(tool / "bin" / "conda-pack"), "-p", str(env), "-o", str(archive), "-q"])
    moved = extract(archive, tmp_path / "moved" / "basic")
    run([str(moved / "bin" / "conda-unpack")])
    assert_works_at(moved, str(env))
    plugin = "from importlib.metadata import entry_points; print([e.value for e in entry_points(group='conda')])"
    assert run([str(tool / envkit.PYTHON_BIN), "-c", plugin]) == "['condapack.conda_plugin']\n"


@pytest.mark.slow
def test_a_real_conda_installs_the_package_and_its_conda_pack_command_works(
        condapack_channels: list[Path], real_env: envkit.EnvFactory, tmp_path: Path) -> None:
    conda = conda_or_skip("26.7.1")
    channels = [arg for channel in condapack_channels for arg in ("-c", channel.resolve().as_uri())]
    done = conda.run("create", "-y", "-q", "-p", str(tmp_path / "tool"), "--offline", "--override-channels",
                     *channels, "condapack", "python")
    assert done.returncode == 0, done.stderr
    tool = tmp_path / "tool"
    assert run([str(tool / "bin" / "conda-pack"), "--version"]).startswith(f"conda-pack {condapack.__version__} ")
    env = real_env("basic")
    run([str(tool / "bin" / "conda-pack"), "-p", str(env), "-o", str(tmp_path / "basic.tar.gz"), "-q"])
    moved = extract(tmp_path / "basic.tar.gz", tmp_path / "moved")
    run([str(moved / "bin" / "conda-unpack")])
    assert_works_at(moved, str(env))
    plugin = "from importlib.metadata import entry_points; print([e.value for e in entry_points(group='conda')])"
    assert run([str(tool / envkit.PYTHON_BIN), "-c", plugin]) == "['condapack.conda_plugin']\n"
