"""The CycloneDX SBOM beside an archive: valid 1.6, complete, and byte-reproducible."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

import envkit
from condapack.cli import conda_pack_main, main
from condapack.digest import file_digest

PROJECT = """\
output-dir = "dist"
[defaults]
sbom = true
[env.a]
prefix = "../envs/a"
formats = ["tar.gz", "zip"]
"""


def checkout(root: Path, channel: Path, wheel: Path) -> Path:
    """A checkout with env a: basic plus a distribution pip installed from ``wheel``: the
    same file on every machine, without bytecode (which records the install time) and
    without a console script (whose hash in RECORD depends on the prefix in its shebang)."""
    env = envkit.create_env("basic", root / "envs" / "a", channel)
    envkit.run_env_python(env, "-m", "pip", "install", "--no-deps", "--no-compile", "-q", str(wheel))
    (root / "proj").mkdir(parents=True)
    (root / "proj" / "condapack.toml").write_text(PROJECT)
    return root / "proj" / "condapack.toml"


@pytest.fixture
def wheel(tmp_path: Path) -> Path:
    return envkit.make_wheel(tmp_path / "wheels", console_script=False)


def build(config: Path, *argv: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "condapack", "build", "-c", str(config), *argv],
                          capture_output=True, text=True, cwd=config.parent)
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


def valid(path: Path) -> dict[str, object]:
    """The SBOM at ``path``, after checking it against the CycloneDX 1.6 JSON schema."""
    text = path.read_text()
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert errors is None, errors
    doc: dict[str, object] = json.loads(text)
    return doc


def conda_purls(prefix: Path, channel: str) -> set[str]:
    records = [json.loads(p.read_bytes()) for p in (prefix / "conda-meta").glob("*.json")]
    return {f"pkg:conda/{r['name']}@{r['version']}?build={r['build']}&channel={channel}&subdir={r['subdir']}"
            for r in records}


@pytest.fixture
def project(conda_channel: Path, tmp_path: Path, wheel: Path) -> Path:
    return checkout(tmp_path / "ci-1", conda_channel, wheel)


def test_build_writes_a_valid_sbom_of_every_package_and_pip_distribution(project: Path,
                                                                        conda_channel: Path) -> None:
    build(project)
    dist = project.parent / "dist"
    doc = valid(dist / "a.tar.gz.cdx.json")
    components = {c["purl"]: c for c in doc["components"]}  # type: ignore[attr-defined]
    prefix = project.parent.parent / "envs" / "a"
    assert set(components) == conda_purls(prefix, conda_channel.name) | {"pkg:pypi/cpextra@1.0"}
    cpdemo = next(c for p, c in components.items() if p.startswith("pkg:conda/cpdemo-tools@"))
    record = json.loads(next((prefix / "conda-meta").glob("cpdemo-tools-*.json")).read_bytes())
    assert cpdemo["hashes"] == [{"alg": "SHA-256", "content": record["sha256"]},
                                {"alg": "MD5", "content": record["md5"]}]
    assert doc["metadata"]["component"] == {  # type: ignore[index]
        "type": "file", "bom-ref": "archive", "name": "a.tar.gz",
        "hashes": [{"alg": "SHA-256", "content": file_digest(str(dist / "a.tar.gz"))}]}
    assert doc["metadata"]["timestamp"] == "2020-01-01T00:00:00Z"  # type: ignore[index]
    sums = (dist / "SHA256SUMS").read_text().splitlines()
    assert [line.split("  ")[1] for line in sums] == ["a.tar.gz", "a.tar.gz.cdx.json", "a.zip", "a.zip.cdx.json"]
    subprocess.run(["sha256sum", "--check", "--quiet", "SHA256SUMS"], cwd=dist, check=True)


def test_sbom_is_identical_across_builds_and_machines(project: Path, conda_channel: Path, tmp_path: Path,
                                                     wheel: Path) -> None:
    cache = tmp_path / "nfs"
    cache.mkdir()
    build(project, "--cache", cache.as_uri(), "--cache-write")
    first = (project.parent / "dist" / "a.zip.cdx.json").read_bytes()
    build(project, "--force")
    assert (project.parent / "dist" / "a.zip.cdx.json").read_bytes() == first
    second = checkout(tmp_path / "elsewhere" / "ci-2", conda_channel, wheel)
    assert "2 fetched" in build(second, "--cache", cache.as_uri())
    assert (second.parent / "dist" / "a.zip.cdx.json").read_bytes() == first
    assert (second.parent / "dist" / "SHA256SUMS").read_bytes() == (project.parent / "dist" / "SHA256SUMS").read_bytes()


def test_a_missing_sbom_is_rewritten_by_the_next_build(project: Path) -> None:
    build(project)
    sbom = project.parent / "dist" / "a.zip.cdx.json"
    before = sbom.read_bytes()
    sbom.unlink()
    proc = subprocess.run([sys.executable, "-m", "condapack", "plan", "-c", str(project)], capture_output=True,
                          text=True, check=True)
    assert "a:zip     build       SBOM missing" in proc.stdout
    build(project)
    assert sbom.read_bytes() == before


def test_sbom_timestamp_follows_source_date_epoch(real_env: envkit.EnvFactory, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    env = real_env("pip_unmanaged")
    assert conda_pack_main(["-p", str(env), "-o", str(tmp_path / "env.tar"), "--sbom", "-q"]) == 0
    doc = valid(tmp_path / "env.tar.cdx.json")
    assert doc["metadata"]["timestamp"] == "2023-11-14T22:13:20Z"  # type: ignore[index]
    assert "pkg:pypi/cpextra@1.0" in {c["purl"] for c in doc["components"]}  # type: ignore[attr-defined]


def test_sbom_command_writes_one_targets_sbom_and_refuses_an_unbuilt_one(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project.write_text(PROJECT.replace("sbom = true\n", ""))
    assert main(["sbom", "-c", str(project), "a:zip"]) == 1
    assert capsys.readouterr().err == (f"condapack: error: a:zip: {project.parent / 'dist' / 'a.zip'} is not "
                                       "built; run condapack build a:zip first\n")
    build(project)
    assert not (project.parent / "dist" / "a.zip.cdx.json").exists()
    assert main(["sbom", "-c", str(project), "a:zip", "-o", str(project.parent / "out.json")]) == 0
    assert capsys.readouterr().out.strip().endswith("out.json")
    valid(project.parent / "out.json")
