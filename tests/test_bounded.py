"""Files that are not files: every reader of a file a user or another machine can place.

Each reader meets /dev/zero, a FIFO (which must not block: an alarm fails the test
instead of hanging it), a directory, a symbolic link to /dev/zero and a file past its
size cap, and answers with one line naming the file (or, for the memos, which only
cost a re-hash, a warning and a fresh start), never a hang, a traceback or an
exhausted memory.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import signal
from pathlib import Path
from types import FrameType
from typing import Iterator, Optional

import pytest

from condapack import bounded
from condapack.bounded import NotAFile, check_directory, read_bounded
from condapack.cli import main
from condapack.errors import CondaPackError, ConfigError
from condapack.output import write_if_changed
from condapack.project import config, lock, memo
from condapack.project.config import load_project
from condapack.project.lock import read_lock
from condapack.project.memo import Memo

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs and /dev/zero")

KINDS = ["fifo", "directory", "link-to-dev-zero", "oversize"]


@contextlib.contextmanager
def deadline(seconds: int = 5) -> Iterator[None]:
    """Fail (not hang) when the block blocks: a FIFO opened for reading waits for a writer."""
    def expire(_signum: int, _frame: Optional[FrameType]) -> None:
        raise AssertionError("blocked: not an OSError, which a reader could swallow")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def plant(path: Path, kind: str, size: int = 4096) -> None:
    """Put something that is not a small regular file at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "link-to-dev-zero":
        path.symlink_to("/dev/zero")
    else:
        path.write_bytes(b" " * size)


PROBLEMS = {"fifo": "is a FIFO, not a regular file", "directory": "is a directory, not a regular file",
            "link-to-dev-zero": "is a symbolic link where condapack keeps a file of its own",
            "oversize": "larger than 1 KiB, more than condapack reads there"}


@pytest.mark.parametrize("kind", ["dev-zero", *KINDS])
def test_the_project_file_is_read_bounded_from_regular_files_only(tmp_path: Path, kind: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "PROJECT_FILE_LIMIT", 1024)
    path = Path("/dev/zero") if kind == "dev-zero" else tmp_path / "condapack.toml"
    if kind != "dev-zero":
        plant(path, kind)
    with deadline(), pytest.raises(ConfigError) as info:
        load_project(path)
    device = "is a device, not a regular file"
    problem = {"dev-zero": device, "link-to-dev-zero": device,
               "directory": "is a directory; pass the project file itself"}.get(kind) or PROBLEMS[kind]
    assert str(info.value).startswith(f"{path}: {problem}")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("kind", KINDS)
def test_the_lock_is_read_bounded_from_a_regular_file_of_its_own(tmp_path: Path, kind: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lock, "LOCK_LIMIT", 1024)
    plant(tmp_path / "condapack.lock", kind)
    with deadline(), pytest.raises(ConfigError) as info:
        read_lock(tmp_path / "condapack.lock")
    assert str(info.value) == (f"condapack.lock: not a valid lock file ({PROBLEMS[kind]}); delete it and run "
                               "condapack lock")


@pytest.mark.parametrize("name", ["x.json", "x.tree.json", "x.listings"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_memo_file_that_is_not_a_file_is_a_warning_and_a_rescan(
        tmp_path: Path, kind: str, name: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(memo, "MEMO_LIMIT", 1024)
    plant(tmp_path / name, kind)
    with deadline(), caplog.at_level(logging.WARNING, "condapack"):
        opened = Memo(tmp_path / "x.json")
        found = opened.listings() if name.endswith(".listings") else memo._read(tmp_path / name)
    assert found is None
    if name != "x.json":  # the entries file is read when the memo is opened: warned there
        assert caplog.messages == [f"{tmp_path / name}: damaged memo ({PROBLEMS[kind]}); rescanning the "
                                   "environment (it is rewritten after this run)"]


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_a_checksum_file_that_is_not_a_file_is_one_line_and_left_alone(tmp_path: Path, kind: str) -> None:
    plant(tmp_path / "SHA256SUMS", kind)
    with deadline(), pytest.raises(NotAFile) as info:
        write_if_changed(tmp_path / "SHA256SUMS", b"0" * 64 + b"  a.tar\n")
    assert str(info.value) == f"{tmp_path / 'SHA256SUMS'}: {PROBLEMS[kind]}; remove it or name a file"


@pytest.mark.parametrize("kind", ["link-to-dev-zero", "oversize"])
def test_a_checksum_file_that_is_a_link_or_larger_is_replaced_without_reading_it_all(tmp_path: Path,
                                                                                     kind: str) -> None:
    path = tmp_path / "SHA256SUMS"
    plant(path, kind, size=1 << 20)
    with deadline():
        assert write_if_changed(path, b"sums\n")
    assert (path.read_bytes(), path.is_symlink()) == (b"sums\n", False)


def test_reading_stops_at_the_cap_even_when_the_size_said_less(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "grows"
    path.write_bytes(b"x" * 100)
    real_fstat = os.fstat
    monkeypatch.setattr(os, "fstat", lambda fd: _shrunk(real_fstat(fd)))
    with pytest.raises(bounded.TooLarge):
        read_bounded(path, 10)
    assert read_bounded(path, 100) == b"x" * 100


def _shrunk(st: os.stat_result) -> os.stat_result:
    return os.stat_result((*st[:6], 0, *st[7:]))


def test_condapacks_directory_being_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / ".condapack").write_text("")
    with pytest.raises(CondaPackError) as info:
        check_directory(tmp_path / ".condapack" / "memo")
    assert str(info.value) == f"{tmp_path / '.condapack'}: is not a directory; remove or rename it"


def built_project(tmp_path: Path, tiny_env: Path) -> Path:
    config = tmp_path / "proj" / "condapack.toml"
    config.parent.mkdir()
    config.write_text(f'output-dir = "dist"\n[env.tiny]\nprefix = "{tiny_env}"\nformats = ["tar"]\n')
    assert main(["build", "-q", "-c", str(config)]) == 0
    return config


@pytest.mark.parametrize("where,kind", [("dist/SHA256SUMS", "directory"), (".condapack/state.json", "directory"),
                                        (".condapack/build.mutex", "directory"), (".condapack", "file"),
                                        ("dist", "file"), ("condapack.lock", "fifo")])
def test_a_project_path_of_the_wrong_type_is_one_line_and_changes_nothing(
        tmp_path: Path, tiny_env: Path, where: str, kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    config = built_project(tmp_path, tiny_env)
    (tiny_env / "share" / "data.txt").write_text("changed: the next build packs\n")
    path = config.parent / where
    aside = tmp_path / "aside"
    path.rename(aside)
    if kind == "file":
        path.write_text("")
    else:
        plant(path, kind)
    capsys.readouterr()
    with deadline():
        assert main(["build", "-q", "-c", str(config)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"condapack: error: {path if where != 'condapack.lock' else where}") and \
        len(err.splitlines()) == 1, err
    if where != "condapack.lock":  # what the lock says of the archive is still true
        entry = json.loads((config.parent / "condapack.lock").read_bytes())["targets"]["tiny:tar"]
        archive = aside / "tiny.tar" if where == "dist" else config.parent / "dist" / "tiny.tar"
        assert entry.get("sha256") in (None, hashlib.sha256(archive.read_bytes()).hexdigest())


@pytest.mark.parametrize("blocked", [".condapack/memo", ".condapack"])
def test_a_file_where_the_memos_live_is_at_most_one_line(
        tmp_path: Path, tiny_env: Path, blocked: str, caplog: pytest.LogCaptureFixture) -> None:
    project = tmp_path / "proj"
    (project / blocked).parent.mkdir(parents=True, exist_ok=True)
    (project / blocked).write_text("")
    with caplog.at_level(logging.WARNING, "condapack"):
        where = memo.memo_dir(project / ".condapack")
        found = None if where is None else Memo(where / "tiny.json")
        assert found is None or (found.listings(), memo._read(found.tree_path)) == (None, None)
    if blocked == ".condapack":  # the build's own check says so, as an error
        assert (where, caplog.messages) == (project / ".condapack" / "memo", [])
    else:
        assert (where, caplog.messages) == (None, [f"{project / blocked}: is not a directory, where condapack "
                                                   "keeps its memos; every build rescans the environments "
                                                   "until it is removed"])


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "directory"])
def test_aws_files_that_are_not_files_are_skipped_without_blocking(tmp_path: Path, kind: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from condapack.cache.stores import _aws_settings

    config = tmp_path / "config"
    config.write_text("[default]\nregion = eu-north-1\n")
    credentials = Path("/dev/zero") if kind == "dev-zero" else tmp_path / "credentials"
    if kind != "dev-zero":
        plant(credentials, kind)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
                 "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    with deadline():
        assert _aws_settings() == {"region": "eu-north-1"}
