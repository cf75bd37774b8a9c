"""The size report as text for the terminal (aligned columns and bars) and as JSON."""

from __future__ import annotations

from typing import Any, Sequence

import attrs

from .model import Item, Saving, Share, SizeReport

__all__ = ["render_text", "report_doc", "human"]

_BAR = 20


def human(n: int) -> str:
    """Bytes in binary units, three significant digits (``1.23 MiB``)."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.3g} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _bar(part: int, whole: int) -> str:
    eighths = round(_BAR * 8 * part / whole) if whole else 0
    return "█" * (eighths // 8) + ("▏▎▍▌▋▊▉"[eighths % 8 - 1] if eighths % 8 else "")


def _table(title: str, rows: Sequence[Share], report: SizeReport, *, versions: bool = False) -> list[str]:
    stored = report.what == "archive"
    width = max([len(title), *(len(r.name) for r in rows)]) + 2
    head = f"{title:<{width}}" + ("version".ljust(16) if versions else "") + f"{'files':>8}{'on disk':>12}"
    head += f"{'in archive':>12}" if stored else ""
    lines = [head + f"{'share':>8}"]
    total = report.stored if stored else report.size
    for r in rows:
        value = r.stored if stored else r.size
        line = f"{r.name:<{width}}" + (r.version[:15].ljust(16) if versions else "") + f"{r.files:>8}"
        line += f"{human(r.size):>12}" + (f"{human(r.stored):>12}" if stored else "")
        lines.append(line + f"{100 * value / total if total else 0:>7.1f}% {_bar(value, total)}")
    return lines


def _files(report: SizeReport, items: Sequence[Item]) -> list[str]:
    stored = report.what == "archive"
    lines = ["Largest files" + " " * 50 + "on disk" + ("  in archive" if stored else "")]
    for i in items:
        name = i.path if len(i.path) <= 60 else "..." + i.path[-57:]
        lines.append(f"{name:<60}{human(i.size):>10}" + (f"{human(i.stored):>12}" if stored else "")
                     + f"  {i.package}")
    return lines


def _savings(report: SizeReport, savings: Sequence[Saving], title: str) -> list[str]:
    lines = [title]
    for s in savings:
        lines.append(f"  {s.rule:<28}{s.files:>8} files {human(s.size):>12}"
                     + (f" {human(s.stored):>12} in archive" if report.what == "archive" and s.stored else ""))
        for p in s.packages[:8]:
            lines.append(f"      {p.name:<24}{p.files:>8} files {human(p.size):>12}")
        if s.kept:
            lines.append(f"      kept by a guard rail: {len(s.kept)} files (e.g. {s.kept[0][0]}: {s.kept[0][1]})")
    return lines


def render_text(report: SizeReport) -> str:
    """The report for a terminal."""
    head = f"{report.source}: {report.what}, {report.files} files, {human(report.size)} on disk"
    if report.what == "archive":
        head += (f"; {report.format}, {human(report.stored)} in members + {human(report.overhead)} "
                 f"outside them = {human(report.stored + report.overhead)}")
    parts = [[head], _table("Package", report.packages, report, versions=True), _table("Kind", report.kinds, report),
             _table("Largest directories", report.largest_dirs, report), _files(report, report.largest_files)]
    if report.savings:
        parts.append(_savings(report, report.savings, "What each rule would remove"))
    if report.removed is not None:
        parts.append(_savings(report, [report.removed], "Removed by slimming when packed"))
    return "\n\n".join("\n".join(p) for p in parts) + "\n"


def report_doc(report: SizeReport) -> dict[str, Any]:
    """The report as JSON-ready data (without the full file list)."""
    return attrs.asdict(report, filter=lambda a, _v: a.name != "items")
