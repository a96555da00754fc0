"""Every board: sysroot, generated CMake toolchain, smoke program, ABI gate, qemu run."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from edgeforge.fsutil import sha256_file
from edgeforge.model import version_tuple
from tests.conftest import BUILD, PROJECT, copy_project, run_invoke
from tests.e2e.conftest import BOARDS, build_board

pytestmark = pytest.mark.e2e

EXPECTED = [
    "smoke: greet=hello, edgeforge",
    "smoke: threads=4 sum=500500",
    "smoke: caught=division by zero",
    "smoke: caught=empty name",
    "smoke: ok",
]


@pytest.mark.parametrize("board", BOARDS)
def test_board_builds_passes_the_gate_and_runs_under_qemu(board: str):
    manifest = build_board(board)
    bdir = BUILD / board
    arm64 = board != "rpi3-armhf"
    assert manifest["board"] == board
    elves = {a["path"]: a for a in manifest["artifacts"] if a["kind"] != "file"}
    assert set(elves) == {"smoke/bin/smoke", "smoke/lib/libgreet.so.1.0"}
    for a in elves.values():
        assert a["elf_machine"] == ("EM_AARCH64" if arm64 else "EM_ARM")
        assert a["sha256"] == sha256_file(bdir / a["path"])
        ceil = manifest["abi"]
        for fam, limit in (("GLIBC", ceil["glibc"]), ("GLIBCXX", ceil["glibcxx"]),
                           ("CXXABI", ceil["cxxabi"])):
            if fam in a["max_versions"]:
                assert version_tuple(a["max_versions"][fam]) <= version_tuple(limit)
    assert {"GLIBC", "GLIBCXX"} <= set(elves["smoke/bin/smoke"]["max_versions"])
    toolchain = {a["path"] for a in manifest["artifacts"] if a["role"] == "toolchain"}
    assert "toolchain/toolchain.cmake" in toolchain and "toolchain/conan-host.profile" in toolchain

    r = run_invoke("run", "--board", board, "--", str(bdir / "smoke/bin/smoke"))
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("smoke:")]
    assert lines == [f"smoke: arch={'aarch64' if arm64 else 'arm'}", *EXPECTED]

    r = run_invoke("run", "--board", board, "--", str(bdir / "smoke/bin/smoke"), "--fail")
    assert r.returncode == 3  # the program's own exit code
    assert "smoke: failing on request" in r.stderr


@pytest.mark.parametrize("board", ["jetson-nx", "rpi3-armhf"])
def test_ctest_runs_through_the_crosscompiling_emulator(board: str):
    build_board(board)
    r = subprocess.run(["ctest", "--test-dir", str(BUILD / board / "work/smoke"),
                        "--output-on-failure"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "100% tests passed, 0 tests failed out of 2" in r.stdout


def test_second_build_does_nothing():
    build_board("jetson-nx")
    r = run_invoke("build", "--board", "jetson-nx", "--smoke-only")
    assert r.returncode == 0
    assert "everything is up to date; nothing to do" in r.stdout
    assert "jetson-nx: 0 steps ran, 4 up to date" in r.stdout


def test_a_damaged_artifact_is_rebuilt():
    build_board("rpi4")
    lib = BUILD / "rpi4/smoke/lib/libgreet.so.1.0"
    good = sha256_file(lib)
    lib.write_bytes(b"damaged")
    r = run_invoke("build", "--board", "rpi4", "--smoke-only")
    assert r.returncode == 0, r.stderr
    assert "smoke: cross-build apps/smoke" in r.stdout and "libgreet.so.1.0 changed)" in r.stdout
    assert "[to do] smoke" in r.stdout and "[up to date] toolchain" in r.stdout
    assert sha256_file(lib) == good


def test_output_is_reproducible_across_checkouts(tmp_path: Path):
    manifest = build_board("jetson-nx")
    other = copy_project(tmp_path / "elsewhere")
    r = run_invoke("build", "--board", "jetson-nx", "--smoke-only", cwd=other)
    assert r.returncode == 0, r.stderr
    import json

    theirs = json.loads((other / "build/jetson-nx/manifest.json").read_text())
    ours = {a["path"]: a["sha256"] for a in manifest["artifacts"] if a["role"] == "smoke"}
    assert ours == {a["path"]: a["sha256"] for a in theirs["artifacts"] if a["role"] == "smoke"}


def test_app_from_another_checkout_and_build_folder_is_byte_identical(tmp_path: Path):
    """The inference app and its libraries, rebuilt from a copy of the checkout (its git
    state included: --version names the revision) into another build folder: the same bytes,
    so no checkout or build path reaches the binaries."""
    import json

    manifest = build_board("jetson-nx", smoke_only=False)
    other = tmp_path / "elsewhere"
    shutil.copytree(PROJECT, other, symlinks=True,
                    ignore=shutil.ignore_patterns(".venv", "build", "dist", "__pycache__",
                                                  ".pytest_cache", ".ruff_cache"))
    r = run_invoke("build", "--board", "jetson-nx", cwd=other,
                   env={"EDGEFORGE_BUILD_DIR": str(tmp_path / "b")})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    theirs = json.loads((tmp_path / "b/jetson-nx/manifest.json").read_text())

    def app(m: dict) -> dict[str, str]:
        return {a["path"]: a["sha256"] for a in m["artifacts"] if a["role"] == "app"}

    assert app(theirs) and app(theirs) == app(manifest)
    assert (tmp_path / "b/jetson-nx/edge-infer/bin/edge-infer").read_bytes() == \
        (BUILD / "jetson-nx/edge-infer/bin/edge-infer").read_bytes()


def test_run_refuses_a_host_program():
    build_board("jetson-nx")
    r = run_invoke("run", "--board", "jetson-nx", "--", "/bin/true")
    assert r.returncode == 1
    assert "/bin/true is built for EM_X86_64, not for jetson-nx (EM_AARCH64)" in r.stderr


def test_failed_build_keeps_the_last_good_artifact_and_the_log(tmp_path: Path):
    other = copy_project(tmp_path / "p")
    r = run_invoke("build", "--board", "rpi4", "--smoke-only", cwd=other)
    assert r.returncode == 0, r.stderr
    good = sha256_file(other / "build/rpi4/smoke/bin/smoke")
    src = other / "apps/smoke/src/main.cpp"
    src.write_text(src.read_text().replace("return 0;\n}", "return undefined_symbol;\n}"))
    r = run_invoke("build", "--board", "rpi4", "--smoke-only", cwd=other)
    assert r.returncode == 4
    assert "compile smoke for rpi4 failed" in r.stderr and "undefined_symbol" in r.stderr
    log = Path(r.stderr.split("full log: ")[1].split()[0])
    assert log.is_file() and "undefined_symbol" in log.read_text()
    assert sha256_file(other / "build/rpi4/smoke/bin/smoke") == good
    assert not (other / "build/rpi4/.smoke.new").exists()
