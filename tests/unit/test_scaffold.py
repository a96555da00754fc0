"""`invoke new-app`: a new app's folders (apps/<name>/, images/<name>/) written into a test
project, read back by the one loader; refused names and taken names write nothing. The
generated projects are built natively by tests/integration/test_scaffold.py and for a board
by tests/e2e/test_scaffold.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edgeforge.config import load_app, parse_installers, scaffold
from edgeforge.core import DescriptorError, UsageError
from tests.conftest import PROJECT


def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(PROJECT / "toolchains", root / "toolchains")
    (root / "apps").mkdir(parents=True)
    return root


@pytest.mark.parametrize("kind, suite, build_file", [("cmake", "ctest", "CMakeLists.txt"),
                                                      ("meson", "meson_test", "meson.build")])
def test_a_new_app_loads_with_its_version_tests_service_and_installers(tmp_path, kind, suite,
                                                                      build_file):
    root = project(tmp_path)
    new = scaffold.check("line-agent", kind, None, None, None)
    folders = scaffold.write(root, new)
    assert folders == [root / "apps/line-agent", root / "images/line-agent"]
    app = load_app(root, "line-agent")
    assert app.version == "0.1.0" and app.spec.build.kind == kind
    assert getattr(app.spec.tests, suite) and (app.folder / build_file).is_file()
    assert app.spec.install.prefix == "/opt/line-agent" and app.program == "bin/line-agent"
    [service] = app.spec.services
    assert service.name == "line-agent" and service.user == "line-agent"
    assert service.args_variable == "LINE_AGENT_ARGS"
    assert set(app.spec.deliver.formats) == {"deb", "rpm", "run", "dbg"}
    spec = parse_installers((root / "images/line-agent/installers.yaml").read_text(),
                            "images/line-agent/installers.yaml")
    assert spec.package == "line-agent" and spec.prefix == "/opt/line-agent"
    unit = (root / "images/line-agent/systemd/instance.service.j2").read_text()
    assert "ExecStart={{ program }} $LINE_AGENT_ARGS ${STREAM}" in unit
    assert not list(root.glob("*/.line-agent.new"))  # no staging folder left


def test_a_name_with_dots_gets_a_valid_user_and_variable(tmp_path: Path):
    new = scaffold.check("cam.v2", "meson", None, None, None)
    assert (new.user, new.args_variable, new.ident) == ("cam-v2", "CAM_V2_ARGS", "cam_v2")
    root = project(tmp_path)
    scaffold.write(root, new)
    assert load_app(root, "cam.v2").spec.services[0].user == "cam-v2"
    with pytest.raises(UsageError, match=r"a systemd unit's name has no '\+': use 'cam-v2'"):
        scaffold.check("cam+v2", "meson", None, None, None)


@pytest.mark.parametrize("args, says", [
    ((None, None), "give the app's name: --name NAME"),
    (("My_App", None), "--name 'My_App': an app's name uses lower-case letters"),
    (("smoke", None), "the name is one of the board's own build folders"),
    (("demo", "autotools"), "--kind 'autotools': one of cmake, meson"),
])
def test_bad_options_are_refused_with_the_fix(args, says):
    with pytest.raises(UsageError, match=says.replace("(", r"\(").replace(")", r"\)")):
        scaffold.check(*args, None, None, None)
    with pytest.raises(UsageError, match="--license 'MIT-ish'"):
        scaffold.check("demo", "cmake", None, "MIT-ish", None)
    with pytest.raises(UsageError, match="--maintainer"):
        scaffold.check("demo", "cmake", None, None, "nobody")
    with pytest.raises(UsageError, match="--summary: say what it does without its name first"):
        scaffold.check("demo", "cmake", "demo: counts the cars", None, None)


def test_a_taken_name_writes_nothing(tmp_path: Path):
    root = project(tmp_path)
    (root / "images/demo").mkdir(parents=True)
    with pytest.raises(UsageError, match=r"images/demo exists already: pick another --name "
                                         r"\(nothing was written\)"):
        scaffold.write(root, scaffold.check("demo", "cmake", None, None, None))
    assert not (root / "apps/demo").exists()


def test_a_failure_keeps_nothing(tmp_path: Path, monkeypatch):
    root = project(tmp_path)
    monkeypatch.setattr(scaffold, "APP_YAML", scaffold.APP_YAML.replace("kind: @KIND@",
                                                                        "kind: @KIND@x"))
    with pytest.raises(DescriptorError, match="the new app does not load"):
        scaffold.write(root, scaffold.check("demo", "cmake", None, None, None))
    assert sorted(p.name for p in (root / "apps").iterdir()) == []
    assert not (root / "images").exists() or not any((root / "images").iterdir())
