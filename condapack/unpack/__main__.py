"""``python conda-meta/condapack/unpack PREFIX [-q] [--dest FINAL]``: run conda-unpack.

Run as a directory, Python puts this directory itself first on ``sys.path`` and runs
this file outside its package: the package is imported from the directory that holds it.
"""

import os
import sys

if __package__:  # python -m condapack.unpack
    from .cli import main
else:  # run as a directory, as bin/conda-unpack does
    sys.path[0] = os.path.dirname(os.path.abspath(sys.path[0]))
    main = __import__(os.path.basename(os.path.dirname(os.path.abspath(__file__))) + ".cli", fromlist=["main"]).main

sys.exit(main(sys.argv))
