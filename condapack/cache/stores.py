"""Where cached artifacts live: a shared directory (``file://``) or an object store.

Both backends offer the same two operations: copy an object into an open file, and
write a local file once (a conditional put: an object that already exists is left
alone, unless the caller is replacing one it found corrupt). Neither ever shows a
partial object: S3 puts are atomic, and the directory backend hard-links a complete
temporary file into place (renames it, on a file system without hard links, where a
racing writer's object of the same name may be replaced). Messages never contain credentials: they are built from
the URL (which has none) and the kind of failure, not from the library's text.
"""

from __future__ import annotations

import configparser
import contextlib
import os
import re
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO, Protocol, Union
from urllib.parse import unquote, urlsplit

from ..bounded import MIB, NotAFile, open_regular, read_bounded
from ..errors import ConfigError
from ..output import publish

__all__ = ["BadObject", "Sink", "Store", "StoreError", "open_store"]

_NAME = re.compile(r"[0-9a-f]{64}(\.[a-z0-9.]+)?")
_SCHEMES = ("file", "s3", "gs", "az", "https", "http")
#: The largest AWS credentials or config file read (a few profiles: far smaller).
_AWS_FILE_LIMIT = 4 * MIB


class StoreError(Exception):
    """The store failed (unreachable, denied, read-only); the text is safe to show."""


class BadObject(Exception):
    """An object that is no object (a directory, FIFO or device in a shared directory)."""


class Sink(Protocol):
    """Where a fetched object's bytes go (a file, or a file that hashes them)."""

    def write(self, data: Union[bytes, memoryview], /) -> int: ...


class Store(Protocol):
    """A flat namespace of immutable objects."""

    url: str

    def get(self, name: str, sink: Sink, limit: int) -> bool:
        """Copy object ``name`` into ``sink``; False when there is no such object.

        No more than ``limit`` bytes plus one are copied: an object that holds more is
        cut there (and fails its manifest's check); one that is not an object (a FIFO,
        a device) raises :class:`BadObject`.
        """

    def put(self, name: str, source: Path, *, replace: bool = False) -> bool:
        """Store ``source`` as ``name`` unless it exists (or ``replace``); True if written."""


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"not a cache object name: {name!r}")
    return name


class DirectoryStore:
    """Objects as files in one directory (an NFS mount, say)."""

    def __init__(self, url: str, root: Path) -> None:
        self.url, self.root = url, root

    def get(self, name: str, sink: Sink, limit: int) -> bool:
        try:
            fd = open_regular(self.root / _check_name(name))
        except FileNotFoundError:
            return False
        except NotAFile as exc:
            raise BadObject(exc.problem) from None
        except OSError as exc:
            raise StoreError(f"cannot read {self.url}: {exc.strerror or type(exc).__name__}") from None
        try:
            with open(fd, "rb") as source:
                _copy(source, sink, limit)
        except OSError as exc:
            raise StoreError(f"cannot read {self.url}: {exc.strerror or type(exc).__name__}") from None
        return True

    def put(self, name: str, source: Path, *, replace: bool = False) -> bool:
        final = self.root / _check_name(name)
        try:
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=f".{name}.", suffix=".part")
        except OSError as exc:
            raise StoreError(f"cannot write to {self.url}: {exc.strerror or type(exc).__name__}") from None
        try:
            with os.fdopen(fd, "wb") as sink, open(source, "rb") as data:
                shutil.copyfileobj(data, sink, 1 << 20)
            os.chmod(tmp, 0o644)
            return publish(tmp, final, overwrite=replace)
        except OSError as exc:
            raise StoreError(f"cannot write to {self.url}: {exc.strerror or type(exc).__name__}") from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def _copy(source: BinaryIO, sink: Sink, limit: int) -> None:
    """At most ``limit`` bytes and one more: enough to tell an object too large."""
    left = limit + 1
    while left > 0 and (chunk := source.read(min(left, 1 << 20))):
        sink.write(chunk)
        left -= len(chunk)



class ObjectStore:
    """An object store reached through obstore (S3 and S3-compatible, GCS, Azure, HTTP)."""

    def __init__(self, url: str, store: Any) -> None:
        self.url, self._store = url, store

    def get(self, name: str, sink: Sink, limit: int) -> bool:
        import obstore

        left = limit + 1
        try:
            for chunk in obstore.get(self._store, _check_name(name)).stream():
                sink.write(memoryview(chunk)[:left])
                left -= len(chunk)
                if left <= 0:  # more than the manifest says: the rest is not read
                    break
        except FileNotFoundError:  # obstore's NotFoundError
            return False
        except Exception as exc:  # obstore raises several unrelated types; see _failure
            raise StoreError(_failure(self.url, "read", exc)) from None
        return True

    def put(self, name: str, source: Path, *, replace: bool = False) -> bool:
        import obstore
        from obstore.exceptions import AlreadyExistsError, PreconditionError

        # one PUT, not a multipart upload: atomic, and an aborted upload leaves nothing
        try:
            obstore.put(self._store, _check_name(name), source, mode="overwrite" if replace else "create",
                        use_multipart=False)
        except (AlreadyExistsError, PreconditionError):
            return False
        except Exception as exc:
            raise StoreError(_failure(self.url, "write to", exc)) from None
        return True


def _failure(url: str, verb: str, exc: BaseException) -> str:
    from obstore.exceptions import PermissionDeniedError, UnauthenticatedError

    if isinstance(exc, (PermissionDeniedError, UnauthenticatedError, PermissionError)):
        why = "access denied; check the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the profile)"
    elif isinstance(exc, TimeoutError):
        why = "timed out"
    else:
        why = f"the store is unreachable or failing ({type(exc).__name__})"
    return f"cannot {verb} {url}: {why}"


def open_store(url: str, timeout: float) -> Store:
    """The store a cache URL names; ``timeout`` bounds each request, in seconds.

    A malformed URL is a :class:`ConfigError`; a store that is not there now is a
    :class:`StoreError`, like any other failure of the store.
    """
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES or not (parts.netloc or parts.path):
        raise ConfigError(f"cache url {url!r}: use file:///shared/dir or s3://bucket/prefix "
                          "(gs://, az://, https:// need the s3 extra too)")
    if parts.username or parts.password or parts.query:
        raise ConfigError("cache url: put no credentials or query in it; use the standard AWS variables "
                          "or config files")
    if parts.scheme == "file":
        return _directory(url, parts.netloc, unquote(parts.path))
    return ObjectStore(url, _obstore(url, parts.scheme, timeout))


def _directory(url: str, host: str, path: str) -> DirectoryStore:
    if host not in ("", "localhost") or not path.startswith("/"):
        raise ConfigError(f"cache url {url!r}: a file:// url needs an absolute path, as in file:///shared/dir")
    root = Path(path)
    if not root.is_dir():  # an unmounted share, say: the build can go on without it
        raise StoreError(f"cannot use {url}: {root} is not a directory (create it, or mount the share)")
    return DirectoryStore(url, root)


def _obstore(url: str, scheme: str, timeout: float) -> Any:
    try:
        from obstore.store import from_url
    except ImportError:
        raise ConfigError(f"cache url {url!r} needs the object-store client: pip install 'condapack[s3]'") from None
    seconds = timedelta(seconds=timeout)
    client = {"timeout": seconds, "connect_timeout": min(seconds, timedelta(seconds=5))}
    retry = {"max_retries": 2, "retry_timeout": seconds * 2,
             "backoff": {"init_backoff": timedelta(milliseconds=100), "max_backoff": timedelta(seconds=1)}}
    options = _aws_settings() if scheme == "s3" else {}
    endpoint = str(options.get("endpoint", ""))
    if endpoint.startswith("http://"):
        client["allow_http"] = True  # type: ignore[assignment]
    try:
        return from_url(url, client_options=client, retry_config=retry, **options)  # type: ignore[call-overload]
    except Exception as exc:
        raise ConfigError(f"cache url {url!r}: not usable ({type(exc).__name__}); fix [cache] url") from None


def _aws_settings() -> dict[str, str]:
    """Endpoint, region and keys from the AWS variables, else the shared config files.

    obstore reads the AWS variables itself but not ``~/.aws/credentials`` and
    ``~/.aws/config``, which many CI setups use, so their profile is read here.
    """
    profile = os.environ.get("AWS_PROFILE", "default")
    home = Path(os.path.expanduser("~"))
    files = {"credentials": (os.environ.get("AWS_SHARED_CREDENTIALS_FILE", home / ".aws" / "credentials"), profile),
             "config": (os.environ.get("AWS_CONFIG_FILE", home / ".aws" / "config"),
                        profile if profile == "default" else f"profile {profile}")}
    found: dict[str, str] = {}
    for path, section in files.values():
        parser = configparser.ConfigParser()
        with contextlib.suppress(OSError, NotAFile, UnicodeDecodeError, configparser.Error):
            parser.read_string(read_bounded(path, _AWS_FILE_LIMIT).decode("utf-8"), str(path))
        if parser.has_section(section):
            found.update(parser[section])
    env = os.environ
    out = {"access_key_id": env.get("AWS_ACCESS_KEY_ID") or found.get("aws_access_key_id"),
           "secret_access_key": env.get("AWS_SECRET_ACCESS_KEY") or found.get("aws_secret_access_key"),
           "session_token": env.get("AWS_SESSION_TOKEN") or found.get("aws_session_token"),
           "region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or found.get("region"),
           "endpoint": env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or found.get("endpoint_url")}
    return {k: v for k, v in out.items() if v}
