"""`invoke new-app` as a user runs it, in a throwaway copy of the project: both kinds of new
app build on this machine with the host's CMake and Meson, and their test suites pass (the
cross builds, qemu runs and releases are tests/e2e/test_scaffold.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import copy_project, require_tools, run_invoke

pytestmark = pytest.mark.integration


def sh(*argv: str, cwd: Path) -> str:
    r = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=600,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, f"{' '.join(argv)}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout


def test_new_apps_of_both_kinds_build_and_pass_their_tests_natively(tmp_path: Path):
    require_tools("cmake", "ninja", "meson")
    project = copy_project(tmp_path / "project")
    for name, kind in (("line-agent", "cmake"), ("line-probe", "meson")):
        r = run_invoke("new-app", "--name", name, "--kind", kind, cwd=project)
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"new {kind} app {name}: apps/{name}, images/{name}" in r.stdout
        assert f"./edgeforge build --board BOARD --app {name}" in r.stdout
    agent, probe = project / "apps/line-agent", project / "apps/line-probe"
    sh("cmake", "-S", str(agent), "-B", str(tmp_path / "a"), "-G", "Ninja", cwd=tmp_path)
    sh("cmake", "--build", str(tmp_path / "a"), cwd=tmp_path)
    assert "100% tests passed" in sh("ctest", "--test-dir", str(tmp_path / "a"), cwd=tmp_path)
    sh("meson", "setup", str(tmp_path / "p"), str(probe), cwd=tmp_path)
    out = " ".join(sh("meson", "test", "-C", str(tmp_path / "p"), cwd=tmp_path).split())
    assert "Ok: 2 Expected Fail: 1 Fail: 0" in out, out
    for program in (tmp_path / "a/line-agent", tmp_path / "p/line-probe"):
        r = subprocess.run([str(program)], input='one\n"two"\n', capture_output=True, text=True)
        assert r.returncode == 0 and r.stdout.splitlines() == [
            '{"line":1,"text":"one"}', '{"line":2,"text":"\\"two\\""}'], r.stdout
    # the name is taken now: refused, nothing changed
    r = run_invoke("new-app", "--name", "line-agent", cwd=project)
    assert r.returncode == 2 and "apps/line-agent exists already" in r.stderr
