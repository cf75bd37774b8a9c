"""The roster of members on tiny hand-made prefixes: which members, their modes, links, bytes and manifest.

Each prefix has one fake ``conda-meta`` record (with path data, as conda writes it) and is
read by ``scan_prefix``, as packing reads it; nothing is packed or extracted.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import tracemalloc
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Optional

import attrs
import pytest

from condapack.cli import conda_pack_main
from condapack.errors import CondaPackError, RelocationError
from condapack.layout import CONDAPACK_DIR, WINDOWS
from condapack.members import DEFAULT_MTIME, Member, Roster, archive_mtime, make_roster
from condapack.prefix import scan_prefix
from condapack.unpack.manifest import parse

if TYPE_CHECKING:
    from condapack.unpack.rewrite import Field

PLACEHOLDER = "/opt/placeholder_" + "x" * 200
SITE = "lib/python3.11/site-packages"
PYC = f"{SITE}/__pycache__/mod.cpython-311.pyc"
ACTIVATION = ("bin/activate", "bin/activate.fish", "bin/deactivate", "bin/deactivate.fish")


def binary_bytes(prefix: Path) -> bytes:
    """A 'library' holding the prefix in a NUL-padded C string between other bytes."""
    return b"\x7fELF\0head\0" + str(prefix).encode() + b"/lib/plugins\0\0\0\0\0\0\0\0tail\0"


def record(paths: list[dict[str, object]]) -> dict[str, object]:
    return {"name": "pkg", "version": "1.0", "build": "0", "channel": "local", "subdir": "linux-64",
            "files": [p["_path"] for p in paths], "paths_data": {"paths_version": 1, "paths": paths},
            "extracted_package_dir": "/home/me/pkgs/pkg-1.0-0",
            "package_tarball_full_path": "/home/me/pkgs/pkg-1.0-0.conda",
            "link": {"source": "/home/me/pkgs/pkg-1.0-0", "type": 1}}


def write(path: Path, data: bytes, mode: int = 0o644) -> dict[str, object]:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)
    return {"path_type": "hardlink", "size_in_bytes": len(data)}


@pytest.fixture
def env(tmp_path: Path) -> Path:
    """bin/tool (text, holds the prefix), lib/libx.so (binary), plain files, an empty dir, links, a pyc."""
    prefix = tmp_path / "env"
    script = f"#!{prefix}/bin/python\nimport sys  # lives in {prefix}\n".encode()
    paths = [
        {"_path": "bin/tool", **write(prefix / "bin/tool", script, 0o700), "file_mode": "text",
         "prefix_placeholder": PLACEHOLDER},
        {"_path": "lib/libx.so", **write(prefix / "lib/libx.so", binary_bytes(prefix), 0o640),
         "file_mode": "binary", "prefix_placeholder": PLACEHOLDER},
        {"_path": "share/doc.txt", **write(prefix / "share/doc.txt", b"no prefix here\n", 0o600)},
        {"_path": "bin/run", **write(prefix / "bin/run", b"#!/bin/sh\necho run\n", 0o750)},
    ]
    (prefix / "conda-meta").mkdir()
    (prefix / "conda-meta/pkg-1.0-0.json").write_text(json.dumps(record(paths), indent=1))
    (prefix / "share/empty").mkdir()
    (prefix / "bin/python").symlink_to("python3.11")
    (prefix / "lib/abs.so").symlink_to(prefix / "lib/libx.so")
    # a pip-installed module and its cache, unmanaged
    write(prefix / SITE / "mod.py", b"X = 1\n")
    os.utime(prefix / SITE / "mod.py", (1_600_000_000, 1_600_000_000))
    write(prefix / PYC, pyc_bytes(1_600_000_000, 6))
    return prefix


def pyc_bytes(source_mtime: int, source_size: int) -> bytes:
    return struct.pack("<4sIII", b"\xa7\r\r\n", 0, source_mtime, source_size) + b"\xe3code"


def roster(prefix: Path, *, arcroot: str = "", dest_prefix: Optional[str] = None, follow_symlinks: bool = False,
         extra: Mapping[str, tuple[bytes, int]] = {}) -> Roster:
    """Read the prefix as packing does, then make its roster."""
    return make_roster(prefix, scan_prefix(prefix).files, arcroot=arcroot, dest_prefix=dest_prefix,
                        follow_symlinks=follow_symlinks, extra=extra)


def by_name(p: Roster) -> dict[str, Member]:
    """Members by name (a directory's without the trailing slash the walk gives it)."""
    return {m.name.rstrip("/"): m for m in p.members}


def member(p: Roster, name: str) -> Member:
    found = by_name(p).get(name)
    assert found is not None, f"{name} not in {sorted(by_name(p))}"
    return found


def manifest(p: Roster) -> list[tuple[str, str, int, list[Field]]]:
    """The manifest conda-unpack reads, as (path, mode, capacity, fields) per file."""
    found = parse(bytes(member(p, f"{CONDAPACK_DIR}/unpack.txt").read()))
    assert not found.windows
    return [(e.path, e.mode, e.capacity, e.fields) for e in found.entries]


@pytest.fixture(autouse=True)
def no_source_date_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)


def test_members_are_sorted_by_name_unique_and_the_same_on_every_plan(env: Path) -> None:
    first = roster(env)
    names = [m.name for m in first.members]
    assert names == sorted(names) and len(set(names)) == len(names)
    assert roster(env) == first


def test_files_dirs_and_links_of_the_environment_are_members_of_their_kind(env: Path) -> None:
    p = roster(env)
    kinds = {name: m.kind for name, m in by_name(p).items() if not name.startswith(CONDAPACK_DIR)}
    assert kinds == {
        "bin/activate": "file", "bin/activate.fish": "file", "bin/conda-unpack": "file",
        "bin/deactivate": "file", "bin/deactivate.fish": "file", "bin/python": "symlink", "bin/run": "file",
        "bin/tool": "file", "conda-meta/pkg-1.0-0.json": "file", "lib/abs.so": "symlink", "lib/libx.so": "file",
        f"{SITE}/mod.py": "file", PYC: "file", "share/doc.txt": "file", "share/empty": "dir"}


def test_modes_are_0755_for_anything_executable_else_0644_dirs_0755_links_0777(env: Path) -> None:
    modes = {name: m.mode for name, m in by_name(roster(env)).items()}
    assert (modes["bin/tool"], modes["bin/run"]) == (0o755, 0o755)  # 0700, 0750 on disk
    assert (modes["share/doc.txt"], modes["lib/libx.so"]) == (0o644, 0o644)  # 0600, 0640 on disk
    assert (modes["share/empty"], modes["bin/python"]) == (0o755, 0o777)


def test_hard_links_are_packed_as_two_independent_files(env: Path) -> None:
    os.link(env / "share/doc.txt", env / "share/same.txt")
    p = roster(env)
    one, two = member(p, "share/doc.txt"), member(p, "share/same.txt")
    assert (one.kind, two.kind) == ("file", "file")
    assert one.read() == two.read() == b"no prefix here\n"
    assert one.link_target is None and two.link_target is None


def test_relative_links_are_kept_and_absolute_links_into_the_environment_made_relative(env: Path) -> None:
    p = roster(env)
    assert member(p, "bin/python").link_target == "python3.11"
    assert member(p, "lib/abs.so").link_target == "libx.so"


def test_an_absolute_link_to_the_environments_root_is_made_relative(env: Path) -> None:
    (env / "share/self").symlink_to(env)
    assert member(roster(env), "share/self").link_target == ".."


def test_links_out_of_the_environment_are_left_out_with_one_warning(
        env: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "outside.txt").write_text("not ours\n")
    (env / "share/abs-out").symlink_to(tmp_path / "outside.txt")
    (env / "share/rel-out").symlink_to("../../outside.txt")
    (env / "share/rel-in").symlink_to("../bin/../share/doc.txt")
    with caplog.at_level(logging.WARNING, logger="condapack"):
        names = set(by_name(roster(env)))
    assert "share/rel-in" in names and not {"share/abs-out", "share/rel-out"} & names
    assert [r.getMessage() for r in caplog.records] == [
        f"left out 2 symlinks that point outside the environment (share/abs-out -> {tmp_path}/outside.txt, "
        "share/rel-out -> ../../outside.txt)"]


def test_following_links_copies_what_they_point_at_and_keeps_its_prefix_rewrite(env: Path) -> None:
    (env / "share/docs").symlink_to("../lib")
    (env / "share/dangling").symlink_to("nothing-here")
    p = roster(env, follow_symlinks=True, dest_prefix="/opt/app")
    assert not [m.name for m in p.members if m.kind == "symlink"]
    assert "share/dangling" not in by_name(p)
    copy, original = member(p, "lib/abs.so"), member(p, "lib/libx.so")
    assert copy.kind == "file" and copy.read() == original.read() != binary_bytes(env)
    assert member(p, "share/docs/libx.so").read() == original.read()
    assert member(p, "share/docs/abs.so").read() == original.read()


def test_every_member_gets_source_date_epoch_as_mtime_or_the_fixed_default(
        env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert archive_mtime() == DEFAULT_MTIME == roster(env).mtime == 1577836800
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert archive_mtime() == roster(env).mtime == 1700000000
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "")
    assert archive_mtime() == DEFAULT_MTIME


@pytest.mark.parametrize("value", ["yesterday", "-1", "1.5", "1e9", "0x10", "\u00b2", "253402300800", "\u0663", "+1",
                                   "1_0"])
def test_a_source_date_epoch_that_is_not_a_non_negative_integer_is_an_error_naming_it(
        env: Path, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", value)
    with pytest.raises(CondaPackError) as info:
        roster(env)
    assert str(info.value) == (f"environment variable SOURCE_DATE_EPOCH={value!r} is not a non-negative integer up "
                               "to 253402300799 (seconds since 1970); set it to one, or unset it")


@pytest.mark.parametrize("fmt", ["tar.gz", "no-archive", "parcel"])
def test_a_bad_source_date_epoch_stops_a_pack_in_one_line_before_any_output(
        env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        fmt: str) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "-1")
    output = tmp_path / "out" / "packed"
    output.parent.mkdir()
    assert conda_pack_main(["-p", str(env), "-o", str(output), "--format", fmt, "-q"]) == 1
    assert capsys.readouterr().err == (
        "CondaPackError: environment variable SOURCE_DATE_EPOCH='-1' is not a non-negative integer up to "
        "253402300799 (seconds since 1970); set it to one, or unset it\n")
    assert list(output.parent.iterdir()) == []


def test_total_bytes_is_the_sum_of_member_sizes_and_files_keep_their_disk_size(env: Path) -> None:
    p = roster(env)
    assert p.total_bytes == sum(m.size for m in p.members)
    assert member(p, "lib/libx.so").size == len(binary_bytes(env))
    assert member(p, "share/empty").size == 0


def test_unchanged_files_are_streamed_from_the_environment(env: Path) -> None:
    doc = member(roster(env), "share/doc.txt")
    assert doc.streamable and doc.source == f"{env}/share/doc.txt" and doc.data is None


def test_without_dest_prefix_files_keep_their_bytes_and_conda_unpack_is_added(env: Path) -> None:
    p = roster(env)
    assert member(p, "lib/libx.so").read() == binary_bytes(env)
    assert member(p, "bin/tool").read() == (env / "bin/tool").read_bytes()
    generated = {m.name for m in p.members if m.data is not None}
    assert {"bin/conda-unpack", f"{CONDAPACK_DIR}/prefix", f"{CONDAPACK_DIR}/unpack.txt",
            f"{CONDAPACK_DIR}/unpack/__main__.py", *ACTIVATION} <= generated
    assert member(p, f"{CONDAPACK_DIR}/prefix").read() == str(env).encode()
    assert member(p, "bin/conda-unpack").mode == 0o755


def test_the_unpack_manifest_lists_text_files_and_the_fields_of_binaries_holding_the_prefix(env: Path) -> None:
    p = roster(env)
    data, old = binary_bytes(env), str(env).encode()
    offset = data.index(old)
    length = data.index(b"tail") - offset  # through the NUL padding
    assert manifest(p) == [
        *[(name, "text", 0, []) for name in ACTIVATION],
        ("bin/tool", "text", 0, []),
        ("lib/libx.so", "binary", len(PLACEHOLDER), [(offset, length, [b"", b"/lib/plugins"])]),
    ]
    text = member(p, f"{CONDAPACK_DIR}/unpack.txt").read().decode()
    assert text.splitlines()[0] == "condapack-unpack 3"
    assert text.splitlines()[-2:] == [
        "t bin/tool", f"b lib/libx.so {len(PLACEHOLDER)} {offset}:{length}:12:1:%s/lib/plugins"]


def test_dest_prefix_rewrites_text_and_binary_files_and_drops_conda_unpack(env: Path) -> None:
    p = roster(env, dest_prefix="/opt/app")
    data, old = binary_bytes(env), str(env).encode()
    assert member(p, "bin/tool").read() == (env / "bin/tool").read_bytes().replace(old, b"/opt/app")
    rewritten = member(p, "lib/libx.so").read()
    assert len(rewritten) == len(data)
    assert rewritten == data.replace(old + b"/lib/plugins", b"/opt/app/lib/plugins".ljust(
        len(old) + len(b"/lib/plugins"), b"\0"))
    assert member(p, "share/doc.txt").streamable
    names = set(by_name(p))
    assert "bin/conda-unpack" not in names and not [n for n in names if n.startswith(CONDAPACK_DIR)]
    assert b"/opt/app" in member(p, "bin/activate").read() and old not in member(p, "bin/activate").read()


def test_a_dest_prefix_longer_than_a_binarys_placeholder_is_an_error_naming_the_file(env: Path) -> None:
    long = "/opt/" + "d" * len(PLACEHOLDER)
    libx = member(roster(env, dest_prefix=long), "lib/libx.so")
    with pytest.raises(RelocationError) as info:
        libx.read()
    assert str(info.value) == (f"lib/libx.so: the new prefix is {len(long)} bytes long but the binary has room "
                               f"for {len(PLACEHOLDER)}; choose a shorter --dest-prefix")


def test_a_windows_dest_prefix_for_a_posix_environment_is_an_error(env: Path) -> None:
    with pytest.raises(RelocationError) as info:
        roster(env, dest_prefix="C:\\opt\\app")
    assert str(info.value) == ("--dest-prefix 'C:\\\\opt\\\\app': this environment is for POSIX; give a POSIX "
                               "path such as /opt/app")


def test_conda_meta_records_lose_the_package_cache_paths_and_keep_the_rest(env: Path) -> None:
    path = env / "conda-meta/pkg-1.0-0.json"
    scrubbed = member(roster(env), "conda-meta/pkg-1.0-0.json").read()
    expected = json.loads(path.read_bytes())
    expected.update(extracted_package_dir="", package_tarball_full_path="")
    expected["link"]["source"] = ""
    assert json.loads(scrubbed) == expected
    assert len(path.read_bytes()) - len(scrubbed) == 3 * len("/home/me/pkgs/pkg-1.0-0") + len(".conda")


def test_a_big_record_is_scrubbed_in_the_one_buffer_it_is_read_into(env: Path) -> None:
    path = env / "conda-meta/pkg-1.0-0.json"
    record = json.loads(path.read_bytes())
    record["padding"] = [f"lib/python3.11/site-packages/pkg/module_{i}.py" for i in range(200_000)]  # ~9 MB
    path.write_text(json.dumps(record))
    size = path.stat().st_size
    scrubbing = member(roster(env), "conda-meta/pkg-1.0-0.json")
    tracemalloc.start()
    try:
        scrubbed = scrubbing.read()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert json.loads(scrubbed)["extracted_package_dir"] == "" and len(scrubbed) < size
    assert peak < 1.2 * size  # one copy of the record, not the input and the output side by side


def test_a_pyc_matching_its_source_is_restamped_to_the_archive_mtime(env: Path) -> None:
    restamped = member(roster(env), PYC).read()
    assert restamped == pyc_bytes(DEFAULT_MTIME, 6)


def test_a_pyc_not_matching_its_source_keeps_its_bytes(env: Path) -> None:
    stale = pyc_bytes(1_500_000_000, 6)
    (env / PYC).write_bytes(stale)
    assert member(roster(env), PYC).read() == stale


def test_arcroot_puts_every_member_below_one_directory_still_sorted(env: Path) -> None:
    flat = roster(env)
    rooted = roster(env, arcroot="/top/env/")
    assert [m.name for m in rooted.members] == sorted(f"top/env/{m.name}" for m in flat.members)
    assert member(rooted, "top/env/lib/abs.so").link_target == "libx.so"
    # everything but the name is the same: kind, mode, size, where the bytes come from, transforms
    assert [attrs.evolve(m, name=m.name[len("top/env/"):]) for m in rooted.members] == sorted(
        flat.members, key=lambda m: f"top/env/{m.name}")


def test_extra_files_are_added_and_replace_an_environment_file_of_the_same_name(env: Path) -> None:
    extra = {"share/doc.txt": (b"generated\n", 0o644), "meta/parcel.json": (b"{}", 0o600)}
    p = roster(env, extra=extra)
    assert [m.name for m in p.members].count("share/doc.txt") == 1
    assert member(p, "share/doc.txt").read() == b"generated\n"
    new = member(p, "meta/parcel.json")
    assert (new.read(), new.mode, new.size, new.kind) == (b"{}", 0o600, 2, "file")


def test_a_file_of_the_environment_named_like_a_generated_script_is_replaced(env: Path) -> None:
    write(env / "bin/activate.fish", b"someone's activate\n", 0o755)
    p = roster(env)
    assert [m.name for m in p.members].count("bin/activate.fish") == 1
    activate = member(p, "bin/activate.fish")
    assert activate.data is not None and b"someone" not in activate.read()


def test_environment_variables_are_set_by_the_activation_scripts(env: Path) -> None:
    p = make_roster(env, scan_prefix(env).files, env_vars={"APP_HOME": "/srv/app"})
    assert b"    _condapack_a_setenv APP_HOME '/srv/app'\n" in member(p, "bin/activate").read()
    assert b"    _condapack_setenv APP_HOME '/srv/app'\n" in member(p, "bin/activate.fish").read()
    assert b"APP_HOME" not in member(roster(env), "bin/activate").read()


def test_windows_modes_follow_the_name_not_the_disk_and_its_own_scripts_are_added(env: Path) -> None:
    write(env / "Scripts/tool.exe", b"MZ", 0o644)
    write(env / "Scripts/run.BAT", b"@echo off\n", 0o644)
    p = make_roster(env, scan_prefix(env).files, layout=WINDOWS, home="C:\\envs\\app")
    modes = {name: m.mode for name, m in by_name(p).items()}
    assert (modes["Scripts/tool.exe"], modes["Scripts/run.BAT"], modes["bin/run"], modes["bin/tool"]) == (
        0o755, 0o755, 0o644, 0o644)
    assert {"Scripts/activate.bat", "Scripts/deactivate.bat", "Scripts/conda-unpack.exe",
            "Scripts/conda-unpack-script.py"} <= set(modes)
    assert modes["Scripts/conda-unpack.exe"] == 0o755 and "bin/conda-unpack" not in modes


def test_a_posix_dest_prefix_for_a_windows_environment_is_an_error(env: Path) -> None:
    with pytest.raises(RelocationError) as info:
        make_roster(env, scan_prefix(env).files, layout=WINDOWS, home="C:\\envs\\app", dest_prefix="/opt/app")
    assert str(info.value) == ("--dest-prefix '/opt/app': this environment is for Windows; give a Windows path "
                               "such as C:\\opt\\app")
