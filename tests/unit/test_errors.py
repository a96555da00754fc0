"""The task layer's error handling: library errors become a message and their exit code; an
unexpected exception is reported as a bug with its traceback in a log, never on the screen."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from invoke import Exit

from edgeforge import cli
from edgeforge.context import Context
from edgeforge.core import EXIT_BUG, EXIT_INTERRUPTED, Reporter, SysrootError


def test_library_errors_become_their_exit_code():
    @cli.handled
    def task(c):
        raise SysrootError("the sysroot is broken; fix: rebuild it")

    with pytest.raises(Exit) as info:
        task(None)
    assert info.value.code == 7
    assert info.value.message == "error: the sysroot is broken; fix: rebuild it"


def test_an_unexpected_exception_is_a_bug_report_with_the_traceback_in_a_log(tmp_path: Path,
                                                                             monkeypatch):
    ctx = Context.create(cache_dir=tmp_path / "cache", build_root=tmp_path / "build",
                         reporter=Reporter(quiet=True))
    monkeypatch.setitem(cli.STATE, "ctx", ctx)

    @cli.handled
    def explode(c):
        with ctx.reporter.step("cross-building smoke for jetson-nx"):
            {}["missing-key"]  # noqa: B018

    with pytest.raises(Exit) as info:
        explode(None)
    msg = info.value.message
    assert info.value.code == EXIT_BUG == 70
    assert "unexpected KeyError in `invoke explode` while cross-building smoke for jetson-nx" in msg
    assert "this is a bug in edgeforge" in msg and "Traceback" not in msg
    log = Path(msg.split("the traceback is in ")[1].split(" (")[0])
    assert log.parent == tmp_path / "cache" / "logs"
    assert log.name.startswith("bug-explode-") and log.suffix == ".log"  # README: bug-*.log
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "KeyError: 'missing-key'" in text


def test_ctrl_c_and_sigterm_end_a_task_with_130_and_one_word():
    """Ctrl-C (KeyboardInterrupt) and SIGTERM (`kill`, a cancelled CI job) end a task alike:
    exit 130 and the message `interrupted`, never a traceback or a bug report (70)."""
    previous = signal.getsignal(signal.SIGTERM)

    @cli.handled
    def ctrl_c(c):
        raise KeyboardInterrupt

    @cli.handled
    def terminated(c):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(10)  # the handler raises while this sleeps
        raise RuntimeError("SIGTERM did not end the task")

    try:
        for task in (ctrl_c, terminated):
            with pytest.raises(Exit) as info:
                task(None)
            assert (info.value.code, info.value.message) == (EXIT_INTERRUPTED, "interrupted")
        assert EXIT_INTERRUPTED == 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_every_task_is_wrapped_by_the_handler():
    from invoke import Task

    tasks = [cli.ns[name] for name in cli.ns.task_names]
    assert all(isinstance(t, Task) for t in tasks)
    assert len(tasks) > 10
    for t in tasks:
        assert getattr(t.body, "__wrapped__", None) is not None, f"{t.name} is not @handled"
