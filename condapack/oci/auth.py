"""Registry credentials: environment variables, the Docker config file, credential helpers.

Looked up in this order for a registry host: ``CONDAPACK_REGISTRY_USER`` and
``CONDAPACK_REGISTRY_PASSWORD``; the Docker config (``$DOCKER_CONFIG/config.json``, else
``~/.docker/config.json``): ``credHelpers[host]``, then ``auths[host].auth``, then
``credsStore`` (a helper is the program ``docker-credential-NAME``); else anonymous.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path
from typing import Any, Mapping, Optional

import attrs

from ..bounded import MIB, NotAFile, read_bounded
from ..errors import RegistryError

__all__ = ["Credentials", "credentials_for", "DOCKER_HUB"]

#: The host Docker Hub references are sent to, and the key its credentials are stored under.
DOCKER_HUB = "registry-1.docker.io"
_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io")
_HELPER_TIMEOUT = 30


@attrs.frozen
class Credentials:
    """A user name and a password (or token) for basic auth and token requests."""

    user: str
    password: str = attrs.field(repr=False)

    def basic(self) -> str:
        """The ``Authorization`` value of basic auth."""
        return "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()


def credentials_for(host: str, environ: Mapping[str, str]) -> Optional[Credentials]:
    """The credentials for ``host``, or None for anonymous access."""
    user, password = environ.get("CONDAPACK_REGISTRY_USER"), environ.get("CONDAPACK_REGISTRY_PASSWORD")
    if user and password is not None:
        return Credentials(user, password)
    config = _docker_config(environ)
    keys = (host, *(_HUB_KEYS if host == DOCKER_HUB else ()))
    helpers = config.get("credHelpers") or {}
    for key in keys:
        if isinstance(helpers, dict) and isinstance(helpers.get(key), str):
            return _from_helper(helpers[key], key)
    auths = config.get("auths") or {}
    for key in keys:
        entry = auths.get(key) if isinstance(auths, dict) else None
        if isinstance(entry, dict) and isinstance(entry.get("auth"), str) and entry["auth"]:
            return _decode(entry["auth"], key)
    store = config.get("credsStore")
    return _from_helper(store, keys[-1]) if isinstance(store, str) and store else None


def _docker_config(environ: Mapping[str, str]) -> dict[str, Any]:
    directory = environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    path = Path(directory) / "config.json"
    try:
        doc = json.loads(read_bounded(path, MIB))
    except FileNotFoundError:
        return {}
    except NotAFile as exc:
        raise RegistryError(f"{path}: {exc.problem}; fix the Docker config file or set DOCKER_CONFIG") from None
    except (OSError, ValueError, RecursionError) as exc:
        raise RegistryError(f"{path}: cannot be read as JSON ({exc}); fix it or set DOCKER_CONFIG") from None
    return doc if isinstance(doc, dict) else {}


def _decode(auth: str, key: str) -> Credentials:
    try:
        user, _, password = base64.b64decode(auth, validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        raise RegistryError(f"Docker config: auths[{key!r}].auth is not base64 of USER:PASSWORD; "
                            "run `docker login` again") from None
    return Credentials(user, password)


def _from_helper(name: str, host: str) -> Optional[Credentials]:
    """Ask ``docker-credential-NAME get`` (None when it knows no credentials for ``host``)."""
    program = f"docker-credential-{name}"
    try:
        done = subprocess.run([program, "get"], input=host.encode(), capture_output=True,
                              timeout=_HELPER_TIMEOUT, check=False)
    except FileNotFoundError:
        raise RegistryError(f"Docker config names the credential helper {name!r}, but {program} is not "
                            "on PATH; install it or remove it from the config") from None
    except subprocess.TimeoutExpired:
        raise RegistryError(f"{program} did not answer within {_HELPER_TIMEOUT} s; check it") from None
    if done.returncode != 0:
        return None  # "credentials not found in native keychain": anonymous
    try:
        doc = json.loads(done.stdout[:1 << 16])
        return Credentials(str(doc["Username"]), str(doc["Secret"]))
    except (ValueError, KeyError, TypeError):
        raise RegistryError(f"{program} answered something that is not its JSON; check it") from None
