"""apps/<name>/app.yaml, second bad-input hunt: nested unknown keys named by their path, the
version read from the real project() call, the app's files kept in its folder and named for
what they are, the files of `deliver` checked when the app loads, licences as SPDX
expressions, unit names and smoke placeholders, and pydantic's bare texts given a fix. Each
bad descriptor is written into a throwaway project under tmp_path; each message names the file,
the key and a fix (exit 2, no traceback)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edgeforge.config import cmake_project_version, load_app, meson_project_version
from tests.conftest import run_invoke
from tests.unit.test_app_descriptor import GOOD, REL, make_project, refused


def bad(tmp_path: Path, old: str, new: str) -> Path:
    assert old in GOOD, old
    return make_project(tmp_path, GOOD.replace(old, new, 1))


# ---- 1. an unknown nested key by its whole path -------------------------------------------------
def test_an_unknown_key_in_a_list_item_is_named_by_its_path(tmp_path: Path):
    root = bad(tmp_path, "    user: demo", "    user: demo\n    description: the demo service")
    message = refused(root, "unknown key 'services.0.description' in apps/demo/app.yaml",
                      "(known keys: name, unit_template, config, config_template, user, "
                      "args_variable)")
    assert "unknown key 'description'" not in message


def test_an_unknown_top_level_key_keeps_its_short_message(tmp_path: Path):
    root = bad(tmp_path, "summary:", "sumary:")
    refused(root, "unknown key 'sumary' in apps/demo/app.yaml; did you mean 'summary'?")


def test_many_unknown_nested_keys_are_counted_under_their_mapping(tmp_path: Path):
    extra = "".join(f"\n  extra{i}: 1" for i in range(7))
    root = bad(tmp_path, "  ctest: true", "  ctest: true" + extra)
    message = refused(root, "unknown key 'tests.extra0' in apps/demo/app.yaml",
                      "and 2 more unknown keys under 'tests' in apps/demo/app.yaml",
                      "(known keys: ctest, meson_test, smoke)")
    assert len(message.splitlines()) == 6


# ---- 2. the version of the real project() call -----------------------------------------------
@pytest.mark.parametrize(("text", "version"), [
    ('set(D "project(x VERSION 6.6.6)")\nproject(x VERSION 1.2)', "1.2"),
    ('set(D "project(x VERSION 6.6.6)")\nproject(x LANGUAGES CXX)', None),
    ('message("a \\" project(x VERSION 6.6.6)")\nproject(z VERSION 3)', "3"),
    ("set(D [[\nproject(x VERSION 6.6.6)\n]])\nproject(x VERSION 1.3)", "1.3"),
    ("set(D [==[ ]] project(x VERSION 6.6.6)\n]==])\nproject(y)", None),
    ("#[[\nproject(x VERSION 6.6.6)\n]]\nproject(x VERSION 2.0)", "2.0"),
    ("#[=[\nproject(x VERSION 6.6.6)\n]=]\nproject(x)", None),
    ("# project(x VERSION 6.6.6)\nproject(x VERSION 2.1)", "2.1"),
    ("project(x  # VERSION 6.6.6\n  VERSION 0.1)", "0.1"),
    ("set(D project(x VERSION 6.6.6))\nproject(z)", None),
    ('add_definitions(-DX="a b" project(x VERSION 6))\nproject(y VERSION 7)', "7"),
    ("project(x VERSION 1.2.3.4.5)", None),
    ("project(x VERSION [[4.5]])", "4.5"),
])
def test_cmake_version_skips_comments_strings_and_bracket_arguments(text, version):
    assert cmake_project_version(text) == version


@pytest.mark.parametrize(("text", "version"), [
    ("x = 'project(\\'a\\', version: \\'6.6.6\\')'\nproject('a')", None),
    ("x = '''\nproject('a', version: '6.6.6')\n'''\nproject('a', version: '1.0')", "1.0"),
    ("# project('a', version: '9.9')\nproject('a', version: '1.1')", "1.1"),
    ("project('a', license: 'version: \\'6.6\\'', version: '8.0')", "8.0"),
    ("project('a', meson_version: '>=1.0', version: '2.0')", "2.0"),
    ("project('a', default_options: {'version': '6'})", None),
    ("project('a', x: [version: '6'], version: '8.1')", "8.1"),
    ("project('a', version: '1.0' + x)", None),
    ("project('a', version: f'1.0')", None),
    ("foo.project('a', version: '6')\nproject('b', version: '7')", "7"),
])
def test_meson_version_skips_comments_and_strings_that_are_not_the_argument(text, version):
    assert meson_project_version(text) == version


def test_a_cmake_version_only_in_a_string_is_no_version(tmp_path: Path):
    root = make_project(tmp_path)
    (root / "apps/demo/CMakeLists.txt").write_text(
        'set(DOC "project(demo VERSION 6.6.6)")\nproject(demo LANGUAGES CXX)\n')
    refused(root, "key 'version.from' in apps/demo/app.yaml: apps/demo/CMakeLists.txt has no "
            "literal version in its project() call; write it as project(<name> VERSION 1.2.3)")
    (root / "apps/demo/CMakeLists.txt").write_text(
        "#[[ project(demo VERSION 6.6.6) ]]\nproject(demo VERSION 2.5 LANGUAGES CXX)\n")
    assert load_app(root, "demo").version == "2.5"


# ---- 3. the app's files: in its folder, regular files ----------------------------------------
def test_a_data_link_to_elsewhere_in_the_project_is_refused(tmp_path: Path):
    root = make_project(tmp_path)
    model = root / "apps/demo/model/net.onnx"
    (root / "images/demo/net.onnx").write_bytes(model.read_bytes())
    model.unlink()
    os.symlink("../../../images/demo/net.onnx", model)
    refused(root, "key 'data.0.source' in apps/demo/app.yaml: apps/demo/model/net.onnx is a link "
            "that leads out of the app's folder apps/demo/ (to images/demo/net.onnx); the app's "
            "own files live in its folder: put the file itself there")


def test_a_card_link_out_of_the_apps_folder_is_refused_and_one_inside_is_not(tmp_path: Path):
    root = make_project(tmp_path)
    card = root / "apps/demo/model/CARD.md"
    card.unlink()
    os.symlink("../../../images/demo/image.yaml", card)
    refused(root, "key 'data.0.card' in apps/demo/app.yaml: apps/demo/model/CARD.md is a link "
            "that leads out of the app's folder apps/demo/")
    card.unlink()
    (root / "apps/demo/README.md").write_text("# the card\n")
    os.symlink("../README.md", card)
    assert load_app(root, "demo").spec.data[0].card == "model/CARD.md"


def test_a_data_source_that_is_a_device_says_so(tmp_path: Path):
    root = make_project(tmp_path)
    model = root / "apps/demo/model/net.onnx"
    model.unlink()
    os.symlink("/dev/zero", model)
    refused(root, "key 'data.0.source' in apps/demo/app.yaml: apps/demo/model/net.onnx is a "
            "character device (a link to /dev/zero), not a file; give the path of a regular file")


def test_a_data_source_that_is_a_fifo_or_a_dangling_link_says_so(tmp_path: Path):
    root = make_project(tmp_path)
    model = root / "apps/demo/model/net.onnx"
    model.unlink()
    os.mkfifo(model)
    message = refused(root, "apps/demo/model/net.onnx is a named pipe (FIFO), not a file")
    assert "does not exist" not in message
    model.unlink()
    os.symlink("gone.onnx", model)
    refused(root, "key 'data.0.source' in apps/demo/app.yaml: apps/demo/model/net.onnx is a link "
            "to apps/demo/model/gone.onnx, which does not exist")


def test_a_project_file_may_link_inside_the_project_but_not_out_of_it(tmp_path: Path):
    root = make_project(tmp_path / "project")
    unit = root / "images/demo/systemd/instance.service.j2"
    (root / "images/shared.service.j2").write_text("# shared\n")
    unit.unlink()
    os.symlink("../../shared.service.j2", unit)
    load_app(root, "demo")
    (tmp_path / "outside.j2").write_text("# outside\n")
    unit.unlink()
    os.symlink(tmp_path / "outside.j2", unit)
    refused(root, "key 'services.0.unit_template' in apps/demo/app.yaml: "
            "images/demo/systemd/instance.service.j2 is a link that leads out of the project")


# ---- 4. the files of deliver, read when the app loads ----------------------------------------
def test_a_bad_installers_file_is_named_when_the_app_loads(tmp_path: Path):
    root = make_project(tmp_path)
    path = root / "images/demo/installers.yaml"
    path.write_text(path.read_text().replace("  restart: on-failure", "  restrat: on-failure"))
    refused(root, "unknown key 'service.restrat' in images/demo/installers.yaml; did you mean "
            "'restart'?")


def test_a_bad_container_image_file_is_named_when_the_app_loads(tmp_path: Path):
    root = make_project(tmp_path)
    path = root / "images/demo/image.yaml"
    path.write_text(path.read_text().replace("entrypoint:", "entrypont:"))
    refused(root, "unknown key 'entrypont' in images/demo/image.yaml; did you mean 'entrypoint'?")


@pytest.mark.parametrize("file", ["installers.yaml", "image.yaml"])
def test_a_prefix_other_than_the_apps_is_refused_naming_both_files(tmp_path: Path, file: str):
    root = make_project(tmp_path)
    path = root / "images/demo" / file
    path.write_text(path.read_text().replace("\nprefix: /opt/demo", "\nprefix: /opt/other"))
    refused(root, f"key 'prefix' in images/demo/{file}: /opt/other differs from key "
            "'install.prefix' in apps/demo/app.yaml (/opt/demo)",
            f"write prefix: /opt/demo in images/demo/{file} (or change install.prefix)")


def test_a_bad_installers_file_stops_a_dry_run_build(tmp_project: Path):
    path = tmp_project / "images/edge-infer/installers.yaml"
    path.write_text(path.read_text().replace("\nprefix: /opt/edge-infer", "\nprefix: /opt/x"))
    r = run_invoke("build", "--board", "jetson-nx", "--dry-run", cwd=tmp_project)
    assert r.returncode == 2
    assert ("key 'prefix' in images/edge-infer/installers.yaml: /opt/x differs from key "
            "'install.prefix' in apps/edge-infer/app.yaml (/opt/edge-infer)") in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


# ---- 5. licences as SPDX expressions ---------------------------------------------------------
@pytest.mark.parametrize("licence", ["MIT OR Apache-2.0", "(MIT OR Apache-2.0) AND BSD-3-Clause",
                                     "LicenseRef-Proprietary", "GPL-2.0-only WITH "
                                     "Classpath-exception-2.0", "BSL-1.0", "Zlib"])
def test_spdx_expressions_are_accepted(tmp_path: Path, licence: str):
    root = bad(tmp_path, "license: MIT", f"license: {licence}")
    assert load_app(root, "demo").spec.license == licence


@pytest.mark.parametrize(("old", "new", "says"), [
    ("license: MIT", "license: apache2",
     "key 'license' in apps/demo/app.yaml: 'apache2' is no SPDX licence id; did you mean "
     "Apache-2.0?"),
    ("license: MIT", "license: Proprietary", "did you mean LicenseRef-Proprietary?"),
    ("license: MIT", "license: mit", "'mit' is written MIT in the SPDX list; write MIT"),
    ("license: MIT", "license: GPL-2.0+", "write GPL-2.0-or-later"),
    ("license: MIT", "license: GPLv3", "did you mean GPL-3.0-only or GPL-3.0-or-later?"),
    ("license: MIT", "license: MIT and Apache-2.0", "write the operator and in capitals: AND"),
    ("license: MIT", "license: MIT AND", "expected a licence id, found the end"),
    ("license: MIT", "license: (MIT OR Apache-2.0", "a '(' is not closed"),
    ("license: MIT", "license: Apache License 2.0", "ids are joined with AND or OR"),
    ("license: MIT", "license: MIT WITH Apache-2.0", "'Apache-2.0' is a licence, not an exception"),
    ("license: MIT", "license: 'MIT, BSD-3-Clause'", "',' is not part of an SPDX expression"),
    ("    license: Apache-2.0", "    license: apache-2",
     "key 'data.0.license' in apps/demo/app.yaml: 'apache-2' is no SPDX licence id; did you mean "
     "Apache-2.0?"),
])
def test_a_licence_that_is_no_spdx_expression_gets_a_fix(tmp_path: Path, old, new, says):
    refused(bad(tmp_path, old, new), says)


# ---- 6. unit names and smoke placeholders ----------------------------------------------------
@pytest.mark.parametrize("name", ["demo.service", "demo@.service", "demo@"])
def test_a_service_named_like_its_unit_file_is_refused_with_the_name(tmp_path: Path, name):
    root = bad(tmp_path, "  - name: demo", f"  - name: '{name}'")
    refused(root, f"key 'services.0.name' in apps/demo/app.yaml: '{name}': give the name without "
            "'.service' and '@' (name: demo); the template unit is <name>@.service")


@pytest.mark.parametrize(("arg", "says"), [
    ("{sample", "'{sample': a '{' is not closed; write the placeholder whole: {sample}"),
    ("sample}", "'sample}': a '}' without its '{'; write the placeholder whole: {sample}"),
    ("--in={sampel", "a '{' is not closed; write the placeholder whole: {sample}"),
    ("{sampel}", "unknown placeholder {sampel}; did you mean 'sample'?"),
])
def test_a_smoke_argument_with_a_broken_placeholder_names_the_known_ones(tmp_path: Path, arg,
                                                                          says):
    root = bad(tmp_path, '"{sample}"]', f'"{arg}"]')
    refused(root, "key 'tests.smoke.args' in apps/demo/app.yaml", says,
            "placeholders: {prefix}, {sample}, {frames}, {output}")


# ---- 7. pydantic's bare texts with the expected form -------------------------------------------
@pytest.mark.parametrize(("old", "new", "says"), [
    ("{from: cmake}", "1.2.3", "key 'version' in apps/demo/app.yaml: expected a mapping of its "
     "keys (from, value), got '1.2.3'; write version: {value: \"1.2.3\"}"),
    ("{from: cmake}", "1.2", "got 1.2; write version: {value: \"1.2\"}"),
    ("{from: cmake}", "meson", "got 'meson'; write version: {from: meson}"),
    ("tests:\n  ctest: true\n", "tests: null\nx:\n  ctest: true\n",
     "key 'tests' in apps/demo/app.yaml: expected a mapping of its keys (ctest, meson_test, "
     "smoke), got None; give them, or leave 'tests' out for its default"),
    ("services:\n  - name: demo\n", "services:\n  - demo\n  - name: demo\n",
     "key 'services.0' in apps/demo/app.yaml: expected a mapping of its keys (name, "
     "unit_template, config, config_template, user, args_variable), got 'demo'; write them one "
     "'key: value' per line (e.g. - name: ...)"),
    ("ctest: true", "ctest: maybe", "key 'tests.ctest' in apps/demo/app.yaml: expected a boolean, "
     "got 'maybe'; write true or false"),
    ("programs: [bin/demo]", "programs: []", "key 'install.programs' in apps/demo/app.yaml: "
     "expected at least 1 item, got []; give at least one item"),
])
def test_a_value_of_the_wrong_shape_gets_the_expected_form(tmp_path: Path, old, new, says):
    message = refused(bad(tmp_path, old, new), says)
    assert "Input should be" not in message and "Tuple should" not in message
    assert REL in message
