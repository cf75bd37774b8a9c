"""A real S3 API server for the cache tests: moto's server mode on 127.0.0.1.

The server enforces authentication (``INITIAL_NO_AUTH_ACTION_COUNT``): the first
requests, made here, create the bucket and an IAM user with an access key, and every
later request must be signed with that key. ``CutProxy`` stands between a client and
the server to drop a connection in the middle of an upload.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Optional

BUCKET = "ci-cache"
#: The setup requests made before authentication is enforced.
_SETUP_ACTIONS = 4


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto_server exited with {proc.returncode}:\n{log.read_text()}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"moto_server did not listen on 127.0.0.1:{port} within 60 s:\n{log.read_text()}")


class S3Server:
    """moto_server on a free loopback port with one bucket and one user's key."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"moto-{self.port}.log"
        env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(_SETUP_ACTIONS)}
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                                          "-p", str(self.port)], stdout=out, stderr=subprocess.STDOUT, env=env)
        _wait_listening(self.port, self.proc, self.log)
        self.key_id, self.secret = self._setup()

    def _client(self, service: str, key_id: str = "setup", secret: str = "setup") -> object:
        import boto3

        return boto3.client(service, endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=key_id, aws_secret_access_key=secret)

    def _setup(self) -> tuple[str, str]:
        self._client("s3").create_bucket(Bucket=BUCKET)  # type: ignore[attr-defined]
        iam = self._client("iam")
        iam.create_user(UserName="ci")  # type: ignore[attr-defined]
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        iam.put_user_policy(UserName="ci", PolicyName="cache",  # type: ignore[attr-defined]
                            PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName="ci")["AccessKey"]  # type: ignore[attr-defined]
        return str(key["AccessKeyId"]), str(key["SecretAccessKey"])

    def aws_env(self, endpoint: Optional[str] = None, secret: Optional[str] = None) -> dict[str, str]:
        """The standard AWS variables a CI job would set to reach this server."""
        return {"AWS_ACCESS_KEY_ID": self.key_id, "AWS_SECRET_ACCESS_KEY": secret or self.secret,
                "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint or self.endpoint}

    def objects(self) -> dict[str, bytes]:
        """Every object in the bucket, by key, read with the real credentials."""
        s3 = self._client("s3", self.key_id, self.secret)
        listing = s3.list_objects_v2(Bucket=BUCKET)  # type: ignore[attr-defined]
        keys = [item["Key"] for item in listing.get("Contents", [])]
        return {k: s3.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in keys}  # type: ignore[attr-defined]

    def put(self, key: str, data: bytes) -> None:
        """Overwrite one object (to corrupt the cache on purpose)."""
        self._client("s3", self.key_id, self.secret).put_object(  # type: ignore[attr-defined]
            Bucket=BUCKET, Key=key, Body=data)

    def kill(self) -> None:
        """Stop the server the hard way, as a crash would."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)


class CutProxy:
    """A TCP proxy that forwards to ``upstream`` until a PUT of a large body starts,
    forwards ``cut_after`` bytes of it, then drops every connection and stops listening:
    to the client, the server died in the middle of the upload."""

    def __init__(self, upstream_port: int, cut_after: int = 4096) -> None:
        self.upstream_port, self.cut_after = upstream_port, cut_after
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.cut = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.cut.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, watch: bool) -> None:
        sent, uploading = 0, False
        try:
            while data := source.recv(65536):
                if watch and data.startswith(b"PUT ") and b".json" not in data.split(b"\r\n", 1)[0]:
                    uploading = True
                if uploading and sent + len(data) > self.cut_after:
                    sink.sendall(data[: self.cut_after - sent])
                    self.close()
                    break
                sink.sendall(data)
                sent += len(data) if uploading else 0
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    def close(self) -> None:
        """Stop listening; connections in flight are dropped by their pumps."""
        self.cut.set()
        self.listener.close()
