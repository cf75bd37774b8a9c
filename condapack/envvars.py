"""Environment variables condapack reads, each declared once: command-line defaults (for
CI) and the reproducible-builds date.

A flag given on the command line always wins over the variable.
"""

from __future__ import annotations

from typing import Mapping, Optional

from .errors import CondaPackError

__all__ = ["ENV_VARS", "TARGET_VARS", "OTHER_VARS", "env_flag", "env_text", "source_date_epoch"]

#: name -> what it does, as the ``--help`` epilog and the README say it.
ENV_VARS = {
    "CONDAPACK_CACHE": "the shared artifact cache, as --cache URL (build)",
    "CONDAPACK_CONFIG": "the project file, as -c/--config (plan, lock, build, outputs, deps, sbom)",
    "CONDAPACK_LOCKED": "1: act as if --locked were given (lock, build)",
    "CONDAPACK_QUIET": "1: act as if -q/--quiet were given (pack, lock, build)",
    "CONDAPACK_REGISTRY_PASSWORD": "the password or token that goes with CONDAPACK_REGISTRY_USER",
    "CONDAPACK_REGISTRY_USER": "the user name for every registry (push, a --base pulled from a registry); "
                               "wins over the Docker config file",
    "CONDAPACK_THREADS": "thread count, as -j/--n-threads (-1: all cpus) (pack, build)",
}

#: Variables that the scripts shipped inside archives read on the target machine: name -> effect.
TARGET_VARS = {
    "CONDAPACK_NO_PROMPT": "set to anything: bin/activate (POSIX shells, fish) leaves the prompt unchanged, "
                           "as VIRTUAL_ENV_DISABLE_PROMPT does",
}

#: Other tools' variables that condapack reads: name -> what it takes from them.
OTHER_VARS = {
    "SOURCE_DATE_EPOCH": "the time of every archive member and of the SBOM (default 2020-01-01T00:00:00Z), "
                         "and the date of a parcel's default version",
    "CONDA_PREFIX": "the active environment: packed when neither -n nor -p is given",
    "CONDA_EXE": "a conda whose `conda info --json` lists environments for -n NAME",
    "CONDA_ENVS_PATH": "directories searched for -n NAME",
    "CONDA_ROOT": "a conda installation whose envs/ is searched for -n NAME",
    "MAMBA_ROOT_PREFIX": "a mamba installation whose envs/ is searched for -n NAME",
    "AWS_PROFILE": "the profile read from ~/.aws/credentials and ~/.aws/config for an s3:// cache "
                   "(the other AWS_* variables are read by the object-store client)",
    "AWS_SHARED_CREDENTIALS_FILE": "the credentials file for an s3:// cache, instead of ~/.aws/credentials",
    "AWS_CONFIG_FILE": "the config file for an s3:// cache, instead of ~/.aws/config",
    "DOCKER_CONFIG": "the directory of the Docker config file (config.json: auths, credHelpers, credsStore) "
                     "whose registry credentials push and --base use, instead of ~/.docker",
    "XDG_CACHE_HOME": "where base images pulled from a registry are cached (condapack/oci under it), "
                      "instead of ~/.cache",
}

#: The last second every format and date library can stamp (9999-12-31T23:59:59Z).
_LAST_DATE = 253402300799

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


def env_flag(name: str, environ: Mapping[str, str]) -> bool:
    """A boolean variable: 1/true/yes/on or 0/false/no/off (unset or empty: false)."""
    assert name in ENV_VARS
    value = environ.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise CondaPackError(f"environment variable {name}={environ[name]!r} is not a boolean; set it to 1 or 0, "
                         "or unset it")


def env_text(name: str, environ: Mapping[str, str]) -> Optional[str]:
    """A string variable, or None when unset or empty."""
    assert name in ENV_VARS
    return environ.get(name) or None


def source_date_epoch(environ: Mapping[str, str]) -> Optional[int]:
    """``SOURCE_DATE_EPOCH`` (reproducible-builds.org) in seconds, or None when unset or empty;
    anything but a non-negative integer is an error, as the specification asks."""
    value = environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not value:
        return None
    if not (value.isascii() and value.isdigit()) or int(value) > _LAST_DATE:
        raise CondaPackError(f"environment variable SOURCE_DATE_EPOCH={environ['SOURCE_DATE_EPOCH']!r} is not "
                             f"a non-negative integer up to {_LAST_DATE} (seconds since 1970); set it to one, "
                             "or unset it")
    return int(value)
