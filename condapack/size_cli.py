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
from .locate import find_prefix

__all__ = ["Size"]


@attrs.frozen
class Size:
    """The report as text or JSON on stdout, and the HTML page when asked."""

    name: ClassVar[str] = "size"
    help: ClassVar[str] = "Show where an environment's or an archive's bytes go, and what slimming would save."
    description: ClassVar[str] = help

    source: str
    slim: str
    exclude: tuple[str, ...]
    html: Optional[str]
    json: bool

    @staticmethod
    def configure(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("source", metavar="ENV|ARCHIVE",
                            help="An environment (its path, or the name of a conda environment) or a tar/zip archive.")
        parser.add_argument("--slim", metavar="PRESETS", default="",
                            help="Also show what these slimming presets would remove (comma-separated; see pack "
                                 "--slim).")
        parser.add_argument("--exclude", metavar="PATTERN", action="append", default=[],
                            help="Also show what this gitignore-style pattern would remove (repeatable).")
        parser.add_argument("--html", metavar="FILE", help="Also write the report as one self-contained HTML page.")
        add_json(parser, "Print the report as JSON instead of text.")

    @classmethod
    def of(cls, ns: argparse.Namespace, environ: Environ) -> Size:
        return cls(ns.source, ns.slim, tuple(ns.exclude), ns.html, ns.json)

    def run(self) -> int:
        """Report on the environment (a path, or a conda environment's name) or the archive."""
        from .size import render_text, report_doc, size_of, write_html
        from .slim import parse_slim

        source = self.source
        if not os.path.exists(source) and os.sep not in source:
            source = str(find_prefix(name=source))
        report = size_of(source, slim=parse_slim(self.slim), exclude=self.exclude)
        if self.html:
            write_html(report, Path(self.html))
        print(json.dumps(report_doc(report), indent=2) + "\n" if self.json else render_text(report), end="")
        return 0
