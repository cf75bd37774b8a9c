"""Create the example's environments offline (real conda environments, via rattler).

The packages come from the test recipes, built once into a cached local channel.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "tests"))

import envkit  # noqa: E402

#: environment directory -> test scenario installed there
ENVS = {"app": "basic", "tools": "nopython"}


def main() -> int:
    channel = envkit.build_channel()
    for name, scenario in ENVS.items():
        prefix = HERE / "envs" / name
        if (prefix / "conda-meta").is_dir():
            print(f"envs/{name}: exists")
            continue
        shutil.rmtree(prefix, ignore_errors=True)
        envkit.create_env(scenario, prefix, channel)
        print(f"envs/{name}: created ({scenario})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
