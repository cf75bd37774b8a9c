"""Scripts\\conda-unpack.exe: distlib's console launcher running conda-unpack-script.py.

The launcher is distlib's ``t64.exe`` (the one pip puts in front of every console
script on Windows), read from the installed distlib package, never built here. Like
pip's, the .exe is the launcher, a ``#!`` line and a zip; the line names the
interpreter relative to the launcher (``<launcher_dir>\\..\\python.exe``), so it
works wherever the environment is unpacked, before any prefix is rewritten. The zip's
``__main__`` runs ``conda-unpack-script.py`` beside the .exe.
"""

from __future__ import annotations

import io
import zipfile
from importlib import resources

__all__ = ["unpack_launcher"]

_SHEBANG = b"#!<launcher_dir>\\..\\python.exe -E -s\r\n"
_MAIN = b"""\
import os
import runpy
import sys

script = os.path.splitext(os.path.abspath(sys.argv[0]))[0] + "-script.py"
sys.argv[0] = script
runpy.run_path(script, run_name="__main__")
"""


def unpack_launcher() -> bytes:
    """The bytes of conda-unpack.exe, the same on every OS."""
    launcher = resources.files("distlib").joinpath("t64.exe").read_bytes()
    return launcher + _SHEBANG + _zipped_main()


def _zipped_main() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("__main__.py", (1980, 1, 1, 0, 0, 0))
        info.create_system = 3  # the default depends on the packing OS
        info.external_attr = 0o644 << 16
        archive.writestr(info, _MAIN)
    return buffer.getvalue()
