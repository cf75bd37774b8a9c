"""Sphinx directives that render condapack's reference tables from where they are declared.

- ``condapack-toml-keys``: every ``condapack.toml`` key (:func:`condapack.project.keys.project_keys`);
- ``condapack-exit-codes``: :data:`condapack.cli.EXIT_CODES`;
- ``condapack-env-vars``: :data:`condapack.envvars.ENV_VARS`;
- ``condapack-slim-presets``: :data:`condapack.slim.PRESETS`;
- ``condapack-benchmark``: the results file ``tox -e bench`` writes (a table and a chart),
  or a note that there is none yet.

Nothing here restates a key, code or variable: a new one appears in the docs when it is
declared, and ``tests/test_docs.py`` fails when one exists outside those declarations.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

import benchtable


def table(header: Sequence[str], rows: Sequence[Sequence[str]], literal_columns: Sequence[int] = ()) -> nodes.table:
    """A docutils table; cells in ``literal_columns`` are set as code."""
    group = nodes.tgroup(cols=len(header))
    group += [nodes.colspec(colwidth=1) for _ in header]
    head, body = nodes.thead(), nodes.tbody()
    head += _row(header, ())
    body += [_row(cells, literal_columns) for cells in rows]
    group += [head, body]
    return nodes.table("", group)


def _row(cells: Sequence[str], literal_columns: Sequence[int]) -> nodes.row:
    row = nodes.row()
    for index, text in enumerate(cells):
        inline = nodes.literal(text, text) if index in literal_columns else nodes.Text(text)
        row += nodes.entry("", nodes.paragraph("", "", inline))
    return row


class TomlKeys(SphinxDirective):
    """Every key of condapack.toml with its tables, default and meaning."""

    def run(self) -> list[nodes.Node]:
        from condapack.project.keys import project_keys

        rows = [(key.key, key.tables, key.default, key.help) for key in project_keys()]
        return [table(("key", "where", "default", "meaning"), rows, literal_columns=(0, 2))]


class ExitCodes(SphinxDirective):
    """Every exit status the command lines return."""

    def run(self) -> list[nodes.Node]:
        from condapack.cli import EXIT_CODES

        return [table(("exit status", "meaning"), [(str(code), text) for code, text in EXIT_CODES.items()], (0,))]


class EnvVars(SphinxDirective):
    """Variables condapack reads: the ``CONDAPACK_*`` command-line defaults, or (``:target:``)
    those the scripts inside archives read on the target machine, or (``:other:``) other tools' ones."""

    option_spec = {"target": directives.flag, "other": directives.flag}

    def run(self) -> list[nodes.Node]:
        from condapack.envvars import ENV_VARS, OTHER_VARS, TARGET_VARS

        variables = TARGET_VARS if "target" in self.options else OTHER_VARS if "other" in self.options else ENV_VARS
        return [table(("variable", "effect"), list(variables.items()), (0,))]


class SlimPresets(SphinxDirective):
    """Every slimming preset with its version, what it removes and its patterns."""

    def run(self) -> list[nodes.Node]:
        from condapack.slim import PRESETS

        rows = [(p.name, str(p.version), p.help, "  ".join(p.patterns)) for p in PRESETS.values()]
        return [table(("preset", "version", "removes", "patterns"), rows, literal_columns=(0, 3))]


class Benchmark(SphinxDirective):
    """The latest benchmark results file as a table and a chart, or a note that there is none."""

    required_arguments = 1  # the results file, relative to the docs source directory
    option_spec = {"chart": directives.flag}

    def run(self) -> list[nodes.Node]:
        path = Path(self.env.srcdir) / self.arguments[0]
        self.env.note_dependency(str(path))
        if not path.is_file():
            text = (f"No results file yet ({self.arguments[0]}): run the benchmark as shown above and "
                    "rebuild the docs to see its table and chart here.")
            return [nodes.paragraph("", "", nodes.emphasis(text, text))]
        doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        intro = nodes.paragraph("", benchtable.describe_run(doc))
        intro += nodes.literal(doc["command"], doc["command"])
        variants = nodes.bullet_list()
        variants += [nodes.list_item("", nodes.paragraph("", line)) for line in benchtable.describe_variants(doc)]
        out: list[nodes.Node] = [intro, variants, table(benchtable.HEADER, benchtable.comparison_rows(doc), (1,))]
        references = benchtable.reference_rows(doc)
        if references:
            header = ("variant", "raw pipeline", "time", "size", "peak RSS", "compare with")
            out.append(table(header, references, (1, 5)))
        if benchtable.size_rows(doc):
            out.append(table(benchtable.SIZE_HEADER, benchtable.size_rows(doc)))
            out.append(table(benchtable.SIZE_TIME_HEADER, benchtable.size_time_rows(doc)))
        if "chart" in self.options and benchtable.time_chart(doc):
            out.append(nodes.raw("", benchtable.time_chart(doc), format="html"))
        return out


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("condapack-toml-keys", TomlKeys)
    app.add_directive("condapack-exit-codes", ExitCodes)
    app.add_directive("condapack-env-vars", EnvVars)
    app.add_directive("condapack-slim-presets", SlimPresets)
    app.add_directive("condapack-benchmark", Benchmark)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
