"""`invoke release --board jetson-nx` from a warm binary cache. Target: at most 60 s.

Three figures, side by side, each into its own temporary build and dist folder (the checkout's
build/ and dist/ are not touched), with the caches (sysroot, Conan binaries, ccache, source
mirror) warm:
  1. the whole plan from an empty build folder: toolchain, smoke, deps (Conan binaries from the
     cache), the app (ccache), then the release steps;
  2. the release steps alone on a built board (what a developer runs after `invoke build`);
  3. the same release again: every step up to date.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from _common import invoke, machine, timed

BOARD = "jetson-nx"
TARGET_S = 60.0
EPOCH = "1700000000"


def main() -> None:
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="edgeforge-release-bench-") as tmp:
        build, dist = Path(tmp) / "build", Path(tmp) / "dist"
        env = {"EDGEFORGE_BUILD_DIR": str(build), "EDGEFORGE_DIST_DIR": str(dist),
               "SOURCE_DATE_EPOCH": EPOCH}
        logs = Path(tmp)
        full = timed(invoke("release", "--board", BOARD, "--version", "1.0.0"), env=env,
                     log=logs / "full.log")
        steps = re.findall(r"^= (\w+): .*\(([0-9.]+)s\)$", (logs / "full.log").read_text(),
                           re.M)
        shutil.rmtree(dist)
        release_only = timed(invoke("release", "--board", BOARD, "--version", "1.0.1"), env=env,
                             log=logs / "release.log")
        again = timed(invoke("release", "--board", BOARD, "--version", "1.0.1"), env=env,
                      log=logs / "again.log")
    print(f"1. from an empty build folder (warm caches): {full:.1f} s")
    for name, secs in steps:
        print(f"     {name:10s} {float(secs):6.1f} s")
    print(f"2. release steps on a built board (new version): {release_only:.1f} s")
    print(f"3. the same release again (up to date): {again:.1f} s")
    verdict = "met" if release_only <= TARGET_S else "missed"
    print(f"release steps / {TARGET_S:.0f} s target: {release_only / TARGET_S:.2f} ({verdict})")


if __name__ == "__main__":
    main()
