"""Real mmdebstrap sysroots, tarball and directory imports, and what a failure leaves."""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from edgeforge.core import sha256_file
from tests.conftest import run_invoke

pytestmark = pytest.mark.integration


def absolute_links(root: Path) -> list[str]:
    out = []
    for dirpath, dirs, files in os.walk(root):
        for n in dirs + files:
            p = Path(dirpath) / n
            if p.is_symlink() and os.readlink(p).startswith("/"):
                out.append(str(p))
    return out


def test_bullseye_sysroot_is_stamped_relative_and_has_glibc_2_31(bullseye: Path):
    stamp = json.loads((bullseye / ".edgeforge-sysroot.json").read_text())
    assert stamp["glibc"] == "2.31" and stamp["glibcxx"] == "3.4.28"
    assert stamp["gcc_version"] == "10"
    assert absolute_links(bullseye) == []
    assert (bullseye / "usr/include/zlib.h").is_file()
    libc_so = bullseye / "usr/lib/aarch64-linux-gnu/libc.so"
    assert "GROUP" in libc_so.read_text()  # linker script kept, its files present


def test_second_sysroot_run_is_a_no_op(bullseye: Path):
    before = (bullseye / ".edgeforge-sysroot.json").stat().st_mtime_ns
    r = run_invoke("sysroot", "--board", "sophon-se5")  # same descriptor as jetson-nx
    assert r.returncode == 0, r.stderr
    assert "building sysroot" not in r.stdout
    assert str(bullseye) in r.stdout
    assert (bullseye / ".edgeforge-sysroot.json").stat().st_mtime_ns == before


def test_failed_debian_build_leaves_nothing_behind(tmp_project: Path, tmp_path: Path):
    desc = tmp_project / "toolchains/sysroots/debian-bullseye-arm64.yaml"
    desc.write_text(desc.read_text().replace("zlib1g-dev]", "zlib1g-dev, edgeforge-no-such-pkg]"))
    cache = tmp_path / "cache"
    r = run_invoke("sysroot", "--board", "jetson-nx", cwd=tmp_project,
                   env={"EDGEFORGE_CACHE": str(cache)})
    assert r.returncode == 4, r.stdout + r.stderr
    assert "mmdebstrap bullseye arm64 failed" in r.stderr
    log = r.stderr.split("full log: ")[1].split()[0]
    assert Path(log).is_file() and "edgeforge-no-such-pkg" in Path(log).read_text()
    leftovers = [p.name for p in (cache / "sysroots").iterdir() if not p.name.endswith(".lock")]
    assert leftovers == [], leftovers
    assert "Traceback" not in r.stderr


def make_vendor_tarball(src: Path, dest: Path) -> Path:
    """A vendor-style rootfs archive: absolute symlinks, a device node, a setuid file."""

    def absolutize(ti: tarfile.TarInfo) -> tarfile.TarInfo:
        if ti.issym() and not ti.linkname.startswith("/"):
            here = os.path.dirname(ti.name[1:] if ti.name.startswith(".") else ti.name)
            ti.linkname = os.path.normpath(os.path.join("/", here, ti.linkname))
        if ti.name.endswith("usr/bin/newgrp"):
            ti.mode |= 0o4000
        return ti

    with tarfile.open(dest, "w") as tf:
        for top in ("lib", "usr/lib", "usr/include", "etc/ld.so.conf", "etc/ld.so.conf.d",
                    "usr/bin/newgrp"):
            if (src / top).exists() or (src / top).is_symlink():
                tf.add(src / top, arcname=f"./{top}", filter=absolutize)
        dev = tarfile.TarInfo("./dev/console")
        dev.type = tarfile.CHRTYPE
        dev.devmajor, dev.devminor = 5, 1
        tf.addfile(dev)
    return dest


def tarball_project(root: Path, archive: Path, sha: str) -> None:
    """jetson-nx on a vendor tarball (no dpkg status: nothing to check an app's system
    libraries against, so the project keeps only the app that takes none)."""
    shutil.rmtree(root / "apps/edge-uplink")
    (root / "toolchains/sysroots/vendor-rootfs.yaml").write_text(
        f"kind: tarball\narch: arm64\nfile: {archive}\nsha256: {sha}\n")
    board = root / "toolchains/boards/jetson-nx.yaml"
    board.write_text(board.read_text().replace("sysroot: debian-bullseye-arm64",
                                               "sysroot: vendor-rootfs"))


def test_tarball_sysroot_imported_safely_and_used_for_a_build(
        bullseye: Path, tmp_project: Path, tmp_path: Path):
    archive = make_vendor_tarball(bullseye, tmp_path / "rootfs.tar")
    tarball_project(tmp_project, archive, sha256_file(archive))
    env = {"EDGEFORGE_CACHE": str(tmp_path / "cache")}
    r = run_invoke("build", "--board", "jetson-nx", "--smoke-only", cwd=tmp_project, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "skipped 1 device nodes" in r.stdout
    root = next((tmp_path / "cache/sysroots").glob("vendor-rootfs-*"))
    assert absolute_links(root) == []
    assert not (root / "dev/console").exists()
    assert not (root / "usr/bin/newgrp").stat().st_mode & 0o4000
    r = run_invoke("run", "--board", "jetson-nx", "--",
                   str(tmp_project / "build/jetson-nx/smoke/bin/smoke"), cwd=tmp_project, env=env)
    assert r.returncode == 0, r.stderr
    assert "smoke: ok" in r.stdout


def test_tarball_checksum_mismatch_stops_before_extracting(
        bullseye: Path, tmp_project: Path, tmp_path: Path):
    archive = tmp_path / "rootfs.tar"
    with tarfile.open(archive, "w") as tf:
        tf.add(bullseye / "etc/ld.so.conf", arcname="./etc/ld.so.conf")
    tarball_project(tmp_project, archive, "a" * 64)
    cache = tmp_path / "cache"
    r = run_invoke("sysroot", "--board", "jetson-nx", cwd=tmp_project,
                   env={"EDGEFORGE_CACHE": str(cache)})
    assert r.returncode == 6, r.stdout + r.stderr
    assert f"expected sha256 {'a' * 64}, got {sha256_file(archive)}" in r.stderr
    assert not list((cache / "sysroots").glob("vendor-rootfs-*"))


def test_directory_sysroot_is_imported_into_the_cache(
        bullseye: Path, tmp_project: Path, tmp_path: Path):
    (tmp_project / "toolchains/sysroots/device-copy.yaml").write_text(
        f"kind: directory\narch: arm64\npath: {bullseye}\n")
    board = tmp_project / "toolchains/boards/sophon-se5.yaml"
    board.write_text(board.read_text().replace("sysroot: debian-bullseye-arm64",
                                               "sysroot: device-copy"))
    env = {"EDGEFORGE_CACHE": str(tmp_path / "cache")}
    r = run_invoke("build", "--board", "sophon-se5", "--smoke-only", cwd=tmp_project, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ABI gate for sophon-se5" in r.stdout and ": ok" in r.stdout
    assert list((tmp_path / "cache/sysroots").glob("device-copy-*"))


def test_directory_sysroot_that_does_not_exist(tmp_project: Path, tmp_path: Path):
    (tmp_project / "toolchains/sysroots/device-copy.yaml").write_text(
        "kind: directory\narch: arm64\npath: /nonexistent/rootfs\n")
    board = tmp_project / "toolchains/boards/sophon-se5.yaml"
    board.write_text(board.read_text().replace("sysroot: debian-bullseye-arm64",
                                               "sysroot: device-copy"))
    r = run_invoke("sysroot", "--board", "sophon-se5", cwd=tmp_project,
                   env={"EDGEFORGE_CACHE": str(tmp_path / "cache")})
    assert r.returncode == 7
    assert ("key 'path' in toolchains/sysroots/device-copy.yaml: /nonexistent/rootfs is not a "
            "directory") in r.stderr
