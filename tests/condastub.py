"""A stand-in for the few names of conda's plugin API that condapack's plugin touches.

No current conda can be installed from the registries the tests may use (PyPI's
``conda`` stops at 4.3.16), so the plugin tests run against this stand-in, written
into a temporary directory, for each shape of ``CondaSubcommand`` that conda has had
(read from conda's ``conda/plugins/types.py`` at 23.1, 23.7-26.5 and 26.7):

- 23.1-23.5: a ``NamedTuple(name, summary, action)``; the action gets ``sys.argv[2:]``
  (a list).
- 23.7-26.5: a dataclass with ``configure_parser=None``; without it, the action gets
  the unparsed arguments as a tuple.
- 26.7: a keyword-only dataclass with ``aliases`` too.

Hooks go through a real pluggy ``PluginManager`` for the project name ``conda``, as in
``conda/plugins/manager.py``. ``context`` and ``locate_prefix_by_name`` follow
``conda/base/context.py``: ``CONDA_ENVS_DIRS`` and ``CONDA_PREFIX`` are read from the
environment, as conda reads them. With a real conda (``CONDA_EXE``), the tests in
``test_conda_plugin.py`` run the same checks through it instead.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Callable

APIS = ("23.1", "23.7", "26.7")

_PLUGINS = '''\
from . import types
from .hookspec import hookimpl
'''

_HOOKSPEC = '''\
import pluggy

hookimpl = pluggy.HookimplMarker("conda")
hookspec = pluggy.HookspecMarker("conda")


class CondaSpecs:
    @hookspec
    def conda_subcommands(self):
        """Register external subcommands in conda."""
'''

_TYPES = {
    "23.1": '''\
from typing import Callable, NamedTuple


class CondaSubcommand(NamedTuple):
    name: str
    summary: str
    action: Callable
''',
    "23.7": '''\
from dataclasses import dataclass, field
from typing import Callable, Optional


@dataclass
class CondaSubcommand:
    name: str
    summary: str
    action: Callable
    configure_parser: Optional[Callable] = field(default=None)
''',
    "26.7": '''\
from dataclasses import dataclass, field
from typing import Callable, Optional


@dataclass(init=False)
class CondaSubcommand:
    name: str
    summary: str
    action: Callable
    aliases: tuple = field(default_factory=tuple)
    configure_parser: Optional[Callable] = field(default=None)

    def __init__(self, *, name, summary, action, configure_parser=None, aliases=()):
        self.name = name.lower().strip()
        self.summary = summary
        self.action = action
        self.configure_parser = configure_parser
        self.aliases = (aliases,) if isinstance(aliases, str) else tuple(aliases)
''',
}

_CONTEXT = '''\
import os
import sys
from os.path import abspath, isdir, join

from ..exceptions import EnvironmentNameNotFound


class Context:
    root_prefix = sys.prefix

    @property
    def envs_dirs(self):
        return tuple(d for d in os.environ.get("CONDA_ENVS_DIRS", "").split(os.pathsep) if d)

    @property
    def active_prefix(self):
        return os.environ.get("CONDA_PREFIX")


context = Context()


def locate_prefix_by_name(name, envs_dirs=None):
    if name in ("base", "root"):
        return context.root_prefix
    for envs_dir in context.envs_dirs if envs_dirs is None else envs_dirs:
        if isdir(join(envs_dir, name)):
            return abspath(join(envs_dir, name))
    raise EnvironmentNameNotFound(name)
'''

_EXCEPTIONS = '''\
class EnvironmentNameNotFound(Exception):
    def __init__(self, environment_name):
        super().__init__(f"Could not find conda environment: {environment_name}")
'''


def write_stub(root: Path, api: str) -> Path:
    """Write the stand-in ``conda`` package of one API shape under ``root``; return ``root``."""
    files = {
        "conda/__init__.py": f'__version__ = "{api}.0"\n',
        "conda/plugins/__init__.py": _PLUGINS,
        "conda/plugins/hookspec.py": _HOOKSPEC,
        "conda/plugins/types.py": _TYPES[api],
        "conda/base/__init__.py": "",
        "conda/base/context.py": _CONTEXT,
        "conda/exceptions.py": _EXCEPTIONS,
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def subcommands(plugin: object) -> list[Any]:
    """Register ``plugin`` with a pluggy manager for ``conda``; collect its subcommands."""
    import pluggy
    from conda.plugins.hookspec import CondaSpecs  # the stand-in's hook specification

    manager = pluggy.PluginManager("conda")
    manager.add_hookspecs(CondaSpecs)
    manager.register(plugin)
    return list(itertools.chain.from_iterable(manager.hook.conda_subcommands()))


def call_action(api: str, action: Callable[[Any], Any], argv: list[str]) -> Any:
    """Call a subcommand's action the way conda ``api`` does: a list before 23.7, else a tuple."""
    return action(list(argv) if api == "23.1" else tuple(argv))
