"""`invoke new-app` end to end, in a throwaway copy of the project: a new CMake app and a new
Meson app, with no edit, cross-build for jetson-nx and pass the ABI gate, run their test suites
under qemu-user, and release; the new app's .deb installs into an arm64 root file system of the
board's stand-in suite and its program and service unit are there."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import copy_project, require_tools, run_invoke
from tests.e2e.chroots import Chroot, stand_in_rootfs

pytestmark = pytest.mark.e2e
BOARD = "jetson-nx"
EPOCH = "1700000000"
NEW = (("line-agent", "cmake"), ("line-probe", "meson"))


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    require_tools("mmdebstrap", "qemu-aarch64", "clang-14", "cmake", "meson", "dpkg-deb")
    root = copy_project(tmp_path_factory.mktemp("scaffold") / "project")
    for name, kind in NEW:
        r = run_invoke("new-app", "--name", name, "--kind", kind, cwd=root)
        assert r.returncode == 0, r.stdout + r.stderr
    return root


@pytest.mark.parametrize("name, kind", NEW)
def test_a_new_app_builds_gates_tests_and_releases_with_no_edit(project: Path, name: str,
                                                                kind: str, tmp_path: Path):
    r = run_invoke("build", "--board", BOARD, "--app", name, cwd=project)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    manifest = json.loads((project / f"build/{BOARD}/apps/{name}/manifest.json").read_text())
    [program] = [a for a in manifest["artifacts"] if a["role"] == "app"]
    assert program["path"] == f"{name}/bin/{name}" and program["elf_machine"] == "EM_AARCH64"
    r = run_invoke("test", "--board", BOARD, "--app", name, cwd=project)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    if kind == "cmake":
        assert "100% tests passed, 0 tests failed out of 3" in r.stdout, r.stdout[-3000:]
    else:
        assert re.search(r"meson test: Ok: 2, Fail: 0, Skipped: 0", r.stdout), r.stdout[-3000:]
    r = run_invoke("run", "--board", BOARD, "--app", name, "--", "--version", cwd=project)
    assert r.returncode == 0 and r.stdout.startswith(f"{name} 0.1.0 ({BOARD}, "), r.stdout
    r = run_invoke("release", "--board", BOARD, "--app", name, "--version", "0.1.0",
                   cwd=project, env={"SOURCE_DATE_EPOCH": EPOCH}, timeout=3600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    folder = project / f"dist/{BOARD}/{name}/0.1.0"
    files = set(json.loads((folder / "release.json").read_text())["files"])
    deb = folder / f"{name}_0.1.0_arm64.deb"
    assert {deb.name, f"{name}-dbg_0.1.0_arm64.deb", "sbom.cdx.json"} <= files, sorted(files)
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True,
                             check=True).stdout
    assert f"./opt/{name}/bin/{name}" in listing
    assert f"./lib/systemd/system/{name}@.service" in listing
    root = Chroot(stand_in_rootfs(BOARD), tmp_path / "rootfs")
    try:
        inside = root.put(deb, f"/tmp/{deb.name}")
        root.run("apt-get", "install", "-y", "--no-install-recommends", inside, timeout=1800)
        r = root.run(f"/usr/bin/{name}", user=name)
        assert r.returncode == 0 and r.stdout == ""  # an empty input: no line
        (tmp_path / "input.txt").write_text('first\n"second"\tline\n')
        root.put(tmp_path / "input.txt", "/tmp/input.txt")
        r = root.run(f"/usr/bin/{name}", "/tmp/input.txt", user=name)
        assert [json.loads(ln) for ln in r.stdout.splitlines()] == [
            {"line": 1, "text": "first"}, {"line": 2, "text": '"second"\tline'}]
        assert (root.root / f"etc/{name}/default.conf").is_file()
        root.run("apt-get", "purge", "-y", name)
        assert not (root.root / f"opt/{name}").exists()
    finally:
        root.close()
