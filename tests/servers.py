"""What the suite's throwaway servers share (Conan server, registry, nginx): a free port on
127.0.0.1, a start that retries when the port was taken meanwhile, a readiness poll, and a stop
by the server's own PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool | None:
    """A readiness poll: True once something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return None


def start_on_free_port(argv_for: Callable[[int], list[str]], log: Path,
                       ready: Callable[[int], bool | None], *, timeout: float = 30,
                       attempts: int = 3) -> tuple[subprocess.Popen, int] | None:
    """Start `argv_for(port)` on a free port (its output to `log`, in a session of its own)
    until `ready(port)` says True; None after `attempts` (a free port can be taken between the
    probe and the bind). `ready` returns None while the answer is not known yet."""
    for _ in range(attempts):
        port = free_port()
        with open(log, "ab") as out:
            proc = subprocess.Popen(argv_for(port), stdout=out, stderr=out,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        answer = None
        while answer is None and time.monotonic() < deadline and proc.poll() is None:
            answer = ready(port)
            if answer is None:
                time.sleep(0.2)
        if answer:
            return proc, port
        stop_by_pid(proc)
    return None


def stop_by_pid(proc: subprocess.Popen | None, first: signal.Signals = signal.SIGTERM) -> None:
    """Stop a server by its own PID: `first`, then SIGTERM, then SIGKILL, each given 10 s."""
    if proc is None:
        return
    for sig in dict.fromkeys((first, signal.SIGTERM, signal.SIGKILL)):
        if proc.poll() is not None:
            return
        os.kill(proc.pid, sig)
        try:
            proc.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:
            continue


@dataclass
class LocalServer:
    """A server on 127.0.0.1:port, started by a subclass, stopped by its own PID."""

    port: int = field(default=0, kw_only=True)
    proc: subprocess.Popen | None = field(default=None, kw_only=True)
    stop_signal = signal.SIGTERM

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop_by_pid(self.proc, self.stop_signal)
        self.proc = None
