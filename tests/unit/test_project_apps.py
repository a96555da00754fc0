"""Apps that are plain CMake or Meson projects (build.kind cmake, meson): their steps need no
Conan graph, their Meson build gets the board's cross file plus a machine file naming the app's
folders, installs with the device's prefix, and the graph's own tasks find an app that has the
graph. Pure parts and plans only; the real builds are tests/e2e/test_uplink.py."""

from __future__ import annotations

import ast
import configparser
import shutil
from pathlib import Path

import pytest

from edgeforge import pipeline
from edgeforge.build.projectapp import (
    MESON_BUILDTYPE,
    declared_options,
    installed_prefix,
    meson_paths_file,
    meson_setup_argv,
    meson_test_argv,
    outside_prefix,
)
from edgeforge.config import deps_list
from edgeforge.context import Context
from edgeforge.core import Reporter, UsageError
from edgeforge.deliver import ReleaseOptions
from edgeforge.deps import deps_fingerprint
from tests.conftest import PROJECT
from tests.unit.smallapps import add_app


def test_the_paths_file_adds_to_the_board_s_optional_flags():
    text = meson_paths_file(["-ffile-prefix-map=/src/a=/edgeforge-project/apps/a",
                             "-ffile-prefix-map=it's=x"])
    parser = configparser.ConfigParser(delimiters=["="], interpolation=None)
    parser.read_string(text)
    opts = parser["built-in options"]
    c_args = opts["c_args"]
    assert c_args.startswith("optional_cflags + ")
    assert ast.literal_eval(c_args.split(" + ", 1)[1]) == [
        "-ffile-prefix-map=/src/a=/edgeforge-project/apps/a", "-ffile-prefix-map=it's=x"]
    assert opts["cpp_args"].startswith("optional_cxxflags + ")


def test_meson_setup_names_both_machine_files_the_prefix_and_no_downloads(tmp_path: Path):
    argv = meson_setup_argv(tmp_path / "src", tmp_path / "b", tmp_path / "cross.ini",
                            tmp_path / "paths.ini", "/opt/demo", MESON_BUILDTYPE["Release"],
                            {"board": "rpi4", "git_revision": "abc"}, ("-Dtests=true",))
    assert argv[:6] == ["meson", "setup", "--cross-file", str(tmp_path / "cross.ini"),
                        "--cross-file", str(tmp_path / "paths.ini")]
    assert "--prefix=/opt/demo" in argv and "--libdir=lib" in argv
    assert "--buildtype=release" in argv and "--wrap-mode=nodownload" in argv
    assert argv.index("-Dboard=rpi4") < argv.index("-Dgit_revision=abc") < argv.index(
        "-Dtests=true")
    assert argv[-2:] == [str(tmp_path / "b"), str(tmp_path / "src")]
    assert set(MESON_BUILDTYPE) == {"Release", "Debug", "RelWithDebInfo", "MinSizeRel"}
    assert meson_test_argv(tmp_path / "b")[:4] == ["meson", "test", "-C", str(tmp_path / "b")]
    assert installed_prefix(tmp_path / "d", "/opt/demo") == tmp_path / "d" / "opt" / "demo"


def project(tmp_path: Path, kinds: dict[str, str]) -> Context:
    root = tmp_path / "project"
    shutil.copytree(PROJECT / "toolchains", root / "toolchains")
    shutil.copytree(PROJECT / "apps" / "smoke", root / "apps" / "smoke")
    shutil.copytree(PROJECT / "recipes", root / "recipes",
                    ignore=shutil.ignore_patterns("test_package", "*.patch"))
    for name, kind in kinds.items():
        add_app(root, name)
        if kind == "conan":
            desc = root / "apps" / name / "app.yaml"
            desc.write_text(desc.read_text().replace("kind: cmake", "kind: conan\n  requires: "
                                                     "[zlib]"))
            (root / "apps" / name / "conanfile.py").write_text("# a consumer\n")
    return Context.create(project_root=root, cache_dir=tmp_path / "cache",
                          build_root=tmp_path / "build", dist_root=tmp_path / "dist",
                          reporter=Reporter(quiet=True))


def test_a_project_app_s_plan_has_no_graph_step(tmp_path: Path):
    ctx = project(tmp_path, {"demo": "cmake"})
    t = ctx.catalog.resolve("rpi4", env={})
    plan = pipeline.board_plan(ctx, t, app="demo")
    assert [s.name for s in plan.steps] == ["sysroot", "toolchain", "smoke", "app", "manifest"]
    assert plan.step("app").needs == ("toolchain",)
    assert "(cmake) with the board's toolchain files" in plan.step("app").description
    assert plan.step("manifest").scope == "demo"


def test_the_graph_s_own_tasks_take_the_app_that_has_the_graph(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("EDGEFORGE_APP", raising=False)
    ctx = project(tmp_path, {"agent": "cmake", "detector": "conan"})
    assert pipeline.graph_app(ctx).name == "detector"
    t = ctx.catalog.resolve("rpi4", env={})
    plan = pipeline.board_plan(ctx, t, app="detector")
    assert plan.step("app").needs == ("deps", "toolchain")
    only_cmake = project(tmp_path / "other", {"agent": "cmake"})
    with pytest.raises(UsageError, match=r"no app of .* builds with Conan \(build.kind: conan"):
        pipeline.graph_app(only_cmake)


def test_native_builds_are_for_conan_apps(tmp_path: Path):
    ctx = project(tmp_path, {"agent": "cmake"})
    with pytest.raises(UsageError, match=r"^agent is a cmake app: `invoke native` builds apps "
                                         r"that build with Conan"):
        pipeline.native_plan(ctx, app="agent")


def test_the_graph_is_the_union_of_the_conan_apps_requirements(tmp_path: Path):
    ctx = project(tmp_path, {"agent": "cmake", "detector": "conan", "tracker": "conan"})
    root = ctx.project_root
    tracker = root / "apps/tracker/app.yaml"
    tracker.write_text(tracker.read_text().replace("requires: [zlib]",
                                                   "requires: [libpng, zlib]\n  "
                                                   "test_requires: [googletest]"))
    # each recipe once, in the apps' name order then each app's own; the cmake app adds none
    assert deps_list(root).requires == ("zlib", "libpng", "googletest")
    before = deps_fingerprint(root)["roots"]
    tracker.write_text(tracker.read_text().replace("[libpng, zlib]", "[libpng, zlib, opencv]"))
    assert deps_fingerprint(root)["roots"] != before  # the graph's step runs again
    assert pipeline.board_plan(ctx, ctx.catalog.resolve("rpi4", env={}), app="agent").steps[
        -1].needs == ("sysroot", "toolchain", "smoke", "app")


def test_a_project_app_s_release_needs_no_graph(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    ctx = project(tmp_path, {"demo": "cmake"})
    t = ctx.catalog.resolve("rpi4", env={})
    plan = pipeline.board_plan(ctx, t, release=ReleaseOptions(version="1.0.0"),
                               app="demo")
    assert "deps" not in [s.name for s in plan.steps]
    assert plan.step("sbom").needs == ()  # nothing shipped but the documents
    assert plan.step("legal").needs == ("app",)
    assert plan.step("release").outputs == (ctx.dist_root / "rpi4" / "demo" / "1.0.0",)


def test_meson_options_are_set_only_when_the_project_declares_them(tmp_path: Path):
    assert declared_options(PROJECT / "apps/edge-uplink") >= {"board", "git_revision"}
    (tmp_path / "meson_options.txt").write_text("option( 'tests' , type: 'boolean')\n"
                                                 'option("board", type: "string")\n')
    assert declared_options(tmp_path) == {"tests", "board"}
    assert declared_options(tmp_path / "none") == set()


def test_files_installed_outside_the_prefix_are_named(tmp_path: Path):
    (tmp_path / "opt/demo/bin").mkdir(parents=True)
    (tmp_path / "opt/demo/bin/demo").write_text("x")
    assert outside_prefix(tmp_path, "/opt/demo") == []
    (tmp_path / "etc/demo").mkdir(parents=True)
    (tmp_path / "etc/demo/demo.conf").write_text("x")
    assert outside_prefix(tmp_path, "/opt/demo") == ["/etc/demo/demo.conf"]


@pytest.mark.parametrize("name", ["apps", "smoke", "toolchain", "vm"])
def test_an_app_cannot_take_the_name_of_a_board_folder(tmp_path: Path, name: str):
    from edgeforge.config import load_app
    from edgeforge.core import DescriptorError
    root = tmp_path / "project"
    add_app(root, name)
    with pytest.raises(DescriptorError, match=f"the name '{name}' is one of the board's own "
                                              "build folders"):
        load_app(root, name)
