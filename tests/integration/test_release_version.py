"""The release version without `--version`, in a throwaway git repository holding a copy of the
project: the app's version at a `vX.Y.Z` tag that names it, else that version plus the commit's
day and id (and `.dirty` for local changes). Checked where it ends up: the release folder and
the image tag that `invoke release --dry-run` plans."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from edgeforge.config import load_app
from tests.conftest import PROJECT, copy_project, require_tools, run_invoke

pytestmark = pytest.mark.integration
BOARD = "jetson-nx"
WHEN = "2026-11-24T12:00:00+00:00"  # the commits' date: the version names its day (UTC)


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
           "GIT_AUTHOR_DATE": WHEN, "GIT_COMMITTER_DATE": WHEN}
    return subprocess.run(["git", "-C", str(repo), *args], env=env, check=True,
                          capture_output=True, text=True).stdout.strip()


def planned_version(project: Path) -> str:
    """The version `invoke release` (no --version) would write, read from its printed plan."""
    r = run_invoke("release", "--board", BOARD, "--dry-run", cwd=project,
                   env={"PYTHONDONTWRITEBYTECODE": "1"}, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    dist = (project / "dist" / BOARD / "edge-infer").resolve()
    lines = [ln for ln in r.stdout.splitlines() if f"assemble {dist}/" in ln]
    assert len(lines) == 1, r.stdout[-3000:]
    version = lines[0].split(f"assemble {dist}/", 1)[1].split(" ", 1)[0]
    assert f"container image edge-infer:{version}-{BOARD} " in r.stdout  # the same everywhere
    return version


def test_default_version_comes_from_the_tag_else_the_commit(tmp_path: Path):
    require_tools("git")
    project = copy_project(tmp_path / "project")
    (project / ".gitignore").write_text((PROJECT / ".gitignore").read_text())
    base = load_app(project, "edge-infer").version  # its descriptor's (from its CMakeLists.txt)
    assert base.count(".") == 2, base
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "release")
    git(project, "tag", f"v{base}")
    assert planned_version(project) == base

    # one commit after the tag: the app's version, the commit's day and its id
    (project / "NOTES").write_text("after the release\n")
    git(project, "add", "NOTES")
    git(project, "commit", "-q", "-m", "after")
    rev = git(project, "rev-parse", "--short=12", "HEAD")
    assert planned_version(project) == f"{base}+git20261124.{rev}"

    # a tag that names another version is not the app's release
    git(project, "tag", "v0.0.1")
    assert planned_version(project) == f"{base}+git20261124.{rev}"

    # local changes are said in the version
    (project / "NOTES").write_text("changed\n")
    assert planned_version(project) == f"{base}+git20261124.{rev}.dirty"
