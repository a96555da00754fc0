"""The dependency graph for boards of different suites, compiler families and ABI ceilings.

jetson-nx: clang 14 against Debian bullseye (glibc 2.31); rpi4: gcc 12 against bookworm;
jetson-nano: clang 14 against bullseye held to JetPack 4 (glibc 2.27, GLIBCXX_3.4.25).
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from edgeforge.model import version_tuple
from tests.conftest import BUILD, run_invoke
from tests.e2e.conftest import build_board

pytestmark = pytest.mark.e2e
DEPS_BOARDS = ["jetson-nx", "rpi4"]


@pytest.mark.parametrize("board", DEPS_BOARDS)
def test_full_build_has_every_dependency_gated(board: str):
    manifest = build_board(board, smoke_only=False)
    deps = manifest["dependencies"]
    assert (BUILD / board / "conan.lock").is_file()
    assert deps["lockfile"] == str(BUILD / board / "conan.lock")
    lock = json.loads((BUILD / board / "conan.lock").read_text())
    locked = " ".join(lock["requires"])
    for name in ("ffmpeg/5.1.9", "opencv/4.6.0", "protobuf/3.21.12", "zlib/1.2.13",
                 "libpng/1.6.39", "libjpeg-turbo/2.1.5"):
        assert name in locked
    host = {p["ref"].split("#")[0]: p for p in deps["packages"] if p["context"] == "host"}
    libs = {lib["path"]: lib for p in host.values() for lib in p.get("libraries", [])}
    for so in ("lib/libavcodec.so.59", "lib/libopencv_videoio.so.4.6.0", "lib/libopencv_dnn.so.4.6.0"):
        matches = [v for k, v in libs.items() if k.startswith(so)]
        assert matches, f"{so} missing from the manifest"
        assert matches[0]["elf_machine"] == "EM_AARCH64"
        glibc = matches[0]["max_versions"].get("GLIBC")
        assert glibc and version_tuple(glibc) <= version_tuple(manifest["abi"]["glibc"])


@pytest.mark.parametrize("board", DEPS_BOARDS)
def test_test_packages_run_under_qemu(board: str):
    build_board(board, smoke_only=False)
    r = run_invoke("deps", "--board", board, "--test")
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "test_package: ffmpeg 5.1.9: h264 160x120, decoded 48 frames (expected 48)" in out
    assert "test_package: ok   build information: FFMPEG: YES" in out
    assert "test_package: ok   build information: NEON in the CPU baseline" in out
    assert "test_package: ok   read 48 frames, expected 48" in out
    assert "test_package: ok   dnn forward pass gives 1.25 and 1.5" in out
    assert "test_package: opencv 4.6.0: all checks passed" in out
    assert "round trip ok" in out  # zlib, libpng, libjpeg-turbo, protobuf
    assert "[  PASSED  ] 2 tests." in out  # googletest


def test_second_deps_run_compiles_nothing():
    build_board("jetson-nx", smoke_only=False)
    r = run_invoke("deps", "--board", "jetson-nx")
    assert r.returncode == 0, r.stderr
    assert re.search(r"\d+ packages: 0 to download from the team's remotes, 0 to build\n",
                     r.stdout), r.stdout
    assert "all packages were already built: nothing compiled" in r.stdout


def test_no_op_build_skips_conan():
    build_board("jetson-nx", smoke_only=False)
    r = run_invoke("build", "--board", "jetson-nx")
    assert r.returncode == 0
    assert "everything is up to date; nothing to do" in r.stdout
    assert "jetson-nx: 0 steps ran, 6 up to date" in r.stdout
    assert "conan" not in r.stdout.replace("conan-host", "").replace("conan.lock", "")


def test_jetpack4_graph_stays_under_its_ceiling_through_the_shim():
    # jetson-nano: clang 14 + bullseye (libstdc++ 10, GLIBCXX_3.4.28) for a JetPack 4 device
    # (GLIBCXX_3.4.25). OpenCV's string streams need GLIBCXX_3.4.26 from libstdc++ 10's headers;
    # the board's libstdc++ shim links them in, hidden (see stdcxx_compat)
    manifest = build_board("jetson-nano", smoke_only=False)
    ceiling = version_tuple(manifest["abi"]["glibcxx"])
    assert ceiling == (3, 4, 25)
    libs = [lib for p in manifest["dependencies"]["packages"] if p["context"] == "host"
            for lib in p.get("libraries", [])]
    assert any(lib["path"].startswith("lib/libopencv_core.so") for lib in libs)
    for lib in libs + [a for a in manifest["artifacts"] if a["role"] == "app"]:
        if "GLIBCXX" in lib["max_versions"]:
            assert version_tuple(lib["max_versions"]["GLIBCXX"]) <= ceiling, lib["path"]
    core = next((BUILD / "jetson-nano/edge-infer/lib").glob("libopencv_core.so.4*"))
    exported = subprocess.run(["llvm-nm-14", "-D", "--defined-only", str(core)],
                              capture_output=True, text=True, check=True).stdout
    assert "_ZNSt7__cxx1118basic_stringstreamIcSt11char_traitsIcESaIcEEC1Ev" not in exported
    r = run_invoke("test", "--board", "jetson-nano", "--frames", "4")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "100% tests passed" in r.stdout
