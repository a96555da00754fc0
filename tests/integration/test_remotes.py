"""`invoke remote list|add|disable|enable|remove` as a user runs them, through real Conan, in
a Conan home of a temporary cache: what each prints and what Conan's own `remotes.json` holds
afterwards. Adding, listing and switching remotes contacts no server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeforge.context import default_cache_dir
from tests.conftest import run_invoke

pytestmark = pytest.mark.integration

TEAM = "http://127.0.0.1:9"
SPARE = "https://conan.example.com/artifactory/api/conan/edge"


def remote(cache: Path, *args: str):
    r = run_invoke("remote", *args, env={"EDGEFORGE_CACHE": str(cache)}, timeout=600)
    assert "Traceback" not in r.stdout + r.stderr
    return r


def listed(stdout: str) -> list[str]:
    """The remote lines `invoke remote ...` ends with (`NAME: URL[ (disabled)]`)."""
    return [line.strip() for line in stdout.splitlines() if ": http" in line]


def conan_remotes(cache: Path) -> dict[str, bool]:
    """name -> enabled, as Conan's own file in edgeforge's Conan home says."""
    data = json.loads((cache / "conan2" / "remotes.json").read_text())
    return {r["name"]: not r.get("disabled", False) for r in data["remotes"]}


def test_remotes_are_listed_switched_and_removed_in_edgeforges_conan_home(tmp_path: Path):
    cache = tmp_path / "cache"
    real = default_cache_dir() / "conan2" / "remotes.json"
    real_before = real.read_bytes() if real.is_file() else None

    r = remote(cache, "list")
    assert r.returncode == 0, r.stdout + r.stderr
    assert listed(r.stdout) == [] and conan_remotes(cache) == {}  # no public remote

    for name, url in (("team", TEAM), ("spare", SPARE)):
        r = remote(cache, "add", "--name", name, "--url", url)
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"remote {name} -> {url}" in r.stdout
    r = remote(cache, "list")
    assert r.returncode == 0, r.stderr
    assert sorted(listed(r.stdout)) == [f"spare: {SPARE}", f"team: {TEAM}"]
    assert conan_remotes(cache) == {"team": True, "spare": True}

    r = remote(cache, "disable", "--name", "team")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"team: {TEAM} (disabled)" in listed(r.stdout)
    assert conan_remotes(cache) == {"team": False, "spare": True}
    r = remote(cache, "list")
    assert sorted(listed(r.stdout)) == [f"spare: {SPARE}", f"team: {TEAM} (disabled)"]

    r = remote(cache, "enable", "--name", "team")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"team: {TEAM}" in listed(r.stdout)
    assert conan_remotes(cache) == {"team": True, "spare": True}

    r = remote(cache, "remove", "--name", "spare")
    assert r.returncode == 0, r.stdout + r.stderr
    assert listed(r.stdout) == [f"team: {TEAM}"]
    assert conan_remotes(cache) == {"team": True}

    # mistakes: a remote that is not there, a missing name, an unknown action (exit 2)
    for args, said in ((("remove", "--name", "spare"), "no remote named 'spare' (configured: team)"),
                       (("disable", "--name", "nope"), "no remote named 'nope' (configured: team)"),
                       (("enable",), "`invoke remote enable` needs NAME"),
                       (("rename", "--name", "team"), "unknown remote action 'rename'")):
        r = remote(cache, *args)
        assert r.returncode == 2, (args, r.stdout + r.stderr)
        assert said in r.stderr, (args, r.stderr)
    assert conan_remotes(cache) == {"team": True}

    # all of it happened in the temporary cache's Conan home, not in the real one
    assert (real.read_bytes() if real.is_file() else None) == real_before
