"""Shared helpers: run the tool as a user would, in the repository or a throwaway copy."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgeforge.context import default_cache_dir

PROJECT = Path(__file__).resolve().parents[1]
INVOKE = Path(sys.executable).with_name("invoke")
#: the app the suite's commands work on unless a test names another (--app, or its own
#: EDGEFORGE_APP): the project has several, and a command such as deploy needs one. Tests of
#: the default itself (every app, or a name required) unset it.
SUITE_APP = "edge-infer"
os.environ["EDGEFORGE_APP"] = SUITE_APP
#: the suite's builds of the repository's boards, shared by every checkout on this machine (the
#: steps are keyed on their inputs, and their outputs hold no checkout path): a clean clone
#: finds the builds of the last run up to date where its inputs did not change.
_LOCK_FD: int | None = None


def _suite_build_dir() -> Path:
    """`EDGEFORGE_TEST_BUILD_DIR`, else `<cache>/test-build/shared`, held under a lock for this
    process; while another suite holds it, a folder of this checkout's own. Never the
    checkout's build/ (a user's builds stay as they are)."""
    global _LOCK_FD
    if os.environ.get("EDGEFORGE_TEST_BUILD_DIR"):
        return Path(os.environ["EDGEFORGE_TEST_BUILD_DIR"])
    parent = default_cache_dir() / "test-build"
    parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(parent / "shared.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return parent / hashlib.sha256(str(PROJECT).encode()).hexdigest()[:12]
    _LOCK_FD = fd  # held until this process ends
    return parent / "shared"


BUILD = _suite_build_dir()
DIST = BUILD / "dist"  # the suite's releases: never the checkout's dist/


def app_records(board: str, build: Path = BUILD) -> Path:
    """build/<board>/apps/<the suite's app>/: its manifest, split debug files, release steps."""
    return build / board / "apps" / SUITE_APP


def release_dir(board: str, version: str, dist: Path = DIST) -> Path:
    """dist/<board>/<the suite's app>/<version>/: a release of the suite's app."""
    return dist / board / SUITE_APP / version
STALE_DAYS = 3


def _drop_stale_test_builds() -> None:
    """Test builds of checkouts that are gone or unused for days are removed."""
    parent = default_cache_dir() / "test-build"
    if not parent.is_dir() or "EDGEFORGE_TEST_BUILD_DIR" in os.environ:
        return
    for d in parent.iterdir():
        old = time.time() - d.stat().st_mtime > STALE_DAYS * 86400
        if d not in (BUILD, parent / "shared") and d.is_dir() and old:
            shutil.rmtree(d, ignore_errors=True)


_drop_stale_test_builds()
BUILD.mkdir(parents=True, exist_ok=True)
os.utime(BUILD)


def run_invoke(*args: str, cwd: Path = PROJECT, env: dict | None = None,
               timeout: float = 3600) -> subprocess.CompletedProcess:
    """`invoke ARGS` in a subprocess; returns the finished process (output as text).

    In the repository itself the build goes to the suite's own folder (BUILD); a throwaway
    copy builds into its own build/."""
    full_env = {**os.environ, **(env or {})}
    for var, folder in (("EDGEFORGE_BUILD_DIR", BUILD), ("EDGEFORGE_DIST_DIR", DIST)):
        if Path(cwd) == PROJECT:
            full_env.setdefault(var, str(folder))
        elif var not in (env or {}):
            full_env.pop(var, None)
    return subprocess.run(
        [str(INVOKE), "--search-root", str(cwd), *args],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def copy_project(dest: Path) -> Path:
    """A throwaway project: the real descriptors, apps and image definitions (the apps'
    descriptors name them), editable by the test."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("toolchains", "apps", "recipes", "images"):
        shutil.copytree(PROJECT / name, dest / name,
                        ignore=shutil.ignore_patterns("build", "CMakeUserPresets.json"))
    for name in ("tasks.py", "pyproject.toml"):
        shutil.copy2(PROJECT / name, dest / name)
    return dest


@pytest.fixture
def tmp_project(tmp_path: Path) -> Path:
    return copy_project(tmp_path / "project")


def require_tools(*names: str) -> None:
    """Fail (never skip) with the reason when a host tool is missing."""
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        pytest.fail(f"missing host tools {', '.join(missing)}: run ./edgeforge setup "
                    "(or `invoke setup`) first")


def _tree_state(root: Path) -> dict[str, tuple[int, int]]:
    state = {}
    if root.is_dir():
        for dirpath, _dirs, files in os.walk(root):
            for f in files:
                p = Path(dirpath) / f
                st = p.lstat()
                state[str(p)] = (st.st_size, st.st_mtime_ns)
    return state


@pytest.fixture(scope="session", autouse=True)
def checkout_build_untouched():
    """The suite never writes into the checkout's build/ or dist/ (a user's builds there stay
    exactly as they were): checked over the whole session."""
    folders = (PROJECT / "build", PROJECT / "dist")
    before = {f: _tree_state(f) for f in folders}
    yield
    for f in folders:
        after = _tree_state(f)
        if after != before[f]:
            changed = sorted(set(after.items()) ^ set(before[f].items()))[:5]
            pytest.fail(f"the test suite changed the checkout's {f.name}/: {changed}")


# ---- the budget, visible in every run: wall time per tier ----------------------------------
_TIER_SECONDS: dict[str, float] = {}


def pytest_runtest_logreport(report) -> None:
    parts = report.nodeid.split("/")
    tier = parts[1] if len(parts) > 2 and parts[0] == "tests" else "other"
    _TIER_SECONDS[tier] = _TIER_SECONDS.get(tier, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter) -> None:
    if not _TIER_SECONDS:
        return
    terminalreporter.write_sep("=", "wall time per tier (setup, call and teardown)")
    for tier in ("unit", "integration", "e2e", "other"):
        if tier in _TIER_SECONDS:
            sec = _TIER_SECONDS[tier]
            terminalreporter.write_line(f"{tier:12s} {int(sec // 60)}m{int(sec % 60):02d}s")


def sigint_as_from_a_terminal() -> None:
    """preexec_fn for a child that a test interrupts with Ctrl-C: a shell that started the
    suite in the background (as `cmd &` does without job control) leaves SIGINT ignored, and
    every child inherits that; a terminal's foreground program has it at its default."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt(proc: subprocess.Popen, signum: int, timeout: float = 120) -> int:
    """Ctrl-C as a terminal sends it (SIGINT to the process group) or SIGTERM as `kill` or a
    cancelled CI job sends it (to the process); the exit code."""
    import signal
    if signum == signal.SIGINT:
        os.killpg(proc.pid, signal.SIGINT)
    else:
        os.kill(proc.pid, signum)
    return proc.wait(timeout=timeout)
