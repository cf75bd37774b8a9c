"""The size command: ``condapack size``, where an environment's or an archive's bytes go.

One class (a :class:`condapack.command.Command`). It sits beside the package it calls,
not in it: the parser is built for every command line, and importing
:mod:`condapack.size` reads prefixes and archives.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import ClassVar, Optional

import attrs

from .command import Environ, add_json
from .envvars import env_text
from .locate import find_prefix

__all__ = ["Size"]


@attrs.frozen
class Size:
    """The report as text or JSON on stdout, and the HTML page when asked."""

    name: ClassVar[str] = "size"
    help: ClassVar[str] = "Show where an environment's or an archive's bytes go, and what slimming would save."
    description: ClassVar[str] = help

    source: str
    config: Optional[str]
    slim: str
    exclude: tuple[str, ...]
    html: Optional[str]
    json: bool

    @staticmethod
    def configure(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("source", metavar="ENV|ARCHIVE|TARGET",
                            help="An environment (its path, or the name of a conda environment), a tar/zip archive, "
                                 "or a target of the project (ENV:FORMAT or ENV, as build names them).")
        parser.add_argument("-c", "--config", metavar="PATH",
                            help="The project file naming TARGET (default: CONDAPACK_CONFIG, else the nearest "
                                 "condapack.toml upwards).")
        parser.add_argument("--slim", metavar="PRESETS", default="",
                            help="Also show what these slimming presets would remove (comma-separated; see pack "
                                 "--slim).")
        parser.add_argument("--exclude", metavar="PATTERN", action="append", default=[],
                            help="Also show what this gitignore-style pattern would remove (repeatable).")
        parser.add_argument("--html", metavar="FILE", help="Also write the report as one self-contained HTML page.")
        add_json(parser, "Print the report as JSON instead of text.")

    @classmethod
    def of(cls, ns: argparse.Namespace, environ: Environ) -> Size:
        return cls(ns.source, ns.config or env_text("CONDAPACK_CONFIG", environ), ns.slim, tuple(ns.exclude), ns.html,
                   ns.json)

    def run(self) -> int:
        """Report on the project target, the environment (a path, or a conda environment's name) or the archive."""
        from .project.sizes import find_target, size_target
        from .size import render_text, report_doc, size_of, write_html
        from .slim import parse_slim

        source, slim = self.source, parse_slim(self.slim)
        target = find_target(source, self.config)
        if target is not None:
            report = size_target(*target, slim=slim, exclude=self.exclude)
        else:
            if not os.path.exists(source) and os.sep not in source:
                source = str(find_prefix(name=source))
            report = size_of(source, slim=slim, exclude=self.exclude)
        if self.html:
            write_html(report, Path(self.html))
        print(json.dumps(report_doc(report), indent=2) + "\n" if self.json else render_text(report), end="")
        return 0
