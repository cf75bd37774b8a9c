"""Demo library installed by condapack's test environments."""

import sys

from cpdemo._version import __version__

__all__ = ["__version__", "main"]


def main() -> int:
    """Print the running interpreter's prefix and this module's location."""
    print(sys.prefix)
    print(__file__)
    return 0
