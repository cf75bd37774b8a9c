"""Sphinx configuration: MyST pages, the conda theme, and references generated from the code.

Built offline by ``tox -e docs`` with warnings as errors and nitpicky references: no
intersphinx (it would fetch inventories), so names from outside condapack are listed in
``nitpick_ignore_regex`` instead of linked.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "_ext"))

from condapack import __version__  # noqa: E402  (after the path set-up)

project = "condapack"
author = "the condapack developers"
copyright = "the condapack developers"
version = release = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinxarg.ext",
    "condapack_docs",
]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
root_doc = "index"

# MyST: heading anchors for [text](page.md#anchor) links, checked like every other link.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence", "deflist"]

# Every internal reference must resolve; outside names (the standard library, attrs,
# typing) have no inventory offline and are not links.
nitpicky = True
nitpick_ignore_regex = [
    ("py:class", r"(os|pathlib|typing|collections\.abc|argparse|attr|attrs)\..*"),
    ("py:class", r"(Path|PathLike|Optional|Any|Sequence|Iterable|Iterator|Tuple|Callable|Mapping)(\[.*\])?"),
    ("py:class", r"(str|int|bool|float|bytes|object|None|tuple|list|dict|type)"),
    # a Callable[[int, int], None] alias: its meaning is in the docstrings that take it
    ("py:class", r"ProgressFn"),
]

autodoc_member_order = "bysource"
autodoc_typehints = "description"

html_theme = "conda_sphinx_theme"
html_title = f"condapack {__version__}"
html_theme_options = {
    "github_url": "",
    "navigation_with_keys": False,
}
html_static_path: list[str] = []
