"""The terminal reporter: it borrows the ``condapack`` logger and gives it back."""

from __future__ import annotations

import io
import logging

from condapack.report import Reporter


def test_reporter_restores_the_logger_level_and_propagation() -> None:
    logger = logging.getLogger("condapack")
    logger.setLevel(logging.ERROR)
    logger.propagate = True
    try:
        with Reporter(enabled=True, stream=io.StringIO(), verbose=True):
            assert (logger.level, logger.propagate) == (logging.DEBUG, False)
        assert (logger.level, logger.propagate, logger.handlers) == (logging.ERROR, True, [])
    finally:
        logger.setLevel(logging.NOTSET)


def test_reporter_shows_warnings_with_the_program_name() -> None:
    stream = io.StringIO()
    with Reporter(enabled=False, stream=stream, prog="conda-pack"):
        logging.getLogger("condapack.pack").warning("two packages claim bin/x")
        logging.getLogger("condapack.pack").info("not shown when disabled")
    assert stream.getvalue() == "conda-pack: warning: two packages claim bin/x\n"
