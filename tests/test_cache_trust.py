"""The cache never outranks the lock, and cache objects are read bounded, from regular files.

Each case of the adversarial pass is reproduced on a real project: an object planted
with a manifest that matches its own bytes but not the lock, an object that is a link
to /dev/zero, a FIFO, and ``--locked`` meeting a planted object.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import pytest
from test_cache import checkout, statuses, warnings

from condapack.cache import artifact_key
from condapack.project.config import load_project
from condapack.project.lock import compress_level
from s3server import BUCKET, S3Server

EVIL = b"#!/bin/sh\necho planted\n"


def cli(config: Path, *argv: str, env: Optional[dict[str, str]] = None) -> tuple[int, str, str]:
    """``condapack build -c CONFIG ARGV --json``, failing the test rather than hanging."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CONDAPACK_CACHE"))}
    full["AWS_EC2_METADATA_DISABLED"] = "true"
    proc = subprocess.run([sys.executable, "-m", "condapack", "build", "-c", str(config), "--json", *argv],
                          capture_output=True, text=True, cwd=config.parent, env={**full, **(env or {})},
                          timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    """A shared directory cache."""
    (tmp_path / "nfs").mkdir()
    return tmp_path / "nfs"


@pytest.fixture
def project(conda_channel: Path, tmp_path: Path, cache: Path) -> Path:
    """One checkout whose build filled ``cache`` and recorded digests in its lock."""
    config = checkout(tmp_path / "ci", conda_channel)
    assert cli(config, "--cache", cache.as_uri(), "--cache-write")[0] == 0
    return config


def key_of(config: Path, target: str, fmt: str) -> str:
    lock = json.loads((config.parent / "condapack.lock").read_bytes())
    spec = next(t for t in load_project(config).targets if t.name == target)
    return artifact_key(lock["targets"][target]["input"], fmt, compress_level(spec))


def recorded(config: Path, target: str) -> str:
    return str(json.loads((config.parent / "condapack.lock").read_bytes())["targets"][target]["sha256"])


def manifest_of(data: bytes) -> bytes:
    """A manifest that matches ``data``: all a planted object needs to pass its own check."""
    return json.dumps({"version": 1, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}).encode()


def plant(cache: Path, key: str, data: bytes) -> None:
    for name, content in ((key, data), (f"{key}.json", manifest_of(data))):
        (cache / name).unlink()
        (cache / name).write_bytes(content)


def records(config: Path) -> dict[str, bytes]:
    root = config.parent
    return {name: (root / name).read_bytes() for name in ("condapack.lock", "dist/SHA256SUMS", "dist/a.tar")}


def test_a_planted_object_is_not_published_and_the_lock_keeps_its_digest(project: Path, cache: Path) -> None:
    good = records(project)
    plant(cache, key_of(project, "a:tar", "tar"), EVIL)
    (project.parent / "dist" / "a.tar").unlink()
    code, out, err = cli(project, "--cache", cache.as_uri())
    assert code == 0, err
    assert statuses(out)["a:tar"] == ("built", False)
    assert warnings(err) == [
        f"condapack: warning: a:tar: the archive in the cache ({cache.as_uri()}) has sha256 "
        f"{hashlib.sha256(EVIL).hexdigest()[:12]}... but the lock records {recorded(project, 'a:tar')[:12]}... "
        "(condapack.lock); building it here instead"]
    assert records(project) == good


def test_locked_meeting_a_planted_object_fails_and_leaves_the_good_archive(project: Path, cache: Path) -> None:
    good = records(project)
    plant(cache, key_of(project, "a:tar", "tar"), EVIL)
    state = project.parent / ".condapack" / "state.json"
    doc = json.loads(state.read_bytes())
    doc["outputs"]["a:tar"]["condapack"] = "0.0.1"  # an older condapack built it: rebuild, from the cache
    state.write_text(json.dumps(doc))
    code, out, err = cli(project, "--cache", cache.as_uri(), "--locked", "a:tar")
    assert code == 1
    assert json.loads(err)["error"] == (
        f"a:tar: the archive in the cache ({cache.as_uri()}) has sha256 {hashlib.sha256(EVIL).hexdigest()[:12]}... "
        f"but the lock records {recorded(project, 'a:tar')[:12]}... (condapack.lock); --locked leaves the output "
        "as it was: replace the cached object, or build without the flag")
    assert records(project) == good
    assert not [p.name for p in (project.parent / "dist").iterdir() if p.name.startswith(".")]


def test_an_object_linked_to_dev_zero_is_read_no_further_than_its_manifest(project: Path, cache: Path) -> None:
    good = records(project)
    key = key_of(project, "a:tar", "tar")
    (cache / key).unlink()
    (cache / key).symlink_to("/dev/zero")
    (project.parent / "dist" / "a.tar").unlink()
    start = time.monotonic()
    code, out, err = cli(project, "--cache", cache.as_uri(), "a:tar")
    assert (code, statuses(out)) == (0, {"a:tar": ("built", False)}), err
    assert warnings(err) == ["condapack: warning: a:tar: ignoring the cached archive (the object is a device, "
                             "not a regular file); building it locally"]
    assert records(project) == good
    assert time.monotonic() - start < 60


def test_an_object_that_is_a_fifo_is_refused_without_blocking(project: Path, cache: Path) -> None:
    key = key_of(project, "a:tar", "tar")
    (cache / key).unlink()
    os.mkfifo(cache / key)
    (project.parent / "dist" / "a.tar").unlink()
    code, out, err = cli(project, "--cache", cache.as_uri(), "a:tar")
    assert (code, statuses(out)) == (0, {"a:tar": ("built", False)}), err
    assert warnings(err) == ["condapack: warning: a:tar: ignoring the cached archive (the object is a FIFO, "
                             "not a regular file); building it locally"]


def test_a_manifest_that_is_a_fifo_is_refused_without_blocking(project: Path, cache: Path) -> None:
    key = key_of(project, "a:tar", "tar")
    (cache / f"{key}.json").unlink()
    os.mkfifo(cache / f"{key}.json")
    (project.parent / "dist" / "a.tar").unlink()
    code, out, err = cli(project, "--cache", cache.as_uri(), "a:tar")
    assert (code, statuses(out)) == (0, {"a:tar": ("built", False)}), err
    assert warnings(err) == ["condapack: warning: a:tar: ignoring the cached archive (its manifest is "
                             "unreadable); building it locally"]


def test_a_fetch_for_a_lock_without_digests_stays_out_of_the_lock(project: Path, cache: Path,
                                                                  conda_channel: Path) -> None:
    """A second checkout with no lock fetches everything, and its lock records no fetched digest."""
    second = checkout(cache.parent / "elsewhere" / "ci-2", conda_channel)
    code, out, err = cli(second, "--cache", cache.as_uri())
    assert code == 0, err
    assert {s for s, _ in statuses(out).values()} == {"fetched"}
    lock = json.loads((second.parent / "condapack.lock").read_bytes())
    assert [t for t in lock["targets"].values() if "sha256" in t] == []
    dist = project.parent / "dist"
    assert {p.name: p.read_bytes() for p in (second.parent / "dist").iterdir()} == \
        {p.name: p.read_bytes() for p in dist.iterdir()}
    code, out, err = cli(second)  # fetched here: up to date while unchanged, and no lock change
    assert {s for s, _ in statuses(out).values()} == {"up to date"}, err
    assert json.loads((second.parent / "condapack.lock").read_bytes()) == lock


def test_a_planted_s3_object_is_not_published(conda_channel: Path, tmp_path: Path, s3_server: S3Server) -> None:
    config = checkout(tmp_path / "ci", conda_channel)
    url, env = f"s3://{BUCKET}/release", s3_server.aws_env()
    assert cli(config, "--cache", url, "--cache-write", "b", env=env)[0] == 0
    good = (config.parent / "dist" / "b.tar.zst").read_bytes()
    key = key_of(config, "b:tar.zst", "tar.zst")
    s3_server.put(f"release/{key}", EVIL)
    s3_server.put(f"release/{key}.json", manifest_of(EVIL))
    (config.parent / "dist" / "b.tar.zst").unlink()
    code, out, err = cli(config, "--cache", url, "b", env=env)
    assert (code, statuses(out)) == (0, {"b:tar.zst": ("built", False)}), err
    assert len(warnings(err)) == 1 and "building it here instead" in warnings(err)[0]
    assert (config.parent / "dist" / "b.tar.zst").read_bytes() == good


def test_an_s3_object_larger_than_its_manifest_is_cut_at_the_manifests_size(
        conda_channel: Path, tmp_path: Path, s3_server: S3Server) -> None:
    config = checkout(tmp_path / "ci", conda_channel)
    url, env = f"s3://{BUCKET}/release", s3_server.aws_env()
    assert cli(config, "--cache", url, "--cache-write", "b", env=env)[0] == 0
    key = key_of(config, "b:tar.zst", "tar.zst")
    s3_server.put(f"release/{key}", s3_server.objects()[f"release/{key}"] + b"\0" * (4 << 20))
    (config.parent / "dist" / "b.tar.zst").unlink()
    code, out, err = cli(config, "--cache", url, "b", env=env)
    assert (code, statuses(out)) == (0, {"b:tar.zst": ("built", False)}), err
    assert warnings(err) == ["condapack: warning: b:tar.zst: ignoring the cached archive (its bytes do not match "
                             "its manifest); building it locally"]


def test_a_fetch_removes_the_temporary_a_fetch_killed_outright_left(project: Path, cache: Path) -> None:
    dist = project.parent / "dist"
    (dist / "a.tar").unlink()
    (dist / ".a.tar.0123abcd.part").write_bytes(b"half a fetch")  # held by no process: SIGKILL's leftover
    code, out, err = cli(project, "--cache", cache.as_uri(), "a:tar")
    assert (code, statuses(out)) == (0, {"a:tar": ("fetched", False)}), err
    assert sorted(p.name for p in dist.iterdir()) == ["SHA256SUMS", "a.tar", "a.tar.gz", "b.tar.zst"]


def test_locked_building_other_bytes_than_the_lock_leaves_the_good_archive(project: Path) -> None:
    """The lock and the archive came from a machine whose build this one does not reproduce."""
    theirs = b"the archive another machine built"
    (project.parent / "dist" / "a.tar").write_bytes(theirs)
    lock = project.parent / "condapack.lock"
    doc = json.loads(lock.read_bytes())
    doc["targets"]["a:tar"]["sha256"] = hashlib.sha256(theirs).hexdigest()
    lock.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    good = {name: (project.parent / name).read_bytes() for name in ("condapack.lock", "dist/a.tar")}
    code, out, err = cli(project, "--locked", "--force", "a:tar")
    assert code == 1
    error = json.loads(err)["error"]
    assert re.fullmatch(
        f"a:tar: the archive built here has sha256 [0-9a-f]{{12}}\\.\\.\\. but condapack.lock records "
        f"{hashlib.sha256(theirs).hexdigest()[:12]}\\.\\.\\.; the environment content differs in a way the "
        "lock does not capture", error), error
    assert {name: (project.parent / name).read_bytes() for name in good} == good
    assert not [p.name for p in (project.parent / "dist").iterdir() if p.name.startswith(".")]
