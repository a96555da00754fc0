"""Helpers shared by the benchmark scripts: run the tool as a user would, and time it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
INVOKE = Path(sys.executable).with_name("invoke")
#: the app the benchmarks measure (the project has several; a command such as image needs one)
APP = "edge-infer"


def timed(argv: list[str], env: dict | None = None, cwd: Path = PROJECT,
          log: Path | None = None) -> float:
    """Run argv, fail loudly if it fails, return the wall time in seconds."""
    t0 = time.monotonic()
    with open(log if log else os.devnull, "w") as out:
        r = subprocess.run(argv, cwd=cwd, env={"EDGEFORGE_APP": APP, **os.environ, **(env or {})},
                           stdout=out,
                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    elapsed = time.monotonic() - t0
    if r.returncode != 0:
        raise SystemExit(f"benchmark step failed ({r.returncode}): {' '.join(argv)}"
                         + (f"; log: {log}" if log else ""))
    return elapsed


def device_sandbox(tmp: Path, epoch: str) -> dict[str, str]:
    """A login key and build/dist folders of a benchmark's own (the checkout's are not
    touched): the environment for `invoke image`, `vm` and `debug`."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp / "id")],
                   check=True)
    return {"EDGEFORGE_BUILD_DIR": str(tmp / "build"), "EDGEFORGE_DIST_DIR": str(tmp / "dist"),
            "SOURCE_DATE_EPOCH": epoch, "EDGEFORGE_SSH_KEY": str(tmp / "id.pub")}


def invoke(*args: str) -> list[str]:
    return [str(INVOKE), "--search-root", str(PROJECT), *args]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}"
