"""``condapack.toml`` -> a frozen :class:`Project` (strict keys, key-path errors).

Every error names the file and the key path, and unknown keys suggest the closest
known one: ``condapack.toml: env.web.formats[0]: unknown format 'tar.gzz' (did you
mean 'tar.gz'?)``.
"""

from __future__ import annotations

import os
import sys
import unicodedata
from pathlib import Path
from typing import Any, Callable, Optional

import attrs

from ..archive.formats import extension, level_problem
from ..bounded import MIB, NotAFile, read_bounded
from ..cache.settings import CacheSettings
from ..errors import ConfigError, did_you_mean
from ..options import OptionSpec, PackOptions, layers_problem, schema, threads_problem
from ..unpack.safepath import absolute_path, host_path, plain_name, relative_path
from .values import Reader, checked, env_key, format_name, join, pattern, reference, show, slim, template

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on older Pythons only
    import tomli as tomllib

__all__ = ["PROJECT_FILE", "Project", "EnvSpec", "TargetSpec", "find_project", "load_project"]

PROJECT_FILE = "condapack.toml"
#: The checksum file ``condapack build`` writes into output-dir.
SUMS_FILE = "SHA256SUMS"
#: The largest project file read (a project file is hand-written: far smaller).
PROJECT_FILE_LIMIT = 16 * MIB

#: Packing options that condapack.toml sets: toml key -> option (``parcel.root``: in a sub-table).
_OPTIONS: dict[str, OptionSpec] = {spec.toml: spec for spec in schema() if spec.toml}
#: Sub-tables of packing options (``[defaults.parcel]``) -> their keys.
_TABLES: dict[str, tuple[str, ...]] = {}
for _key in _OPTIONS:
    if "." in _key:
        _table, _sub = _key.split(".", 1)
        _TABLES[_table] = (*_TABLES.get(_table, ()), _sub)
# Settings allowed in [defaults] and in every [env.NAME] table, with their defaults.
_SETTINGS: dict[str, Any] = {
    "formats": ["tar.gz"],
    "format": None,
    "output": "{env}{ext}",
    "exclude": [],
    "sbom": False,
    "push": None,
    **{key: spec.default for key, spec in _OPTIONS.items() if "." not in key},
    **{table: {} for table in _TABLES},
}
_KINDS: dict[type, str] = {bool: "true or false", int: "an integer", str: "a string"}
_ENV_ONLY = ("prefix", "name")
_TOP = ("output-dir", "defaults", "env", "cache")
_CACHE_KEYS = ("url", "write", "timeout")


@attrs.frozen
class EnvSpec:
    """An environment the project packs: by prefix (resolved) or by conda name."""

    key: str
    prefix: Optional[Path]
    conda_name: Optional[str]


@attrs.frozen
class TargetSpec:
    """One archive to build: an environment in one format with resolved packing options."""

    env: str
    format: str
    output: Path
    options: PackOptions
    exclude: tuple[str, ...]
    sbom: bool = False
    #: Where ``condapack build`` pushes the image it builds (format oci only).
    push: Optional[str] = None

    @property
    def name(self) -> str:
        """``ENV:FORMAT``, how targets are named on the command line."""
        return f"{self.env}:{self.format}"


@attrs.frozen
class Project:
    """A loaded project file: where it is, its environments and targets."""

    path: Path
    output_dir: Path
    envs: tuple[EnvSpec, ...]
    targets: tuple[TargetSpec, ...]
    cache: CacheSettings = CacheSettings()

    @property
    def root(self) -> Path:
        """The directory holding the project file."""
        return self.path.parent

    @property
    def lock_path(self) -> Path:
        """``condapack.lock`` beside the project file."""
        return self.path.with_name("condapack.lock")

    @property
    def state_dir(self) -> Path:
        """Where the memos and the build state live: never part of the lock."""
        return self.root / ".condapack"

    def env(self, key: str) -> EnvSpec:
        """The environment named ``key``."""
        return next(e for e in self.envs if e.key == key)


def find_project(start: Path) -> Path:
    """The nearest ``condapack.toml`` in ``start`` or one of its parents."""
    for directory in (start, *start.parents):
        candidate = directory / PROJECT_FILE
        if candidate.is_file():
            return candidate
    raise ConfigError(f"no {PROJECT_FILE} in {start} or any parent directory; create one "
                      f"(see condapack.toml.example) or pass -c/--config PATH")


def load_project(path: Path) -> Project:
    """Read and validate a project file."""
    path = Path(os.path.abspath(path))
    reader = Reader(path)
    try:
        data = tomllib.loads(read_bounded(path, PROJECT_FILE_LIMIT).decode("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such project file; create it or pass another -c/--config") from None
    except NotAFile as exc:
        if not path.is_dir():
            raise ConfigError(f"{exc} (the project file: -c/--config, CONDAPACK_CONFIG)") from None
        raise ConfigError(f"{path}: is a directory; pass the project file itself to -c/--config "
                          f"(e.g. {Path(path.name) / PROJECT_FILE})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the project file ({exc.strerror}); fix its permissions") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path.name}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name}: invalid TOML: {exc}; fix the syntax") from None
    except RecursionError:
        raise ConfigError(f"{path.name}: invalid TOML: nested too deeply; simplify it") from None
    reader.check_keys(data, _TOP, "")
    output_dir = path.parent / checked(reader, lambda v: relative_path(v, allow_empty=True),
                                        data.get("output-dir", "dist"), "output-dir",
                                        "name a directory inside the project")
    defaults = _settings(reader, reader.typed(data.get("defaults", {}), dict, "defaults", "a table"),
                         "defaults", dict(_SETTINGS))
    envs_table = reader.typed(data.get("env", {}), dict, "env", "a table of environments")
    if not envs_table:
        raise reader.fail("env", "no environments declared; add an [env.NAME] table with prefix or name")
    envs, targets = [], []
    for key in sorted(envs_table):
        env_key(reader, key)
        env, env_targets = _env(reader, key, envs_table[key], defaults, output_dir)
        envs.append(env)
        targets += env_targets
    _check_unique_outputs(reader, targets)
    cache = _cache(reader, reader.typed(data.get("cache", {}), dict, "cache", "a table"))
    return Project(path=path, output_dir=output_dir, envs=tuple(envs), targets=tuple(targets), cache=cache)


def _cache(reader: Reader, table: dict[str, Any]) -> CacheSettings:
    """``[cache]``: url (file:// or s3://...), write (upload after building), timeout (seconds)."""
    reader.check_keys(table, _CACHE_KEYS, "cache")
    url = reader.typed(table.get("url", ""), str, "cache.url", "a url such as s3://bucket/prefix") or None
    write = reader.typed(table.get("write", False), bool, "cache.write", "true or false")
    timeout = reader.typed(table.get("timeout", 30), (int, float), "cache.timeout", "a number of seconds")
    if isinstance(timeout, bool) or timeout <= 0:
        raise reader.fail("cache.timeout", f"must be a positive number of seconds, got {show(timeout)}")
    return CacheSettings(url=url, write=write, timeout=float(timeout))


def _settings(reader: Reader, table: dict[str, Any], where: str, base: dict[str, Any]) -> dict[str, Any]:
    """Validate the shared settings keys of ``table`` and lay them over ``base``."""
    out = dict(base)
    allowed = [*_SETTINGS, *(_ENV_ONLY if where.startswith("env.") else ())]
    reader.check_keys(table, allowed, where)
    for key, value in table.items():
        if key in _ENV_ONLY:
            continue
        out[key] = _setting(reader, key, value, join(where, key))
    if "format" in table and "formats" in table:
        raise reader.fail(where, "set either format or formats, not both")
    if "format" in table:
        out["formats"] = [out.pop("format")]
        out["format"] = None
    if "exclude" in table and where.startswith("env."):
        out["exclude"] = [*base["exclude"], *out["exclude"]]
    return out


#: The count keys and their rule (the same one their flag's check applies).
_COUNTS: dict[str, Callable[[int], Optional[str]]] = {"threads": threads_problem, "layers": layers_problem}


def _setting(reader: Reader, key: str, value: Any, where: str) -> Any:
    if key in ("formats",):
        items = reader.typed(value, list, where, "a list of formats")
        return [format_name(reader, item, f"{where}[{i}]") for i, item in enumerate(items)]
    if key == "format":
        return format_name(reader, value, where)
    if key == "exclude":
        items = reader.typed(value, list, where, "a list of gitignore-style patterns")
        return [pattern(reader, item, f"{where}[{i}]") for i, item in enumerate(items)]
    if key in _COUNTS:
        number = reader.typed(value, int, where, "an integer")
        problem = _COUNTS[key](number)
        if problem:
            raise reader.fail(where, problem)
        return number
    if key == "sbom":
        return reader.typed(value, bool, where, "true or false")
    if key == "push":
        return reference(reader, reader.typed(value, str, where, "an image reference"), where)
    if key == "slim":
        return slim(reader, value, where)
    if key == "parcel":
        table = reader.typed(value, dict, where, "a table")
        reader.check_keys(table, _TABLES[key], where)
        rules = {"root": absolute_path}
        return {k: checked(reader, rules.get(k, plain_name), reader.typed(v, str, join(where, k), "a string"),
                            join(where, k), "set another value") for k, v in table.items()}
    if key == "output":
        return template(reader, reader.typed(value, str, where, "a file name template"), where)
    if key == "dest-prefix":
        return checked(reader, absolute_path, value, where, "set the final location of the environment")
    if key == "arcroot":
        return checked(reader, lambda v: relative_path(str(v).lstrip("/"), allow_empty=True),
                        reader.typed(value, str, where, "a string"), where, "name a directory inside the archive")
    spec = _OPTIONS[key]
    typed = reader.typed(value, spec.kind, where, _KINDS[spec.kind])
    if spec.choices and typed not in spec.choices:
        raise reader.fail(where, f"unknown value {typed!r}{did_you_mean(typed, spec.choices)}")
    return typed


def _env(reader: Reader, key: str, table: Any, defaults: dict[str, Any],
         output_dir: Path) -> tuple[EnvSpec, list[TargetSpec]]:
    where = f"env.{key}"
    table = reader.typed(table, dict, where, "a table")
    settings = _settings(reader, table, where, defaults)
    prefix, name = table.get("prefix"), table.get("name")
    if (prefix is None) == (name is None):
        raise reader.fail(where, "set exactly one of prefix (a path) or name (a conda environment name)")
    if prefix is not None:
        text = reader.typed(prefix, str, f"{where}.prefix", "a path")
        prefix = reader.path.parent / checked(reader, host_path, text, f"{where}.prefix", "fix the path")
        prefix = Path(os.path.normpath(prefix))
    else:
        checked(reader, plain_name, reader.typed(name, str, f"{where}.name", "an environment name"),
                 f"{where}.name", "name a conda environment, or set prefix instead")
    env = EnvSpec(key=key, prefix=prefix, conda_name=name)
    if not settings["formats"]:
        raise reader.fail(f"{where}.formats", "no formats: list at least one")
    if "parcel" in settings["formats"] and "version" not in settings["parcel"]:
        raise reader.fail(f"{where}.parcel.version", "required for parcel targets (the command line's "
                          "date-based default would rebuild the parcel every day); set it")
    for fmt in settings["formats"]:
        problem = level_problem(fmt, settings["compress-level"])
        if problem:
            raise reader.fail(f"{where}.compress-level", problem)
    if settings["push"] is not None and "oci" not in settings["formats"]:
        raise reader.fail(f"{where}.push", "only an image is pushed: add \"oci\" to formats, or remove push")
    targets = [_target(key, fmt, settings, output_dir) for fmt in dict.fromkeys(settings["formats"])]
    for target in targets:
        checked(reader, plain_name, target.output.name if target.output != output_dir else "",
                 f"{where}.output", "set a template such as '{env}{ext}'")
        if target.output.name == SUMS_FILE or target.output in (reader.path, reader.path.with_name("condapack.lock")):
            raise reader.fail(f"{where}.output", f"{target.name} would overwrite {target.output.name}; "
                              "choose another name")
    return env, targets


def _target(env: str, fmt: str, s: dict[str, Any], output_dir: Path) -> TargetSpec:
    output = output_dir / s["output"].format(env=env, format=fmt, ext=extension(fmt))
    # an env's image settings (entrypoint, base, ...) apply to its oci target, not to its other formats
    values = {spec.name: _option_value(key, s) if not spec.formats or fmt in spec.formats else spec.default
              for key, spec in _OPTIONS.items()}
    options = PackOptions(output=str(output), format=fmt, force=True, **values)
    return TargetSpec(env=env, format=fmt, output=output, options=options, exclude=tuple(s["exclude"]),
                      sbom=s["sbom"], push=s["push"] if fmt == "oci" else None)


def _option_value(key: str, settings: dict[str, Any]) -> Any:
    """The value of a packing option's toml key (``parcel.root``: from its sub-table, None if unset)."""
    table, _, sub = key.partition(".")
    return settings[table].get(sub) if sub else settings[table]


def _check_unique_outputs(reader: Reader, targets: list[TargetSpec]) -> None:
    # Case-folded and NFC-normalised: on macOS and Windows App.tar and app.tar (and the
    # composed and decomposed spellings of a name) are one file.
    seen: dict[str, str] = {}
    for target in targets:
        other = seen.setdefault(unicodedata.normalize("NFC", target.output.name).casefold(), target.name)
        if other != target.name:
            raise reader.fail("output", f"targets {other} and {target.name} both write "
                              f"{target.output.name}; put {{env}} and {{ext}} in the output template")
