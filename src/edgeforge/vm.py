"""The virtual twin: a board's device image booted by qemu-system-aarch64 -M virt.

The twin boots a copy-on-write overlay of the built disk (the image stays pristine), with the
kernel and initramfs that came with it, user networking with SSH forwarded from 127.0.0.1 only,
and its serial console written to a kept log. Its state lives in build/<board>/vm/: the overlay,
console.log, qemu.pid and vm.json (port, PID, login). It is stopped by its own PID, checked
against its command line, never by name.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import EdgeforgeError, UsageError
from .fsutil import rmtree
from .runner import Runner, base_env

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
            "-drive", f"if=none,id=hd0,format=qcow2,file={paths.overlay}",
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
    raise EdgeforgeError(f"no free TCP port on 127.0.0.1 from {start} to {start + 99}")


def read_state(paths: VmPaths) -> dict | None:
    try:
        return json.loads(paths.state.read_text())
    except (OSError, ValueError):
        return None


def running_pid(paths: VmPaths) -> int | None:
    """The twin's qemu PID when that process is alive and is this twin's qemu."""
    state = read_state(paths)
    if not state:
        return None
    pid = int(state.get("pid", 0))
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    if not cmdline or not cmdline[0].endswith(QEMU.encode()) or \
            str(paths.overlay).encode() not in b" ".join(cmdline):
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
    argv = ["ssh", "-p", str(state["port"]), "-o", f"UserKnownHostsFile={paths.known_hosts}",
            "-o", "StrictHostKeyChecking=accept-new", "-o", "PasswordAuthentication=no",
            *(["-o", "BatchMode=yes"] if batch else [])]
    if identity:
        argv += ["-i", str(identity), "-o", "IdentitiesOnly=yes"]
    return [*argv, f"{state['login']}@127.0.0.1"]


def connect_hint(state: dict, paths: VmPaths) -> str:
    """The ssh command a person types (interactive: no BatchMode)."""
    return " ".join(shlex.quote(a) for a in ssh_argv(state, paths, batch=False))


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
    twin = json.loads(boots[0].read_text())
    rmtree(paths.folder)
    paths.folder.mkdir(parents=True)
    runner.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b",
                str((twin_dir / twin["disk"]).resolve()), str(paths.overlay)],
               what="copy-on-write overlay of the twin's disk", needed_by="invoke vm")
    port = port or free_port()
    spawned = runner.spawn(qemu_argv(twin, twin_dir, paths, port), what="qemu twin",
                           needed_by="invoke vm", env=base_env())
    state = {"pid": spawned.proc.pid, "port": port, "login": twin["login"],
             "console": str(paths.console), "disk": str(twin_dir / twin["disk"]),
             "started": int(time.time())}
    paths.state.write_text(json.dumps(state, indent=1) + "\n")
    t0 = next_note = time.monotonic()
    try:
        while not ssh_banner(port):
            if spawned.proc.poll() is not None:
                raise EdgeforgeError(f"qemu stopped during boot (exit {spawned.proc.returncode})"
                                     f"; see {spawned.log_path} and {paths.console}")
            if time.monotonic() - t0 > boot_timeout:
                raise EdgeforgeError(f"the twin did not answer on SSH within {boot_timeout:.0f} "
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
    paths.state.write_text(json.dumps(state, indent=1) + "\n")
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
