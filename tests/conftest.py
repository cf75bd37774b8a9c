"""Shared fixtures: a local conda channel and real conda environments."""

from __future__ import annotations

import itertools
import signal
from pathlib import Path
from typing import Callable, Iterator

import pytest
import winkit

import condakit
import envkit
from envkit import EnvFactory
from helpers import shared_path
from s3server import S3Server

#: Fixtures whose tests are end-to-end: real environments, real Windows programs.
E2E_FIXTURES = frozenset({"conda_channel", "wine"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs a real environment (the conda channel) or runs Windows
    programs (wine) as ``e2e``.

    ``tox -e quick`` runs the others: the unit tests of the edit-test loop. A fixture that
    makes environments on demand (``request.getfixturevalue``) names ``conda_channel`` among
    its own arguments, so that its tests are marked too.
    """
    for item in items:
        if E2E_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def conda_channel() -> Path:
    """The local channel with every test package (built once, then cached)."""
    return envkit.build_channel()


@pytest.fixture
def real_env(conda_channel: Path, tmp_path: Path) -> EnvFactory:
    """Factory: ``real_env("basic")`` installs a new env under ``tmp_path``.

    Every call is a real install (about a second), so each env carries its
    own prefix in its files.  Names are listed in ``envkit.SCENARIOS``.
    """
    counter = itertools.count()

    def make(scenario: str) -> Path:
        prefix = tmp_path / f"env-{scenario}-{next(counter)}"
        return envkit.create_env(scenario, prefix, conda_channel)

    return make


@pytest.fixture(scope="session")
def shared_env(conda_channel: Path, tmp_path_factory: pytest.TempPathFactory) -> EnvFactory:
    """Factory: ``shared_env("basic")`` is one env of that scenario for the whole run, made once
    for every xdist worker. Tests may only read it (pack it, run its programs); a test that
    changes an environment takes ``real_env``.
    """
    return lambda scenario: shared_path(tmp_path_factory, f"envs/env-{scenario}",
                                        lambda path: envkit.create_env(scenario, path, conda_channel))


#: ``conda_env(version)``: an environment that conda ``version`` created (see ``condakit``).
CondaEnvFactory = Callable[[str], Path]


def conda_or_skip(version: str) -> condakit.Conda:
    """conda ``version`` (installed once, then cached), or skip the test saying why there is none."""
    try:
        return condakit.conda_for(version)
    except condakit.CondaUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def conda_env(conda_channel: Path) -> CondaEnvFactory:
    """Factory: ``conda_env("26.7.1")`` is an env that conda created (cached across runs): only read it.

    It holds ``condakit.CONDA_ENV_SPECS`` and a pip-installed project (``envkit.PIP_DIST``).
    """
    return lambda version: condakit.cached_conda_env(conda_or_skip(version), conda_channel)


@pytest.fixture
def fresh_conda_env(conda_channel: Path, tmp_path: Path) -> CondaEnvFactory:
    """Factory: ``fresh_conda_env("26.7.1")`` runs ``conda create`` into a new prefix the test may change."""
    counter = itertools.count()
    return lambda version: condakit.create_conda_env(conda_or_skip(version), tmp_path / f"conda-env-{next(counter)}",
                                                     conda_channel)


@pytest.fixture(scope="session")
def conda_exe(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Factory: ``conda_exe("26.7.1")`` is a ``CONDA_EXE`` whose ``conda pack`` is the condapack under test."""
    plugin = condakit.plugin_dir(tmp_path_factory.mktemp("condapack-plugin"))

    def make(version: str) -> Path:
        exe = tmp_path_factory.mktemp("conda-exe") / "conda"
        return condakit.write_conda_exe(conda_or_skip(version), exe, plugin)

    return make


@pytest.fixture
def tiny_env(tmp_path: Path) -> Path:
    """A prefix with conda-meta and one unmanaged file: enough for path checks and quick packs."""
    prefix = tmp_path / "tiny"
    (prefix / "conda-meta").mkdir(parents=True)
    (prefix / "share").mkdir()
    (prefix / "share" / "data.txt").write_text("data\n")
    return prefix


@pytest.fixture
def s3_server(tmp_path: Path) -> Iterator[S3Server]:
    """A real S3 API server (moto) on 127.0.0.1 with a bucket and a user; stopped afterwards."""
    server = S3Server(tmp_path)
    try:
        yield server
    finally:
        server.kill()


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C works in the processes the tests start, however pytest itself was started.

    A parent that ignores SIGINT (tox's second command, some CI runners) passes that on to
    every child, and neither Python nor sh can then catch it: the tests that press Ctrl-C
    on a pack or an install would see it finish instead.
    """
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The wineservers the tests started stop with the run (in pytest-xdist's controller,
    after every worker). One of tox's two passes (``-m "not serial"``, ``-m serial``) may
    select none of the tests named: fine."""
    if not hasattr(session.config, "workerinput"):
        for wine in winkit.cached_wines():
            wine.stop()
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and session.config.getoption("markexpr") in (
            "serial", "not serial"):
        session.exitstatus = pytest.ExitCode.OK
