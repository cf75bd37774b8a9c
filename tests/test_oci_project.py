"""Format oci in a project: locked with its digests, rebuilt and pushed incrementally, an index per tag."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

import envkit
from condapack.errors import ConfigError, RegistryError
from condapack.oci.registry import push_images
from condapack.project.build import build
from condapack.project.config import load_project
from envkit import EnvFactory
from helpers import run
from ocikit import Registry, write_layout
from systools import require


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    server = Registry(tmp_path)
    yield server
    server.stop()


def project_file(root: Path, env: Path, extra: str) -> Path:
    root.mkdir()
    (root / "condapack.toml").write_text(f'[env.app]\nprefix = "{os.path.relpath(env, root)}"\n'
                                         f'formats = ["oci"]\n{extra}')
    return root / "condapack.toml"


def built(config: Path) -> list[str]:
    return [r.target.name for r in build(load_project(config)) if r.made]


def locked_image(config: Path) -> dict[str, Any]:
    image = json.loads(config.with_name("condapack.lock").read_text())["targets"]["app:oci"]["image"]
    assert isinstance(image, dict)
    return image


@pytest.mark.slow
def test_an_oci_target_is_locked_with_its_digests_and_rebuilt_and_pushed_only_when_a_package_changes(
        real_env: EnvFactory, tmp_path: Path, registry: Registry) -> None:
    env = real_env("basic")
    config = project_file(tmp_path / "proj", env, f'push = "{registry.host}/envs/app:1"\n')
    assert built(config) == ["app:oci"]
    first = locked_image(config)
    layers = first["layers"]
    assert isinstance(layers, list) and len(layers) == 6  # four packages, unmanaged, condapack's
    assert len(registry.uploaded()) == len(layers) + 1  # and the config
    pulled = tmp_path / "pulled"
    run([require("skopeo"), "copy", "--src-tls-verify=false", f"docker://{registry.host}/envs/app:1",
         f"oci:{pulled}:latest"])
    assert json.loads((pulled / "index.json").read_text())["manifests"][0]["digest"] == first["manifest"]

    requests = registry.log.read_text().count('HTTP/1.1"')
    assert built(config) == []  # a no-op build: nothing packed, nothing asked of the registry
    assert registry.log.read_text().count('HTTP/1.1"') == requests

    (env / envkit.DATA_FILE).write_text("hello again\n")
    assert built(config) == ["app:oci"]
    second = locked_image(config)
    changed = [layer for layer in second["layers"] if layer not in layers]
    assert len(changed) == 1 and second["manifest"] != first["manifest"]
    assert len(registry.uploaded()) == len(layers) + 3  # the changed layer and the new config


@pytest.mark.slow
def test_an_image_fetched_from_the_shared_cache_is_pushed_too(real_env: EnvFactory, tmp_path: Path,
                                                              registry: Registry) -> None:
    env, cache = real_env("nopython"), tmp_path / "shared"
    cache.mkdir()
    table = f'[cache]\nurl = "{cache.as_uri()}"\nwrite = true\n'
    ci = project_file(tmp_path / "ci", env, f'push = "{registry.host}/envs/app:ci"\n{table}')
    assert built(ci) == ["app:oci"]
    here = project_file(tmp_path / "here", env, f'push = "{registry.host}/envs/app:here"\n{table}')
    (result,) = build(load_project(here))
    assert result.status == "fetched"  # so the lock here records no image: the push reads the output
    assert _get(registry, "manifests/here") == _get(registry, "manifests/ci")
    requests = registry.log.read_text().count('HTTP/1.1"')
    assert built(here) == [] and registry.log.read_text().count('HTTP/1.1"') == requests  # pushed once


@pytest.mark.slow
def test_a_failed_push_is_tried_again_by_the_next_build(real_env: EnvFactory, tmp_path: Path) -> None:
    config = project_file(tmp_path / "proj", real_env("nopython"), 'push = "127.0.0.1:9/envs/app:1"\n')
    with pytest.raises(RegistryError, match="127.0.0.1:9"):
        build(load_project(config))
    server = Registry(tmp_path)
    try:
        text = config.read_text().replace("127.0.0.1:9", server.host)
        config.write_text(text)
        assert built(config) == []  # the image is up to date; only the push was missing
        assert len(server.uploaded()) == len(locked_image(config)["layers"]) + 1
    finally:
        server.stop()


def test_images_of_several_platforms_pushed_to_one_tag_become_an_image_index(
        tmp_path: Path, registry: Registry) -> None:
    write_layout(tmp_path / "amd64", {"hello": b"amd64\n"}, platform=("linux", "amd64"))
    write_layout(tmp_path / "arm64", {"hello": b"arm64\n"}, platform=("linux", "arm64"))
    _add_platform(tmp_path / "amd64", "amd64")
    _add_platform(tmp_path / "arm64", "arm64")
    target = f"{registry.host}/envs/multi:1"
    result = push_images([tmp_path / "arm64", tmp_path / "amd64"], target)
    raw = json.loads(run([require("skopeo"), "inspect", "--tls-verify=false", "--raw", f"docker://{target}"]))
    assert raw["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert [m["platform"]["architecture"] for m in raw["manifests"]] == ["amd64", "arm64"]
    assert result.digest.startswith("sha256:") and len(result.uploaded) == 4
    for arch in ("amd64", "arm64"):
        inspected = json.loads(run([require("skopeo"), "inspect", "--tls-verify=false", "--override-arch", arch,
                                    f"docker://{target}"]))
        assert inspected["Architecture"] == arch


def _add_platform(layout: Path, arch: str) -> None:
    index = json.loads((layout / "index.json").read_text())
    index["manifests"][0]["platform"] = {"os": "linux", "architecture": arch}
    (layout / "index.json").write_text(json.dumps(index))


def test_two_images_of_one_platform_cannot_share_a_tag(tmp_path: Path, registry: Registry) -> None:
    for name in ("a", "b"):
        write_layout(tmp_path / name, {"hello": name.encode()})
        _add_platform(tmp_path / name, "amd64")
    with pytest.raises(RegistryError, match="two for linux/amd64; an image index holds one image per platform"):
        push_images([tmp_path / "a", tmp_path / "b"], f"{registry.host}/envs/multi:1")


def test_push_needs_an_oci_format_and_a_tag(tmp_path: Path) -> None:
    config = project_file(tmp_path / "proj", tmp_path / "env", "")
    config.write_text(config.read_text().replace('["oci"]', '["tar.gz"]') + 'push = "reg.example/a:1"\n')
    with pytest.raises(ConfigError, match=r"env.app.push: only an image is pushed: add \"oci\" to formats"):
        load_project(config)
    config.write_text(config.read_text().replace('"tar.gz"', '"oci"').replace(":1", "@sha256:" + "a" * 64))
    with pytest.raises(ConfigError, match="names a digest; push to a tag"):
        load_project(config)
    config.write_text(config.read_text().replace("@sha256:" + "a" * 64, ":1"))
    assert load_project(config).targets[0].push == "reg.example/a:1"


def test_image_settings_of_an_env_apply_to_its_oci_target_only(tmp_path: Path) -> None:
    config = project_file(tmp_path / "proj", tmp_path / "env", 'entrypoint = "python -m app"\nlayers = 20\n')
    config.write_text(config.read_text().replace('["oci"]', '["tar.gz", "oci"]'))
    tar, oci = load_project(config).targets
    assert (tar.options.entrypoint, tar.options.layers) == (None, 100)
    assert (oci.options.entrypoint, oci.options.layers) == ("python -m app", 20)


@pytest.mark.slow
def test_an_sbom_target_pushes_its_sbom_as_a_referrer_of_the_image(
        real_env: EnvFactory, tmp_path: Path, registry: Registry) -> None:
    config = project_file(tmp_path / "proj", real_env("nopython"),
                          f'sbom = true\npush = "{registry.host}/envs/app:1"\n')
    assert built(config) == ["app:oci"]
    manifest = locked_image(config)["manifest"]
    assert isinstance(manifest, str)
    referrers = _get(registry, f"manifests/sha256-{manifest[7:]}")
    (entry,) = referrers["manifests"]
    assert entry["artifactType"] == "application/vnd.cyclonedx+json"
    referrer = _get(registry, f"manifests/{entry['digest']}")
    assert referrer["subject"]["digest"] == manifest
    sbom = config.parent / "dist" / "app.oci.tar.cdx.json"
    with urllib.request.urlopen(f"http://{registry.host}/v2/envs/app/blobs/{referrer['layers'][0]['digest']}") as r:
        assert r.read() == sbom.read_bytes()


def _get(registry: Registry, path: str) -> dict[str, Any]:
    request = urllib.request.Request(f"http://{registry.host}/v2/envs/app/{path}", headers={
        "Accept": "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json"})
    with urllib.request.urlopen(request) as response:
        return dict(json.loads(response.read()))
