"""`invoke deps --board jetson-nx` with an empty Conan cache vs a filled one.

The sysroot and the source mirror are shared with the normal cache (they are not what is
measured); Conan's home starts empty. Target: warm at most 1/20 of cold.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from _common import PROJECT, invoke, machine, timed

from edgeforge.context import default_cache_dir


def main() -> None:
    board = "jetson-nx"
    real = default_cache_dir()
    timed(invoke("sysroot", "--board", board))
    timed(invoke("sources"))
    tmp = Path(tempfile.mkdtemp(prefix="edgeforge-bench-"))
    try:
        for shared in ("sysroots", "sources", "probes"):
            (tmp / shared).symlink_to(real / shared)
        env = {"EDGEFORGE_CACHE": str(tmp)}
        logs = PROJECT / "build" / "benchmarks"
        logs.mkdir(parents=True, exist_ok=True)
        cold = timed(invoke("deps", "--board", board), env=env, log=logs / "deps-cold.log")
        warm = timed(invoke("deps", "--board", board), env=env, log=logs / "deps-warm.log")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"machine: {machine()}")
    print(f"invoke deps --board {board}: cold (empty Conan cache) {cold:8.1f} s")
    print(f"invoke deps --board {board}: warm (filled Conan cache) {warm:8.1f} s")
    print(f"warm/cold ratio: {warm / cold:.4f} (target <= 0.05): "
          f"{'met' if warm / cold <= 0.05 else 'NOT met'}")


if __name__ == "__main__":
    main()
