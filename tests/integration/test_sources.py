"""The source mirror: a corrupted archive stops the dependency build before anything of it
is compiled (archives are verified when the graph needs to build from them)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edgeforge.core import sha256_file
from tests.conftest import run_invoke

pytestmark = pytest.mark.integration


def test_invoke_sources_fills_and_verifies_the_mirror():
    r = run_invoke("sources", timeout=1800)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "archives, all verified" in r.stdout
    assert "ffmpeg_5.1.9.orig.tar.xz" in r.stdout and "opencv_4.6.0+dfsg.orig.tar.xz" in r.stdout


def test_corrupted_archive_in_the_mirror_stops_the_build(bullseye: Path, tmp_project: Path,
                                                         tmp_path: Path):
    r = run_invoke("sources", timeout=1800)  # the real mirror, filled
    assert r.returncode == 0, r.stderr
    from edgeforge.context import default_cache_dir

    real = default_cache_dir() / "sources" / "s"
    cache = tmp_path / "cache"
    mirror = cache / "sources" / "s"
    mirror.mkdir(parents=True)
    # the sysroot is not what this test is about: the real one (built by the `bullseye`
    # fixture if the real cache lacks it), shared
    (cache / "sysroots").symlink_to(bullseye.parent)
    for f in real.iterdir():
        if len(f.name) == 64:
            (mirror / f.name).symlink_to(f)
    zlib_sha = "71feb7947e3c00ef125f83b79a4e529bde31171e5babe48b391f06758d1ab0a1"
    (mirror / zlib_sha).unlink()
    shutil.copy(real / zlib_sha, mirror / zlib_sha)
    with open(mirror / zlib_sha, "r+b") as fh:  # flip one byte in the middle
        fh.seek(1000)
        b = fh.read(1)
        fh.seek(1000)
        fh.write(bytes([b[0] ^ 0xFF]))
    actual = sha256_file(mirror / zlib_sha)
    r = run_invoke("deps", "--board", "jetson-nx", cwd=tmp_project,
                   env={"EDGEFORGE_CACHE": str(cache)}, timeout=1800)
    assert r.returncode == 6, r.stdout + r.stderr
    assert (f"checksum mismatch for zlib/1.2.13 zlib_1.2.13.dfsg.orig.tar.bz2 in the mirror "
            f"({mirror / zlib_sha}): expected sha256 {zlib_sha}, got {actual}") in r.stderr
    # the empty Conan home had the whole graph to build: not one package was compiled
    assert "8 packages: 0 to download from the team's remotes, 8 to build" in r.stdout, r.stdout
    assert not list((tmp_project / "build" / "jetson-nx" / "logs").glob("conan-create-*"))
    assert "Traceback" not in r.stderr
