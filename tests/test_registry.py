"""The registry client against tiny servers that misbehave, and hostile base images: one-line errors."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator, Optional

import pytest

from condapack.cli import main
from condapack.errors import ConfigError, RegistryError
from condapack.oci.auth import credentials_for
from condapack.oci.client import Client, is_loopback, parse_reference
from condapack.project.config import load_project
from ocikit import write_layout


class FakeRegistry(BaseHTTPRequestHandler):
    """Just enough of the distribution API; ``server.mode`` says how it lies."""

    server: ThreadingHTTPServer

    def log_message(self, *args: object) -> None:
        """Quiet."""

    def _answer(self, status: int, headers: Optional[dict[str, str]] = None, body: bytes = b"") -> None:
        self.send_response(status)
        for key, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _authorized(self) -> bool:
        if getattr(self.server, "mode", "") == "basic":
            if self.headers.get("Authorization") == "Basic " + base64.b64encode(b"alice:secret").decode():
                return True
            self._answer(401, {"WWW-Authenticate": 'Basic realm="fake"'})
            return False
        if getattr(self.server, "mode", "") != "bearer" or self.path.startswith("/token"):
            return True
        if self.headers.get("Authorization") == "Bearer t0k":
            return True
        port = self.server.server_address[1]
        self._answer(401, {"WWW-Authenticate": f'Bearer realm="http://127.0.0.1:{port}/token",service="fake"'})
        return False

    def do_HEAD(self) -> None:
        if self._authorized():
            self._answer(404)

    def do_GET(self) -> None:
        expected = "Basic " + base64.b64encode(b"alice:secret").decode()
        if self.path.startswith("/token") and self.headers.get("Authorization") == expected:
            self._answer(200, body=json.dumps({"token": "t0k"}).encode())
        else:
            self._answer(403)

    def do_POST(self) -> None:
        if self._authorized():
            self._answer(202, {"Location": "/upload/1"})

    def do_PUT(self) -> None:
        if not self._authorized():
            return
        data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if getattr(self.server, "mode", "") == "wrong":
            digest = "sha256:" + "0" * 64
        self._answer(201, {"Docker-Content-Digest": digest})


@pytest.fixture
def fake_registry() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeRegistry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def image(tmp_path: Path) -> Path:
    write_layout(tmp_path / "img", {"hello.txt": b"hello\n"})
    return tmp_path / "img"


def test_a_registry_that_stores_other_bytes_than_sent_is_a_one_line_error(
        fake_registry: ThreadingHTTPServer, image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake_registry.mode = "wrong"  # type: ignore[attr-defined]
    port = fake_registry.server_address[1]
    assert main(["push", str(image), f"127.0.0.1:{port}/app:1"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the registry or something between us changed the bytes" in err


def test_a_bearer_challenge_is_answered_with_a_token_got_with_the_users_credentials(
        fake_registry: ThreadingHTTPServer, image: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    fake_registry.mode = "bearer"  # type: ignore[attr-defined]
    port = fake_registry.server_address[1]
    monkeypatch.setenv("CONDAPACK_REGISTRY_USER", "alice")
    monkeypatch.setenv("CONDAPACK_REGISTRY_PASSWORD", "secret")
    assert main(["push", "--json", str(image), f"127.0.0.1:{port}/app:1"]) == 0
    assert len(json.loads(capsys.readouterr().out)["uploaded"]) == 2
    monkeypatch.setenv("CONDAPACK_REGISTRY_PASSWORD", "wrong")
    assert main(["push", str(image), f"127.0.0.1:{port}/app:1"]) == 1
    assert "the token service refused (HTTP 403)" in capsys.readouterr().err


@pytest.mark.parametrize("password, problem", [
    (None, "asks for a user name and password; run `docker login {host}` or set CONDAPACK_REGISTRY_USER and "
           "CONDAPACK_REGISTRY_PASSWORD"),
    ("wrong", "HEAD /v2/app/blobs/sha256:{blob}: HTTP 401; the registry refused the credentials for user "
              "'alice': run `docker login {host}` or set CONDAPACK_REGISTRY_USER and CONDAPACK_REGISTRY_PASSWORD"),
])
def test_a_registry_refusing_access_is_one_line_saying_how_to_log_in(
        fake_registry: ThreadingHTTPServer, image: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], password: str | None, problem: str) -> None:
    fake_registry.mode = "basic"  # type: ignore[attr-defined]
    host = f"127.0.0.1:{fake_registry.server_address[1]}"
    monkeypatch.setenv("DOCKER_CONFIG", str(image.parent))  # no config.json there
    if password is not None:
        monkeypatch.setenv("CONDAPACK_REGISTRY_USER", "alice")
        monkeypatch.setenv("CONDAPACK_REGISTRY_PASSWORD", password)
    assert main(["push", str(image), f"{host}/app:1"]) == 1
    problem = problem.format(host=host, blob=_first_blob(image))
    assert capsys.readouterr().err == f"condapack: error: {host}: {problem}\n"
    monkeypatch.setenv("CONDAPACK_REGISTRY_USER", "alice")
    monkeypatch.setenv("CONDAPACK_REGISTRY_PASSWORD", "secret")
    assert main(["push", "-q", str(image), f"{host}/app:1"]) == 0


def test_a_registry_nobody_listens_on_is_one_line_after_the_retries(
        image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: connections are refused
        assert main(["push", str(image), f"127.0.0.1:{port}/app:1"]) == 1
    assert capsys.readouterr().err == (f"condapack: error: 127.0.0.1:{port}: HEAD /v2/app/blobs/sha256:"
                                       f"{_first_blob(image)}: Connection refused after 4 attempts; check the "
                                       "address, or pass a longer --timeout\n")


def test_a_reference_that_is_not_one_is_a_one_line_error(image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["push", str(image), "Registry.example/App:1"]) == 1
    assert capsys.readouterr().err == ("condapack: error: 'Registry.example/App:1' is not an image reference; "
                                       "write REGISTRY/REPOSITORY:TAG (lower-case repository, e.g. "
                                       "ghcr.io/team/env:1.0)\n")


@pytest.mark.slow  # waits out a timeout
def test_a_registry_that_never_answers_is_given_up_within_the_timeout(
        image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        assert main(["push", "--timeout", "0.2", str(image), f"127.0.0.1:{port}/app:1"]) == 1
    err = capsys.readouterr().err
    assert err == (f"condapack: error: 127.0.0.1:{port}: HEAD /v2/app/blobs/sha256:{_first_blob(image)}: "
                   "no answer within 0.2 s after 4 attempts; check the address, or pass a longer --timeout\n")


def _first_blob(image: Path) -> str:
    index = json.loads((image / "index.json").read_text())
    manifest = json.loads((image / "blobs/sha256" / index["manifests"][0]["digest"][7:]).read_text())
    return str(manifest["config"]["digest"][7:])


def test_plain_http_is_only_for_loopback_registries_unless_asked() -> None:
    assert Client(parse_reference("127.0.0.1:5000/a:1"), environ={}).base == "http://127.0.0.1:5000"
    assert Client(parse_reference("localhost:5000/a:1"), environ={}).base == "http://localhost:5000"
    assert Client(parse_reference("registry.example/a:1"), environ={}).base == "https://registry.example"
    assert Client(parse_reference("registry.example/a:1"), insecure=True, environ={}).base.startswith("http://")
    assert not is_loopback("10.0.0.1:5000") and is_loopback("[::1]:5000")


def test_references_are_read_as_docker_reads_them() -> None:
    assert str(parse_reference("python:3.12")) == "registry-1.docker.io/library/python:3.12"
    assert parse_reference("ghcr.io/team/env@sha256:" + "a" * 64).target == "sha256:" + "a" * 64
    assert parse_reference("localhost:5000/x/y").target == "latest"
    with pytest.raises(RegistryError, match="is not an image reference"):
        parse_reference("ghcr.io/Team/../env:1")


def test_credentials_come_from_variables_then_the_docker_config(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"auths": {"reg.example": {"auth": base64.b64encode(b"bob:pw").decode()}}}))
    environ = {"DOCKER_CONFIG": str(tmp_path)}
    found = credentials_for("reg.example", environ)
    assert found is not None and (found.user, found.password) == ("bob", "pw")
    assert credentials_for("other.example", environ) is None
    found = credentials_for("reg.example", {**environ, "CONDAPACK_REGISTRY_USER": "ci",
                                            "CONDAPACK_REGISTRY_PASSWORD": "tok"})
    assert found is not None and found.user == "ci"


def test_a_docker_config_that_is_a_fifo_is_one_line_not_a_hang(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "config.json")  # nobody writes to it: a blocking read would never return
    with pytest.raises(RegistryError) as info:
        credentials_for("reg.example", {"DOCKER_CONFIG": str(tmp_path)})
    assert str(info.value) == (f"{tmp_path / 'config.json'}: is a FIFO, not a regular file; fix the Docker config "
                               "file or set DOCKER_CONFIG")


def _pack_over(tiny_env: Path, base: Path, output: Path) -> int:
    return main(["pack", "-q", "-p", str(tiny_env), "-o", str(output), "--base", str(base)])


def test_a_base_whose_index_names_a_path_instead_of_a_digest_is_refused(
        tiny_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = tmp_path / "base"
    write_layout(base, {"etc/hostname": b"x\n"})
    (base / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:../../../etc/passwd",
         "size": 10}]}))
    before = sorted(os.listdir(tmp_path))
    assert _pack_over(tiny_env, base, tmp_path / "out.oci") == 1
    assert capsys.readouterr().err == (f"condapack: error: {base}: index.json: manifests[0]: "
                                       "'sha256:../../../etc/passwd' is not a sha256 digest (sha256:<64 hex digits>); "
                                       "the image is damaged or not an OCI image\n")
    assert sorted(os.listdir(tmp_path)) == before


def test_a_base_with_a_huge_manifest_or_a_layer_that_is_not_its_digest_is_refused(
        tiny_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = tmp_path / "base"
    manifest = write_layout(base, {"etc/hostname": b"x\n"})
    index = json.loads((base / "index.json").read_text())
    index["manifests"][0]["size"] = 64 << 20
    (base / "index.json").write_text(json.dumps(index))
    assert _pack_over(tiny_env, base, tmp_path / "out.oci") == 1
    assert "more than an image document may have" in capsys.readouterr().err
    write_layout(base, {"etc/hostname": b"x\n"})
    layer = json.loads((base / "blobs/sha256" / manifest[7:]).read_text())["layers"][0]["digest"][7:]
    (base / "blobs/sha256" / layer).write_bytes(b"\x1f\x8b not the layer")
    before = sorted(os.listdir(tmp_path))
    assert _pack_over(tiny_env, base, tmp_path / "out.oci") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not match its digest and size" in err
    assert sorted(os.listdir(tmp_path)) == before


@pytest.mark.parametrize("name", ["../../escaped", "/etc/escaped", "usr/../../escaped"])
def test_a_base_whose_layer_names_a_path_outside_the_image_is_refused_and_nothing_is_written(
        tiny_env: Path, tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    base = tmp_path / "deep" / "base"
    base.parent.mkdir()
    write_layout(base, {"etc/hostname": b"x\n", name: b"evil\n"})
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert _pack_over(tiny_env, base, tmp_path / "out.oci") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds an unsafe path" in err and repr(name) in err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # no escaped file, no output, no temp


def test_a_base_whose_hard_link_points_outside_the_image_is_refused(
        tiny_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = tmp_path / "base"
    write_layout(base, {"etc/hostname": b"x\n", "etc/shadow": ("hardlink", "../../etc/shadow")})
    assert _pack_over(tiny_env, base, tmp_path / "out.oci") == 1
    assert "holds an unsafe path" in capsys.readouterr().err
    assert not (tmp_path / "out.oci").exists()


def test_an_image_option_given_for_another_format_is_a_one_line_error(
        tiny_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pack", "-q", "-p", str(tiny_env), "-o", str(tmp_path / "e.tar.gz"), "--entrypoint", "x"]) == 1
    assert capsys.readouterr().err == ("condapack: error: --entrypoint applies only to format oci, not tar.gz; "
                                       "remove it or pack with --format oci\n")
    assert not (tmp_path / "e.tar.gz").exists()


@pytest.mark.parametrize("key, value, problem", [
    ("layers", "0", "condapack.toml: env.app.layers: must be a positive number, got 0"),
    ("layer-compression", '"lz4"',
     "condapack.toml: env.app.layer-compression: unknown value 'lz4' (known: gzip, zstd)"),
    ("layer-compression", '"zstdd"', "condapack.toml: env.app.layer-compression: unknown value 'zstdd' "
                                     "(did you mean 'zstd'?)"),
])
def test_a_bad_image_key_is_a_one_line_error_with_the_flags_rule(tmp_path: Path, key: str, value: str,
                                                                  problem: str) -> None:
    project = tmp_path / "condapack.toml"
    project.write_text(f'[env.app]\nprefix = "envs/app"\nformat = "oci"\n{key} = {value}\n')
    with pytest.raises(ConfigError) as info:
        load_project(project)
    assert str(info.value) == problem


def test_a_layer_budget_below_one_is_refused_by_the_flag_too(tiny_env: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pack", "-q", "-p", str(tiny_env), "-o", str(tmp_path / "e.oci"), "--layers", "0"]) == 1
    assert capsys.readouterr().err == "condapack: error: --layers must be a positive number, got 0\n"
    assert os.listdir(tmp_path) == ["tiny"]  # no output, no temporary


def test_a_registry_whose_tls_certificate_is_not_trusted_is_one_line_naming_the_fix_at_once(
        image: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeRegistry)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr("condapack.oci.client.is_loopback", lambda host: False)  # as a registry elsewhere: https
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    host = f"127.0.0.1:{server.server_address[1]}"
    try:
        assert main(["push", str(image), f"{host}/app:1"]) == 1
    finally:
        server.shutdown()
        server.server_close()
    assert capsys.readouterr().err == (f"condapack: error: {host}: HEAD /v2/app/blobs/sha256:{_first_blob(image)}: "
                                       "its TLS certificate is not trusted (self-signed certificate); add the "
                                       "registry's CA certificate to the system's trust store or name it in "
                                       "SSL_CERT_FILE\n")
