"""Format oci: images that real tools read, that run over a base, reproducible, pushed to a real registry."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

import envkit
from condapack.cli import main
from envkit import EnvFactory
from helpers import run
from ocikit import Registry, busybox_base
from systools import require

pytestmark = pytest.mark.slow

PLACE = "/opt/conda/envs/app"


def build(env: Path, output: Path, *extra: str) -> dict[str, Any]:
    """Pack ``env`` as an image; return its manifest."""
    assert main(["pack", "-p", str(env), "-o", str(output), "-q", "-f", *extra]) == 0
    return manifest_of(output)


def index_of(layout: Path) -> dict[str, Any]:
    if layout.is_file():
        import tarfile

        with tarfile.open(layout) as tar:
            fh = tar.extractfile("index.json")
            assert fh is not None
            return dict(json.load(fh))
    return dict(json.loads((layout / "index.json").read_text()))


def manifest_digest(layout: Path) -> str:
    manifests = index_of(layout)["manifests"]
    assert isinstance(manifests, list) and len(manifests) == 1
    return str(manifests[0]["digest"])


def blob(layout: Path, digest: str) -> dict[str, Any]:
    return dict(json.loads((layout / "blobs" / "sha256" / digest.split(":")[1]).read_text()))


def manifest_of(layout: Path) -> dict[str, Any]:
    if layout.is_file():
        return {"digest": manifest_digest(layout)}
    return {"digest": manifest_digest(layout), **blob(layout, manifest_digest(layout))}


def config_of(layout: Path) -> dict[str, Any]:
    config = manifest_of(layout)["config"]
    assert isinstance(config, dict)
    return blob(layout, config["digest"])


@pytest.fixture
def registry(tmp_path: Path) -> object:
    server = Registry(tmp_path)
    yield server
    server.stop()


def test_each_package_has_its_own_layer_and_skopeo_and_umoci_read_the_image(real_env: EnvFactory,
                                                                              tmp_path: Path) -> None:
    env = real_env("basic")
    manifest = build(env, tmp_path / "env.oci")
    config = config_of(tmp_path / "env.oci")
    created_by = [h["created_by"] for h in config["history"]]
    assert created_by == ["condapack: cpdemo-py 1.0", "condapack: cpdemo-tools 1.0", "condapack: pip 25.2.post1",
                          f"condapack: python {envkit.PY_VERSION}", "condapack: files no package owns",
                          "condapack: condapack's activation files"]
    assert len(manifest["layers"]) == len(created_by)
    inspected = json.loads(run([require("skopeo"), "inspect", f"oci:{tmp_path / 'env.oci'}"]))
    assert inspected["Digest"] == manifest["digest"]
    assert inspected["Architecture"] == "amd64" and inspected["Os"] == "linux"
    name = env.name
    assert f"CONDA_PREFIX=/opt/conda/envs/{name}" in inspected["Env"]
    assert f"CPDEMO_HOME=/opt/conda/envs/{name}/share/cpdemo-1.0" in inspected["Env"]
    run([require("umoci"), "unpack", "--image", f"{tmp_path / 'env.oci'}:latest", str(tmp_path / "bundle")])
    tools = tmp_path / "bundle" / "rootfs" / f"opt/conda/envs/{name}" / envkit.C_PROGRAM
    assert tools.is_file()


def test_the_package_layers_share_by_name_hash_over_the_layer_budget(real_env: EnvFactory, tmp_path: Path) -> None:
    env = real_env("basic")
    manifest = build(env, tmp_path / "env.oci", "--layers", "2")
    history = [h["created_by"] for h in config_of(tmp_path / "env.oci")["history"]]
    assert len(manifest["layers"]) == len(history) <= 4
    assert sum(h.count(",") + 1 for h in history[:-2]) == 4  # every package in one of two layers


def test_a_dest_prefix_spelled_with_a_double_slash_still_gives_each_package_its_layer(real_env: EnvFactory,
                                                                                      tmp_path: Path) -> None:
    env = real_env("basic")
    build(env, tmp_path / "env.oci", "--dest-prefix", "/srv//app/./env/")
    history = [h["created_by"] for h in config_of(tmp_path / "env.oci")["history"]]
    assert history[:4] == ["condapack: cpdemo-py 1.0", "condapack: cpdemo-tools 1.0", "condapack: pip 25.2.post1",
                           f"condapack: python {envkit.PY_VERSION}"]


def test_an_image_over_a_busybox_base_runs_the_environment_under_chroot(real_env: EnvFactory,
                                                                        tmp_path: Path) -> None:
    env = real_env("basic")
    base = busybox_base(tmp_path / "base", env / envkit.PYTHON_BIN, env / envkit.C_PROGRAM)
    image = tmp_path / "app.oci.tar"
    build(env, image, "--base", str(base), "--dest-prefix", PLACE, "--entrypoint", "cpdemo-hello")
    run([require("skopeo"), "inspect", f"oci-archive:{image}"])
    layout = tmp_path / "app.oci"
    run([require("skopeo"), "copy", f"oci-archive:{image}", f"oci:{layout}:latest"])
    config = config_of(layout)
    assert config["config"]["Entrypoint"] == ["cpdemo-hello"]
    environ = dict(item.split("=", 1) for item in config["config"]["Env"])
    assert environ["PATH"].startswith(f"{PLACE}/bin:/bin")
    run([require("umoci"), "unpack", "--image", f"{layout}:latest", str(tmp_path / "bundle")])
    rootfs = str(tmp_path / "bundle" / "rootfs")
    tools = [shutil.which(tool) for tool in ("unshare", "mount", "chroot")]
    assert all(tools)
    # in a mount namespace of its own: the image's /proc (which $ORIGIN needs) vanishes with it
    script = f'{tools[1]} -t proc proc "$0/proc" && exec {tools[2]} "$0" "$@"'

    def inside(*argv: str) -> str:
        done = subprocess.run([str(tools[0]), "--mount", "--propagation", "private", "/bin/sh", "-c", script,
                               rootfs, *argv], capture_output=True, text=True, env=environ)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert inside(f"{PLACE}/bin/python", "-c", "import sys; print(sys.prefix)") == f"{PLACE}\n"
    assert inside(f"{PLACE}/{envkit.C_PROGRAM}") == f"{PLACE}\n{PLACE}\n"
    assert inside("cpdemo-hello").splitlines()[0] == PLACE  # the entry point, found on the image's PATH
    assert inside("/bin/sh", "-c", "echo $CPDEMO_ACTIVE $CPDEMO_HOME") == f"1 {PLACE}/share/cpdemo-1.0\n"


def layer_files(image: Path) -> dict[str, bytes]:
    """Every member of every layer of an OCI archive: name -> content (or link target)."""
    import tarfile

    out: dict[str, bytes] = {}
    with tarfile.open(image) as outer:
        manifest = json.load(outer.extractfile(f"blobs/sha256/{manifest_digest(image)[7:]}"))  # type: ignore
        for layer in manifest["layers"]:
            with tarfile.open(fileobj=outer.extractfile(f"blobs/sha256/{layer['digest'][7:]}")) as tar:
                for m in tar.getmembers():
                    fh = tar.extractfile(m) if m.isfile() else None
                    out[m.name] = fh.read() if fh else m.linkname.encode()
    return out


def test_digests_do_not_depend_on_the_thread_count_or_where_the_output_is(real_env: EnvFactory,
                                                                          tmp_path: Path) -> None:
    env = real_env("basic")
    (tmp_path / "elsewhere").mkdir()
    images = [tmp_path / "1.oci.tar", tmp_path / "2.oci.tar", tmp_path / "elsewhere" / "e.oci.tar"]
    for image, j in zip(images, ("1", "2", "2")):
        build(env, image, "-d", PLACE, "-j", j)
    assert len({image.read_bytes() for image in images}) == 1


def test_two_installs_at_different_paths_give_the_same_files_except_their_conda_records(
        real_env: EnvFactory, tmp_path: Path) -> None:
    """conda records each installed file's sha256, and a file holding the prefix hashes differently at
    each install path: the records differ, every file of the image is the same."""
    first, second = real_env("basic"), real_env("basic")
    build(first, tmp_path / "a.oci.tar", "-d", PLACE)
    build(second, tmp_path / "b.oci.tar", "-d", PLACE)
    a, b = layer_files(tmp_path / "a.oci.tar"), layer_files(tmp_path / "b.oci.tar")
    assert sorted(a) == sorted(b)
    differing = [name for name in a if a[name] != b[name]]
    assert differing and all(name.startswith(f"{PLACE[1:]}/conda-meta/") for name in differing)


def test_a_push_after_a_one_package_change_uploads_only_that_packages_layer(
        real_env: EnvFactory, tmp_path: Path, registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    env = real_env("basic")
    first = build(env, tmp_path / "env.oci")
    target = f"{registry.host}/envs/app:1"
    assert main(["push", str(tmp_path / "env.oci"), target, "--json"]) == 0
    pushed = json.loads(capsys.readouterr().out)
    assert pushed["digest"] == first["digest"] and len(registry.uploaded()) == len(first["layers"]) + 1
    pulled = tmp_path / "pulled"
    run([require("skopeo"), "copy", "--src-tls-verify=false", f"docker://{target}", f"oci:{pulled}:latest"])
    assert manifest_digest(pulled) == first["digest"]

    greeting = env / envkit.DATA_FILE
    greeting.write_text("hello again\n")
    second = build(env, tmp_path / "env.oci")
    changed = [layer["digest"] for layer in second["layers"] if layer not in first["layers"]]
    assert len(changed) == 1
    before = len(registry.uploaded())
    assert main(["push", str(tmp_path / "env.oci"), f"{registry.host}/envs/app:2", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert registry.uploaded()[before:] == [second["config"]["digest"], changed[0]] or \
        sorted(registry.uploaded()[before:]) == sorted([second["config"]["digest"], changed[0]])
    layer_size = next(layer["size"] for layer in second["layers"] if layer["digest"] == changed[0])
    assert again["uploaded_bytes"] < layer_size + 10_000


def test_a_registry_base_is_pulled_once_and_then_read_from_the_cache(
        real_env: EnvFactory, tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    env = real_env("nopython")
    base = busybox_base(tmp_path / "base", env / envkit.C_PROGRAM)
    assert main(["push", "-q", str(base), f"{registry.host}/base:1"]) == 0
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    by_tag = build(env, tmp_path / "a.oci", "--base", f"{registry.host}/base:1")
    base_digest = manifest_digest(base)
    assert by_tag["annotations"]["org.opencontainers.image.base.digest"] == base_digest
    registry.stop()
    by_digest = build(env, tmp_path / "b.oci", "--base", f"{registry.host}/base@{base_digest}")
    assert by_digest["layers"] == by_tag["layers"]
    assert [p.name for p in (tmp_path / "cache" / "condapack" / "images").iterdir()] == [base_digest[7:]]


def test_source_revision_and_version_annotations_are_on_the_manifest_and_labels_and_reproducible(
        real_env: EnvFactory, tmp_path: Path) -> None:
    env = real_env("basic")
    asked = {"source": "https://example.org/app", "revision": "0123abcd", "version": "1.2.3"}
    flags = [arg for key, value in asked.items() for arg in (f"--image-{key}", value)]
    images = [tmp_path / "1.oci.tar", tmp_path / "2.oci.tar"]
    for image in images:
        build(env, image, "-d", PLACE, *flags)
    assert images[0].read_bytes() == images[1].read_bytes()
    expected = {f"org.opencontainers.image.{key}": value for key, value in asked.items()}
    inspected = json.loads(run([require("skopeo"), "inspect", f"oci-archive:{images[0]}"]))
    assert {k: v for k, v in inspected["Labels"].items() if k in expected} == expected
    raw = json.loads(run([require("skopeo"), "inspect", "--raw", f"oci-archive:{images[0]}"]))
    assert raw["annotations"] == {**expected, "org.opencontainers.image.created": raw["annotations"][
        "org.opencontainers.image.created"], "org.opencontainers.image.title": "app"}
    build(env, tmp_path / "plain.oci.tar", "-d", PLACE)
    plain = json.loads(run([require("skopeo"), "inspect", f"oci-archive:{tmp_path / 'plain.oci.tar'}"]))
    assert plain["Labels"] is None and plain["Digest"] != inspected["Digest"]
