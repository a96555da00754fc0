"""The virtual twin: a board's device image booted by qemu-system-aarch64 -M virt.

The twin boots a copy-on-write overlay of the built disk (the image stays pristine), with the
kernel and initramfs that came with it, user networking with SSH forwarded from 127.0.0.1 only,
and its serial console written to a kept log. Its state lives in build/<board>/vm/: the overlay,
console.log, qemu.pid and vm.json (port, PID, login). It is stopped by its own PID, checked
against its command line, never by name.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from edgeforge.core import (
    DeviceError,
    HostSetupError,
    Runner,
    UsageError,
    base_env,
    rmtree,
    statefile,
    write_atomic,
)

from . import ssh

STATE = "vm.json"
QEMU = "qemu-system-aarch64"


@dataclass(frozen=True)
class VmPaths:
    folder: Path

    @property
    def overlay(self) -> Path:
        return self.folder / "overlay.qcow2"

    @property
    def console(self) -> Path:
        return self.folder / "console.log"

    @property
    def state(self) -> Path:
        return self.folder / STATE

    @property
    def known_hosts(self) -> Path:
        return self.folder / "known_hosts"


def qemu_argv(twin: dict, twin_dir: Path, paths: VmPaths, port: int) -> list[str]:
    """The twin's qemu command: -M virt, the board's closest CPU, no KVM (TCG), SSH on
    127.0.0.1:port only, the serial console into a file."""
    return [QEMU, "-M", "virt", "-cpu", twin["cpu"], "-smp", str(twin["cpus"]),
            "-m", str(twin["memory_mb"]), "-no-user-config", "-nodefaults",
            "-display", "none", "-monitor", "none", "-serial", f"file:{paths.console}",
            "-kernel", str(twin_dir / twin["kernel"]), "-initrd", str(twin_dir / twin["initrd"]),
            "-append", twin["cmdline"],
            "-drive", drive_option(paths),
            "-device", "virtio-blk-pci,drive=hd0",
            "-netdev", f"user,id=net0,hostfwd=tcp:127.0.0.1:{port}-:22",
            "-device", "virtio-net-pci,netdev=net0,romfile=",
            "-device", "virtio-rng-pci"]


def free_port(start: int = 2222) -> int:
    for port in range(start, start + 100):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise HostSetupError(f"no free TCP port on 127.0.0.1 from {start} to {start + 99}")


def qemu_option(value: str) -> str:
    """A value inside one of qemu's KEY=VALUE,... options: a ',' is written ',,' (else a folder
    named 'a,file=/x' would add options of its own)."""
    return str(value).replace(",", ",,")


def drive_option(paths: VmPaths) -> str:
    return f"if=none,id=hd0,format=qcow2,file={qemu_option(str(paths.overlay))}"


class VmState(BaseModel):
    """vm.json: the running twin, as facts (what `invoke vm` wrote; checked when read)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    pid: int = Field(gt=1, le=statefile.PID_MAX)
    pid_started: int = Field(ge=0)          # the process's start time (/proc/PID/stat)
    port: int = Field(ge=1, le=65535)
    login: str = Field(pattern=statefile.USER_NAME)
    console: str
    disk: str = Field(pattern=r"^/[^\n\r\x00]*$")
    started: int = Field(ge=0)              # seconds since the epoch
    boot_seconds: float | None = Field(default=None, ge=0)


class TwinBootRecord(BaseModel):
    """release/twin/<name>.json, written with the disk image: how the twin boots it."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    disk: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._+~-]*$")     # file names beside it
    kernel: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._+~-]*$")
    initrd: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._+~-]*$")
    cmdline: str = Field(pattern=r"^[ -~]{1,1024}$")                # one printable line
    cpu: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{0,31}$")
    memory_mb: int = Field(ge=64, le=1 << 20)
    cpus: int = Field(ge=1, le=64)
    login: str = Field(pattern=statefile.USER_NAME)


def _fix(paths: VmPaths) -> str:
    return (f"Delete it (rm {shlex.quote(str(paths.state))}); if the twin still runs, stop its "
            f"{QEMU} yourself")


def read_state(paths: VmPaths) -> dict | None:
    """vm.json (None: none). One edgeforge did not write for this twin is refused
    (StateFileError): nothing is killed or logged into on its word."""
    state = statefile.load(paths.state, VmState, _fix(paths))
    if state is None:
        return None
    if state.console != str(paths.console):
        raise statefile.refused(paths.state, f"console: not this twin's {paths.console}",
                                _fix(paths))
    return state.model_dump()


def running_pid(paths: VmPaths) -> int | None:
    """The twin's qemu PID when that process is alive and is this twin's qemu: the same
    process that was started (its start time), ours, qemu-system-aarch64 booting this
    folder's overlay."""
    state = read_state(paths)
    if not state:
        return None
    pid = state["pid"]
    cmdline = statefile.proc_argv(pid)
    if not cmdline or Path(cmdline[0].decode(errors="replace")).name != QEMU or \
            drive_option(paths).encode() not in cmdline or \
            statefile.proc_start_time(pid) != state["pid_started"]:
        return None
    return pid


def ssh_banner(port: int, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(timeout)
            return s.recv(64).startswith(b"SSH-2.0")
    except OSError:
        return False


def ssh_argv(state: dict, paths: VmPaths, identity: Path | None = None,
             batch: bool = True) -> list[str]:
    """How to log in: the forwarded port, the twin's own known_hosts (its host keys are new at
    every first boot), key authentication only."""
    return ssh.ssh_argv(state["login"], ssh.TWIN_HOST, state["port"], identity=identity,
                        known_hosts=paths.known_hosts, twin=True, batch=batch)


def connect_hint(state: dict, paths: VmPaths) -> str:
    """The ssh command a person types (interactive: no BatchMode)."""
    return " ".join(shlex.quote(a) for a in ssh_argv(state, paths, batch=False))


def write_state(paths: VmPaths, state: dict) -> None:
    write_atomic(paths.state, VmState.model_validate(state).model_dump_json(indent=1) + "\n")


def read_boot(path: Path) -> dict:
    """The twin's boot record, checked: its files are names beside it, its values plain."""
    fix = "rebuild the image: invoke image --board BOARD"
    boot = statefile.load(path, TwinBootRecord, fix)
    if boot is None:
        raise UsageError(f"no disk image in {path.parent}; {fix}")
    return boot.model_dump()


def start(twin_dir: Path, paths: VmPaths, runner: Runner, *, port: int | None = None,
          boot_timeout: float = 300, reporter=None) -> dict:
    """Boot the twin on a fresh overlay and wait until its SSH server answers."""
    if running_pid(paths):
        raise UsageError(f"the twin is already running ({paths.state}); stop it with "
                         "`invoke vm --board BOARD --stop`")
    boots = sorted(twin_dir.glob("*.json"))
    if not boots:
        raise UsageError(f"no disk image in {twin_dir}; build it with `invoke image --board "
                         "BOARD`")
    twin = read_boot(boots[0])
    rmtree(paths.folder)
    paths.folder.mkdir(parents=True)
    runner.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b",
                str((twin_dir / twin["disk"]).resolve()), str(paths.overlay)],
               what="copy-on-write overlay of the twin's disk", needed_by="invoke vm")
    port = port or free_port()
    spawned = runner.spawn(qemu_argv(twin, twin_dir, paths, port), what="qemu twin",
                           needed_by="invoke vm", env=base_env())
    state = {"pid": spawned.proc.pid,
             "pid_started": statefile.proc_start_time(spawned.proc.pid) or 0, "port": port,
             "login": twin["login"], "console": str(paths.console),
             "disk": str(twin_dir / twin["disk"]), "started": int(time.time())}
    write_state(paths, state)
    t0 = next_note = time.monotonic()
    try:
        while not ssh_banner(port):
            if spawned.proc.poll() is not None:
                raise DeviceError(f"qemu stopped during boot (exit {spawned.proc.returncode})"
                                     f"; see {spawned.log_path} and {paths.console}")
            if time.monotonic() - t0 > boot_timeout:
                raise DeviceError(f"the twin did not answer on SSH within {boot_timeout:.0f} "
                                     f"s; its console log: {paths.console}")
            if reporter and time.monotonic() >= next_note + 15:
                next_note = time.monotonic()
                reporter.info(f"booting: {next_note - t0:.0f} s, waiting for SSH on "
                              f"127.0.0.1:{port}")
            time.sleep(1)
    except BaseException:  # a failed boot or Ctrl-C leaves no qemu behind
        stop(paths)
        raise
    state["boot_seconds"] = round(time.monotonic() - t0, 1)
    write_state(paths, state)
    return state


def stop(paths: VmPaths, timeout: float = 30) -> bool:
    """Stop the twin by its own PID (SIGTERM, then SIGKILL); True when one was running."""
    pid = running_pid(paths)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if running_pid(paths) is None:
            break
        with contextlib.suppress(ChildProcessError):  # reap it when it is our child
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.2)
    else:
        os.kill(pid, signal.SIGKILL)
    return True
