"""The task collection and the entry script's way into it: `remote.*` and `cache.*` are real
sub-collections, the spellings users, README and the CI pipelines have always used still reach
the same tasks (the entry script maps them in Python, never in bash), and `invoke --list`
reads as one sentence per task."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from invoke import Exit, Task
from invoke.parser import Parser

from edgeforge import cli
from edgeforge.cli.program import translate
from edgeforge.context import Context
from edgeforge.core import Reporter, UsageError
from edgeforge.team import ci
from edgeforge.team.suite import suite_argv
from edgeforge.verify import gate_targets
from tests.conftest import PROJECT


def parsed(args: list[str]) -> list[tuple[str, dict]]:
    """What invoke's parser makes of task arguments: (task name, its arguments) per task."""
    result = Parser(contexts=cli.ns.to_contexts()).parse_argv(args)
    return [(c.name, c.as_kwargs) for c in result]


def task_of(name: str) -> Task:
    return cli.ns[name]


# ---- the entry script's translation ------------------------------------------------------------
@pytest.mark.parametrize("given, expected", [
    ("test", "suite"),
    ("test --board rpi4", "test --board rpi4"),
    ("remote add team https://c.example/api", "remote.add team https://c.example/api"),
    ("remote login team --user alice", "remote.login team --user alice"),
    ("remote remove team", "remote.remove team"),
    ("remote disable team", "remote.disable team"),
    ("remote enable team", "remote.enable team"),
    ("remote list", "remote.list"),
    ("cache push --board jetson-nx", "cache.push --board jetson-nx"),
    ("cache push --board rpi4 --remote team", "cache.push --board rpi4 --remote team"),
    ("cache status --board jetson-nano", "cache.status --board jetson-nano"),
    # too few words for the new task: the older task says what is missing (exit 2)
    ("remote add team", "remote add --name team"),
    ("remote enable", "remote enable"),
    ("remote add --name team --url U", "remote add --name team --url U"),
    ("remote rename team", "remote rename --name team"),
    ("remote add team ''", "remote add --name team --url ''"),
    ("cache drop --board x", "cache drop --board x"),
    # anything else is left alone
    ("build --board jetson-nx --dry-run", "build --board jetson-nx --dry-run"),
    ("--list", "--list"),
    ("run --board rpi4 -- remote add", "run --board rpi4 -- remote add"),
])
def test_the_entry_script_maps_its_spellings_to_the_tasks(given: str, expected: str):
    assert translate(shlex.split(given)) == shlex.split(expected)


def test_the_entry_script_no_longer_rewrites_arguments_in_bash():
    script = (PROJECT / "edgeforge").read_text()
    request = script.split("# 4.")[1]
    assert "-m edgeforge.cli" in request
    assert "if [" not in request and "--name" not in request and "shift" not in request


@pytest.mark.parametrize("command, task, kwargs", [
    ("./edgeforge remote add team https://c.example/api", "remote.add",
     {"name": "team", "url": "https://c.example/api"}),
    ("./edgeforge remote login team --user alice", "remote.login",
     {"name": "team", "user": "alice"}),
    ("./edgeforge remote disable gone", "remote.disable", {"name": "gone"}),
    ("./edgeforge cache push --board jetson-nx", "cache.push",
     {"board": "jetson-nx", "remote": None}),
    ("./edgeforge cache status --board jetson-nano", "cache.status", {"board": "jetson-nano"}),
    # invoke itself, the older spelling (README, the e2e tests, the benchmarks)
    ("invoke remote add --name team --url URL", "remote.action",
     {"action": "add", "name": "team", "url": "URL", "user": ""}),
    ("invoke remote login --name team --user reader", "remote.action",
     {"action": "login", "name": "team", "url": "", "user": "reader"}),
    ("invoke remote list", "remote.action", {"action": "list", "name": "", "url": "", "user": ""}),
    ("invoke cache push --board jetson-nx --remote team", "cache.action",
     {"action": "push", "board": "jetson-nx", "remote": "team"}),
    ("invoke cache status --board rpi4", "cache.action",
     {"action": "status", "board": "rpi4", "remote": None}),
    # the new spellings
    ("invoke remote.add team URL", "remote.add", {"name": "team", "url": "URL"}),
    ("invoke remote.add --name team --url URL", "remote.add", {"name": "team", "url": "URL"}),
    ("invoke remote.login team --user U", "remote.login", {"name": "team", "user": "U"}),
    ("invoke remote.remove team", "remote.remove", {"name": "team"}),
    ("invoke remote.enable team", "remote.enable", {"name": "team"}),
    ("invoke remote.list", "remote.list", {}),
    ("invoke cache.push --board X --remote R", "cache.push", {"board": "X", "remote": "R"}),
    ("invoke cache.status --board X", "cache.status", {"board": "X"}),
])
def test_every_spelling_reaches_its_task(command: str, task: str, kwargs: dict):
    words = shlex.split(command)
    args = translate(words[1:]) if words[0] == "./edgeforge" else words[1:]
    [(name, got)] = parsed(args)
    assert cli.ns[name] is task_of(task)
    assert got == kwargs


def test_the_commands_the_ci_pipelines_run_reach_their_tasks():
    """Every `./edgeforge ...` line `invoke ci` writes (with its variables as words)."""
    jobs = ci.plan_jobs([ci.BoardLevels("rpi4", (("zlib",), ("ffmpeg", "libpng")))],
                        ci.CiOptions(push="team"))
    lines = [*ci.remote_commands(), *(cmd for j in jobs for cmd in j.commands)]
    seen = set()
    for line in (ln for ln in lines if ln.startswith("./edgeforge ")):
        [(name, kwargs)] = parsed(translate(shlex.split(line)[1:]))
        seen.add(name)
        if name in ("remote.add", "remote.login"):
            assert kwargs["name"] == "$EDGEFORGE_CONAN_REMOTE_NAME"
    assert {"remote.add", "remote.login", "deps", "cache.push", "build", "test",
            "release"} <= seen


def documented_commands() -> list[str]:
    """Every `./edgeforge remote|cache ...` and `invoke remote|cache ...` the README and docs/
    show (up to a comment, a table cell or the end of the code span)."""
    found = set()
    for page in [PROJECT / "README.md", *sorted((PROJECT / "docs").glob("*.md"))]:
        found.update(m.strip() for m in re.findall(
            r"(?:\./edgeforge|invoke) (?:remote|cache)[. ][^`#|\n]*", page.read_text()))
    return sorted(found)


def test_the_remote_and_cache_commands_the_docs_show_reach_a_task():
    commands = documented_commands()
    assert any(c.startswith("./edgeforge remote add ") for c in commands), commands
    for command in commands:
        # placeholders stay words; optional parts ([--remote NAME]) and "..." are dropped
        words = [w for w in shlex.split(command.replace("[", "").replace("]", ""))
                 if w not in ("...", "/")]
        if words[1].endswith(".*"):  # `invoke remote.*`: the collection named as a whole
            assert words[1][:-2] in cli.ns.collections, command
            continue
        args = translate(words[1:]) if words[0] == "./edgeforge" else words[1:]
        [(name, _)] = parsed(args)
        assert name.split(".")[0] in ("remote", "cache"), (command, name)


# ---- the collection ----------------------------------------------------------------------------
def test_remote_and_cache_are_sub_collections_with_the_older_spelling_as_default():
    assert set(cli.ns.collections) == {"remote", "cache"}
    assert set(cli.ns.collections["remote"].tasks) == {
        "add", "login", "remove", "enable", "disable", "list", "action"}
    assert set(cli.ns.collections["cache"].tasks) == {"push", "status", "action"}
    assert cli.ns["remote"] is task_of("remote.action")
    assert cli.ns["cache"] is task_of("cache.action")
    assert cli.ns.configuration()["run"]["echo"] is True


def test_each_task_s_first_docstring_line_is_one_short_sentence():
    """What `invoke --list` shows: never a sentence cut at the end of a source line."""
    for name in cli.ns.task_names:
        first = (task_of(name).__doc__ or "").strip().splitlines()[0]
        assert first[0].isupper() and first.endswith(".") and len(first) <= 96, (name, first)
        assert not first.endswith("..."), (name, first)  # a usage string, not a sentence


def test_a_bug_in_a_sub_collection_task_names_it_with_its_dot(tmp_path: Path, monkeypatch):
    monkeypatch.delitem(cli.STATE, "ctx", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where a context-less bug logs

    @cli.handled(name="remote.add")
    def add(c):
        raise KeyError("x")

    with pytest.raises(Exit) as info:
        add(None)
    assert info.value.code == 70
    assert "unexpected KeyError in `invoke remote.add`" in info.value.message
    assert [p.name[:15] for p in tmp_path.iterdir()] == ["bug-remote.add-"]


# ---- the entry, run as the entry script runs it -----------------------------------------------
def entry(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "EDGEFORGE_CACHE": str(tmp_path / "cache"),
           "EDGEFORGE_BUILD_DIR": str(tmp_path / "build")}
    return subprocess.run([sys.executable, "-P", "-m", "edgeforge.cli", "--search-root",
                           str(PROJECT), *args], capture_output=True, text=True, env=env,
                          timeout=120, stdin=subprocess.DEVNULL, cwd=tmp_path)


def test_the_entry_lists_the_tasks(tmp_path: Path):
    r = entry(tmp_path, "--list")
    assert r.returncode == 0, r.stderr
    for name in ("remote.add", "remote.login", "cache.push", "cache.status", "build", "suite"):
        assert f"  {name} " in r.stdout
    assert "remote.action (remote)" in r.stdout and "cache.action (cache)" in r.stdout


@pytest.mark.parametrize("args, says", [
    (("remote", "enable"), "`invoke remote enable` needs NAME"),
    (("remote", "add", "team"), "`invoke remote add` needs URL"),
    (("remote", "rename", "team"), "unknown remote action 'rename'"),
    (("cache", "drop", "--board", "jetson-nx"), "unknown cache action 'drop'; use push or status"),
])
def test_the_entry_keeps_the_older_spellings_usage_errors(tmp_path: Path, args, says):
    """Refused before Conan or a build is asked anything: exit 2, one line, no traceback."""
    r = entry(tmp_path, *args)
    assert r.returncode == 2, r.stdout + r.stderr
    assert says in r.stderr and "Traceback" not in r.stderr


# ---- what the tasks call: the parts that need no tool -------------------------------------------
def test_the_suite_runs_the_fast_tiers_first_and_refuses_an_unknown_tier(tmp_path: Path):
    ctx = Context.create(cache_dir=tmp_path / "c", build_root=tmp_path / "b",
                         reporter=Reporter(quiet=True))
    argv = suite_argv(ctx)
    assert argv[:3] == [sys.executable, "-m", "pytest"]
    assert [Path(a).name for a in argv[3:]] == ["unit", "integration", "e2e"]
    assert suite_argv(ctx, "unit", "remote")[3:] == [str(ctx.project_root / "tests" / "unit"),
                                                      "-k", "remote"]
    with pytest.raises(UsageError, match="--tier 'fast': expected unit, integration, e2e or all"):
        suite_argv(ctx, "fast")


def test_the_gate_s_targets_are_the_named_files_and_their_library_folders(tmp_path: Path):
    tree = tmp_path / "tree"
    (tree / "lib").mkdir(parents=True)
    one = tmp_path / "prog"
    one.write_text("not an ELF file")
    found = gate_targets([tree, one], build_tree=True)
    assert found.files == [one] and found.trees == [tree]
    assert found.own == (tree, tree / "lib", tmp_path)
    with pytest.raises(UsageError, match="no such file: "):
        gate_targets([tmp_path / "missing"])
