"""Memory per file while packing: the invariant behind the README's peak-RSS claim.

Reading an environment and planning its members holds a bounded number of bytes per
file, whatever the environment's size: the per-package path data is folded into the
files and dropped, and a member holds its file, not a copy of its path or bytes. Measured
with tracemalloc (Python's own allocations, which is what grows with the file count).
"""

from __future__ import annotations

import hashlib
import json
import tracemalloc
from pathlib import Path

import pytest

from condapack.members import make_roster
from condapack.prefix import scan_prefix

#: Bytes per file: the peak while reading and planning, and what the roster keeps afterwards.
PEAK_PER_FILE = 1200
HELD_PER_FILE = 640


def _environment(prefix: Path, count: int) -> Path:
    """One package of ``count`` small managed files, as conda records them."""
    paths = []
    for i in range(count):
        rel = f"lib/python3.11/site-packages/pkg{i // 500}/module_{i}.py"
        (prefix / rel).parent.mkdir(parents=True, exist_ok=True)
        data = f"x = {i}\n".encode()
        (prefix / rel).write_bytes(data)
        paths.append({"_path": rel, "path_type": "hardlink", "sha256": hashlib.sha256(data).hexdigest(),
                      "size_in_bytes": len(data)})
    record = {"name": "big", "version": "1.0", "build": "0", "build_number": 0, "subdir": "linux-64",
              "files": [p["_path"] for p in paths], "paths_data": {"paths_version": 1, "paths": paths}}
    (prefix / "conda-meta").mkdir()
    (prefix / "conda-meta" / "big-1.0-0.json").write_text(json.dumps(record))
    return prefix


@pytest.mark.slow
@pytest.mark.parametrize("count", [5_000, 20_000])
def test_reading_and_planning_hold_a_bounded_number_of_bytes_per_file(tmp_path: Path, count: int) -> None:
    prefix = _environment(tmp_path / "env", count)
    tracemalloc.start()
    try:
        scan = scan_prefix(prefix)
        roster = make_roster(prefix, scan.files, layout=scan.layout, home=scan.home)
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(scan.files) == count + 1 and roster is not None
    assert peak / count < PEAK_PER_FILE
    assert held / count < HELD_PER_FILE
