"""What a format's writer is given: the roster of members, the options and where to publish.

Every writer is one function, ``write_archive(request)``, named by its format's registry
entry (:mod:`condapack.archive.formats`). It writes the roster's members into a file or a
directory it opens through the request, so a failed or interrupted write leaves the
previous output as it was.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Callable, ContextManager, Protocol

import attrs

from ..output import atomic_output
from .directory import atomic_directory

if TYPE_CHECKING:
    from ..members import Roster
    from ..options import PackOptions
    from ..prefix import File
    from ..records import PackageRecord
    from .formats import Format

__all__ = ["WriteRequest", "Writer"]


@attrs.frozen
class WriteRequest:
    """One archive to write: ``roster``'s members as ``format`` at ``output``.

    ``advance`` is called with the bytes of content each member added. ``prefix``,
    ``files``, ``packages`` and ``dest_prefix`` are the environment the roster was made
    from, for writers that need more than its members (an image's layers follow its
    packages).
    """

    output: Path
    format: Format
    roster: Roster
    options: PackOptions
    advance: Callable[[int], None]
    prefix: Path
    files: tuple[File, ...] = ()
    packages: tuple[PackageRecord, ...] = ()
    dest_prefix: str = ""

    @property
    def env_name(self) -> str:
        """The environment's name (a self-installing archive shows it)."""
        return self.prefix.name

    def file(self, executable: bool = False) -> ContextManager[BinaryIO]:
        """A temporary file beside the output that replaces it when the writer returns."""
        return atomic_output(self.output, overwrite=self.options.force, executable=executable)

    def directory(self) -> ContextManager[Path]:
        """An empty temporary directory beside the output that replaces it when the writer returns."""
        return atomic_directory(self.output)


class Writer(Protocol):
    """A format's writer (``write_archive`` in its module)."""

    def __call__(self, request: WriteRequest) -> None:
        """Write the request's archive."""
