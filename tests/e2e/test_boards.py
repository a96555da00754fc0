"""Every board: sysroot, generated CMake toolchain, smoke program, ABI gate, qemu run."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from edgeforge.config import version_tuple
from edgeforge.core import sha256_file
from tests.conftest import (
    BUILD,
    INVOKE,
    PROJECT,
    copy_project,
    interrupt,
    run_invoke,
    sigint_as_from_a_terminal,
)
from tests.e2e.conftest import BOARDS, build_board, manifest_path

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
    caches = shutil.ignore_patterns("__pycache__", ".pytest_cache", ".ruff_cache")

    def ignore(folder: str, names: list[str]) -> set[str]:
        # the checkout's own outputs, not src/edgeforge/build/ (the build wing)
        top = {".venv", "build", "dist"} if Path(folder) == PROJECT else set()
        return set(caches(folder, names)) | (top & set(names))

    shutil.copytree(PROJECT, other, symlinks=True, ignore=ignore)
    r = run_invoke("build", "--board", "jetson-nx", cwd=other,
                   env={"EDGEFORGE_BUILD_DIR": str(tmp_path / "b")})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    theirs = json.loads(manifest_path(tmp_path / "b/jetson-nx").read_text())

    def app(m: dict) -> dict[str, str]:
        return {a["path"]: a["sha256"] for a in m["artifacts"] if a["role"] == "app"}

    assert app(theirs) and app(theirs) == app(manifest)
    assert (tmp_path / "b/jetson-nx/edge-infer/bin/edge-infer").read_bytes() == \
        (BUILD / "jetson-nx/edge-infer/bin/edge-infer").read_bytes()


def test_run_refuses_a_host_program():
    build_board("jetson-nx")
    r = run_invoke("run", "--board", "jetson-nx", "--", "/bin/true")
    assert r.returncode == 2, r.stderr     # a bad argument: not a program for the board
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


@pytest.fixture(scope="module")
def smoke_built(tmp_path_factory) -> Path:
    """A throwaway project with jetson-nx's smoke program built (toolchain files, smoke, manifest)."""
    other = copy_project(tmp_path_factory.mktemp("interrupt") / "p")
    r = run_invoke("build", "--board", "jetson-nx", "--smoke-only", cwd=other)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return other


def _files(root: Path) -> dict[str, tuple[str, int]]:
    return {str(p.relative_to(root)): (sha256_file(p), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupted_build_keeps_the_last_good_output(smoke_built: Path, signum):
    """The smoke program's source changes, and the build that would replace it is interrupted
    while it compiles: Ctrl-C (SIGINT to the process group, as a terminal sends it) or SIGTERM
    (to the process, as `kill` or a cancelled CI job sends it). Exit 130 and the one line
    `interrupted`, no traceback; the last good smoke program and manifest are the same bytes,
    no staging folder is left and no compiler outlives the build. The next build then
    completes with the changed program."""
    other = smoke_built
    bdir = other / "build/jetson-nx"
    src = other / "apps/smoke/src/main.cpp"
    word = f"interrupted-{signum.name.lower()}"
    text, n = re.subn(r'greet::hello\("[^"]+"\)', f'greet::hello("{word}")', src.read_text())
    assert n == 1
    src.write_text(text)
    # the toolchain files are written again by every build that compiles (same bytes)
    before = {"smoke": _files(bdir / "smoke"), "manifest": sha256_file(bdir / "manifest.json"),
              "toolchain": {k: v[0] for k, v in _files(bdir / "toolchain").items()}}
    work = bdir / "work" / "smoke"
    shutil.rmtree(work, ignore_errors=True)  # scratch: the smoke step starts it afresh anyway
    env = {k: v for k, v in os.environ.items()
           if k not in ("EDGEFORGE_BUILD_DIR", "EDGEFORGE_DIST_DIR")}
    with open(other / "stdout", "w") as out, open(other / "stderr", "w") as err:
        proc = subprocess.Popen([str(INVOKE), "--search-root", str(other), "build", "--board",
                                 "jetson-nx", "--smoke-only"], cwd=other, env=env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                start_new_session=True, preexec_fn=sigint_as_from_a_terminal)
    try:
        deadline = time.monotonic() + 600
        while not work.is_dir():  # the smoke step has started CMake
            assert proc.poll() is None, (other / "stdout").read_text()[-2000:]
            assert time.monotonic() < deadline, "the smoke step never started"
            time.sleep(0.05)
        code = interrupt(proc, signum)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    stdout, stderr = (other / "stdout").read_text(), (other / "stderr").read_text()
    assert code == 130, stdout[-2000:] + stderr[-2000:]
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    assert lines[-1] == "interrupted" and lines.count("interrupted") == 1, stderr[-2000:]
    assert "Traceback" not in stdout + stderr
    assert "[to do] smoke" in stdout and "> smoke: cross-build" in stdout
    after = {"smoke": _files(bdir / "smoke"), "manifest": sha256_file(bdir / "manifest.json"),
             "toolchain": {k: v[0] for k, v in _files(bdir / "toolchain").items()}}
    assert after == before
    assert not [p.name for p in bdir.iterdir() if p.name.endswith((".new", ".old"))]
    for _ in range(50):  # every child was stopped (CMake, the compilers)
        left = [c for c in Path("/proc").glob("[0-9]*/cmdline")
                if str(other).encode() in _read(c)]
        if not left:
            break
        time.sleep(0.1)
    assert not left, [_read(c) for c in left]
    # nothing half-done blocks the next build, which completes with the changed program
    r = run_invoke("build", "--board", "jetson-nx", "--smoke-only", cwd=other)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert word.encode() in (bdir / "smoke/bin/smoke").read_bytes()
    assert sha256_file(bdir / "manifest.json") != before["manifest"]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""
