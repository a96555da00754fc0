"""apps/<name>/app.yaml (issue 23): edge-infer's descriptor says what its build, tests and
deliverables are (the code reads them from it), and each bad descriptor (unknown keys, bad
types, dangling references, paths leaving the project) is one sentence naming the file, the
key and a fix. Bad descriptors are written into throwaway projects under tmp_path, never into
the checkout."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from edgeforge.build import smoke_args
from edgeforge.config import (
    AppDef,
    app_names,
    app_schema,
    cmake_project_version,
    containerimage,
    deps_list,
    load_app,
    load_apps,
    meson_project_version,
    recipe_licenses,
)
from edgeforge.core import DescriptorError
from edgeforge.deliver import load_installers
from tests.conftest import PROJECT

REL = "apps/demo/app.yaml"
RECIPES = ("ffmpeg", "googletest", "libpng", "opencv")
GOOD = """\
name: demo
summary: a small demonstration app for edge boards
license: MIT
version: {from: cmake}
build:
  kind: conan
  requires: [ffmpeg, opencv]
  test_requires: [googletest]
system_libraries: [libmosquitto-dev]
data:
  - source: model/net.onnx
    install: share/demo/net.onnx
    kind: model
    description: a tiny test network
    made_by: written by hand for this test
    card: model/CARD.md
    license: Apache-2.0
tests:
  ctest: true
  smoke:
    program: bin/demo
    sample: vtest.avi
    args: [--model, "{prefix}/share/demo/net.onnx", "{sample}"]
install:
  prefix: /opt/demo
  programs: [bin/demo]
services:
  - name: demo
    unit_template: images/demo/systemd/instance.service.j2
    config: /etc/demo/{instance}.conf
    config_template: images/demo/systemd/instance.conf.j2
    user: demo
deliver:
  formats: [deb, rpm, run, dbg, sdk]
  container_image: images/demo/image.yaml
  installer_info: images/demo/installers.yaml
"""


def make_project(root: Path, text: str = GOOD, name: str = "demo") -> Path:
    """A project with the recipes, app files and image files GOOD names."""
    for recipe in RECIPES:
        (root / "recipes" / recipe).mkdir(parents=True, exist_ok=True)
        (root / "recipes" / recipe / "conanfile.py").write_text("# a recipe\n")
    app = root / "apps" / name
    (app / "model").mkdir(parents=True, exist_ok=True)
    (app / "conanfile.py").write_text("# the app's recipe\n")
    (app / "CMakeLists.txt").write_text("cmake_minimum_required(VERSION 3.16)\n"
                                        "project(demo VERSION 2.3.4 LANGUAGES CXX)\n")
    (app / "model" / "net.onnx").write_bytes(b"onnx")
    (app / "model" / "CARD.md").write_text("# net.onnx\n")
    (app / "app.yaml").write_text(text)
    images = root / "images" / "demo"
    (images / "systemd").mkdir(parents=True, exist_ok=True)
    for f in ("systemd/instance.service.j2", "systemd/instance.conf.j2"):
        (images / f).write_text("# a file\n")
    # read through their own models when the app loads: edge-infer's, renamed
    for f in ("image.yaml", "installers.yaml"):
        (images / f).write_text((PROJECT / "images/edge-infer" / f).read_text()
                                .replace("edge-infer", "demo"))
    return root


def refused(root: Path, *says: str, name: str = "demo") -> str:
    with pytest.raises(DescriptorError) as exc:
        load_app(root, name)
    message = str(exc.value)
    assert exc.value.exit_code == 2
    assert "Traceback" not in message
    for s in says:
        assert s in message, message
    return message


# ---- edge-infer's descriptor: what the code reads -----------------------------------------------
@pytest.fixture(scope="module")
def edge_infer():
    return load_app(PROJECT, "edge-infer")


def test_edge_infer_loads_with_its_cmake_version(edge_infer):
    assert edge_infer.name == "edge-infer" and edge_infer.folder == PROJECT / "apps/edge-infer"
    assert edge_infer.rel == "apps/edge-infer"
    assert edge_infer.version == "1.0.0"
    assert edge_infer.spec.version.source == "cmake"
    assert edge_infer.spec.license == recipe_licenses(edge_infer.folder)[0]
    assert [a.name for a in load_apps(PROJECT)] == app_names(PROJECT) == [
        "edge-infer", "edge-uplink"]


def test_edge_uplink_is_a_meson_app_with_a_system_library():
    [uplink] = [a for a in load_apps(PROJECT) if a.name == "edge-uplink"]
    assert uplink.spec.build.kind == "meson" and not uplink.spec.build.requires
    assert uplink.spec.version.source == "meson" and uplink.version == "1.0.0"
    assert uplink.spec.system_libraries == ("libmosquitto-dev",)
    assert uplink.spec.tests.meson_test and not uplink.spec.tests.ctest


def test_the_graph_is_edge_infer_s_requirements_then_its_test_requirements(edge_infer):
    build = edge_infer.spec.build
    assert build.kind == "conan" and not build.configure_args
    assert build.test_requires == ("googletest",)
    assert deps_list(PROJECT).requires == (*build.requires, "googletest")
    assert edge_infer.spec.system_libraries == ()


def test_edge_infer_installs_where_its_image_and_installers_put_it(edge_infer):
    install = edge_infer.spec.install
    assert install.prefix == "/opt/edge-infer"
    assert install.programs == ("bin/edge-infer",) and edge_infer.program == "bin/edge-infer"
    assert edge_infer.program_name == "edge-infer"
    image = containerimage.load(PROJECT / "images" / "edge-infer")
    assert image.prefix == install.prefix
    assert image.entrypoint[0] == f"{install.prefix}/{install.programs[0]}"
    assert load_installers(PROJECT, edge_infer).prefix == install.prefix
    assert edge_infer.device_image == "images/edge-infer/device.yaml"
    assert (PROJECT / edge_infer.device_image).is_file()


def test_edge_infer_ships_its_model_with_provenance(edge_infer):
    (model,) = edge_infer.spec.data
    assert model.install == "share/edge-infer/pedestrian-grid.onnx" and model.kind == "model"
    assert (edge_infer.folder / model.source).is_file()
    assert model.card == "model/MODEL.md" and model.license == "Apache-2.0"
    assert "train_detector.py" in model.made_by and "HOG" in model.made_by
    assert model.origin == "trained here"


def test_edge_infer_smoke_run_is_the_one_run_before_the_descriptor(edge_infer, tmp_path: Path):
    tests = edge_infer.spec.tests
    assert tests.ctest and tests.smoke is not None
    assert tests.smoke.sample == "vtest.avi" and tests.smoke.program == "bin/edge-infer"
    installed, video, out = tmp_path / "app", tmp_path / "vtest.avi", tmp_path / "out.jsonl"
    # the arguments the code wrote out before it read them from the descriptor
    assert smoke_args(tests.smoke, prefix=installed, sample=video, frames=16, output=out) == [
        "--model", str(installed / "share/edge-infer/pedestrian-grid.onnx"), "--max-frames",
        "16", "--summary", "--output", str(out), str(video)]


def test_edge_infer_service_and_deliverables(edge_infer):
    (service,) = edge_infer.spec.services
    assert service.name == "edge-infer" and service.user == "edge-infer"
    assert service.config == "/etc/edge-infer/{instance}.conf"
    assert service.args_variable == "EDGE_INFER_ARGS"
    installers = load_installers(PROJECT, edge_infer)
    assert installers.service.user == service.user and installers.package == service.name
    # the unit the installers ship passes the instance's arguments on in that variable
    assert f"${service.args_variable} " in (PROJECT / service.unit_template).read_text()
    assert (PROJECT / service.unit_template).is_file()
    deliver = edge_infer.spec.deliver
    assert deliver.formats == ("deb", "rpm", "run", "dbg", "sdk")
    assert deliver.container_image == "images/edge-infer/image.yaml"
    assert deliver.installer_info == "images/edge-infer/installers.yaml"


def test_committed_app_schema_matches_the_model():
    committed = json.loads((PROJECT / "apps" / "app.schema.json").read_text())
    assert committed == json.loads(json.dumps(app_schema())), "run `invoke schema`"
    assert {"from", "value"} == set(committed["$defs"]["VersionSpec"]["properties"])
    assert (PROJECT / "apps/edge-infer/app.yaml").read_text().startswith(
        "# yaml-language-server: $schema=../app.schema.json\n")


# ---- a good descriptor in a throwaway project ---------------------------------------------------
def test_a_good_descriptor_loads(tmp_path: Path):
    root = make_project(tmp_path)
    app = load_app(root, "demo")
    assert isinstance(app.spec, AppDef) and app.version == "2.3.4"
    assert app.descriptor == root / REL
    assert app.spec.system_libraries == ("libmosquitto-dev",)


def test_apps_are_listed_sorted_and_folders_without_app_yaml_are_not_apps(tmp_path: Path):
    root = make_project(tmp_path)
    make_project(root, GOOD.replace("name: demo", "name: alpha"), name="alpha")
    (root / "apps" / "smoke").mkdir()  # a plain program's folder, not an app
    assert app_names(root) == ["alpha", "demo"]
    assert [a.name for a in load_apps(root)] == ["alpha", "demo"]
    assert app_names(tmp_path / "nowhere") == []


def test_an_unknown_app_name_suggests_the_close_one(tmp_path: Path):
    root = make_project(tmp_path)
    refused(root, "no app named 'dmeo' (looked for apps/dmeo/app.yaml); did you mean 'demo'?",
            name="dmeo")
    with pytest.raises(DescriptorError, match="command line --app: no app named 'x'.*known "
                       "apps: demo"):
        load_app(root, "x", origin="command line --app")


def test_value_version_and_meson_version(tmp_path: Path):
    root = make_project(tmp_path, GOOD.replace("{from: cmake}", '{value: "0.9.1~rc1"}'))
    assert load_app(root, "demo").version == "0.9.1~rc1"
    (root / "apps/demo/meson.build").write_text(
        "# version: '9.9.9' in a comment\nproject('demo', 'cpp',\n  version : '3.1.0',\n"
        "  default_options: ['cpp_std=c++17'])\n")
    (root / REL).write_text(GOOD.replace("{from: cmake}", "{from: meson}"))
    assert load_app(root, "demo").version == "3.1.0"


@pytest.mark.parametrize(("text", "version"), [
    ("project(edge_infer VERSION 1.0.0 LANGUAGES CXX)", "1.0.0"),
    ('PROJECT(x\n  VERSION "4.5"\n  LANGUAGES C)', "4.5"),
    ("# project(x VERSION 9.9)\nproject(x LANGUAGES CXX)", None),
    ("project(x VERSION ${V})", None),
    ("cmake_minimum_required(VERSION 3.16)", None),
])
def test_cmake_project_version(text, version):
    assert cmake_project_version(text) == version


@pytest.mark.parametrize(("text", "version"), [
    ("project('a', 'c', version: '1.2.3')", "1.2.3"),
    ("project('a', 'c', version: run_command('v').stdout())", None),
    ("project('a', 'c')\nx = version: '1'", None),
])
def test_meson_project_version(text, version):
    assert meson_project_version(text) == version


# ---- each bad input: the file, the key and a fix ----------------------------------------------
@pytest.mark.parametrize(("old", "new", "says"), [
    # unknown keys, at the top and nested, with did-you-mean
    ("summary:", "sumary:", ["unknown key 'sumary' in apps/demo/app.yaml; did you mean 'summary'?"]),
    ("    made_by:", "    madeby:",
     ["unknown key 'data.0.madeby' in apps/demo/app.yaml; did you mean 'made_by'?"]),
    ("{from: cmake}", "{form: cmake}",
     ["unknown key 'version.form' in apps/demo/app.yaml; did you mean 'from'?"]),
    ("  ctest: true", "  ctest: true\n  qemu: true",
     ["unknown key 'tests.qemu' in apps/demo/app.yaml", "(known keys: ctest, meson_test, smoke)"]),
    # bad types and values
    ("ctest: true", "ctest: maybe", ["key 'tests.ctest' in apps/demo/app.yaml", "boolean"]),
    ("kind: conan", "kind: conna",
     ["key 'build.kind' in apps/demo/app.yaml: expected", "did you mean 'conan'?"]),
    ("{from: cmake}", "{value: 1.2}",
     ["key 'version.value' in apps/demo/app.yaml: YAML read 1.2 as a number; write it quoted: "
      '"1.2"']),
    ("{from: cmake}", "{from: cmake, value: \"1.0\"}",
     ["key 'version' in apps/demo/app.yaml: give exactly one of {from: cmake}"]),
    ("formats: [deb,", "formats: [zip, deb,", ["key 'deliver.formats.0' in apps/demo/app.yaml"]),
    ("requires: [ffmpeg, opencv]", "requires: ffmpeg",
     ["key 'build.requires' in apps/demo/app.yaml", "write a list: [a, b]"]),
    ("prefix: /opt/demo", "prefix: /usr/demo",
     ["key 'install.prefix' in apps/demo/app.yaml", "write it like /opt/<app>"]),
    ("user: demo", "user: root", ["key 'services.0.user' in apps/demo/app.yaml: a service does "
                                  "not run as root"]),
    ("config: /etc/demo/{instance}.conf", "config: /etc/demo/demo.conf",
     ["key 'services.0.config' in apps/demo/app.yaml", "holding {instance} once"]),
    ("test_requires: [googletest]", "test_requires: [googletest, opencv]",
     ["key 'build.test_requires' in apps/demo/app.yaml: opencv in both requires and "
      "test_requires; keep each recipe in one of them"]),
    ("  test_requires: [googletest]", "  test_requires: [googletest]\n  configure_args: [-DX=1]",
     ["key 'build.configure_args' in apps/demo/app.yaml", "remove configure_args"]),
    ("program: bin/demo", "program: bin/dmeo",
     ["key 'tests' in apps/demo/app.yaml: smoke.program 'bin/dmeo' is not one of "
      "install.programs (bin/demo)"]),
    ('"{sample}"]', '"{sampel}"]',
     ["key 'tests.smoke.args' in apps/demo/app.yaml", "unknown placeholder {sampel}; did you "
      "mean 'sample'?"]),
    ("  installer_info: images/demo/installers.yaml\n", "",
     ["key 'deliver.formats' in apps/demo/app.yaml: deb, rpm, run, dbg need "
      "deliver.installer_info: add installer_info"]),
    ("install: share/demo/net.onnx", "install: bin/demo",
     ["key 'data' in apps/demo/app.yaml: bin/demo would be installed over a program"]),
    ("system_libraries: [libmosquitto-dev]", "system_libraries: [libmosquitto-dev, Mosquitto]",
     ["key 'system_libraries' in apps/demo/app.yaml: 'Mosquitto' is not a Debian package name"]),
    # paths stay inside the project, relative
    ("source: model/net.onnx", "source: /srv/model/net.onnx",
     ["key 'data.0.source' in apps/demo/app.yaml: '/srv/model/net.onnx' is absolute; give a "
      "path relative to the app's folder"]),
    ("container_image: images/demo/image.yaml", "container_image: ../other/images/image.yaml",
     ["key 'deliver.container_image' in apps/demo/app.yaml: '../other/images/image.yaml' leads "
      "out of the project's root with '..'"]),
    ("install: share/demo/net.onnx", "install: share/./demo/net.onnx",
     ["key 'data.0.install' in apps/demo/app.yaml", "write it as 'share/demo/net.onnx'"]),
    # dangling references
    ("requires: [ffmpeg, opencv]", "requires: [ffmpeg, opencvv]",
     ["key 'build.requires' in apps/demo/app.yaml: no recipe 'opencvv' (no "
      "recipes/opencvv/conanfile.py); did you mean 'opencv'?"]),
    ("test_requires: [googletest]", "test_requires: [gtest]",
     ["key 'build.test_requires' in apps/demo/app.yaml: no recipe 'gtest'", "known recipes: "
      "ffmpeg, googletest, libpng, opencv"]),
    ("source: model/net.onnx", "source: model/nett.onnx",
     ["key 'data.0.source' in apps/demo/app.yaml: apps/demo/model/nett.onnx does not exist; "
      "add the file or fix the path"]),
    ("card: model/CARD.md", "card: model",
     ["key 'data.0.card' in apps/demo/app.yaml: apps/demo/model is a folder, not a file"]),
    ("container_image: images/demo/image.yaml", "container_image: images/demo/imgae.yaml",
     ["key 'deliver.container_image' in apps/demo/app.yaml: images/demo/imgae.yaml does not "
      "exist"]),
    ("installer_info: images/demo/installers.yaml", "installer_info: images/demo/installer.yaml",
     ["key 'deliver.installer_info' in apps/demo/app.yaml: images/demo/installer.yaml does not "
      "exist"]),
    ("unit_template: images/demo/systemd/instance.service.j2",
     "unit_template: images/demo/systemd/unit.service.j2",
     ["key 'services.0.unit_template' in apps/demo/app.yaml: images/demo/systemd/unit.service.j2 "
      "does not exist"]),
    ("name: demo", "name: demo2",
     ["key 'name' in apps/demo/app.yaml: 'demo2' differs from the app's folder 'demo'; write "
      "name: demo"]),
    ("kind: conan", "kind: meson",
     ["key 'build.requires' in apps/demo/app.yaml: Conan recipes are for kind conan; a meson "
      "build takes its libraries from the board's sysroot: name their Debian packages under "
      "system_libraries (e.g. libmosquitto-dev) and remove requires"]),
    ("ctest: true", "meson_test: true",
     ["key 'tests' in apps/demo/app.yaml: meson_test: a conan build has a ctest suite: write "
      "ctest: true instead"]),
    ("{from: cmake}", "{from: meson}",
     ["key 'version.from' in apps/demo/app.yaml: apps/demo/meson.build does not exist", "or give "
      'the version itself: version: {value: "1.2.3"}']),
])
def test_a_bad_descriptor_names_the_file_the_key_and_a_fix(tmp_path: Path, old, new, says):
    assert old in GOOD
    root = make_project(tmp_path, GOOD.replace(old, new, 1))
    message = refused(root, *says)
    assert "\n\n" not in message and len(message) < 1200


def test_a_meson_app_without_its_meson_build(tmp_path: Path):
    text = (GOOD.replace("kind: conan\n  requires: [ffmpeg, opencv]\n  test_requires: [googletest]",
                         "kind: meson").replace("ctest: true", "meson_test: true"))
    root = make_project(tmp_path, text)
    refused(root, "key 'build.kind' in apps/demo/app.yaml: a meson build needs "
            "apps/demo/meson.build")


def test_every_dangling_reference_is_named_at_once(tmp_path: Path):
    root = make_project(tmp_path, GOOD.replace("[ffmpeg, opencv]", "[ffmpeg, opencvv]")
                        .replace("model/CARD.md", "model/card.md"))
    message = refused(root, "no recipe 'opencvv'", "apps/demo/model/card.md does not exist")
    assert len(message.splitlines()) == 2


def test_a_cmake_file_without_a_version(tmp_path: Path):
    root = make_project(tmp_path)
    (root / "apps/demo/CMakeLists.txt").write_text("project(demo LANGUAGES CXX)\n")
    refused(root, "key 'version.from' in apps/demo/app.yaml: apps/demo/CMakeLists.txt has no "
            "literal version in its project() call; write it as project(<name> VERSION 1.2.3) "
            'or give the version itself: version: {value: "1.2.3"}')


def test_a_link_leading_out_of_the_project_is_refused(tmp_path: Path):
    root = make_project(tmp_path / "project")
    outside = tmp_path / "outside.onnx"
    outside.write_bytes(b"onnx")
    (root / "apps/demo/model/net.onnx").unlink()
    os.symlink(outside, root / "apps/demo/model/net.onnx")
    refused(root, "key 'data.0.source' in apps/demo/app.yaml: apps/demo/model/net.onnx is a link "
            "that leads out of the app's folder apps/demo/")


def test_yaml_problems_and_unreadable_files_name_the_file(tmp_path: Path):
    root = make_project(tmp_path, GOOD + "name: again\n")
    refused(root, "apps/demo/app.yaml:", "duplicate key 'name'")
    (root / REL).write_bytes(b"name: d\xe9mo\n")
    refused(root, "apps/demo/app.yaml: not UTF-8 text")
    (root / REL).write_text("- a list\n")
    refused(root, "apps/demo/app.yaml: expected a mapping of keys to values")
    (root / REL).write_text("name: demo\n")
    message = refused(root, "missing key 'summary' in apps/demo/app.yaml: add it (what it does, "
                      "in one line)")
    assert "missing key 'install'" in message


# ---- found by a bad-input hunt ----------------------------------------------------------------
@pytest.mark.parametrize("char", ["\x07", "\x00", "\x0c", "\ufffe"])
def test_a_control_character_anywhere_is_named_not_a_crash(tmp_path: Path, char: str):
    root = make_project(tmp_path, GOOD + f"# a comment with {char} in it\n")
    refused(root, "apps/demo/app.yaml:", f"contains the character #x{ord(char):04x}",
            "remove it")


def test_an_app_yaml_that_is_not_a_file_is_named_not_skipped(tmp_path: Path):
    root = make_project(tmp_path)
    (root / "apps" / "demo" / "app.yaml").unlink()
    (root / "apps" / "demo" / "app.yaml").mkdir()
    assert app_names(root) == ["demo"]
    refused(root, "apps/demo/app.yaml")


def test_a_folder_whose_name_is_no_app_name_is_to_be_renamed(tmp_path: Path):
    root = make_project(tmp_path, name="Demo_App")
    refused(root, "apps/Demo_App/: the folder's name is not an app name",
            "rename the folder to demo", name="Demo_App")


@pytest.mark.parametrize("key,line", [("install", "    install: .\n"),
                                      ("programs", "  programs: [.]\n")])
def test_the_folder_itself_is_not_a_file(tmp_path: Path, key: str, line: str):
    text = GOOD
    if key == "install":
        text = re.sub(r"(?m)^    install: .*\n", line, text, count=1)
    else:
        text = re.sub(r"(?m)^  programs: .*\n", line, text, count=1)
    assert text != GOOD
    root = make_project(tmp_path, text)
    refused(root, "'.' is the folder itself; give the path of a file")
