"""Shared helpers: run the tool as a user would, in the repository or a throwaway copy."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
INVOKE = Path(sys.executable).with_name("invoke")


def run_invoke(*args: str, cwd: Path = PROJECT, env: dict | None = None,
               timeout: float = 3600) -> subprocess.CompletedProcess:
    """`invoke ARGS` in a subprocess; returns the finished process (output as text)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [str(INVOKE), "--search-root", str(cwd), *args],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def copy_project(dest: Path) -> Path:
    """A throwaway project: the real descriptors and apps, editable by the test."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("toolchains", "apps", "recipes"):
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
