"""The device side of a debug session: how a session logs in to its device (recorded as
facts, never as a command line), commands over SSH, and gdbserver there.

There is no debug port on any network. On a device, gdbserver would bind every interface
whatever host it is given (gdbserver 10 listens on INADDR_ANY; measured on the twin), so it
talks over its stdin and stdout instead (`gdbserver - PROGRAM`), carried by SSH (the relay,
servers.py). gdbserver ends with the session; `--stop` ends it by the PID it recorded on the
device.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edgeforge.core import (
    DebugError,
    Exchanged,
    Runner,
    ToolMissingError,
    sha256_file,
    statefile,
)
from edgeforge.device import ssh_argv, ssh_run
from edgeforge.elf import debuginfo

REMOTE_COPY = ".cache/edgeforge-debug"   # under the login's home on the device

#: an absolute path on one line (what a session records: its log, the program, key files)
ABS_PATH = r"^/[^\n\r\x00]*$"
#: a record edgeforge reads back: frozen, nothing but its own fields, no coercion
RECORD = ConfigDict(frozen=True, extra="forbid", strict=True)


class Login(BaseModel):
    """How a session reaches its device, as facts: session.json keeps these, never an ssh
    command line; the command is built here from them (`argv`)."""

    model_config = RECORD
    user: str = Field(pattern=statefile.USER_NAME)
    host: str = Field(pattern=statefile.HOST_NAME)
    port: int = Field(ge=1, le=65535)
    identity: str | None = Field(default=None, pattern=ABS_PATH)
    known_hosts: str | None = Field(default=None, pattern=ABS_PATH)
    twin: bool = False  # the board's virtual twin: its own known_hosts, on 127.0.0.1

    @model_validator(mode="after")
    def _twin_is_local(self) -> Login:
        if self.twin and (self.host != "127.0.0.1" or not self.known_hosts
                          or Path(self.known_hosts).name != "known_hosts"):
            raise ValueError("the twin is reached on 127.0.0.1 with its own known_hosts")
        return self

    def argv(self) -> list[str]:
        """ssh's command line up to and including user@host."""
        return ssh_argv(self.user, self.host, self.port,
                        identity=Path(self.identity) if self.identity else None,
                        known_hosts=Path(self.known_hosts) if self.known_hosts else None,
                        twin=self.twin)


@dataclass
class Device:
    """A device reached with ssh (argv up to and including user@host, built from `login`)."""

    ssh: list[str]
    name: str
    runner: Runner
    login: Login | None = None  # what a session records to reach it again (--stop)

    @classmethod
    def reached(cls, login: Login, name: str, runner: Runner) -> Device:
        return cls(login.argv(), name, runner, login)

    def run(self, command: str, *, stdin: bytes | None = None, timeout: float = 60,
            check: bool = True) -> Exchanged:
        try:
            r = ssh_run(self.runner, self.ssh, command, what=f"ssh to {self.name}", input=stdin,
                        timeout=timeout)
        except TimeoutError:
            raise DebugError(f"{self.name} did not answer within {timeout:.0f} s "
                             f"(running: {command[:80]})") from None
        except ToolMissingError:
            raise DebugError("cannot run ssh (not installed); install it: apt-get install "
                             "openssh-client") from None
        except OSError as exc:
            raise DebugError(f"cannot run ssh ({exc.strerror}); install it: apt-get install "
                             "openssh-client") from None
        if r.returncode == 255:
            err = r.stderr.decode(errors="replace").strip().splitlines()
            raise DebugError(f"cannot reach {self.name} over SSH: "
                             f"{err[-1] if err else 'ssh failed'}; check the address and that "
                             "the device is up (for the twin: ./edgeforge vm --board B --detach)")
        if check and r.returncode != 0:
            err = (r.stderr or r.stdout).decode(errors="replace").strip().splitlines()
            raise DebugError(f"on {self.name}: `{command[:80]}` failed (exit {r.returncode}): "
                             f"{err[-1] if err else 'no output'}")
        return r


def gdbserver_command(pidfile: str, program: str | None, args: list[str], *,
                      attach: int | None = None, sudo: bool = False) -> str:
    """The shell command run on the device: gdbserver on its stdin and stdout (no port), its
    PID kept for --stop."""
    gs = ["sudo", "-n", "gdbserver"] if sudo else ["gdbserver"]
    if attach is not None:
        gs += ["--attach", "-", str(attach)]
    else:
        gs += ["-", str(program), *args]
    return (f"echo $$ > {shlex.quote(pidfile)}; exec "
            + " ".join(shlex.quote(a) for a in gs))


def remote_stop_command(pidfile: str, sudo: bool) -> str:
    """Kill the session's gdbserver on the device by its recorded PID, only while that PID is
    still a gdbserver of ours (a PID can be reused once it ended)."""
    q = shlex.quote(pidfile)
    return (f"p=$(cat {q} 2>/dev/null); case \"$p\" in ''|*[!0-9]*) ;; *) "
            f"case \"$(tr '\\0' ' ' < /proc/$p/cmdline 2>/dev/null)\" in "
            f"*'gdbserver - '*|*'gdbserver --attach - '*) "
            f"{'sudo -n ' if sudo else ''}kill \"$p\" ;; esac ;; esac; rm -f {q}")


def check_gdbserver(dev: Device, definition: str) -> None:
    """gdbserver is on the device; `definition`: the device image's (images/<app>/device.yaml),
    named in the fix."""
    r = dev.run("command -v gdbserver", check=False)
    if r.returncode != 0 or not r.stdout.strip():
        raise DebugError(f"gdbserver is not installed on {dev.name}; install it there "
                         "(sudo apt-get install gdbserver) or add gdbserver to the packages "
                         f"of {definition} and rebuild the image")


def local_digests(app_dir: Path) -> dict[str, str]:
    out = {}
    for sub in ("bin", "lib"):
        for p in sorted((app_dir / sub).glob("*")):
            if p.is_file() and not p.is_symlink():
                out[f"{sub}/{p.name}"] = sha256_file(p)
    return out


def parse_sha256sum(text: str, prefix: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and parts[1].startswith(prefix + "/"):
            out[parts[1][len(prefix) + 1:]] = parts[0]
    return out


@dataclass(frozen=True)
class AppOnDevice:
    """The app as its package installs it on a device (its descriptor's install and
    services)."""

    name: str
    prefix: str                   # install.prefix: /opt/<app>
    program: str                  # its main program under the prefix: bin/<program>
    service: str | None           # its (first) service's template unit name, if any


def device_program(dev: Device, app_dir: Path, app: AppOnDevice, reporter) -> str:
    """The program to run on the device: the installed one when it is this build, else a copy
    of this build under the login's home (copied now)."""
    installed = app.prefix
    local = local_digests(app_dir)
    files = " ".join(shlex.quote(f"{installed}/{rel}") for rel in local)
    r = dev.run(f"sha256sum {files} 2>/dev/null", check=False)
    if parse_sha256sum(r.stdout.decode(errors="replace"), installed) == local:
        reporter.info(f"{dev.name} runs this build ({installed})")
        return f"{installed}/{app.program}"
    home = dev.run("printf %s \"$HOME\"").stdout.decode().strip()
    if not home.startswith("/") or home == "/" or "\n" in home:
        raise DebugError(f"the login on {dev.name} has no usable home folder ({home!r}) to "
                         "copy this build into; give it one, or deploy the build instead")
    dest = f"{home}/{REMOTE_COPY}/{app.name}"
    reporter.info(f"{dev.name} has another build in {installed}: copying this one to {dest}")
    try:
        packed = dev.runner.exchange(["tar", "-C", str(app_dir), "-cf", "-", "bin", "lib",
                                      "share"], what=f"packing {app_dir}")
    except (ToolMissingError, OSError) as exc:
        raise DebugError(f"cannot pack {app_dir} to copy it: {exc}") from None
    if packed.returncode != 0:
        err = packed.stderr.decode(errors="replace").strip().splitlines()
        raise DebugError(f"cannot pack {app_dir} to copy it: tar exited {packed.returncode}"
                         + (f": {err[-1]}" if err else ""))
    tar = packed.stdout
    q = shlex.quote(dest)
    dev.run(f"rm -rf {q} && mkdir -p {q} && tar -C {q} -xf -", stdin=tar, timeout=300)
    return f"{dest}/{app.program}"


def service_pid(dev: Device, service: str, app: AppOnDevice) -> int:
    """The main PID of `service`: a unit's name, or an instance of the app's service."""
    if "@" in service or service.endswith(".service"):
        unit = service
    elif app.service is None:
        raise DebugError(f"{app.name} has no service (services: in its app.yaml): give "
                         "--service the whole unit name (NAME@INSTANCE) or --attach a PID")
    else:
        unit = f"{app.service}@{service}"
    r = dev.run(f"systemctl show -p MainPID --value {shlex.quote(unit)}", check=False)
    pid = r.stdout.decode(errors="replace").strip()
    if not (pid.isascii() and pid.isdigit()) or int(pid) == 0:
        raise DebugError(f"{unit} is not running on {dev.name} (MainPID {pid or '?'}); start it "
                         f"(sudo systemctl start {unit}) or attach to a PID with --attach")
    return int(pid)


def remote_build_id(dev: Device, pid: int, sudo: bool, scratch: Path) -> str:
    r = dev.run(f"{'sudo -n ' if sudo else ''}cat /proc/{pid}/exe", timeout=120, check=False)
    if r.returncode != 0:
        raise DebugError(f"no process {pid} on {dev.name} (or it cannot be read: "
                         f"{r.stderr.decode(errors='replace').strip()[:200]})")
    scratch.write_bytes(r.stdout)
    try:
        return debuginfo.build_id(scratch) or ""
    finally:
        scratch.unlink(missing_ok=True)


def can_sudo(dev: Device) -> bool:
    return dev.run("sudo -n true", check=False).returncode == 0
