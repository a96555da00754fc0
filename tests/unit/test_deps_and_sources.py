"""Pins, Conan argv and build-order parsing (no Conan run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from edgeforge.context import Context
from edgeforge.core import Reporter, SourceError
from edgeforge.deps import (
    PackageNode,
    create_argv,
    global_conf,
    load_pins,
    mirror_path,
    parse_build_order,
    program_output,
    recipe_version,
    root_requires,
    verify,
)
from tests.conftest import PROJECT

RECIPES = ["ffmpeg", "googletest", "libjpeg-turbo", "libpng", "opencv", "protobuf", "zlib"]


def test_every_recipe_follows_the_layout():
    for name in RECIPES:
        d = PROJECT / "recipes" / name
        for f in ("conanfile.py", "conandata.yml", "test_package/conanfile.py"):
            assert (d / f).is_file(), f"recipes/{name}/{f} missing"
        text = (d / "conanfile.py").read_text()
        for banned in ("clang", "aarch64-linux-gnu-", "/usr/bin", "/root/"):
            assert banned not in text, f"recipes/{name}/conanfile.py names {banned!r}"


def test_every_archive_is_pinned_with_an_offline_origin():
    pins = load_pins(PROJECT / "recipes")
    assert {p.recipe for p in pins} == set(RECIPES)
    for p in pins:
        assert len(p.sha256) == 64
        assert p.debian_package and p.debian_version and p.debian_file, p.describe()
    ffmpeg = next(p for p in pins if p.recipe == "ffmpeg")
    assert ffmpeg.sha256 == "d9b593bb2ba93d4b50f74177e0cdcd41747e708596367deed0c30348a71dd176"
    assert [p.name for p in pins if p.recipe == "opencv"] == [
        "opencv_4.6.0+dfsg.orig.tar.xz", "opencv_4.6.0+dfsg-12.debian.tar.xz"]


def test_opencv_patches_come_from_the_pinned_debian_archive():
    data = yaml.safe_load((PROJECT / "recipes/opencv/conandata.yml").read_text())
    files = [p["patch_file"] for p in data["patches"]["4.6.0"]]
    assert any("0004-Add-missing-header-for-LIBAVCODEC_VERSION_INT" in f for f in files)
    assert any("0008-Do-not-embed-build-directory" in f for f in files)
    assert all(f.startswith("debian-packaging/") for f in files)


def test_root_requires_and_versions():
    assert recipe_version(PROJECT / "recipes", "ffmpeg") == "5.1.9"
    req = root_requires(PROJECT)
    assert "ffmpeg/5.1.9" in req and "opencv/4.6.0" in req


def test_verify_reports_missing_and_corrupt_archives(tmp_path: Path):
    ctx = Context.create(project_root=PROJECT, cache_dir=tmp_path, reporter=Reporter(quiet=True))
    pins = [p for p in load_pins(PROJECT / "recipes") if p.recipe in ("zlib", "libpng")]
    zlib = next(p for p in pins if p.recipe == "zlib")
    path = mirror_path(ctx, zlib)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not the zlib archive")
    with pytest.raises(SourceError) as exc:
        verify(ctx, pins)
    msg = str(exc.value)
    import hashlib

    assert (f"checksum mismatch for zlib/1.2.13 zlib_1.2.13.dfsg.orig.tar.bz2 in the mirror ({path}): "
            f"expected sha256 {zlib.sha256}, got {hashlib.sha256(b'not the zlib archive').hexdigest()}"
            ) in msg
    assert "libpng/1.6.39 libpng1.6_1.6.39.orig.tar.gz: not in the mirror" in msg


def test_global_conf_points_conan_at_the_mirror(tmp_path: Path):
    ctx = Context.create(project_root=PROJECT, cache_dir=tmp_path, reporter=Reporter(quiet=True))
    conf = global_conf(ctx)
    assert f"core.sources:download_cache={tmp_path / 'sources'}" in conf
    assert "core:non_interactive=True" in conf


def test_parse_build_order_and_create_argv():
    doc = {"order": [[{"ref": "zlib/1.2.13#abc", "packages": [[
        {"package_id": "p1", "binary": "Cache", "context": "host"}]]}],
        [{"ref": "protobuf/3.21.12#def", "packages": [[
            {"package_id": "p2", "binary": "Missing", "context": "host"}],
            [{"package_id": "p3", "binary": "Build", "context": "build"}]]}]]}
    nodes = parse_build_order(json.dumps(doc))
    assert [(n.name, n.version, n.needs_build, n.context) for n in nodes] == [
        ("zlib", "1.2.13", False, "host"), ("protobuf", "3.21.12", True, "host"),
        ("protobuf", "3.21.12", True, "build")]
    argv = create_argv(Path("/r/protobuf"), nodes[2], Path("/h"), Path("/b"), Path("/l"),
                       Path("/t"))
    assert argv[:5] == ["conan", "create", "/r/protobuf", "--version", "3.21.12"]
    assert "--build-require" in argv and "--build=missing:protobuf/*" in argv
    assert "--lockfile-partial" in argv
    assert "tools.cmake.cmake_layout:test_folder=/t" in argv


def test_test_output_extracts_the_program_lines():
    out = ("...\nffmpeg/5.1.9 (test package): Running test()\nRUN: /x/test_package clip 48\n"
           "ffmpeg 5.1.9: h264 160x120, decoded 48 frames (expected 48)\n\n")
    assert program_output(out) == ["ffmpeg 5.1.9: h264 160x120, decoded 48 frames (expected 48)"]
    assert program_output("no tests here") == []


def test_package_node_properties():
    n = PackageNode("opencv/4.6.0#rrev", "pid", "Cache", "host")
    assert (n.name, n.version, n.needs_build) == ("opencv", "4.6.0", False)


# ---- recipe data: one typed loader --------------------------------------------------------
def _recipes_with(tmp_path: Path, text: str) -> Path:
    recipes = tmp_path / "recipes"
    (recipes / "zlib").mkdir(parents=True)
    (recipes / "zlib" / "conandata.yml").write_text(text)
    return recipes


@pytest.mark.parametrize("text, expected", [
    ('sources:\n  "1.0":\n    url: "x"\n    sha256: "abc"\n',
     "recipes/zlib/conandata.yml"),
    ('sources:\n  "1.0":\n    url: "x"\n    sha256: "' + "a" * 64 + '"\n'
     '  "1.1":\n    url: "y"\n    sha256: "' + "b" * 64 + '"\n',
     "key 'sources' in recipes/zlib/conandata.yml: pins 2 versions"),
    ('sources:\n  "1.0":\n    url: "x"\n    url: "y"\n    sha256: "' + "a" * 64 + '"\n',
     "recipes/zlib/conandata.yml:4"),
    ('sources:\n  "1.0":\n    url: "x"\n    sha265: "' + "a" * 64 + '"\n',
     "did you mean 'sha256'"),
])
def test_bad_conandata_is_a_descriptor_error_naming_file_and_key(tmp_path: Path, text, expected):
    from edgeforge.config import conandata
    from edgeforge.core import DescriptorError

    with pytest.raises(DescriptorError) as exc:
        conandata(_recipes_with(tmp_path, text), "zlib")
    assert expected in exc.value.message
    assert exc.value.exit_code == 2


def test_recipe_data_is_typed_and_licences_are_read_without_running_the_recipe():
    from edgeforge.config import conandata, deps_list, recipe_licenses

    data = conandata(PROJECT / "recipes", "opencv")
    assert data.version == "4.6.0"
    pins = data.pins()
    assert len(pins) == 2 and pins[1][1].destination == "debian-packaging"
    assert pins[0][1].debian.package == "opencv"
    assert "opencv" in deps_list(PROJECT).requires
    assert recipe_licenses(PROJECT / "recipes" / "ffmpeg") == ("LGPL-2.1-or-later",)
    assert recipe_licenses(PROJECT / "recipes" / "libjpeg-turbo") == ("IJG", "BSD-3-Clause", "Zlib")
