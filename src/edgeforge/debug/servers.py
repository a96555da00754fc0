"""The local side of a debug session: its debug server, and session.json, which records it.

The server listens on a Unix socket in build/<board>/debug/ (there is no debug port on any
network): under qemu-user, qemu's own gdb stub (given a port, qemu-user would bind 0.0.0.0);
for a device or the twin, a relay (socat) that, when gdb connects, runs `ssh DEVICE gdbserver
- ...` (remote.py). `session.json` keeps the server's facts (its PID and start time, its
socket, how to log in to the device), so `--stop` ends it by PID and nothing is run, killed
or contacted on the word of a file edgeforge did not write.
"""

from __future__ import annotations

import contextlib
import os
import random
import shlex
import signal
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from edgeforge.context import BoardLayout
from edgeforge.core import DebugError, Runner, Spawned, base_env, statefile, write_atomic
from edgeforge.host import qemu_user_argv

from .remote import ABS_PATH, RECORD, Device, Login, gdbserver_command, remote_stop_command

DEBUG_DIR = "debug"
SESSION = "session.json"
SOCKET = "gdb.sock"


class RemoteServer(BaseModel):
    """gdbserver on the device: how to log in there, and where it wrote its PID."""

    model_config = RECORD
    login: Login
    pidfile: str = Field(pattern=r"^/tmp/edgeforge-gdbserver-[0-9]{9}\.pid$")
    sudo: bool


class Session(BaseModel):
    """session.json: the running debug server, as facts."""

    model_config = RECORD
    mode: Literal["emulate", "remote"]
    board: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    pid: int = Field(gt=1, le=statefile.PID_MAX)   # the local server: qemu-user or the relay
    started: int = Field(ge=0)                      # its start time (/proc/PID/stat)
    socket: str                                     # this folder's gdb.sock (read_session)
    log: str = Field(pattern=ABS_PATH)
    program: str | None = Field(default=None, pattern=ABS_PATH)
    attach: int | None = Field(default=None, gt=0, le=statefile.PID_MAX)
    seconds: float = Field(default=0.0, ge=0)
    remote: RemoteServer | None = None

    @model_validator(mode="after")
    def _remote_iff_remote(self) -> Session:
        if (self.mode == "remote") != (self.remote is not None):
            raise ValueError("a remote session names its device, an emulated one none")
        return self


def _session_fix(path: Path) -> str:
    return (f"Delete it (rm {shlex.quote(str(path))}) and run the command again; a debug "
            "server it may name is left alone: end it yourself if one still runs")


def read_session(folder: Path) -> Session | None:
    """session.json (None: no session). Anything but what edgeforge writes for this folder is
    refused (StateFileError): nothing is killed or run on its word."""
    path = folder / SESSION
    fix = _session_fix(path)
    s = statefile.load(path, Session, fix)
    if s is None:
        return None
    twin_hosts = str(BoardLayout(folder.parent).vm / "known_hosts")
    if s.socket != str(folder / SOCKET):
        raise statefile.refused(path, f"socket: not this folder's {folder / SOCKET}", fix)
    if s.board != folder.parent.name:
        raise statefile.refused(path, f"board: {s.board!r}, but the file is in the folder of "
                                f"{folder.parent.name}", fix)
    if s.remote and s.remote.login.twin and s.remote.login.known_hosts != twin_hosts:
        raise statefile.refused(path, f"remote.login.known_hosts: not the twin's {twin_hosts}",
                                fix)
    return s


def save_session(folder: Path, state: dict) -> None:
    """Write session.json: the facts of `state`, checked as read_session checks them."""
    try:
        record = Session.model_validate(state)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise DebugError(f"cannot record the debug session ({'.'.join(map(str, err['loc']))}: "
                         f"{err['msg']})") from None
    write_atomic(folder / SESSION, record.model_dump_json(indent=1) + "\n")


#: the programs a session's local server can be
SERVERS = ("qemu-aarch64", "qemu-arm", "socat")


def _alive(s: Session, folder: Path) -> bool:
    """The session's process is still the one it started (same PID, same start time, ours) and
    is a debug server of this board: qemu-user with this folder's socket, or socat listening on
    it from this folder; it leads its own process group."""
    argv = statefile.proc_argv(s.pid)
    if not argv or statefile.proc_start_time(s.pid) != s.started:
        return False
    try:
        if os.getpgid(s.pid) != s.pid:
            return False
    except OSError:
        return False
    name = Path(argv[0].decode(errors="replace")).name
    if name not in SERVERS:
        return False
    if name != "socat":                               # qemu-user: -g <the socket's full path>
        return any(a == b"-g" and b == str(folder / SOCKET).encode()
                   for a, b in zip(argv, argv[1:], strict=False))
    with contextlib.suppress(OSError):                # the relay listens from the folder
        return Path(f"/proc/{s.pid}/cwd").resolve() == folder.resolve() and \
            len(argv) > 1 and argv[1].startswith(f"UNIX-LISTEN:{SOCKET},".encode())
    return False


def check_socket_path(sock: Path) -> None:
    """A Unix socket's path has room for 107 bytes; gdb connects to it by that path."""
    if len(str(sock).encode()) > 107:
        raise DebugError(f"the debug socket {sock} is longer than a Unix socket path may be "
                         "(107 bytes); use a shorter build folder (EDGEFORGE_BUILD_DIR)")


def session_pid(folder: Path) -> int | None:
    """The local server process (qemu-user or the relay) when it is alive and is ours."""
    s = read_session(folder)
    return s.pid if s and _alive(s, folder) else None


def wait_for(predicate, timeout: float, spawned: Spawned, what: str) -> None:
    """Until `predicate()` holds; a server that ends or takes longer than `timeout` first is
    a DebugError naming its log."""
    proc, log = spawned.proc, spawned.log_path
    t0 = time.monotonic()
    while not predicate():
        if proc.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-5:] if log.is_file() else []
            raise DebugError(f"{what} ended before it was ready (exit {proc.returncode}): "
                             + (" | ".join(tail) or "no output") + f"; log: {log}")
        if time.monotonic() - t0 > timeout:
            raise DebugError(f"{what} was not ready within {timeout:.0f} s; log: {log}")
        time.sleep(0.1)


def serve_on_socket(folder: Path, runner: Runner, argv: list[str], *, what: str,
                    needed_by: str, env: dict[str, str], cwd: Path | None = None,
                    timeout: float = 30) -> dict:
    """Start a session's server (qemu-user's stub or the relay) and wait for its socket;
    a server that fails or is interrupted on the way is stopped. Returns the session's state."""
    spawned = runner.spawn(argv, what=what, needed_by=needed_by, env=env, cwd=cwd)
    sock = folder / SOCKET
    try:
        wait_for(sock.exists, timeout, spawned, what)
    except BaseException:
        _kill(spawned.proc.pid)
        raise
    pid = spawned.proc.pid
    return {"pid": pid, "started": statefile.proc_start_time(pid) or 0, "socket": str(sock),
            "log": str(spawned.log_path.absolute())}


def fresh_socket(folder: Path) -> Path:
    sock = folder / SOCKET
    check_socket_path(sock)
    sock.unlink(missing_ok=True)
    return sock


# ---- under qemu-user ------------------------------------------------------------------------
def emulate_argv(qemu: str, sysroot: Path, socket_path: Path, program: Path,
                 args: list[str]) -> list[str]:
    """qemu-user with its gdb stub on a Unix socket (a TCP port would listen on every
    interface: qemu-user binds 0.0.0.0)."""
    return qemu_user_argv(qemu, sysroot, program, args, gdb_socket=socket_path)


def start_emulated(folder: Path, runner: Runner, qemu: str, sysroot: Path, program: Path,
                   args: list[str], timeout: float = 30) -> dict:
    sock = fresh_socket(folder)
    state = serve_on_socket(folder, runner, emulate_argv(qemu, sysroot, sock, program, args),
                            what="qemu-user gdb stub", needed_by="invoke debug --emulate",
                            env=base_env({"QEMU_LD_PREFIX": str(sysroot)}), timeout=timeout)
    return {"mode": "emulate", **state, "program": str(program)}


# ---- the relay to gdbserver on a device -----------------------------------------------------
def relay_script(ssh: list[str], command: str) -> str:
    """What the relay runs when gdb connects: ssh to the device, gdbserver on the other end."""
    return "#!/bin/sh\nexec " + " ".join(shlex.quote(a) for a in [*ssh, command]) + "\n"


def relay_argv(socket_path: str, script: str) -> list[str]:
    """socat: the Unix socket (owner only), one connection, relayed to the script's stdio.
    Run in the session's folder, with names relative to it (a script name needs its ./:
    socat looks a bare name up on PATH)."""
    def esc(p: str) -> str:  # socat's address syntax gives , : ! meaning
        return "".join("\\" + c if c in ",:!\\" else c for c in p)
    return ["socat", f"UNIX-LISTEN:{esc(socket_path)},unlink-early,mode=600",
            f"EXEC:{esc(script)}"]


def start_remote(folder: Path, runner: Runner, dev: Device, program: str | None,
                 args: list[str], *, attach: int | None, sudo: bool,
                 timeout: float = 30) -> dict:
    """The relay from the local socket to gdbserver on the device (started when gdb
    connects)."""
    if dev.login is None:
        raise DebugError(f"no login recorded for {dev.name}: a session could not be stopped")
    fresh_socket(folder)
    pidfile = f"/tmp/edgeforge-gdbserver-{random.randint(10**8, 10**9 - 1)}.pid"
    script = folder / "remote.sh"
    write_atomic(script, relay_script(dev.ssh, gdbserver_command(pidfile, program, args,
                                                                 attach=attach, sudo=sudo)))
    script.chmod(0o700)
    state = serve_on_socket(folder, runner, relay_argv(SOCKET, "./remote.sh"),
                            what=f"relay to gdbserver on {dev.name}",
                            needed_by="invoke debug (fix: apt-get install socat)",
                            env=base_env(), cwd=folder, timeout=timeout)
    return {"mode": "remote", **state, "program": program, "attach": attach,
            "remote": {"login": dev.login.model_dump(), "pidfile": pidfile, "sudo": sudo}}


# ---- stopping -------------------------------------------------------------------------------
def stop_session(folder: Path, runner: Runner) -> bool:
    """End the board's debug server by its PIDs (and gdbserver on the device by the PID it
    recorded there, over an ssh command built from the recorded login); True when one was
    running. A session file edgeforge did not write is refused (StateFileError)."""
    s = read_session(folder)
    if not s:
        return False
    was = False
    if _alive(s, folder):
        _kill(s.pid)
        was = True
    try:
        if s.remote:
            Device.reached(s.remote.login, "the device", runner).run(
                remote_stop_command(s.remote.pidfile, s.remote.sudo), timeout=30, check=False)
    except DebugError:
        pass  # an unreachable device: its gdbserver ends when its SSH session does
    finally:
        sock = folder / SOCKET
        if sock.is_socket():
            sock.unlink()
        (folder / SESSION).unlink(missing_ok=True)
    return was


def _kill(pid: int, timeout: float = 10) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not Path(f"/proc/{pid}").exists():
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
