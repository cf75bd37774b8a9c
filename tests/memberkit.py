"""Hand-made archive members for the writers' unit tests (no environment behind them)."""

from __future__ import annotations

import random
from pathlib import Path

from condapack.members import Member, PrefixRewrite


def on_disk(tmp_path: Path, name: str, data: bytes, mode: int = 0o644) -> Member:
    """A file member whose bytes come from a file written under ``tmp_path``."""
    path = tmp_path / "src" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return Member(name=name, kind="file", mode=mode, size=len(data), source=str(path))


def generated(name: str, data: bytes, mode: int = 0o644) -> Member:
    """A file member whose bytes are held in memory (as conda-unpack's files are)."""
    return Member(name=name, kind="file", mode=mode, size=len(data), data=data)


def directory(name: str) -> Member:
    """A directory member."""
    return Member(name=name, kind="dir", mode=0o755)


def link(name: str, target: str) -> Member:
    """A symbolic link member."""
    return Member(name=name, kind="symlink", mode=0o777, link_target=target)


def noise(size: int, seed: int = 1) -> bytes:
    """Half text, half random bytes: compresses, but not to nothing."""
    rng = random.Random(seed)
    text = b"".join(b"line %d of some text\n" % i for i in range(size // 40))
    return (text + rng.randbytes(size))[:size]


#: A prefix long enough that rewriting it to ``/opt/app`` changes a file's length.
OLD_PREFIX = b"/home/me/a-long-build-prefix"


def rewritten_tool(tmp_path: Path) -> Member:
    """``bin/tool`` naming ``OLD_PREFIX`` in its shebang and body, to be rewritten to ``/opt/app`` as text."""
    source = on_disk(tmp_path, "bin/tool", b"#!" + OLD_PREFIX + b"/bin/python\nprint('" + OLD_PREFIX + b"')\n",
                     0o755)
    rewrite = PrefixRewrite(old=OLD_PREFIX, new=b"/opt/app", file_mode="text", capacity=0)
    return Member(name=source.name, kind="file", mode=0o755, size=source.size, source=source.source,
                  transforms=(rewrite,))


#: What :func:`rewritten_tool` holds after the rewrite.
REWRITTEN_TOOL = b"#!/opt/app/bin/python\nprint('/opt/app')\n"
