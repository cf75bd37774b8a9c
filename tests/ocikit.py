"""OCI test parts: a tiny runnable base image and a real registry on loopback.

The base image is busybox (static) plus the host's C library, the files ``ldd`` names
for the given programs, as one layer of an OCI layout: enough for the test
environment's python and C program to run under ``chroot``. The registry is Debian's
``docker-registry`` (the CNCF distribution) with a temporary config and storage on a
free loopback port; its access log tells which blobs were uploaded.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import subprocess
import tarfile
import time
import urllib.request
from pathlib import Path
from typing import Mapping, Optional, Union

from s3server import free_port
from systools import require

#: A layer entry: file content (bytes or a host file to copy), ``("link", TARGET)`` or ``("hardlink", TARGET)``.
Entry = Union[bytes, Path, tuple[str, str]]


def _blob(root: Path, data: bytes) -> tuple[str, int]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (root / "blobs" / "sha256" / digest[7:]).write_bytes(data)
    return digest, len(data)


def layer_bytes(entries: Mapping[str, Entry]) -> bytes:
    """An uncompressed tar of ``entries`` (raw names: hostile ones are written as they are)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, entry in sorted(entries.items()):
            info = tarfile.TarInfo(name)
            if isinstance(entry, tuple):
                info.type = tarfile.LNKTYPE if entry[0] == "hardlink" else tarfile.SYMTYPE
                info.linkname = entry[1]
                tar.addfile(info)
                continue
            data = entry.read_bytes() if isinstance(entry, Path) else entry
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def write_layout(root: Path, entries: Mapping[str, Entry], *, platform: tuple[str, str] = ("linux", "amd64"),
                 env: tuple[str, ...] = ("PATH=/bin",)) -> str:
    """An OCI image layout of one gzip layer holding ``entries``; its manifest digest."""
    tar = layer_bytes(entries)
    layer, layer_size = _blob(root, gzip.compress(tar, mtime=0))
    config = {"os": platform[0], "architecture": platform[1], "config": {"Env": list(env)},
              "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]}}
    config_digest, config_size = _blob(root, json.dumps(config).encode())
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
                           "size": config_size},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer,
                            "size": layer_size}]}
    digest, size = _blob(root, json.dumps(manifest).encode())
    index = {"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": size,
         "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}
    (root / "index.json").write_text(json.dumps(index))
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    return digest


def host_libraries(*programs: Path) -> dict[str, Path]:
    """Path in the image -> host file, for every library ``ldd`` lists for ``programs``."""
    found: dict[str, Path] = {}
    for program in programs:
        out = subprocess.run(["ldd", str(program)], capture_output=True, text=True, check=True).stdout
        for path in re.findall(r"(?:=> |^\s*)(/\S+) \(0x", out, re.M):
            if not path.startswith(str(program.parent.parent)):  # the environment's own libraries
                found[path.lstrip("/")] = Path(path).resolve()
    return found


def busybox_base(root: Path, *programs: Path) -> Path:
    """A base image layout: static busybox as /bin/sh and friends, and the programs' C library."""
    busybox = Path(require("busybox")).resolve()
    entries: dict[str, Entry] = {"bin/busybox": busybox, "tmp/.keep": b"", "proc/.keep": b""}
    for applet in ("sh", "env", "cat", "ls", "echo"):
        entries[f"bin/{applet}"] = ("link", "busybox")
    entries.update(host_libraries(*programs))
    write_layout(root, entries)
    return root


class Registry:
    """``docker-registry`` on a free loopback port with its own storage; stop() ends it."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.log = workdir / f"registry-{self.port}.log"
        config = workdir / f"registry-{self.port}.yml"
        config.write_text(f"version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n"
                          f"    rootdirectory: {workdir / f'registry-{self.port}'}\n"
                          f"http:\n  addr: {self.host}\n")
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen([require("docker-registry"), "serve", str(config)], stdout=out,
                                         stderr=subprocess.STDOUT)
        self._wait()

    def _wait(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited:\n{self.log.read_text()}")
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"docker-registry did not answer on {self.host}:\n{self.log.read_text()}")

    def uploaded(self) -> list[str]:
        """The digests of the blobs whose upload the registry completed, in order."""
        text = self.log.read_text(errors="replace")
        return [d.replace("%3A", ":") for d in
                re.findall(r'"PUT /v2/\S+/blobs/uploads/\S*digest=(sha256%3A[0-9a-f]{64})\S* HTTP/1.1" 201', text)]

    def stop(self, timeout: Optional[float] = 10) -> None:
        """End the registry."""
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
