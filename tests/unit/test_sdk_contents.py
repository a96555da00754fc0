"""`invoke sdk`: what goes into the archive (pure), and the archive's reproducibility."""

from __future__ import annotations

import os
import tarfile
from dataclasses import replace
from pathlib import Path

from edgeforge.build import DependenciesRecord, PackageRecord
from edgeforge.deliver import sdk
from tests.unit.test_toolchain_render import inputs


class FakeManifest:
    def __init__(self, packages):
        self.dependencies = DependenciesRecord(lockfile="x.lock", packages=tuple(packages),
                                               built_this_run=())


def test_sdk_contents_use_the_sdk_layout_and_list_what_relocates():
    manifest = FakeManifest([
        PackageRecord(ref="opencv/4.6.0#rev", package_id="1", context="host",
                      package_folder="/cache/p/opencv"),
        PackageRecord(ref="protobuf/3.21.12#rev", package_id="2", context="build",
                      package_folder=None),
    ])
    c = sdk.sdk_contents(inputs("jetson-nx"), manifest, {"zlib.pc": "prefix=/usr\nLibs: -lz\n"})
    loc = "/opt/edgeforge-sdk/jetson-nx"
    assert c.top == "edgeforge-sdk-jetson-nx" and c.archive_name.endswith(".tar.gz")
    assert [p.ref for p in c.packages] == ["opencv/4.6.0"]  # host packages only
    cmake, _ = c.files["toolchain/toolchain.cmake"]
    assert f'set(CMAKE_SYSROOT "{loc}/sysroot")' in cmake
    assert "/work/build" not in cmake and "/cache/conan2" not in cmake
    wrapper, mode = c.files["toolchain/bin/aarch64-linux-gnu-clang"]
    assert f"--sysroot={loc}/sysroot" in wrapper and mode == 0o755
    env, _ = c.files["toolchain/environment-setup"]
    assert "QEMU_SET_ENV=LD_LIBRARY_PATH=/usr/local/lib" in env
    assert c.files["toolchain/pkgconfig/zlib.pc"][0].startswith(f"prefix={loc}/sysroot/usr\n")
    relocate = c.files["share/edgeforge/relocate-files"][0].split()
    assert "toolchain/toolchain.cmake" in relocate and "toolchain/pkgconfig/zlib.pc" in relocate
    assert "README.md" not in relocate
    assert "`opencv/4.6.0`" in c.files["README.md"][0]
    assert c.files["share/edgeforge/location"][0] == f"{loc}\n"


def test_sdk_contents_are_deterministic():
    a = sdk.sdk_contents(inputs("rpi4"), None)
    b = sdk.sdk_contents(inputs("rpi4"), None)
    assert a.files == b.files
    assert "toolchain/bin/aarch64-linux-gnu-gcc" in a.files


def test_archive_is_byte_identical_whatever_the_file_times(tmp_path: Path):
    def tree(root: Path, when: int) -> Path:
        (root / "t/sub").mkdir(parents=True)
        (root / "t/sub/b.txt").write_text("b\n")
        (root / "t/a.sh").write_text("#!/bin/sh\n")
        (root / "t/a.sh").chmod(0o755)
        os.symlink("sub/b.txt", root / "t/link")
        for p in (root / "t").rglob("*"):
            os.utime(p, (when, when), follow_symlinks=False)
        return root / "t"

    one = sdk.write_archive(tree(tmp_path / "1", 1000), tmp_path / "one.tar.gz", mtime=42)
    two = sdk.write_archive(tree(tmp_path / "2", 999999), tmp_path / "two.tar.gz", mtime=42)
    assert one.read_bytes() == two.read_bytes()
    with tarfile.open(one) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["t", "t/a.sh", "t/link", "t/sub", "t/sub/b.txt"]
    assert {(m.mtime, m.uid, m.gid) for m in members} == {(42, 0, 0)}
    assert members[1].mode == 0o755 and members[2].issym()


def test_sdk_inputs_drop_build_machine_folders():
    inp = replace(inputs("jetson-nano"), stdcxx_shim=Path("/cache/shim"))
    moved = sdk.sdk_toolchain_inputs(inp)
    assert moved.stdcxx_shim == Path("/opt/edgeforge-sdk/jetson-nano/toolchain/stdcxx-compat")
    assert moved.conan_packages_dir is None and moved.qemu == "qemu-aarch64"


def test_cmake_package_files_are_relocated_into_the_sdk(tmp_path: Path):
    """CMakeDeps' files of the app build, for packages the SDK ships: each package's files in
    lib/cmake/<Name>/ with the Conan cache folder replaced by the install prefix; packages the
    SDK does not ship are left out."""
    from edgeforge.deliver import FOLDER_FROM_CMAKE_DIR, SdkPackage, cmake_package_files

    gen = tmp_path / "generators"
    gen.mkdir()
    cache = "/cache/conan2/p/b/opencaf8621ae06ef6/p"
    (gen / "OpenCV-release-armv8-data.cmake").write_text(
        f'set(opencv_PACKAGE_FOLDER_RELEASE "{cache}")\n'
        'set(opencv_INCLUDE_DIRS_RELEASE "${opencv_PACKAGE_FOLDER_RELEASE}/include/opencv4")\n')
    (gen / "OpenCVConfig.cmake").write_text("include(${CMAKE_CURRENT_LIST_DIR}/OpenCVTargets.cmake)\n")
    (gen / "OpenCVTargets.cmake").write_text("    add_library(opencv::opencv INTERFACE IMPORTED)\n")
    (gen / "OpenCV-Target-release.cmake").write_text(f"# {cache}/lib\n")
    (gen / "cmakedeps_macros.cmake").write_text("# macros\n")
    (gen / "GTest-release-armv8-data.cmake").write_text(
        'set(googletest_PACKAGE_FOLDER_RELEASE "/cache/other/p")\n')
    (gen / "GTestConfig.cmake").write_text("# gtest\n")
    files = cmake_package_files(gen, (SdkPackage("opencv/4.6.0", Path(cache)),))
    assert sorted(files) == ["lib/cmake/OpenCV/OpenCV-Target-release.cmake",
                             "lib/cmake/OpenCV/OpenCV-release-armv8-data.cmake",
                             "lib/cmake/OpenCV/OpenCVConfig.cmake",
                             "lib/cmake/OpenCV/OpenCVTargets.cmake",
                             "lib/cmake/OpenCV/cmakedeps_macros.cmake"]
    data = files["lib/cmake/OpenCV/OpenCV-release-armv8-data.cmake"]
    assert cache not in data and f'"{FOLDER_FROM_CMAKE_DIR}"' in data
    assert "/cache" not in "".join(files.values())
    assert "set(OpenCV_LIBS opencv::opencv)" in files["lib/cmake/OpenCV/OpenCVConfig.cmake"]
    assert cmake_package_files(tmp_path / "missing", ()) == {}
