"""``python conda-meta/condapack/unpack PREFIX [-q] [--dest FINAL]``: run conda-unpack.

Run as a directory, Python puts this directory itself first on ``sys.path``; the package
is imported from the directory that holds it instead.
"""

import os
import sys

if not __package__:  # run as a directory: import the package from its parent directory
    sys.path[0] = os.path.dirname(os.path.abspath(sys.path[0]))
    __package__ = os.path.basename(os.path.dirname(os.path.abspath(__file__)))
    __import__(__package__)

from .cli import main  # noqa: E402

sys.exit(main(sys.argv))
