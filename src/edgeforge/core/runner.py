"""The one subprocess runner.

argv lists only (never a shell); the binary is looked up first and a missing one names the
descriptor or step that asked for it; stdin is closed; the environment is built explicitly so
the host's CC/CFLAGS/PKG_CONFIG_PATH never leak in; every command is echoed; its merged output
goes to a log file that is kept, and a failure carries argv, cwd, exit code and the last lines.
What is echoed, logged or kept for the error is redacted (redact.py): a password or token in
an argument or an output line never reaches the screen or a log file.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import CommandFailedError, ToolMissingError
from .redact import redact
from .report import Reporter

#: host variables a child may see; everything else (CC, CFLAGS, PKG_CONFIG_PATH, ...) is dropped
PASSTHROUGH = ("PATH", "HOME", "USER", "LOGNAME", "TMPDIR", "TERM", "SOURCE_DATE_EPOCH")
TAIL_LINES = 25


def base_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: os.environ[k] for k in PASSTHROUGH if k in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin")
    env["LANG"] = "C.UTF-8"
    env["LC_ALL"] = "C.UTF-8"
    if extra:
        env.update({k: str(v) for k, v in extra.items()})
    return env


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:80] or "command"


@dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    returncode: int
    output: str
    log_path: Path | None


@dataclass(frozen=True)
class Exchanged:
    """What `Runner.exchange` got back: the exit code and the bytes of stdout and stderr."""

    argv: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: bytes


@dataclass(frozen=True)
class Spawned:
    proc: subprocess.Popen
    log_path: Path

    def stop(self, timeout: float = 10.0) -> int | None:
        """Stop the process group it leads (SIGTERM, then SIGKILL); returns its exit code."""
        if self.proc.poll() is None:
            _kill_group(self.proc, grace=timeout)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None


class Runner:
    def __init__(
        self,
        reporter: Reporter,
        log_dir: Path,
        echo: bool = True,
        heartbeat_seconds: float = 30.0,
    ):
        self.reporter = reporter
        self.log_dir = Path(log_dir)
        self.echo = echo
        self.heartbeat_seconds = heartbeat_seconds

    def which(self, name: str, needed_by: str, path: str | None = None, fix: str = "") -> str:
        if os.sep in name:
            if os.access(name, os.X_OK) and Path(name).is_file():
                return name
            found = None
        else:
            found = shutil.which(name, path=path)
        if not found:
            hint = f"; fix: {fix}" if fix else "; run `invoke doctor` to see how to install it"
            raise ToolMissingError(f"{name} not found (needed by {needed_by}){hint}")
        return found

    def run(
        self,
        argv: Sequence[str],
        *,
        what: str,
        needed_by: str | None = None,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
        log_name: str | None = None,
        timeout: float | None = None,
        echo: bool | None = None,
    ) -> Result:
        argv = [str(a) for a in argv]
        if not argv:
            raise ValueError("empty argv")
        env = dict(env) if env is not None else base_env()
        exe = self.which(argv[0], needed_by or what, path=env.get("PATH"))
        argv = [exe, *argv[1:]]
        if echo if echo is not None else self.echo:
            self.reporter.info(command_line(argv))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{slug(log_name or what)}.log"
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        chunks: list[str] = []
        with open(log_path, "w", encoding="utf-8", errors="replace") as log:
            log.write(f"# {command_line(argv)[2:]}\n# cwd: {redact(str(cwd or os.getcwd()))}\n")
            log.flush()
            held = _HeldSignals()
            try:
                proc = subprocess.Popen(
                    argv,
                    cwd=str(cwd) if cwd else None,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except BaseException:
                held.release()
                raise
            assert proc.stdout is not None
            # the reader thread writes the log under this lock; the main thread closes it under
            # the lock too, and from then on the reader only drains the pipe (a child killed on
            # Ctrl-C leaves buffered output; a grandchild may hold the pipe open)
            log_lock = threading.Lock()

            def pump() -> None:
                for raw in iter(proc.stdout.readline, b""):
                    line = raw.decode("utf-8", errors="replace")
                    shown = redact(line)
                    with log_lock, contextlib.suppress(ValueError, OSError):
                        # a closed log (a second Ctrl-C) or a full disk: the tail still has it
                        if not log.closed:
                            log.write(shown)
                    chunks.append(line)  # the caller's, unredacted (it may parse it)
                    tail.append(shown.rstrip("\n"))
                with log_lock, contextlib.suppress(ValueError, OSError):
                    if not log.closed:
                        log.flush()

            reader = threading.Thread(target=pump, daemon=True)
            t0 = time.monotonic()
            last_beat = t0
            timed_out = False
            try:
                reader.start()
                held.release()  # a Ctrl-C or SIGTERM held while the child started lands here
                while True:
                    try:
                        proc.wait(timeout=1.0)
                        break
                    except subprocess.TimeoutExpired:
                        now = time.monotonic()
                        if timeout is not None and now - t0 > timeout:
                            timed_out = True
                            _kill_group(proc)
                            proc.wait()
                            break
                        if now - last_beat >= self.heartbeat_seconds:
                            self.reporter.heartbeat(tail[-1][:100] if tail else "")
                            last_beat = now
            except BaseException:
                # Ctrl-C or SIGTERM: the child (in a session of its own) must not outlive us,
                # e.g. a `conan create` writing into a cache whose lock we are giving up
                _kill_group(proc)
                proc.wait()
                reader.join(timeout=2)  # what the child had written goes into the log
                with log_lock:
                    log.close()
                raise
            reader.join(timeout=10)
            with log_lock:
                if timed_out:
                    log.write(f"\n# killed after {timeout}s timeout\n")
                log.close()
        rc = proc.returncode
        if timed_out:
            tail.append(f"(killed: no result after {timeout:.0f}s)")
        if check and (rc != 0 or timed_out):
            raise CommandFailedError(argv, cwd, rc, list(tail), log_path, what=what)
        return Result(tuple(argv), rc, "".join(chunks), log_path)

    def spawn(self, argv: Sequence[str], *, what: str, needed_by: str | None = None,
              env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Spawned:
        """Start a long-lived process (a daemon, a server, a virtual machine) in its own
        session, its output appended to a kept log; the caller stops it by its PID."""
        argv = [str(a) for a in argv]
        env = dict(env) if env is not None else base_env()
        exe = self.which(argv[0], needed_by or what, path=env.get("PATH"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{slug(what)}.log"
        if self.echo:
            self.reporter.info(command_line([exe, *argv[1:]]) + " &")
        with open(log_path, "ab") as log:
            proc = subprocess.Popen([exe, *argv[1:]], cwd=str(cwd) if cwd else None, env=env,
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    start_new_session=True)
        return Spawned(proc, log_path)

    def capture(
        self, argv: Sequence[str], *, what: str, env: Mapping[str, str] | None = None,
        cwd: Path | None = None, check: bool = True, timeout: float | None = 120,
    ) -> Result:
        """A quick probe: not echoed, output returned (still logged)."""
        return self.run(argv, what=what, env=env, cwd=cwd, check=check, echo=False,
                        timeout=timeout, log_name=f"probe-{slug(what)}")

    def exchange(
        self, argv: Sequence[str], *, what: str, input: bytes | None = None,
        attach_stdin: bool = False, env: Mapping[str, str] | None = None,
        cwd: Path | None = None, timeout: float | None = None,
    ) -> Exchanged:
        """A short exchange of bytes with a program (ssh running a command on a device, tar
        packing a folder): `input` is its stdin (else stdin is closed, or the caller's with
        `attach_stdin`); its stdout and stderr come back apart, unread, and are neither echoed
        nor logged (they may be a package or an archive). The program is looked up first; one
        that outlives `timeout` is killed and TimeoutError raised."""
        argv = [str(a) for a in argv]
        env = dict(env) if env is not None else base_env()
        exe = self.which(argv[0], what, path=env.get("PATH"))
        stdin = None if input is not None or attach_stdin else subprocess.DEVNULL
        try:
            # argv[0] stays as given (`ssh`, as ps shows it), the program is the one found
            r = subprocess.run(argv, executable=exe, input=input, stdin=stdin,
                               capture_output=True, env=env, cwd=str(cwd) if cwd else None,
                               timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"{what}: no answer within {timeout:g} s") from None
        return Exchanged(tuple(argv), r.returncode, r.stdout, r.stderr)


class _HeldSignals:
    """Ctrl-C and SIGTERM held while a child starts, delivered by `release()`.

    Python raises a signal's exception at the next bytecode, which may be inside Popen after
    the fork: the child would then run on with nobody left to stop it. Held, the signal is
    raised where the caller stops the child's group. Only the main thread handles signals;
    elsewhere this holds nothing."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.pending: list[int] = []
        self.previous: dict[int, object] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self.previous[sig] = signal.signal(sig, self._hold)

    def _hold(self, signum: int, _frame: object) -> None:
        self.pending.append(signum)

    def release(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        self.previous = {}
        for sig in dict.fromkeys(self.pending):
            signal.raise_signal(sig)


def _kill_group(proc: subprocess.Popen, grace: float = 0.5) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def command_line(argv: Sequence[str]) -> str:
    """The echoed `$ argv...`, quoted for a shell and redacted."""
    return redact("$ " + " ".join(_quote(a) for a in argv))


def _quote(arg: str) -> str:
    if arg and re.fullmatch(r"[A-Za-z0-9_./=:,+@%-]+", arg):
        return arg
    return "'" + arg.replace("'", "'\\''") + "'"


def run_foreground(
    runner: Runner, argv: Sequence[str], *, needed_by: str, env: Mapping[str, str] | None = None,
    cwd: Path | None = None, timeout: float | None = None, attach_stdin: bool = False,
    echo: bool | None = None,
) -> int:
    """Run with the terminal's stdout/stderr (for programs the user watches, or a pipeline);
    stdin is closed unless `attach_stdin`. The command line, when echoed, goes to stderr so
    stdout stays the program's. Returns the exit code (124 on timeout)."""
    argv = [str(a) for a in argv]
    env = dict(env) if env is not None else base_env()
    exe = runner.which(argv[0], needed_by, path=env.get("PATH"))
    if echo if echo is not None else runner.echo:
        runner.reporter.warn_plain(command_line(argv))
    try:
        proc = subprocess.run([exe, *argv[1:]], env=env, cwd=str(cwd) if cwd else None,
                              stdin=None if attach_stdin else subprocess.DEVNULL, timeout=timeout)
    except subprocess.TimeoutExpired:
        return 124
    return proc.returncode
