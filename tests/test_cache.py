"""The shared artifact cache on a real S3 API server (moto, on loopback) and a directory.

"Two CI machines" are two checkouts of one project at different paths, each with its
own copy of identical environments: what the first builds and uploads, the second
fetches, ending with the same archives, lock and SHA256SUMS byte for byte.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, Optional

import pytest

import envkit
from condapack.cache import CacheMiss, CacheSettings, artifact_key, open_cache
from condapack.cache.key import codec_versions
from condapack.cache.stores import open_store
from condapack.errors import ConfigError
from condapack.project.build import build
from condapack.project.config import load_project
from s3server import BUCKET, CutProxy, S3Server

PROJECT = """\
output-dir = "dist"
[env.a]
prefix = "../envs/a"
formats = ["tar", "tar.gz"]
[env.b]
prefix = "../envs/b"
formats = ["tar.zst"]
{extra}"""

SECRET = "WRONG-SECRET-7f3a9c-condapack"


def checkout(root: Path, channel: Path, extra: str = "") -> Path:
    """One machine's checkout: envs a (basic) and b (nopython) beside a project."""
    envkit.create_env("basic", root / "envs" / "a", channel)
    envkit.create_env("nopython", root / "envs" / "b", channel)
    (root / "proj").mkdir(parents=True)
    config = root / "proj" / "condapack.toml"
    config.write_text(PROJECT.format(extra=extra))
    return config


def cli(config: Path, *argv: str, env: Optional[dict[str, str]] = None) -> tuple[int, str, str]:
    """``condapack build -c CONFIG ARGV`` in a subprocess with extra environment variables."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CONDAPACK_CACHE"))}
    full["AWS_EC2_METADATA_DISABLED"] = "true"
    proc = subprocess.run([sys.executable, "-m", "condapack", "build", "-c", str(config), *argv],
                          capture_output=True, text=True, cwd=config.parent, env={**full, **(env or {})})
    return proc.returncode, proc.stdout, proc.stderr


def statuses(stdout: str) -> dict[str, tuple[str, bool]]:
    return {t["target"]: (t["status"], t["uploaded"]) for t in json.loads(stdout)["targets"]}


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("condapack: warning:")]


def outputs(config: Path) -> dict[str, bytes]:
    root = config.parent
    files = [root / "condapack.lock", *sorted((root / "dist").iterdir())]
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in files}


def fetched_outputs(config: Path) -> dict[str, bytes]:
    """The outputs, and the lock without its outputs' digests: a fetch never records one there."""
    found = outputs(config)
    lock = json.loads(found["condapack.lock"])
    for target in lock["targets"].values():
        target.pop("sha256", None)
        target.pop("size", None)
    return {**found, "condapack.lock": json.dumps(lock).encode()}


@pytest.fixture
def machines(conda_channel: Path, tmp_path: Path) -> tuple[Path, Path]:
    """Two checkouts with identical environments at different paths."""
    return (checkout(tmp_path / "ci-1", conda_channel),
            checkout(tmp_path / "elsewhere" / "ci-runner-2", conda_channel))


@pytest.fixture
def file_cache(tmp_path: Path) -> Path:
    (tmp_path / "nfs").mkdir()
    return tmp_path / "nfs"


def test_second_machine_fetches_every_target_from_s3_and_matches_the_first(
        machines: tuple[Path, Path], s3_server: S3Server) -> None:
    first, second = machines
    url, env = f"s3://{BUCKET}/release", s3_server.aws_env()
    code, out, err = cli(first, "--json", "--cache", url, "--cache-write", env=env)
    assert code == 0, err
    assert statuses(out) == {"a:tar": ("built", True), "a:tar.gz": ("built", True), "b:tar.zst": ("built", True)}
    assert len(s3_server.objects()) == 6  # three archives and their manifests
    code, out, err = cli(second, "--json", "--cache", url, env=env)
    assert code == 0, err
    assert statuses(out) == {"a:tar": ("fetched", False), "a:tar.gz": ("fetched", False),
                             "b:tar.zst": ("fetched", False)}
    assert (json.loads(out)["fetched"], json.loads(out)["built"], warnings(err)) == (3, 0, [])
    assert fetched_outputs(second) == fetched_outputs(first)
    code, out, _ = cli(second, "--json", env=env)  # and the fetched outputs count as built here
    assert {s for s, _ in statuses(out).values()} == {"up to date"}


def test_second_machine_fetches_from_a_shared_directory(machines: tuple[Path, Path], file_cache: Path) -> None:
    first, second = machines
    env = {"CONDAPACK_CACHE": file_cache.as_uri()}
    assert cli(first, "--cache-write", env=env)[0] == 0
    code, out, err = cli(second, "--json", env=env)
    assert code == 0, err
    assert {s for s, _ in statuses(out).values()} == {"fetched"}
    assert fetched_outputs(second) == fetched_outputs(first)
    assert [p.name for p in file_cache.iterdir() if p.name.startswith(".")] == []


def test_a_corrupted_object_is_detected_rebuilt_and_replaced(machines: tuple[Path, Path],
                                                            s3_server: S3Server) -> None:
    first, _ = machines
    url, env = f"s3://{BUCKET}/release", s3_server.aws_env()
    assert cli(first, "--cache", url, "--cache-write", env=env)[0] == 0
    good, built = s3_server.objects(), outputs(first)
    key = artifact_key(json.loads((first.parent / "condapack.lock").read_bytes())["targets"]["a:tar"]["input"],
                       "tar", None)
    archive = good[f"release/{key}"]
    s3_server.put(f"release/{key}", archive[:1000] + b"X" + archive[1001:])
    for name in ("a.tar", "a.tar.gz"):
        (first.parent / "dist" / name).unlink()
    code, out, err = cli(first, "--json", "--cache", url, "--cache-write", env=env)
    assert code == 0, err
    assert statuses(out) == {"a:tar": ("built", True), "a:tar.gz": ("fetched", False),
                             "b:tar.zst": ("up to date", False)}
    assert warnings(err) == ["condapack: warning: a:tar: ignoring the cached archive (its bytes do not match "
                             "its manifest); rebuilding and replacing it"]
    assert s3_server.objects() == good
    assert outputs(first) == built


def test_server_killed_before_the_upload_leaves_a_good_local_build(
        machines: tuple[Path, Path], s3_server: S3Server, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    first, _ = machines
    for name, value in s3_server.aws_env().items():
        monkeypatch.setenv(name, value)
    project = load_project(first)
    settings = CacheSettings(url=f"s3://{BUCKET}/release", write=True, timeout=5)
    with caplog.at_level(logging.WARNING, logger="condapack"):
        results = build(project, ["a:tar"], cache=settings, progress=lambda done, total: s3_server.kill())
    assert [(r.target.name, r.status, r.uploaded) for r in results] == [("a:tar", "built", False)]
    assert [r.getMessage() for r in caplog.records] == [
        f"cannot write to s3://{BUCKET}/release: the store is unreachable or failing (GenericError); "
        "going on without the cache"]
    sums = (first.parent / "dist" / "SHA256SUMS").read_text()
    subprocess.run(["sha256sum", "--check", "--quiet", "SHA256SUMS"], cwd=first.parent / "dist", check=True)
    assert sums.endswith("  a.tar\n")


def test_server_killed_during_the_upload_leaves_no_partial_object(machines: tuple[Path, Path],
                                                                  s3_server: S3Server) -> None:
    first, _ = machines
    proxy = CutProxy(s3_server.port, cut_after=64 * 1024)
    try:
        code, out, err = cli(first, "--json", "--cache", f"s3://{BUCKET}/release", "--cache-write", "a:tar",
                             env=s3_server.aws_env(endpoint=proxy.endpoint))
    finally:
        proxy.close()
    assert code == 0, err
    assert proxy.cut.is_set()
    assert statuses(out) == {"a:tar": ("built", False)}
    assert len(warnings(err)) == 1 and warnings(err)[0].startswith(
        f"condapack: warning: cannot write to s3://{BUCKET}/release: ")
    assert s3_server.objects() == {}
    subprocess.run(["sha256sum", "--check", "--quiet", "SHA256SUMS"], cwd=first.parent / "dist", check=True)


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """A port that accepts connections and never answers (a hung or firewalled store)."""
    with socket.create_server(("127.0.0.1", 0), backlog=64) as listener:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_an_unreachable_endpoint_costs_bounded_time_and_one_warning(conda_channel: Path, tmp_path: Path,
                                                                    silent_endpoint: str) -> None:
    config = checkout(tmp_path / "ci", conda_channel, extra=f'[cache]\nurl = "s3://{BUCKET}/x"\ntimeout = 1\n')
    env = {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": silent_endpoint}
    start = time.monotonic()
    code, out, err = cli(config, "--json", env=env)
    elapsed = time.monotonic() - start
    assert code == 0, err
    assert {s for s, _ in statuses(out).values()} == {"built"}
    assert warnings(err) == [f"condapack: warning: cannot read s3://{BUCKET}/x: the store is unreachable or "
                             "failing (GenericError); going on without the cache"]
    assert elapsed < 30


def test_wrong_credentials_give_one_line_without_the_secret(machines: tuple[Path, Path],
                                                             s3_server: S3Server) -> None:
    first, _ = machines
    env = s3_server.aws_env(secret=SECRET)
    code, out, err = cli(first, "--cache", f"s3://{BUCKET}/release", "--cache-write", env=env)
    assert code == 0, err
    assert warnings(err) == [f"condapack: warning: cannot read s3://{BUCKET}/release: access denied; check the "
                             "credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the profile); going on "
                             "without the cache"]
    (first.parent / "dist" / "b.tar.zst").unlink()
    code, out2, err2 = cli(first, "--cache", f"s3://{BUCKET}/release", "--require-cache", env=env)
    assert code == 1
    assert err2 == (f"condapack: error: b:tar.zst: cannot read s3://{BUCKET}/release: access denied; check the "
                    "credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the profile), and --require-cache "
                    "forbids building without the cache\n")
    leaked = [p for p in first.parent.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert (SECRET in out + err + out2 + err2, leaked) == (False, [])


def test_require_cache_fails_on_a_miss_with_one_line(machines: tuple[Path, Path], file_cache: Path) -> None:
    first, _ = machines
    code, _, err = cli(first, "--cache", file_cache.as_uri(), "--require-cache", "b")
    assert code == 1
    assert err == (f"condapack: error: b:tar.zst: it is not in the cache ({file_cache.as_uri()}) and "
                   "--require-cache forbids building it; build and upload it first (condapack build --cache-write)\n")
    assert not (first.parent / "dist" / "b.tar.zst").exists()


@pytest.fixture
def read_only(file_cache: Path) -> Iterator[Path]:
    """``file_cache`` made read-only, even for root (a read-only bind mount)."""
    if os.geteuid() != 0:
        file_cache.chmod(0o555)
        yield file_cache
        file_cache.chmod(0o755)
        return
    proc = subprocess.run(["mount", "--bind", "-o", "ro", str(file_cache), str(file_cache)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, f"a read-only bind mount is needed for this test as root: {proc.stderr}"
    try:
        yield file_cache
    finally:
        subprocess.run(["umount", str(file_cache)], check=True)


def test_a_read_only_shared_directory_gives_one_warning_and_a_local_build(machines: tuple[Path, Path],
                                                                          read_only: Path) -> None:
    first, _ = machines
    code, out, err = cli(first, "--json", "--cache", read_only.as_uri(), "--cache-write")
    assert code == 0, err
    assert statuses(out) == {"a:tar": ("built", False), "a:tar.gz": ("built", False),
                             "b:tar.zst": ("built", False)}
    assert warnings(err) == [f"condapack: warning: cannot write to {read_only.as_uri()}: Read-only file system; "
                             "going on without the cache"]
    assert list(read_only.iterdir()) == []


def test_a_shared_directory_stores_an_object_once_even_without_hard_links(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "shared").mkdir()
    store = open_store((tmp_path / "shared").as_uri(), 1)
    first, second = tmp_path / "first", tmp_path / "second"
    first.write_bytes(b"first")
    second.write_bytes(b"second")
    name = "ab" * 32
    assert (store.put(name, first), store.put(name, second)) == (True, False)
    def no_links(source: str, target: Path) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    assert store.put(name + ".json", second) is True
    assert sorted(p.name for p in (tmp_path / "shared").iterdir()) == [name, name + ".json"]
    assert (tmp_path / "shared" / name).read_bytes() == b"first"


def test_the_key_changes_with_everything_that_changes_the_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    digest = "0" * 64
    base = artifact_key(digest, "tar.gz", 4)
    assert base == artifact_key(digest, "tar.gz", 4)
    assert len({base, artifact_key("1" * 64, "tar.gz", 4), artifact_key(digest, "tar.gz", 5),
                artifact_key(digest, "zip", 4)}) == 4
    assert dict(codec_versions("tar.gz")).keys() == {"isal", "deflate", "zlib-ng", "zlib"}
    assert dict(codec_versions("tar.xz"))["liblzma"][0].isdigit()
    assert dict(codec_versions("tar.bz2"))["libbz2"][0].isdigit()
    assert dict(codec_versions("tar.zst")).keys() == {"zstandard", "libzstd"}
    assert codec_versions("tar") == ()
    monkeypatch.setattr("condapack.cache.key.__version__", "99.0")
    assert artifact_key(digest, "tar.gz", 4) != base


@pytest.mark.parametrize("url, message", [
    ("ftp://host/dir", "cache url 'ftp://host/dir': use file:///shared/dir or s3://bucket/prefix "
                       "(gs://, az://, https:// need the s3 extra too)"),
    ("s3://AKIA:hunter2@bucket/x", "cache url: put no credentials or query in it; use the standard AWS "
                                   "variables or config files"),
    ("file://relative/dir", "cache url 'file://relative/dir': a file:// url needs an absolute path, as in "
                            "file:///shared/dir"),
])
def test_bad_cache_urls_are_one_line_errors(url: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        open_store(url, 1)
    assert str(info.value) == message


def test_a_missing_shared_directory_is_one_warning_or_with_require_cache_an_error(
        caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    url = (tmp_path / "unmounted").as_uri()
    with caplog.at_level(logging.WARNING, logger="condapack"):
        assert open_cache(CacheSettings(url=url)) is None
    assert [r.getMessage() for r in caplog.records] == [
        f"cannot use {url}: {tmp_path / 'unmounted'} is not a directory (create it, or mount the share); "
        "going on without the cache"]
    with pytest.raises(CacheMiss) as info:
        open_cache(CacheSettings(url=url, require=True))
    assert str(info.value) == (f"cannot use {url}: {tmp_path / 'unmounted'} is not a directory (create it, or "
                               "mount the share), and --require-cache forbids building without the cache")
