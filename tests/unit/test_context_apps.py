"""The context gives the project's apps (issue 23): all of them, read once and sorted, and the
one a command works on: the named one, or the only one. No apps, several apps without a name
and an unknown name are sentences naming the fix. Projects are written into tmp_path, never
the checkout."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edgeforge.context import Context
from edgeforge.core import DescriptorError, Reporter, UsageError
from edgeforge.deliver import ReleaseOptions
from edgeforge.pipeline import board_plan
from tests.conftest import PROJECT
from tests.unit.smallapps import add_app, descriptor


@pytest.fixture(autouse=True)
def no_app_from_the_environment(monkeypatch):
    """The suite names its app in EDGEFORGE_APP; these tests are about the default."""
    monkeypatch.delenv("EDGEFORGE_APP", raising=False)


def project(tmp_path: Path, *apps: str) -> Context:
    root = tmp_path / "project"
    (root / "toolchains").mkdir(parents=True)  # the context's catalog reads it when asked
    for name in apps:
        add_app(root, name)
    return Context.create(project_root=root, cache_dir=tmp_path / "cache",
                          build_root=tmp_path / "build", dist_root=tmp_path / "dist",
                          reporter=Reporter(quiet=True))


def test_a_project_without_apps_says_to_add_a_descriptor(tmp_path: Path):
    ctx = project(tmp_path)
    (ctx.project_root / "apps" / "smoke").mkdir(parents=True)  # a folder without app.yaml
    assert ctx.apps() == ()
    with pytest.raises(DescriptorError) as exc:
        ctx.app()
    assert exc.value.exit_code == 2
    assert "has no app" in exc.value.message
    assert "add apps/<name>/app.yaml" in exc.value.message and "README" in exc.value.message
    with pytest.raises(DescriptorError, match="has no app"):
        ctx.app("demo")


def test_the_only_app_is_the_app(tmp_path: Path):
    ctx = project(tmp_path, "demo")
    app = ctx.app()
    assert app.name == "demo" and app.version == "1.2.3"
    assert app.folder == ctx.project_root / "apps" / "demo"
    assert app.rel == "apps/demo" and app.program == "bin/demo"
    assert app.device_image == "images/demo/device.yaml"
    assert ctx.app("demo") is app
    assert ctx.apps() == (app,)


def test_an_unknown_app_name_names_the_known_apps_and_the_fix(tmp_path: Path):
    ctx = project(tmp_path, "demo")
    with pytest.raises(DescriptorError) as exc:
        ctx.app("dmeo")
    message = exc.value.message
    assert "no app named 'dmeo' (no apps/dmeo/app.yaml); did you mean 'demo'?" in message
    assert "known apps: demo" in message and "--app NAME" in message
    assert exc.value.exit_code == 2


def test_two_apps_need_a_name(tmp_path: Path):
    ctx = project(tmp_path, "uplink", "detector")
    assert [a.name for a in ctx.apps()] == ["detector", "uplink"]  # sorted
    with pytest.raises(UsageError) as exc:
        ctx.app()
    assert exc.value.message == ("the project has 2 apps (detector, uplink): name the one you "
                                 "mean with --app NAME")
    assert exc.value.exit_code == 2
    assert ctx.app("uplink").name == "uplink" and ctx.app("detector").name == "detector"
    with pytest.raises(DescriptorError, match="known apps: detector, uplink"):
        ctx.app("camera")


def test_the_apps_are_read_once(tmp_path: Path):
    ctx = project(tmp_path, "demo")
    first = ctx.apps()
    add_app(ctx.project_root, "later")            # a descriptor written afterwards ...
    (ctx.project_root / "apps/demo/app.yaml").write_text("name: [broken\n")
    assert ctx.apps() is first                     # ... is not seen by this context
    assert ctx.app().name == "demo"


def test_a_broken_descriptor_is_the_loaders_error(tmp_path: Path):
    ctx = project(tmp_path, "demo")
    (ctx.project_root / "apps/demo/app.yaml").write_text(
        descriptor("demo").replace("summary:", "sumary:"))
    with pytest.raises(DescriptorError, match="unknown key 'sumary' in apps/demo/app.yaml"):
        ctx.app()


def test_the_board_alone_needs_no_app(tmp_path: Path):
    """A project without apps (or `invoke build --smoke-only`) plans the board's own steps; a
    release, which ships an app, names what is missing."""
    root = tmp_path / "project"
    shutil.copytree(PROJECT / "toolchains", root / "toolchains")
    shutil.copytree(PROJECT / "apps" / "smoke", root / "apps" / "smoke")
    ctx = Context.create(project_root=root, cache_dir=tmp_path / "cache",
                         build_root=tmp_path / "build", dist_root=tmp_path / "dist",
                         reporter=Reporter(quiet=True))
    target = ctx.catalog.resolve("jetson-nx", env={})
    for with_deps in (True, False):
        names = [s.name for s in board_plan(ctx, target, with_deps=with_deps).steps]
        assert names == ["sysroot", "toolchain", "smoke", "manifest"]
    with pytest.raises(DescriptorError, match=r"has no app: no apps/\*/app\.yaml; add "
                                              r"apps/<name>/app\.yaml"):
        board_plan(ctx, target, release=ReleaseOptions(version="1.0.0"))


def test_an_empty_app_name_is_refused(tmp_path: Path):
    ctx = project(tmp_path, "detector")
    with pytest.raises(UsageError, match=r"command line --app: the app's name is empty; give "
                                         r"one of detector"):
        ctx.app("")
