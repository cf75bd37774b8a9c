"""The benchmark's results file -> the performance page's table rows and bar chart (stdlib only).

``tox -e bench`` writes the file (``tests/benchmark.py``: ``results_doc``); the docs build
renders it. Kept free of Sphinx so a quick test can check that what the benchmark writes
is what this reads.
"""

from __future__ import annotations

from html import escape
from typing import Any, Optional

MIB = 1 << 20
TOOLS = ("condapack", "conda-pack")
HEADER = ("variant", "config", "condapack time", "conda-pack time", "time ratio", "condapack size",
          "conda-pack size", "condapack peak RSS", "conda-pack peak RSS")


def describe_run(doc: dict[str, Any]) -> str:
    """One sentence: when, on what, with which command and versions the results were measured."""
    machine = doc["machine"]
    tools = ", ".join(f"{name} {version}" for name, version in doc["tools"].items())
    return (f"Measured {doc['date']} on {machine['platform']}, {machine['cpus']} cpus (load {machine['load']}), "
            f"Python {machine['python']}; {tools}; medians of {doc['runs']} runs; command: ")


def describe_variants(doc: dict[str, Any]) -> list[str]:
    """One line per environment measured: its name, content and size."""
    return [f"{v['name']}: {v['description']}; {v['files']:,} files, {v['bytes'] / 1e9:.2f} GB"
            for v in doc["variants"]]


def _seconds(result: Optional[dict[str, Any]]) -> str:
    return "-" if result is None else f"{result['seconds']:.2f} s"


def _mib(result: Optional[dict[str, Any]], field: str) -> str:
    return "-" if result is None else f"{result[field] / MIB:.1f} MiB"


def _ratio(ours: Optional[dict[str, Any]], theirs: Optional[dict[str, Any]]) -> str:
    if ours is None or theirs is None or not theirs["seconds"]:
        return "-"
    return f"{ours['seconds'] / theirs['seconds']:.2f}"


def comparison_rows(doc: dict[str, Any]) -> list[tuple[str, ...]]:
    """One row per variant and configuration: condapack against conda-pack."""
    rows = []
    for variant in doc["variants"]:
        for config in variant["configs"]:
            ours, theirs = (config["results"].get(tool) for tool in TOOLS)
            rows.append((variant["name"], config["id"], _seconds(ours), _seconds(theirs), _ratio(ours, theirs),
                         _mib(ours, "size"), _mib(theirs, "size"), _mib(ours, "max_rss"), _mib(theirs, "max_rss")))
    return rows


def reference_rows(doc: dict[str, Any]) -> list[tuple[str, ...]]:
    """One row per variant and raw pipeline (``tar | pigz``, ``tar | zstd``)."""
    return [(variant["name"], ref["pipeline"], _seconds(ref["result"]), _mib(ref["result"], "size"),
             _mib(ref["result"], "max_rss"), ref["compare"])
            for variant in doc["variants"] for ref in variant["references"]]


def _bars(doc: dict[str, Any]) -> list[tuple[str, str, float]]:
    """(label, tool, seconds) for every measured pair."""
    return [(f"{variant['name']} {config['id']}", tool, result["seconds"])
            for variant in doc["variants"] for config in variant["configs"]
            for tool in TOOLS if (result := config["results"].get(tool)) is not None]


def time_chart(doc: dict[str, Any]) -> str:
    """A horizontal bar chart of wall times as inline SVG (no plotting library, no network)."""
    bars = _bars(doc)
    if not bars:
        return ""
    longest = max(seconds for _, _, seconds in bars) or 1.0
    width, label_width, row = 720, 220, 18
    colours = {"condapack": "#43b02a", "conda-pack": "#888888"}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{row * len(bars) + 30}" '
             'role="img" aria-label="wall time per configuration, condapack and conda-pack" '
             'font-family="sans-serif" font-size="12">']
    for index, (label, tool, seconds) in enumerate(bars):
        y = index * row
        length = (width - label_width - 60) * seconds / longest
        parts.append(f'<text x="{label_width - 6}" y="{y + 13}" text-anchor="end">{escape(label)} '
                     f'({escape(tool)})</text>')
        parts.append(f'<rect x="{label_width}" y="{y + 3}" width="{length:.1f}" height="{row - 5}" '
                     f'fill="{colours[tool]}"/>')
        parts.append(f'<text x="{label_width + length + 4:.1f}" y="{y + 13}">{seconds:.2f} s</text>')
    parts.append(f'<text x="{label_width}" y="{row * len(bars) + 20}">wall time, seconds (shorter is better)'
                 '</text></svg>')
    return "\n".join(parts)


SIZE_HEADER = ("variant", "slimming", "archive size", "saved", "pack time")
SIZE_TIME_HEADER = ("variant", "condapack size TARGET, fresh memo", "TARGET, first run", "ENV path")


def size_rows(doc: dict[str, Any]) -> list[tuple[str, ...]]:
    """One row per variant and slimming choice (none, each preset, all): the archive's size and what it saved."""
    rows = []
    for variant in doc["variants"]:
        size = variant.get("size")
        archives = size["archives"] if size else []
        for row in archives:
            saved = 1 - row["size"] / archives[0]["size"]
            rows.append((variant["name"], f"{row['slim']} ({size['format']})", f"{row['size'] / MIB:.1f} MiB",
                         f"{saved:.1%}", f"{row['seconds']:.2f} s"))
    return rows


def size_time_rows(doc: dict[str, Any]) -> list[tuple[str, ...]]:
    """One row per variant: the seconds ``condapack size`` takes."""
    return [(variant["name"], *(f"{variant['size']['seconds'][key]:.2f} s" for key in
                                ("target_fresh", "target_first", "path")))
            for variant in doc["variants"] if variant.get("size")]
