"""A small client of the OCI distribution API: TLS, challenge auth, bounded reads and retries.

Built on :mod:`http.client` rather than a library: the push and pull condapack needs are
a handful of requests (HEAD, POST, PUT, GET), and the standard library lets every read
be bounded and every wait timed, with no new dependency. Plain HTTP is used only for a
loopback registry or when asked (``--insecure``).
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import os
import re
import time
import urllib.parse
from typing import IO, Callable, Mapping, Optional, Union, cast

import attrs

from ..errors import RegistryError
from .auth import DOCKER_HUB, Credentials, credentials_for
from .spec import MAX_DOCUMENT

__all__ = ["Reference", "parse_reference", "Response", "Client", "is_loopback"]

_REPO = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*\Z")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")
_REDIRECTS = (301, 302, 303, 307, 308)
_CHUNK = 1 << 20

#: A request body: bytes, or a function that opens it again for each attempt.
Body = Union[bytes, Callable[[], IO[bytes]], None]


@attrs.frozen
class Reference:
    """``HOST/REPOSITORY[:TAG][@DIGEST]``."""

    host: str
    repository: str
    tag: Optional[str] = None
    digest: Optional[str] = None

    @property
    def target(self) -> str:
        """What the manifest is addressed by: the digest, else the tag (default ``latest``)."""
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        return f"{self.host}/{self.repository}" + (f":{self.tag}" if self.tag else "") + \
            (f"@{self.digest}" if self.digest else "")


def parse_reference(text: str) -> Reference:
    """Read an image reference as Docker does (no host: Docker Hub, one name: ``library/``)."""
    rest, _, digest = text.partition("@")
    first, slash, path = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        host = first
    else:
        host, path = DOCKER_HUB, rest if "/" in rest else f"library/{rest}"
    repository, colon, tag = path.rpartition(":") if ":" in path.rsplit("/", 1)[-1] else (path, "", "")
    if not _REPO.match(repository) or (colon and not _TAG.match(tag)) or \
            (digest and not re.match(r"sha256:[0-9a-f]{64}\Z", digest)):
        raise RegistryError(f"{text!r} is not an image reference; write REGISTRY/REPOSITORY:TAG "
                            "(lower-case repository, e.g. ghcr.io/team/env:1.0)")
    return Reference(host, repository, tag or None, digest or None)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (with or without a port) is this machine."""
    if host.startswith("["):  # [IPv6]:PORT
        name = host[1:].partition("]")[0]
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@attrs.frozen
class Response:
    """A registry's answer: status, headers (lower-case names) and the (bounded) body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class Client:
    """Requests to one registry, authenticated as its challenges ask, retried within bounds."""

    def __init__(self, ref: Reference, *, insecure: bool = False, timeout: float = 30.0, attempts: int = 4,
                 environ: Mapping[str, str] = os.environ) -> None:
        self.ref, self.timeout, self.attempts = ref, timeout, attempts
        self.insecure = insecure or is_loopback(ref.host)
        self.base = ("http" if self.insecure else "https") + "://" + ref.host
        self.credentials: Optional[Credentials] = credentials_for(ref.host, environ)
        self._authorization: Optional[str] = None

    def url(self, path: str) -> str:
        """``/v2/REPOSITORY/path`` on this registry."""
        return f"{self.base}/v2/{self.ref.repository}/{path}"

    def call(self, method: str, url: str, expect: tuple[int, ...], *, headers: Mapping[str, str] = {},
             body: Body = None, sink: Optional[Callable[[bytes], object]] = None,
             limit: int = MAX_DOCUMENT) -> Response:
        """One request, retried on network errors and 5xx/429, re-sent after an auth challenge."""
        challenged = False
        for _hop in range(6):
            response = self._retried(method, url, headers, body, sink, limit)
            if response.status == 401 and not challenged and "www-authenticate" in response.headers:
                challenged = True
                self._authorization = self._answer(response.headers["www-authenticate"])
                continue
            if response.status in _REDIRECTS and "location" in response.headers:
                url = urllib.parse.urljoin(url, response.headers["location"])
                continue
            if response.status not in expect:
                fix = self._login_fix() if response.status in (401, 403) else ""
                raise RegistryError(f"{self.ref.host}: {method} {_short(url)}: {_problem(response)}{fix}")
            return response
        raise RegistryError(f"{self.ref.host}: {method} {_short(url)}: too many redirects or challenges")

    def _retried(self, method: str, url: str, headers: Mapping[str, str], body: Body,
                 sink: Optional[Callable[[bytes], object]], limit: int) -> Response:
        for attempt in range(self.attempts):
            last = attempt == self.attempts - 1
            try:
                response = self._send(method, url, headers, body, sink, limit)
            except (OSError, http.client.HTTPException) as exc:
                if last:
                    raise RegistryError(f"{self.ref.host}: {method} {_short(url)}: {_network(exc, self.timeout)} "
                                        f"after {self.attempts} attempts; check the address, or pass a "
                                        "longer --timeout") from None
            else:
                if response.status < 500 and response.status != 429 or last:
                    return response
            time.sleep(min(0.25 * 2 ** attempt, 4.0))
        raise AssertionError("unreachable")

    def _send(self, method: str, url: str, headers: Mapping[str, str], body: Body,
              sink: Optional[Callable[[bytes], object]], limit: int) -> Response:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or (parts.scheme == "http" and not self.insecure):
            raise RegistryError(f"{self.ref.host}: refusing {parts.scheme}:// for {_short(url)}; plain HTTP "
                                "only for a loopback registry or with --insecure")
        connection: http.client.HTTPConnection = (http.client.HTTPSConnection if parts.scheme == "https"
                                                  else http.client.HTTPConnection)(parts.netloc, timeout=self.timeout)
        sent = dict(headers)
        if self._authorization and parts.netloc == self.ref.host:
            sent["Authorization"] = self._authorization
        stream = body() if callable(body) else None
        try:
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            payload = stream if stream is not None else cast(Optional[bytes], body)
            connection.request(method, path or "/", body=payload, headers=sent)
            answer = connection.getresponse()
            data = _read(answer, sink if answer.status == 200 else None, limit, method)
            return Response(answer.status, {k.lower(): v for k, v in answer.getheaders()}, data)
        finally:
            if stream is not None:
                stream.close()
            connection.close()

    def _login_fix(self) -> str:
        """What to do when the registry refuses access: log in, or check the credentials given."""
        where = f"run `docker login {self.ref.host}` or set CONDAPACK_REGISTRY_USER and CONDAPACK_REGISTRY_PASSWORD"
        if self.credentials is None:
            return f"; the registry wants credentials: {where}"
        return f"; the registry refused the credentials for user {self.credentials.user!r}: {where}"

    def _answer(self, challenge: str) -> str:
        """The Authorization value a ``WWW-Authenticate`` challenge asks for."""
        scheme, _, rest = challenge.partition(" ")
        if scheme.lower() == "basic":
            if self.credentials is None:
                raise RegistryError(f"{self.ref.host}: asks for a user name and password; run `docker login "
                                    f"{self.ref.host}` or set CONDAPACK_REGISTRY_USER and CONDAPACK_REGISTRY_PASSWORD")
            return self.credentials.basic()
        if scheme.lower() != "bearer":
            raise RegistryError(f"{self.ref.host}: unsupported authentication {scheme!r}")
        params = dict(re.findall(r'(\w+)="([^"]*)"', rest))
        return "Bearer " + self._token(params)

    def _token(self, params: Mapping[str, str]) -> str:
        realm = params.get("realm", "")
        query = {k: v for k, v in params.items() if k in ("service", "scope")}
        query.setdefault("scope", f"repository:{self.ref.repository}:pull,push")
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
        headers = {"Authorization": self.credentials.basic()} if self.credentials else {}
        parts = urllib.parse.urlsplit(url)
        saved, self._authorization = self._authorization, None
        try:
            token_client = Client(attrs.evolve(self.ref, host=parts.netloc), insecure=self.insecure,
                                  timeout=self.timeout, attempts=self.attempts, environ={})
            response = token_client._retried("GET", url, headers, None, None, 1 << 16)
        finally:
            self._authorization = saved
        if response.status != 200:
            raise RegistryError(f"{self.ref.host}: the token service refused ({_problem(response)}); check the "
                                "credentials (docker login, CONDAPACK_REGISTRY_USER/PASSWORD)")
        try:
            doc = json.loads(response.body)
            return str(doc.get("token") or doc["access_token"])
        except (ValueError, KeyError, TypeError, AttributeError):
            raise RegistryError(f"{self.ref.host}: the token service answered no token") from None


def _read(answer: http.client.HTTPResponse, sink: Optional[Callable[[bytes], object]], limit: int,
          method: str) -> bytes:
    """The body, at most ``limit`` bytes kept (or streamed to ``sink``, at most ``limit`` in all)."""
    if method == "HEAD":
        return b""
    if sink is None:
        data = answer.read(limit + 1)
        if len(data) > limit:
            raise RegistryError(f"the registry answered more than {limit} bytes where a document was expected")
        return data
    total = 0
    while chunk := answer.read(min(_CHUNK, limit - total + 1)):
        total += len(chunk)
        if total > limit:
            raise RegistryError(f"the registry sent more than the {limit} bytes expected")
        sink(chunk)
    return b""


def _short(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return parts.path[:120]


def _network(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError) or "timed out" in str(exc):
        return f"no answer within {timeout:g} s"
    return str(getattr(exc, "strerror", None) or exc or type(exc).__name__)


def _problem(response: Response) -> str:
    """A registry error's status and first message (its JSON ``errors``), on one line."""
    detail = ""
    try:
        errors = json.loads(response.body).get("errors") or []
        detail = f": {errors[0].get('code', '')} {errors[0].get('message', '')}".rstrip()
    except (ValueError, AttributeError, IndexError, TypeError):
        pass
    return f"HTTP {response.status}{detail[:200]}".replace("\n", " ")
