"""A Ctrl-C or SIGTERM that arrives while the runner starts a child (inside Popen, after the
fork) still stops that child: the signal is held until the runner can stop the child's group."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from edgeforge.core import Reporter, Runner
from edgeforge.core import runner as runner_module


def state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_the_child_starts_stops_the_child(tmp_path: Path, monkeypatch, signum):
    started: list[int] = []
    real_popen = runner_module.subprocess.Popen

    def popen_then_signal(*args, **kwargs):
        proc = real_popen(*args, **kwargs)
        started.append(proc.pid)
        os.kill(os.getpid(), signum)  # as if it came before Popen returned
        return proc

    def terminated(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner_module.subprocess, "Popen", popen_then_signal)
    # both signals raise here, as in a task (a suite started in the background may inherit
    # SIGINT ignored)
    previous = {s: signal.signal(s, terminated) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with pytest.raises(KeyboardInterrupt):
            Runner(Reporter(quiet=True), tmp_path).run(["sleep", "60"], what="a long child")
        # the handlers are the caller's again
        assert all(signal.getsignal(s) is terminated for s in previous)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    pid = started[0]
    for _ in range(50):
        if state(pid) in ("gone", "Z", "X"):
            break
        time.sleep(0.1)
    assert state(pid) in ("gone", "Z", "X"), f"the child {pid} outlived the interrupt"
