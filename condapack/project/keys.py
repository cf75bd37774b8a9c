"""What each ``condapack.toml`` key means: the reference the documentation renders.

The keys themselves are those :mod:`condapack.project.config` accepts (the packing
options' keys come from the option schema, with their help); this module adds a meaning
only for the keys that are not packing options, and :func:`project_keys` fails on a key
the loader accepts without one, so a new key cannot go undocumented.
"""

from __future__ import annotations

from typing import Any

import attrs

from ..cache.settings import CacheSettings
from .config import _CACHE_KEYS, _ENV_ONLY, _OPTIONS, _SETTINGS, _TABLES, _TOP

__all__ = ["KeyDoc", "project_keys", "HELP"]

#: The meaning of every key that is not a packing option (those carry their help in the schema).
HELP = {
    "output-dir": "Where archives and SHA256SUMS go, relative to the project file.",
    "formats": "The formats to build for the environment (names or aliases of --format, except infer).",
    "format": "One format, instead of formats.",
    "output": "The output file name inside output-dir: {env} the environment's key, {format} the format, "
              "{ext} its usual suffix ('' for no-archive).",
    "exclude": "gitignore-style patterns relative to the environment's root, applied in order; '!pattern' "
               "re-includes (even below an excluded directory). An [env.NAME] table's patterns follow these.",
    "sbom": "Also write a CycloneDX 1.6 JSON SBOM beside each archive (NAME.cdx.json, listed in SHA256SUMS).",
    "push": "Format oci: the registry tag (REGISTRY/REPOSITORY:TAG) condapack build pushes the image to when "
            "it changed since the last push from here; targets of several platforms pushing one tag become one "
            "image index. Credentials as condapack push reads them.",
    "prefix": "The environment's path, relative to the project file (set prefix or name).",
    "name": "A conda environment's name, found as conda-pack -n finds it (set prefix or name).",
    "cache.url": "The shared artifact cache: s3://bucket/prefix or file:///shared/dir (also gs://, az://, "
                 "https://). Overridden by --cache, CONDAPACK_CACHE and --no-cache.",
    "cache.write": "Upload what is built to the cache (as --cache-write does).",
    "cache.timeout": "Seconds per cache request; a failing store costs one warning, then the build goes on.",
}

_DEFAULTS = "[defaults], [env.NAME]"


@attrs.frozen
class KeyDoc:
    """One key of the project file: its dotted name, the tables it goes in, default and meaning."""

    key: str
    tables: str
    default: str
    help: str


def _toml(value: Any) -> str:
    """A default as it would be written in TOML (``unset`` where there is none)."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return str(value)


def _setting(key: str) -> KeyDoc:
    spec = _OPTIONS.get(key)
    if spec is None:
        return KeyDoc(key, _DEFAULTS, _toml(_SETTINGS[key]), HELP[key])
    flags = "/".join(spec.flags)
    if spec.negate:  # a true default that the flag turns off: the key says what the flag negates
        meaning = f"false does what {flags} does: {spec.help}"
    else:
        meaning = spec.help + (f" (as {flags})" if flags else "")
    return KeyDoc(key, _DEFAULTS, _toml(spec.default), meaning)


def project_keys() -> tuple[KeyDoc, ...]:
    """Every key the loader accepts, top-level keys first, then settings, tables, cache."""
    assert set(_TOP) == {"output-dir", "defaults", "env", "cache"}, "describe the new top-level key here"
    rows = [KeyDoc("output-dir", "top level", '"dist"', HELP["output-dir"])]
    rows += [_setting(key) for key in _SETTINGS if key not in _TABLES]
    for table, subs in _TABLES.items():
        rows += [attrs.evolve(_setting(f"{table}.{sub}"), tables=f"[defaults.{table}], [env.NAME.{table}]")
                 for sub in subs]
    rows += [KeyDoc(key, "[env.NAME]", "unset", HELP[key]) for key in _ENV_ONLY]
    cache = CacheSettings()
    rows += [KeyDoc(f"cache.{key}", "[cache]", _toml(getattr(cache, key)), HELP[f"cache.{key}"])
             for key in _CACHE_KEYS]
    return tuple(rows)
