"""What git says about a checkout, asked of a real git repository in a temporary folder."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from edgeforge.core import Reporter, Runner, gitinfo
from tests.conftest import require_tools


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    return subprocess.run(["git", "-C", str(repo), *args], env=env, check=True,
                          capture_output=True, text=True).stdout.strip()


def commit(repo: Path, path: str, text: str) -> str:
    (repo / path).parent.mkdir(parents=True, exist_ok=True)
    (repo / path).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"change {path}")
    return git(repo, "rev-parse", "--short=12", "HEAD")


def test_the_revision_of_a_folder_is_its_last_commit_not_heads(tmp_path: Path):
    require_tools("git")
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    runner = Runner(Reporter(quiet=True), tmp_path / "logs")
    app_commit = commit(repo, "apps/a/main.cpp", "int main() {}\n")
    later = commit(repo, "tools/x.py", "print()\n")  # a commit that does not touch the app

    assert gitinfo.revision(runner, repo, ("apps/a",)) == app_commit
    assert gitinfo.revision(runner, repo) == later != app_commit

    (repo / "apps/a/main.cpp").write_text("int main() { return 1; }\n")
    assert gitinfo.revision(runner, repo, ("apps/a",)) == app_commit + "-dirty"
    newer = commit(repo, "apps/a/main.cpp", "int main() { return 2; }\n")
    assert gitinfo.revision(runner, repo, ("apps/a",)) == newer


def test_a_folder_that_is_not_a_repository_has_an_unknown_revision(tmp_path: Path):
    require_tools("git")
    runner = Runner(Reporter(quiet=True), tmp_path / "logs")
    assert gitinfo.revision(runner, tmp_path, ("apps/a",)) == "unknown"
    assert gitinfo.revision(runner, tmp_path) == "unknown"
    assert gitinfo.commit_time(runner, tmp_path) is None
