"""The size report as one self-contained HTML page: a zoomable treemap and sortable tables.

The page's styles, script and data are inline and its Content-Security-Policy forbids
every fetch, so it works from ``file://`` with no network.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from ..errors import ArchiveError
from .model import Item, SizeReport
from .render import report_doc

__all__ = ["render_html", "tree_of", "write_html"]

_TEMPLATE = Path(__file__).with_name("report.html")


def tree_of(items: Sequence[Item], archive: bool) -> dict[str, Any]:
    """Package -> directory -> file, each node ``{"n": name, "s": bytes, "c": children}``;
    chains of single directories are joined (``lib/python3.12/site-packages``)."""
    root: dict[str, Any] = {"n": "all", "s": 0, "c": {}}
    for item in items:
        value = item.stored if archive else item.size
        node = root
        node["s"] += value
        for part in (item.package, *item.path.split("/")[:-1]):
            node = node["c"].setdefault(part, {"n": part, "s": 0, "c": {}})
            node["s"] += value
        node["c"][item.path.rsplit("/", 1)[-1]] = {"n": item.path.rsplit("/", 1)[-1], "s": value}
    return {"n": root["n"], "s": root["s"], "c": [_finished(p, join=False) for p in root["c"].values()]}


def _finished(node: dict[str, Any], join: bool = True) -> dict[str, Any]:
    if "c" not in node:
        return node
    name, children = node["n"], node["c"]
    while join and len(children) == 1 and "c" in next(iter(children.values())):
        only = next(iter(children.values()))
        name, children = f"{name}/{only['n']}", only["c"]
    return {"n": name, "s": node["s"], "c": [_finished(c) for c in children.values()]}


def render_html(report: SizeReport) -> bytes:
    """The whole page for ``report``."""
    data = {"report": report_doc(report), "tree": tree_of(report.items, report.what == "archive")}
    text = json.dumps(data, separators=(",", ":"), sort_keys=True)
    # inside <script>, "</" or "<!--" would end or change the element: "<" only occurs in
    # JSON strings, where "\\u003c" is the same character
    text = text.replace("<", "\\u003c")
    return _TEMPLATE.read_text(encoding="utf-8").replace("__DATA__", text).encode()


def write_html(report: SizeReport, path: Path) -> None:
    """Write the page to ``path`` atomically (a reader never sees half a page)."""
    from ..output import atomic_output

    try:
        with atomic_output(path, overwrite=True) as fh:
            fh.write(render_html(report))
    except OSError as exc:
        raise ArchiveError(f"cannot write {path}: {exc.strerror or exc}; choose another --html path") from None
