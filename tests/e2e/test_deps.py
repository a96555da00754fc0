"""The dependency graph for boards of different suites, compiler families and ABI ceilings.

jetson-nx: clang 14 against Debian bullseye (glibc 2.31); rpi4: gcc 12 against bookworm;
jetson-nano: clang 14 against bullseye held to JetPack 4 (glibc 2.27, GLIBCXX_3.4.25).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from edgeforge.config import version_tuple
from tests.conftest import BUILD, PROJECT, run_invoke
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


def test_deps_only_builds_just_the_named_packages(tmp_path: Path):
    """`invoke deps --only zlib` (one level of `invoke ci`'s pipeline) for a311d, whose CPU
    flags give it package IDs of its own, in a build folder of its own: zlib's a311d binary
    is removed from the cache first, so the run must build it; it builds and tests zlib and
    nothing else of a graph whose other packages are missing too, and deps.json (what
    `cache push` uploads) records zlib alone."""
    from edgeforge.context import Context
    from edgeforge.deps import conan_env, conan_lock

    board, build = "a311d", tmp_path / "build"
    env = {"EDGEFORGE_BUILD_DIR": str(build)}
    r = run_invoke("deps", "--board", board, "--only", "zlib", env=env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    (zlib,) = json.loads((build / board / "deps.json").read_text())["nodes"]
    ctx = Context.create(project_root=PROJECT, build_root=build)
    with conan_lock(ctx):
        subprocess.run(["conan", "remove", f"zlib/1.2.13:{zlib['package_id']}", "-c"],
                       env=conan_env(ctx), check=True, capture_output=True)
    r = run_invoke("deps", "--board", board, "--only", "zlib", env=env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "1 packages: 0 to download from the team's remotes, 1 to build: zlib (host)" in r.stdout
    building = re.findall(r"^\s*> \[\d+/\d+\] building (\S+) for ", r.stdout, re.M)
    assert building == ["zlib/1.2.13"], building
    assert "test_package: " in r.stdout
    record = json.loads((build / board / "deps.json").read_text())
    assert [(n["ref"].split("#")[0], n["package_id"]) for n in record["nodes"]] == \
        [("zlib/1.2.13", zlib["package_id"])]
    assert [b.split("#")[0] for b in record["built"]] == ["zlib/1.2.13"]
    # the graph had more to build for a311d than zlib: the run left it alone
    order = json.loads((build / board / "conan-build-order.json").read_text())
    missing = {level_ref["ref"].split("/")[0] for level in order["order"] for level_ref in level
               for group in level_ref["packages"] for p in group
               if p["binary"] in ("Build", "Missing")}
    assert "zlib" in missing and missing - {"zlib"}, missing


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
