"""Fuzz-style: damaged conda-meta records, locks, memos, project files and manifests.

Each input is a real file (from a real environment or a real build) damaged in seeded,
bounded ways: truncated, values swapped for other types, nested absurdly deep, or
broken UTF-8. The outcome is always a one-line error or a safe fallback, never a
traceback: in-process, any unexpected exception would fail the test.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

import envkit
from condapack.cli import conda_pack_main, main
from condapack.project import memo

SEED = 9
SWAPS: list[Any] = [None, 0, -1, 2**70, 1.5, True, "", "x", "../../../etc/passwd", "a\0b", [], {}, [[]], {"": {}}]
DEEP = b"[" * 50_000 + b"]" * 50_000


def _paths(doc: Any, here: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield here
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from _paths(value, (*here, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc[:5]):
            yield from _paths(value, (*here, i))


def _swapped(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = dict(doc) if isinstance(doc, dict) else list(doc)
    copy[path[0]] = _swapped(doc[path[0]], path[1:], value)
    return copy


def variants(data: bytes, count: int, seed: int = SEED) -> list[bytes]:
    """``count`` damaged copies of a JSON document, the same ones on every run."""
    rng = random.Random(seed)
    doc = json.loads(data)
    paths = list(_paths(doc))
    out = [b"", DEEP, b"\xff\xfe" + data, data[: len(data) // 2], json.dumps(_swapped(doc, (), [])).encode()]
    while len(out) < count:
        kind = rng.choice(["truncate", "swap", "swap", "swap", "utf8", "nest"])
        if kind == "truncate":
            out.append(data[: rng.randrange(len(data))])
        elif kind == "swap":
            out.append(json.dumps(_swapped(doc, rng.choice(paths), rng.choice(SWAPS))).encode())
        elif kind == "utf8":
            at = rng.randrange(len(data))
            out.append(data[:at] + b"\xc3\x28" + data[at:])
        else:
            out.append(json.dumps(_swapped(doc, rng.choice(paths), json.loads(b"[" * 400 + b"]" * 400))).encode())
    return out


#: Words a damaged manifest line may hold instead of one of its own.
WORDS = ["", "t", "b", "-1", "x", "99999999999999999999", "../../etc/passwd", "/etc", "a\\000b", "%", "%s", "\\999",
         "1:2", "0:1:0:0:", "0:9999999:0:1:%s%s", "condapack-unpack 3 windows"]


def line_variants(data: bytes, count: int, seed: int = SEED) -> list[bytes]:
    """``count`` damaged copies of a line-based manifest, the same ones on every run."""
    rng = random.Random(seed)
    lines = data.decode().splitlines()
    out = [b"", b"\xff\xfe" + data, data[: len(data) // 2], data.replace(b"condapack-unpack 3", b"condapack-unpack 9")]
    while len(out) < count:
        kind = rng.choice(["truncate", "word", "word", "word", "drop", "utf8"])
        damaged = list(lines)
        at = rng.randrange(len(damaged))
        if kind == "truncate":
            out.append(data[: rng.randrange(len(data))])
            continue
        if kind == "word":
            words = damaged[at].split(" ")
            words[rng.randrange(len(words))] = rng.choice(WORDS)
            damaged[at] = " ".join(words)
        elif kind == "drop":
            del damaged[at]
        else:
            damaged[at] += "\u00e9"
        out.append("".join(line + "\n" for line in damaged).encode())
    return out


def one_line_or_success(capsys: pytest.CaptureFixture[str], code: int, prefix: str) -> None:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if "warning: " not in line and line.strip()]
    if code == 0:
        assert not any(line.startswith(prefix) for line in errors), err
    else:
        assert code == 1 and len(errors) == 1 and errors[0].startswith(prefix), err


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, conda_channel: Path) -> Path:
    return envkit.create_env("nopython", tmp_path_factory.mktemp("fuzz") / "env", conda_channel)


def test_damaged_conda_meta_records_give_one_line_errors(env: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    record = next((env / "conda-meta").glob("cpdemo-tools-*.json"))
    original = record.read_bytes()
    try:
        for i, data in enumerate(variants(original, 60)):
            record.write_bytes(data)
            code = conda_pack_main(["-p", str(env), "-o", str(tmp_path / f"o{i}.tar"), "-q"])
            one_line_or_success(capsys, code, "CondaPackError: ")
    finally:
        record.write_bytes(original)


def project(env: Path, root: Path) -> Path:
    root.mkdir(exist_ok=True)
    config = root / "condapack.toml"
    config.write_text(PROJECT.format(env=env))
    return config


PROJECT = """\
output-dir = "dist"
[defaults]
formats = ["tar"]
exclude = ["share/doc/"]
[env.a]
prefix = "{env}"
compress-level = 4
zip-symlinks = false
parcel = {{ version = "1.0", name = "a" }}
"""


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> None:
    one_line_or_success(capsys, main(list(argv)), "condapack: error: ")


def test_damaged_locks_give_one_line_errors(env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = project(env, tmp_path / "p")
    assert main(["build", "-q", "-c", str(config)]) == 0
    lock = config.with_name("condapack.lock")
    for data in variants(lock.read_bytes(), 40):
        lock.write_bytes(data)
        run_cli(capsys, "plan", "-c", str(config))
        run_cli(capsys, "lock", "--locked", "-c", str(config))


@pytest.mark.parametrize("damaged", ["state.json", "memo/a.json", "memo/a.tree.json"])
def test_a_damaged_state_or_memo_costs_at_most_a_warning_and_a_rescan(
        env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        damaged: str) -> None:
    monkeypatch.setattr(memo, "RACY_NS", 0)  # the env was just made: trust its tree at once
    config = project(env, tmp_path / "p")
    (env / "share" / "unmanaged.txt").write_text("hashed through the memo\n")
    assert main(["build", "-q", "-c", str(config)]) == 0
    (env / "share" / "unmanaged.txt").write_text("hashed through the memo again\n")
    assert main(["build", "-q", "-c", str(config)]) == 0  # a rescan: the entries file is written too
    path = config.parent / ".condapack" / damaged
    for data in variants(path.read_bytes(), 15):
        path.write_bytes(data)
        assert main(["build", "-q", "-c", str(config)]) == 0
        warnings = capsys.readouterr().err.splitlines()
        assert warnings == [] or (len(warnings) == 1 and warnings[0].startswith(
            f"condapack: warning: {path}: damaged memo (")), warnings
        subprocess.run(["sha256sum", "--check", "--quiet", "SHA256SUMS"], cwd=config.parent / "dist", check=True)


def toml_variants(text: str, count: int) -> list[bytes]:
    rng = random.Random(SEED)
    literals = ['""', "0", "-5", "true", "[]", "{}", '"../x"', '"\\u0000"', "[[1]]", "1.5", '"a/b"', "{ a = 1 }"]
    lines = text.splitlines()
    data = text.encode()
    out = [b"", b"\xff" + data, b"a = " + b"[" * 3000 + b"]" * 3000 + b"\n" + data]
    while len(out) < count:
        kind = rng.choice(["truncate", "swap", "swap", "utf8"])
        if kind == "truncate":
            out.append(data[: rng.randrange(len(data))])
        elif kind == "utf8":
            at = rng.randrange(len(data))
            out.append(data[:at] + b"\xed\xa0\x80" + data[at:])
        else:
            i = rng.choice([n for n, line in enumerate(lines) if " = " in line])
            key = lines[i].split(" = ")[0]
            out.append("\n".join([*lines[:i], f"{key} = {rng.choice(literals)}", *lines[i + 1:]]).encode() + b"\n")
    return out


def test_damaged_project_files_give_one_line_errors(env: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    config = project(env, tmp_path / "p")
    for data in toml_variants(config.read_text(), 60):
        config.write_bytes(data)
        run_cli(capsys, "outputs", "-c", str(config))
        run_cli(capsys, "plan", "-c", str(config))
    run_cli(capsys, "plan", "-c", str(config.parent))


def test_damaged_unpack_manifests_give_one_line_errors(env: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "unpacked"
    shutil.copytree(env, prefix, symlinks=True)
    archive = tmp_path / "e.tar"
    assert conda_pack_main(["-p", str(env), "-o", str(archive), "-q"]) == 0
    shutil.rmtree(prefix)
    prefix.mkdir()
    subprocess.run(["tar", "-xf", str(archive), "-C", str(prefix)], check=True)
    manifest = prefix / "conda-meta" / "condapack" / "unpack.txt"
    script = prefix / "conda-meta" / "condapack" / "unpack"
    for data in line_variants(manifest.read_bytes(), 40):
        manifest.write_bytes(data)
        result = subprocess.run([sys.executable, str(script), str(prefix)], capture_output=True, text=True)
        assert "Traceback" not in result.stderr
        assert result.returncode in (0, 1), result.stderr
        if result.returncode:
            assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("conda-unpack: error: ")
