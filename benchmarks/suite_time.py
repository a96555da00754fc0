"""The whole suite through the README's test command (`./edgeforge test`) on clean clones of
this checkout's HEAD, timed side by side: cold (an empty cache of its own), warm (a second clean
run in the same clean clone, the cache as the first run left it) and after a change to edgeforge's
Python code only (a third clone with one commit on top that edits a CLI module's docstring).
Targets: warm <= 12 min, after a Python change <= 20 min, cold <= 60 min.

    .venv/bin/python benchmarks/suite_time.py            # warm and after a Python change
    .venv/bin/python benchmarks/suite_time.py --cold     # cold first (an hour or more)

The cold run uses a fresh EDGEFORGE_CACHE in a temporary folder, so the user's cache is neither
used nor touched; apt packages, dockerd and binfmt stay installed (they are the machine's, not
the cache's). Each run's output goes to build/benchmarks/suite-<kind>.log.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
from pathlib import Path

from _common import PROJECT, machine, timed

TARGETS = {"cold": 60, "warm": 12, "after a Python change": 20}


def clone(dest: Path, change: bool = False) -> Path:
    subprocess.run(["git", "clone", "-q", str(PROJECT), str(dest)], check=True)
    if change:
        module = dest / "src" / "edgeforge" / "cli" / "_common.py"
        module.write_text(module.read_text().replace('"""', '"""(benchmark edit) ', 1))
        env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@example.invalid",
               "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@example.invalid"}
        subprocess.run(["git", "-C", str(dest), "commit", "-q", "-am", "benchmark: a Python edit"],
                       check=True, env=env)
    return dest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cold", action="store_true", help="also run the suite on an empty cache")
    args = ap.parse_args()
    logs = PROJECT / "build" / "benchmarks"
    logs.mkdir(parents=True, exist_ok=True)
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="edgeforge-suite-") as tmp:
        tmp_path = Path(tmp)
        if args.cold:
            env = {"EDGEFORGE_CACHE": str(tmp_path / "cache")}
            figures["cold"] = timed(["./edgeforge", "test"], env=env,
                                    cwd=clone(tmp_path / "cold"), log=logs / "suite-cold.log")
        # the warm run: same commit as a run before it (the cold one, or the user's last)
        first = clone(tmp_path / "first")
        timed(["./edgeforge", "test"], cwd=first, log=logs / "suite-first.log")
        # the suite's builds are kept per checkout: warm is a second run in the same clone
        figures["warm"] = timed(["./edgeforge", "test"], cwd=first,
                                log=logs / "suite-warm.log")
        figures["after a Python change"] = timed(
            ["./edgeforge", "test"], cwd=clone(tmp_path / "changed", change=True),
            log=logs / "suite-python-change.log")
    print(f"machine: {machine()}")
    for kind, seconds in figures.items():
        minutes = seconds / 60
        print(f"suite {kind}: {minutes:.1f} min (target <= {TARGETS[kind]} min): "
              f"{'met' if minutes <= TARGETS[kind] else 'NOT met'}")


if __name__ == "__main__":
    main()
