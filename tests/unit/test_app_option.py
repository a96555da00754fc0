"""`--app NAME` on every command that works on one app (issue 23): invoke's parser takes it, the
task hands it to the one place that resolves it (the pipeline, the debug session, `invoke run`,
deploy), EDGEFORGE_APP is the default when set (as EDGEFORGE_BOARD is for --board), an unknown
name is exit 2 with a did-you-mean, and a project with two apps and no --app is the usage error
that says to give one. The tasks run in-process on a project written into tmp_path; where a
task would build, the library function it calls is replaced by a recorder."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from invoke import Exit
from invoke.parser import Parser

import edgeforge.debug as debugging
from edgeforge import cli, pipeline
from edgeforge.cli import build as build_tasks
from edgeforge.cli import device as device_tasks
from edgeforge.cli._common import APP_HELP, APPS_HELP
from edgeforge.context import APP_VAR, Context
from edgeforge.core import DescriptorError, Reporter, UsageError
from edgeforge.debug import DebugOptions, server_command
from edgeforge.deliver import ReleaseOptions
from edgeforge.verify import app_program
from tests.conftest import PROJECT
from tests.unit.smallapps import add_app

BOARD = "jetson-nx"
TWO_APPS = ("error: the project has 2 apps (detector, uplink): name the one you mean with "
            "--app NAME")


def write_project(root: Path, *apps: str) -> Path:
    """The checkout's boards, compilers and sysroots, and small CMake apps."""
    shutil.copytree(PROJECT / "toolchains", root / "toolchains")
    shutil.copytree(PROJECT / "apps" / "smoke", root / "apps" / "smoke")
    for name in apps:
        add_app(root, name)
    return root


@pytest.fixture(autouse=True)
def no_app_from_the_environment(monkeypatch):
    monkeypatch.delenv(APP_VAR, raising=False)
    previous = signal.getsignal(signal.SIGTERM)  # a task sets its own SIGTERM handler
    yield
    signal.signal(signal.SIGTERM, previous)


@pytest.fixture
def ctx(tmp_path: Path, monkeypatch) -> Context:
    """A project with two apps, detector and uplink; every task's context."""
    root = write_project(tmp_path / "project", "detector", "uplink")
    context = Context.create(project_root=root, cache_dir=tmp_path / "cache",
                             build_root=tmp_path / "build", dist_root=tmp_path / "dist",
                             reporter=Reporter(quiet=True))
    for module in (cli.build, cli.deliver, cli.device, cli.debug):
        monkeypatch.setattr(module, "new_context", lambda: context)
    return context


def invoke_task(args: list[str], remainder: str = ""):
    """Parse `invoke ARGS` as invoke does and run the task's body (its errors as Exit)."""
    [parsed] = Parser(contexts=cli.ns.to_contexts()).parse_argv(args)
    return cli.ns[parsed.name].body(SimpleNamespace(remainder=remainder), **parsed.as_kwargs)


class Recorder:
    """Stands in for a library function: remembers its keyword arguments."""

    def __init__(self, result=None):
        self.calls: list[dict] = []
        self.result = result

    def __call__(self, *args, **kwargs):
        self.calls.append({"args": args, **kwargs})
        return self.result


# ---- the option reaches the one place that resolves it -------------------------------------------
PLAN = SimpleNamespace(render=lambda: "plan")


@pytest.mark.parametrize("args, where, result", [
    (["build", "--board", BOARD], (pipeline, "build"), None),
    (["build", "--board", BOARD, "--dry-run"], (pipeline, "board_plans"), [PLAN]),
    (["test", "--board", BOARD, "--frames", "2"], (pipeline, "run_tests"), None),
    (["native"], (pipeline, "build_native"), None),
    (["native", "--sanitize", "--test"], (pipeline, "build_native"), None),
    (["release", "--board", BOARD], (pipeline, "release"), Path("/dist/x")),
    (["release", "--board", BOARD, "--board", "rpi4"], (pipeline, "release"), Path("/dist/x")),
    (["release", "--board", BOARD, "--check-reproducible"], (pipeline, "check_reproducible"),
     None),
    (["release", "--board", BOARD, "--board", "rpi4", "--dry-run"], (pipeline, "board_plan"),
     PLAN),
    (["image", "--board", BOARD], (pipeline, "release"), None),
    (["image", "--board", BOARD, "--dry-run"], (pipeline, "board_plan"), PLAN),
    (["sdk", "--board", BOARD], (pipeline, "sdk"), None),
    (["debug", "--board", BOARD, "--emulate"], (debugging, "run"), None),
    (["debug", "--board", BOARD, "--vm", "--service", "uplink"], (debugging, "run"), None),
    (["debug", "--board", BOARD, "--target", "ssh://u@h", "--attach", "7"], (debugging, "run"),
     None),
    (["debug", "--board", BOARD, "--core", "core.1"], (debugging, "run"), None),
    (["run", "--board", BOARD], (build_tasks, "run_program"), 0),
])
def test_every_command_hands_app_to_the_library(ctx: Context, monkeypatch, args, where, result):
    # what the release task calls besides (several boards, --check-reproducible)
    monkeypatch.setattr(pipeline, "release", Recorder(Path("/dist/x")))
    monkeypatch.setattr(pipeline, "release_index", Recorder(Path("/dist/index")))
    recorder = Recorder(result)
    monkeypatch.setattr(*where, recorder)
    invoke_task([*args, "--app", "uplink"])
    assert recorder.calls and all(call["app"] == "uplink" for call in recorder.calls)
    recorder.calls.clear()
    invoke_task(args, remainder="build/prog")  # no --app: the library decides the default
    if args[0] == "release":  # each app's release in turn, by its name
        boards = args.count("--board")
        assert [c["app"] for c in recorder.calls] == (
            ["detector"] * boards + ["uplink"] * boards)
    else:
        assert recorder.calls and all(call["app"] is None for call in recorder.calls)


HELPS = """\
import json
from edgeforge import cli
print(json.dumps({n: {a.name: a.help for a in cli.ns[n].get_arguments()} for n in cli.ns.task_names}))
"""


def test_every_task_that_works_on_one_app_has_the_option_with_the_shared_help():
    # in a fresh process: invoke hands each task's help texts out once (get_arguments pops them)
    r = subprocess.run([sys.executable, "-c", HELPS], capture_output=True, text=True, timeout=60,
                       check=True, stdin=subprocess.DEVNULL)
    helps = json.loads(r.stdout)
    for name in ("native", "image", "sdk", "deploy", "debug"):
        assert helps[name]["app"] == APP_HELP, name
    for name in ("build", "test", "release"):  # several apps in turn
        assert helps[name]["app"] == APPS_HELP, name
    assert "this app's installed program" in helps["run"]["app"]
    assert "the device image of this app" in helps["vm"]["app"]
    assert "EDGEFORGE_APP" in APP_HELP and "every app of the project" in APPS_HELP
    # the board's own commands take no app
    for name in ("sysroot", "toolchain", "gate", "boards", "deps", "cache.status"):
        assert "app" not in helps[name], name


def test_deploy_resolves_the_named_app(ctx: Context, monkeypatch):
    recorder = Recorder()
    monkeypatch.setattr(device_tasks, "update_device", recorder)
    invoke_task(["deploy", "--board", BOARD, "--target", "ssh://u@h", "--app", "uplink"])
    [call] = recorder.calls
    assert call["args"][1] is ctx.app("uplink")


def test_run_with_app_runs_its_installed_program(ctx: Context, monkeypatch):
    target = ctx.catalog.resolve(BOARD, env={})
    with pytest.raises(UsageError, match=r"^uplink is not built for jetson-nx: no .*/bin/uplink; "
                                         r"run \./edgeforge build --board jetson-nx --app uplink"):
        app_program(ctx, target, ctx.app("uplink"))
    program = ctx.layout(BOARD).app("uplink") / "bin" / "uplink"
    program.parent.mkdir(parents=True)
    program.write_bytes(b"\x7fELF")
    assert app_program(ctx, target, ctx.app("uplink")) == program


# ---- an unknown name, and two apps without a name: exit 2 before anything is built ---------------
COMMANDS = [
    ["build", "--board", BOARD],
    ["build", "--board", BOARD, "--dry-run"],
    ["test", "--board", BOARD],
    ["native"],
    ["native", "--sanitize"],
    ["release", "--board", BOARD],
    ["release", "--board", BOARD, "--dry-run"],
    ["image", "--board", BOARD],
    ["sdk", "--board", BOARD],
    ["deploy", "--board", BOARD, "--target", "ssh://u@h"],
    ["debug", "--board", BOARD, "--emulate"],
    ["debug", "--board", BOARD, "--target", "ssh://u@h", "--service", "x"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_an_unknown_app_is_exit_2_with_a_did_you_mean(ctx: Context, args):
    with pytest.raises(Exit) as info:
        invoke_task([*args, "--app", "uplnk"])
    assert info.value.code == 2
    assert info.value.message == (
        "error: command line --app: no app named 'uplnk' (no apps/uplnk/app.yaml); did you mean "
        "'uplink'? known apps: detector, uplink; give one of them with --app NAME")


def test_run_with_an_unknown_app_is_exit_2(ctx: Context):
    with pytest.raises(Exit) as info:
        invoke_task(["run", "--board", BOARD, "--app", "detectr"])
    assert info.value.code == 2 and "did you mean 'detector'?" in info.value.message


#: the commands that work on one app: with several, they need its name
ONE_APP = [a for a in COMMANDS if a[0] not in ("build", "test", "release")]


@pytest.mark.parametrize("args", ONE_APP, ids=" ".join)
def test_two_apps_and_no_app_is_the_usage_error(ctx: Context, args):
    with pytest.raises(Exit) as info:
        invoke_task(args)
    assert info.value.code == UsageError.exit_code == 2
    assert info.value.message == TWO_APPS


def test_build_test_and_release_take_every_app_without_a_name(ctx: Context, monkeypatch):
    target = ctx.catalog.resolve(BOARD, env={})
    plans = pipeline.board_plans(ctx, target)
    assert [p.step("app").scope for p in plans] == ["detector", "uplink"]
    # one plan per app; the board's own steps are the same steps with the same stamps
    shared = [[(s.name, plans[0].stamp_path(s)) for s in p.steps if not s.scope] for p in plans]
    assert shared[0] == shared[1] and [n for n, _ in shared[0]] == [
        "sysroot", "toolchain", "smoke"]  # (cmake apps: no Conan graph)
    assert plans[0].stamp_path(plans[0].step("app")) != plans[1].stamp_path(plans[1].step("app"))
    assert [a.name for a in pipeline.apps_for(ctx, None, release=ReleaseOptions())] == [
        "detector", "uplink"]
    monkeypatch.setenv(APP_VAR, "uplink")  # the environment names one
    assert [p.step("app").scope for p in pipeline.board_plans(ctx, target)] == ["uplink"]
    monkeypatch.delenv(APP_VAR)
    with pytest.raises(Exit) as info:  # --push sends one app's image
        invoke_task(["release", "--board", BOARD, "--push", "127.0.0.1:5000/x", "--dry-run"])
    assert info.value.code == 2 and info.value.message == (
        "error: --push sends one app's image; the project has 2 apps (detector, uplink): name "
        "the one to push with --app NAME")


def test_the_board_s_own_work_needs_no_app_among_several(ctx: Context, monkeypatch):
    """`invoke sysroot`, `toolchain`, `cache status` plan up to a board step: no app is read;
    `debug --stop` stops the board's server, whichever app it debugged."""
    target = ctx.catalog.resolve(BOARD, env={})
    for step in pipeline.BOARD_STEPS:
        assert pipeline.app_for(ctx, None, step not in pipeline.BOARD_STEPS) is None
    assert [s.name for s in pipeline.board_plan(ctx, target, with_deps=False).steps] == [
        "sysroot", "toolchain", "smoke", "manifest"]
    assert debugging.run(ctx, target, DebugOptions(stop=True)) == {"stopped": False}
    with pytest.raises(UsageError, match="the project has 2 apps"):
        pipeline.app_for(ctx, None)


# ---- EDGEFORGE_APP: the default when set ----------------------------------------------------------
def test_edgeforge_app_is_the_default_and_the_option_wins(ctx: Context, monkeypatch):
    monkeypatch.setenv(APP_VAR, "uplink")
    assert ctx.app().name == "uplink"
    assert pipeline.app_for(ctx, None).name == "uplink"
    assert pipeline.app_for(ctx, "detector").name == "detector"  # --app over the environment
    with pytest.raises(UsageError, match="the project has 2 apps"):
        ctx.app(env={})                                       # not set: two apps need a name
    monkeypatch.setenv(APP_VAR, "uplnk")
    with pytest.raises(DescriptorError) as exc:
        ctx.app()
    assert exc.value.message == (
        "environment variable EDGEFORGE_APP: no app named 'uplnk' (no apps/uplnk/app.yaml); did "
        "you mean 'uplink'? known apps: detector, uplink; give one of them with --app NAME (or "
        "unset EDGEFORGE_APP)")
    assert ctx.app("detector").name == "detector"


def test_edgeforge_app_reaches_a_task(ctx: Context, monkeypatch):
    """The task passes no name; the library's one place reads the environment."""
    monkeypatch.setenv(APP_VAR, "detector")
    recorder = Recorder()
    monkeypatch.setattr(device_tasks, "update_device", recorder)
    invoke_task(["deploy", "--board", BOARD, "--target", "ssh://u@h"])
    assert recorder.calls[0]["args"][1].name == "detector"
    monkeypatch.setenv(APP_VAR, "nope")
    with pytest.raises(Exit) as info:
        invoke_task(["build", "--board", BOARD])
    assert info.value.code == 2
    assert info.value.message.startswith("error: environment variable EDGEFORGE_APP: no app "
                                         "named 'nope'")


def test_the_only_app_is_the_default(tmp_path: Path):
    root = write_project(tmp_path / "project", "demo")
    one = Context.create(project_root=root, cache_dir=tmp_path / "cache",
                         build_root=tmp_path / "build", dist_root=tmp_path / "dist",
                         reporter=Reporter(quiet=True))
    assert pipeline.app_for(one, None).name == "demo"
    assert pipeline.app_for(one, None, with_deps=False) is None  # --smoke-only reads no app


# ---- the debug server started for VSCode debugs the same app --------------------------------------
def test_the_debug_server_command_names_the_app(ctx: Context, tmp_path: Path):
    target = ctx.catalog.resolve(BOARD, env={})
    cmd = server_command(ctx, target, ctx.app("uplink"), DebugOptions(emulate=True, args=("-v",)),
                         tmp_path / ".vscode")
    assert cmd[1:6] == ["debug", "--board", BOARD, "--app", "uplink"]
    assert cmd[-2:] == ["--", "-v"]
