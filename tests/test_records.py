"""``conda-meta`` records as conda, mamba/micromamba and rattler/pixi write them.

Each difference between the installers is pinned twice: what the installer wrote (so a
change in conda shows here first) and what condapack reads from it. conda's records come
from environments the real conda created (``condakit``); micromamba's are shaped exactly
as libmamba's ``LinkPackage::execute`` writes them (mamba-org/mamba
``libmamba/src/core/link.cpp`` at commit 03564bf4875fd7a5491f11ccf059d50512adf8b3).
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

import envkit
from condapack.cli import conda_pack_main
from condapack.prefix import read_prefix, scan_prefix
from condapack.records import PackageId, read_records
from conftest import CondaEnvFactory
from envkit import EnvFactory
from helpers import assert_works_at, extract, run

VERSIONS = ["26.7.1", "24.11.3"]


def _record(env: Path, name: str) -> dict[str, Any]:
    (path,) = (env / "conda-meta").glob(f"{name}-[0-9]*.json")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _rewrite(env: Path, name: str, change: Any) -> None:
    (path,) = (env / "conda-meta").glob(f"{name}-[0-9]*.json")
    path.write_text(json.dumps(change(json.loads(path.read_text()))))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _pack_warnings(env: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    assert conda_pack_main(["-p", str(env), "-o", str(out)]) == 0
    return [line for line in capsys.readouterr().err.splitlines() if "warning" in line]


# -- what conda writes ------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_conda_keeps_noarch_package_files_package_relative_and_they_are_read_as_installed(
        conda_env: CondaEnvFactory, version: str) -> None:
    env = conda_env(version)
    raw = _record(env, envkit.CPDEMO_PY_PACKAGE)
    written = [p["_path"] for p in raw["paths_data"]["paths"]]
    assert "site-packages/cpdemo/__init__.py" in written
    assert f"{envkit.SITE_PACKAGES}/cpdemo/__pycache__/__init__.cpython-{envkit.PY_SHORT.replace('.', '')}.pyc" \
        in written
    assert envkit.ENTRY_POINT in written
    assert f"{envkit.SITE_PACKAGES}/cpdemo/__init__.py" in raw["files"]
    (record,) = [r for r in read_records(env) if r.identity.name == envkit.CPDEMO_PY_PACKAGE]
    assert sorted(p.path for p in record.paths) == sorted(raw["files"])


@pytest.mark.parametrize("version", VERSIONS)
def test_every_path_conda_recorded_is_read_once_and_is_on_disk(conda_env: CondaEnvFactory, version: str) -> None:
    env = conda_env(version)
    reading = read_prefix(env)
    for record in reading.packages:
        raw = _record(env, record.identity.name)
        assert sorted(p.path for p in record.paths) == sorted(raw["files"]), record.identity.name
    assert [path for path in reading.owners if path not in reading.disk] == []


@pytest.mark.parametrize("version", VERSIONS)
def test_conda_records_the_package_size_of_a_file_whose_prefix_it_replaced_and_its_installed_digest(
        conda_env: CondaEnvFactory, version: str) -> None:
    env = conda_env(version)
    (entry,) = [p for p in _record(env, envkit.CPDEMO_TOOLS_PACKAGE)["paths_data"]["paths"]
                if p["_path"] == envkit.CONF_FILE]
    assert entry["file_mode"] == "text"
    assert entry["size_in_bytes"] != (env / envkit.CONF_FILE).stat().st_size
    assert entry["sha256_in_prefix"] == _sha256(env / envkit.CONF_FILE) != entry["sha256"]
    (record,) = [r for r in read_records(env) if r.identity.name == envkit.CPDEMO_TOOLS_PACKAGE]
    (conf,) = [p for p in record.paths if p.path == envkit.CONF_FILE]
    assert conf.installed_sha256 == entry["sha256_in_prefix"]


def test_a_file_with_a_replaced_prefix_edited_after_install_is_reported_and_the_others_are_not(
        fresh_conda_env: CondaEnvFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = fresh_conda_env("26.7.1")
    conf = env / envkit.CONF_FILE
    conf.write_text(conf.read_text() + "# edited\n")
    assert _pack_warnings(env, tmp_path / "x.tar", capsys) == [
        f"conda-pack: warning: 1 files managed by conda were modified after install ({envkit.CONF_FILE}); "
        "packing them as they are now"]


def test_pyc_files_and_entry_points_conda_wrote_carry_their_path_types_and_26_records_their_sizes(
        conda_env: CondaEnvFactory) -> None:
    for version in VERSIONS:
        paths = _record(conda_env(version), envkit.CPDEMO_PY_PACKAGE)["paths_data"]["paths"]
        written = {p["path_type"]: p for p in paths if p["path_type"] != "hardlink"}
        assert sorted(written) == ["pyc_file", "unix_python_entry_point"]
        assert ("size_in_bytes" in written["pyc_file"]) == (version == "26.7.1")
        assert "sha256" not in written["unix_python_entry_point"]


def test_conda_meta_history_and_created_at_are_packed_and_history_relocated(
        conda_env: CondaEnvFactory, tmp_path: Path) -> None:
    env = conda_env("26.7.1")
    assert (env / "conda-meta" / "created_at").is_file()  # 24.11.3 writes none
    assert conda_pack_main(["-p", str(env), "-o", str(tmp_path / "x.tar"), "-q"]) == 0
    with tarfile.open(tmp_path / "x.tar") as tf:
        assert {"conda-meta/history", "conda-meta/created_at"} <= set(tf.getnames())
    prefix = extract(tmp_path / "x.tar", tmp_path / "u")
    run([str(prefix / "bin/conda-unpack")])
    assert str(env) not in (prefix / "conda-meta" / "history").read_text()
    assert (prefix / "conda-meta" / "created_at").read_bytes() == (env / "conda-meta" / "created_at").read_bytes()


def test_a_conda_record_without_paths_data_reads_the_same_paths_from_the_package_cache(
        fresh_conda_env: CondaEnvFactory) -> None:
    env = fresh_conda_env("26.7.1")
    before = {r.identity.name: r.paths for r in read_records(env)}
    for name in (envkit.CPDEMO_PY_PACKAGE, envkit.CPDEMO_TOOLS_PACKAGE):
        _rewrite(env, name, lambda d: {k: v for k, v in d.items() if k not in ("paths_data", "noarch")})
    after = {r.identity.name: r for r in read_records(env)}
    for name in (envkit.CPDEMO_PY_PACKAGE, envkit.CPDEMO_TOOLS_PACKAGE):
        assert after[name].source == "cache"
        assert sorted(p.path for p in after[name].paths) == sorted(p.path for p in before[name])
    assert after[envkit.CPDEMO_PY_PACKAGE].noarch_python  # from the package's info/link.json
    assert {p.path: p.placeholder is not None for p in after[envkit.CPDEMO_TOOLS_PACKAGE].paths} == {
        p.path: p.placeholder is not None for p in before[envkit.CPDEMO_TOOLS_PACKAGE]}


# -- what micromamba writes (libmamba link.cpp at 03564bf) -----------------------------------


def _as_micromamba_writes(data: dict[str, Any], env: Path) -> dict[str, Any]:
    """A record conda wrote, as libmamba writes it: installed ``_path`` everywhere; a
    ``sha256_in_prefix`` on every entry (the installed digest where the prefix went in, the
    package's otherwise, the target's for a symlink); no ``file_mode``/``prefix_placeholder``;
    ``size_in_bytes`` the package's; pyc files and entry points as bare ``_path``/``path_type``."""
    paths = []
    for old, installed in zip(data["paths_data"]["paths"], _installed_order(data)):
        if old["path_type"] in ("pyc_file", "unix_python_entry_point"):
            paths.append({"_path": installed, "path_type": old["path_type"]})
            continue
        digest = _sha256(env / installed) if (env / installed).is_file() else hashlib.sha256(b"").hexdigest()
        entry = {"_path": installed, "sha256_in_prefix": digest, "sha256": old["sha256"],
                 "path_type": old["path_type"], "size_in_bytes": old["size_in_bytes"]}
        paths.append(entry)
    data["paths_data"] = {"paths": paths, "paths_version": 1}
    data["link"] = {"source": data["link"]["source"], "type": 1}
    return data


def _installed_order(data: dict[str, Any]) -> list[str]:
    """The installed path of each ``paths_data`` entry (conda writes ``files`` in the same order)."""
    assert len(data["files"]) == len(data["paths_data"]["paths"])
    return list(data["files"])


def test_records_shaped_as_micromamba_writes_them_pack_without_warning_and_relocate(
        fresh_conda_env: CondaEnvFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = fresh_conda_env("26.7.1")
    for name in (envkit.CPDEMO_PY_PACKAGE, envkit.CPDEMO_TOOLS_PACKAGE, "pip"):
        _rewrite(env, name, lambda d: _as_micromamba_writes(d, env))
    scan = scan_prefix(env)
    modes = {f.target: f.file_mode for f in scan.files}
    assert [modes[p] for p in envkit.TEXT_PREFIX_FILES] == ["text"] * 4
    assert [modes[p] for p in envkit.BINARY_PREFIX_FILES] == ["binary"] * 2
    assert _pack_warnings(env, tmp_path / "x.tar.gz", capsys) == []
    prefix = extract(tmp_path / "x.tar.gz", tmp_path / "e")
    run([str(prefix / "bin/conda-unpack")])
    assert_works_at(prefix, str(env))


# -- every path type, link type and the other files in conda-meta -------------------------------

_PATH_TYPES = {
    "bin/tool": "hardlink",
    "bin/tool-link": "softlink",
    "share/empty": "directory",
    "lib/python3.11/site-packages/m/__pycache__/m.cpython-311.pyc": "pyc_file",
    "bin/entry": "unix_python_entry_point",
    "Scripts/entry-script.py": "windows_python_entry_point_script",
    "Scripts/entry.exe": "windows_python_entry_point_exe",
    "conda-meta/demo-1.0-0.json": "linked_package_record",
}


@pytest.mark.parametrize("link_type", [1, 2, 3, 4, None])
def test_every_path_type_and_link_type_is_read_without_missing_or_modified_files(
        tiny_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], link_type: int | None) -> None:
    for path, kind in _PATH_TYPES.items():
        target = tiny_env / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if kind == "softlink":
            target.symlink_to("tool")
        elif kind == "directory":
            target.mkdir()
        elif path.endswith(".json"):
            pass  # the record itself, written below
        else:
            target.write_text(f"#!{tiny_env}/bin/python\n")
    record = {"name": "demo", "version": "1.0", "build": "0", "files": sorted(_PATH_TYPES),
              "link": None if link_type is None else {"source": "", "type": link_type},
              "paths_data": {"paths_version": 1, "paths": [{"_path": p, "path_type": t} for p, t in
                                                           _PATH_TYPES.items()]}}
    (tiny_env / "conda-meta" / "demo-1.0-0.json").write_text(json.dumps(record))
    assert _pack_warnings(tiny_env, tmp_path / "x.tar", capsys) == []
    files = {f.target: f for f in scan_prefix(tiny_env).files}
    assert files["bin/entry"].file_mode == "text"  # installers write the prefix into entry points
    assert files["bin/tool-link"].kind == "symlink"


def test_a_free_threaded_pythons_site_packages_path_places_noarch_files(tiny_env: Path) -> None:
    meta = tiny_env / "conda-meta"
    (meta / "python-3.13.1-0_cp313t.json").write_text(json.dumps(
        {"name": "python", "version": "3.13.1", "build": "0_cp313t", "subdir": "linux-64",
         "python_site_packages_path": "lib/python3.13t/site-packages", "files": []}))
    (meta / "lib-1.0-0.json").write_text(json.dumps(
        {"name": "lib", "version": "1.0", "build": "0", "noarch": "python", "files": [],
         "paths_data": {"paths": [{"_path": "site-packages/lib.py", "path_type": "hardlink"},
                                  {"_path": "python-scripts/lib-cli", "path_type": "hardlink"}]}}))
    (record,) = [r for r in read_records(tiny_env) if r.identity.name == "lib"]
    assert [p.path for p in record.paths] == ["lib/python3.13t/site-packages/lib.py", "bin/lib-cli"]


def test_a_windows_pythons_noarch_files_go_to_lib_site_packages_and_scripts(tiny_env: Path) -> None:
    meta = tiny_env / "conda-meta"
    (meta / "python-3.12.1-0.json").write_text(json.dumps(
        {"name": "python", "version": "3.12.1", "build": "0", "subdir": "win-64", "files": []}))
    (meta / "lib-1.0-0.json").write_text(json.dumps(
        {"name": "lib", "version": "1.0", "build": "0", "noarch": "python", "files": [],
         "paths_data": {"paths": [{"_path": "site-packages/lib.py", "path_type": "hardlink"},
                                  {"_path": "python-scripts/lib-cli", "path_type": "hardlink"}]}}))
    (record,) = [r for r in read_records(tiny_env) if r.identity.name == "lib"]
    assert [p.path for p in record.paths] == ["Lib/site-packages/lib.py", "Scripts/lib-cli"]


def test_a_records_identity_names_its_channel_without_the_host_and_falls_back_to_md5(tiny_env: Path) -> None:
    (tiny_env / "conda-meta" / "lib-1.0-0.json").write_text(json.dumps(
        {"name": "lib", "version": "1.0", "build": "0", "channel": "file:///srv/channels/team/linux-64",
         "md5": "ab" * 16, "files": []}))
    (record,) = read_records(tiny_env)
    assert record.identity == PackageId("lib", "1.0", "0", "team", "ab" * 16)


def test_a_package_identity_reads_back_from_its_doc_and_nothing_else_does() -> None:
    package = PackageId("zlib", "1.3", "h0_0", "conda-forge", "11" * 32)
    assert PackageId.from_doc(package.to_doc()) == package
    assert PackageId.from_doc({**package.to_doc(), "subdir": "linux-64"}) is None
    assert PackageId.from_doc({**package.to_doc(), "version": 1.3}) is None


def test_pixis_environment_file_and_condas_frozen_marker_are_packed_as_they_are(
        real_env: EnvFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = real_env("basic")
    pixi = json.dumps({"manifest_path": str(tmp_path / "pixi.toml"), "environment_name": "default",
                       "pixi_version": "0.63.2", "environment_lock_file_hash": "4f36ee620f10329d"})
    (env / "conda-meta" / "pixi").write_text(pixi)
    (env / "conda-meta" / "frozen").write_text('{"message": "managed by the platform team"}')
    assert _pack_warnings(env, tmp_path / "x.tar", capsys) == []
    prefix = extract(tmp_path / "x.tar", tmp_path / "u")
    assert (prefix / "conda-meta" / "pixi").read_text() == pixi
    assert (prefix / "conda-meta" / "frozen").read_text() == '{"message": "managed by the platform team"}'
