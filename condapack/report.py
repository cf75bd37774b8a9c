"""Terminal reporting: log messages and a progress bar, both on stderr."""

from __future__ import annotations

import logging
import sys
import time
from types import TracebackType
from typing import Optional, TextIO

__all__ = ["Reporter"]

_WIDTH = 40


class Reporter:
    """Shows condapack's log messages and a progress bar on a stream (stderr).

    The bar is drawn only on a terminal and only for packs that take a while, so logs
    and pipes stay clean.
    """

    def __init__(self, enabled: bool = True, stream: Optional[TextIO] = None, prog: str = "condapack",
                 verbose: bool = False) -> None:
        self.enabled = enabled
        self.verbose = verbose
        self.stream = stream if stream is not None else sys.stderr
        self._handler = logging.StreamHandler(self.stream)
        self._handler.setFormatter(_Formatter(prog))
        self._start = time.monotonic()
        self._last = 0.0
        self._drawn = False
        self._tty = enabled and self.stream.isatty()
        self._saved = (logging.NOTSET, True)

    def __enter__(self) -> Reporter:
        logger = logging.getLogger("condapack")
        # A library caller's logging setup is put back on exit (pack(verbose=True) uses this).
        self._saved = (logger.level, logger.propagate)
        logger.addHandler(self._handler)
        logger.setLevel(logging.DEBUG if self.verbose else logging.INFO if self.enabled else logging.WARNING)
        logger.propagate = False
        return self

    def __exit__(self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        if self._drawn:
            self.stream.write("\n")
        logger = logging.getLogger("condapack")
        logger.removeHandler(self._handler)
        logger.setLevel(self._saved[0])
        logger.propagate = self._saved[1]

    def progress(self, done: int, total: int) -> None:
        """Redraw the bar at most ten times a second, after the first second."""
        if not self._tty:
            return
        now = time.monotonic()
        if now - self._start < 1.0 or (now - self._last < 0.1 and done < total):
            return
        self._last = now
        fraction = done / total if total else 1.0
        filled = int(_WIDTH * fraction)
        bar = "#" * filled + " " * (_WIDTH - filled)
        self.stream.write(f"\r[{bar}] | {fraction:4.0%} Completed | {now - self._start:5.1f}s")
        self.stream.flush()
        self._drawn = True


class _Formatter(logging.Formatter):
    def __init__(self, prog: str) -> None:
        super().__init__()
        self.prog = prog

    def format(self, record: logging.LogRecord) -> str:
        if record.levelno >= logging.WARNING:
            return f"{self.prog}: warning: {record.getMessage()}"
        if record.levelno <= logging.DEBUG:
            return f"{self.prog}: debug: {record.getMessage()}"
        return record.getMessage()
