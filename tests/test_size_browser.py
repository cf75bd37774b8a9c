"""The HTML size report in a real browser: headless Chromium loads it from file:// with no network."""

from __future__ import annotations

import time
from pathlib import Path

from browserkit import Browser
from condapack.cli import main
from envkit import EnvFactory

#: Each package box of the treemap: its name and its geometry as the browser laid it out.
_BOXES = """[...document.querySelectorAll('#treemap > .tm-node')].map(e => {
  const r = e.getBoundingClientRect(); return [e.dataset.name, r.width, r.height, e.children.length]; })"""


def test_the_report_renders_its_treemap_from_file_with_no_request_leaving_the_page(
        real_env: EnvFactory, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    assert main(["size", str(real_env("basic")), "--html", str(page)]) == 0
    start = time.monotonic()
    browser = Browser(tmp_path / "profile")
    try:
        browser.load(page.as_uri())
        boxes = browser.evaluate(_BOXES)
        tables = browser.evaluate("[...document.querySelectorAll('table')].map(t => t.dataset.title)")
        browser.screenshot(tmp_path / "report.png")  # kept as the test's artifact in pytest's tmp dir
        browser.evaluate("document.querySelector('.tm-node').click()")
        zoomed = browser.evaluate("[...document.querySelectorAll('#crumbs a')].map(a => a.textContent)")
    finally:
        browser.close()
    names = {name for name, *_ in boxes}
    assert {"python", "pip", "cpdemo-py", "cpdemo-tools", "(conda-meta)"} <= names
    assert all(width > 0 and height > 0 for _, width, height, _ in boxes)
    assert next(children for name, _, _, children in boxes if name == "python") > 1  # its directories inside
    assert tables == ["Package", "Kind", "Largest directories", "Largest files"]
    assert zoomed == ["all", boxes[0][0]]
    assert browser.requests == [page.as_uri()]
    shot = (tmp_path / "report.png").read_bytes()
    assert shot.startswith(b"\x89PNG") and len(shot) > 10_000
    assert time.monotonic() - start < 20
