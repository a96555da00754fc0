"""`invoke debug` put together: pick the mode, write gdbinit and the VSCode entries, start the
debug server (qemu-user's stub, or gdbserver on the device behind an SSH forward), then print
the gdb command, start gdb-multiarch (--gdb), or leave the server running (--detach).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from edgeforge.config import App, Target
from edgeforge.context import BoardLayout, Context, usable_dir
from edgeforge.core import (
    Reporter,
    Runner,
    ToolMissingError,
    UsageError,
    load_json,
    run_foreground,
    write_atomic,
)
from edgeforge.device import VmPaths, parse_target, read_state, running_pid
from edgeforge.elf import debuginfo
from edgeforge.toolchain import pathnames
from edgeforge.toolchain import sysroot as sysroots

from .gdb import (
    GDB,
    LINE_BREAK,
    GdbSetup,
    check_build_id,
    check_core,
    core_program,
    gdb_argv,
    gdbinit_text,
    substitutions,
)
from .remote import (
    AppOnDevice,
    Device,
    Login,
    can_sudo,
    check_gdbserver,
    device_program,
    remote_build_id,
    service_pid,
)
from .servers import (
    SOCKET,
    save_session,
    session_pid,
    start_emulated,
    start_remote,
    stop_session,
)
from .vscode import VscodeEntry, write_vscode


@dataclass(frozen=True)
class DebugOptions:
    emulate: bool = False
    vm: bool = False
    target: str | None = None          # ssh://user@host[:port]
    attach: int | None = None
    service: str | None = None
    core: Path | None = None
    gdb: bool = False                  # start gdb-multiarch here
    detach: bool = False
    stop: bool = False
    args: tuple[str, ...] = ()
    identity: Path | None = None
    known_hosts: Path | None = None
    vscode: Path | None = None         # folder of launch.json / tasks.json

    @property
    def mode(self) -> str | None:
        chosen = [m for m, on in (("emulate", self.emulate), ("vm", self.vm),
                                  ("target", bool(self.target))) if on]
        if len(chosen) > 1:
            raise UsageError(f"choose one of --emulate, --vm and --target (given: "
                             f"{', '.join('--' + m for m in chosen)})")
        return chosen[0] if chosen else None

    def check(self) -> str | None:
        mode = self.mode
        if self.gdb and self.detach:
            raise UsageError("--gdb starts gdb here and --detach leaves the server for another "
                             "debugger: give one of them")
        if self.core and (self.attach is not None or self.service or self.emulate
                          or self.target):
            raise UsageError("--core opens a core dump: it takes --board (and --vm when the core "
                             "comes from the virtual twin), not --emulate, --target or --attach")
        if not self.core and not mode:
            raise UsageError("where should the app run? --emulate (qemu-user here), --vm (the "
                             "board's virtual twin) or --target ssh://user@host[:port]; or open "
                             "a core dump with --core FILE")
        if self.attach is not None and self.service:
            raise UsageError("give --attach PID or --service NAME, not both")
        if mode == "emulate" and (self.attach is not None or self.service):
            raise UsageError("--attach and --service attach on a device: use --vm or --target")
        if (self.attach is not None or self.service) and self.args:
            raise UsageError("arguments after -- are for a program edgeforge starts; --attach "
                             "and --service attach to one that runs")
        return mode


def package_folders(bdir: Path, reporter: Reporter | None = None) -> dict[str, Path]:
    """/conan/<name> prefixes -> the package's Conan build folder (the sources it compiled),
    from the board's deps record (a hint: a damaged one gives none, with a warning)."""
    record = BoardLayout(bdir).deps_record
    data = load_json(record, reporter)
    dirs = data.get("package_dirs") if isinstance(data, dict) else None
    if data is not None and not isinstance(dirs, dict) and reporter is not None:
        reporter.warn(f"the record {record} has no object 'package_dirs': gdb is "
                      "not shown the dependencies' sources (build the board again to fix it)")
    out = {}
    for name, folder in (dirs if isinstance(dirs, dict) else {}).items():
        # a record is data: only plain names and absolute one-line paths reach the gdbinit
        if not (isinstance(folder, str) and folder.startswith("/")
                and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]*", name)
                and not LINE_BREAK.search(folder)):
            continue
        root = Path(folder).parent          # <conan>/p/b/<name5><hash>/p -> .../<name5><hash>
        if (root / "b").is_dir():
            out[name[:5]] = root
    return out


def gdb_setup(ctx: Context, app: App, t: Target, sysroot: Path) -> GdbSetup:
    layout = ctx.layout(t.name, app.name)
    return GdbSetup(
        board=t.name, sysroot=sysroot, app_dir=layout.app(app.name),
        symbols=layout.symbols, program_path=app.program,
        # the app's build tree (generated headers) has a name of its own (its conanfile)
        substitutions=((pathnames.project_build(app.name), str(layout.app_build(app.name))),
                       *substitutions(ctx.project_root, ctx.build_root, ctx.cache_dir,
                                          package_folders(layout.root, ctx.reporter))),
        source_dirs=(app.folder,))


def on_device(app: App) -> AppOnDevice:
    """Where the app's package puts it on a device (its descriptor's install and services)."""
    services = app.spec.services
    return AppOnDevice(app.name, app.spec.install.prefix, app.program,
                       services[0].name if services else None)


def device_for(ctx: Context, t: Target, opts: DebugOptions) -> Device:
    if opts.vm:
        paths = VmPaths(ctx.layout(t.name).vm)
        state = read_state(paths) if running_pid(paths) else None
        if not state:
            raise UsageError(f"the virtual twin of {t.name} is not running; start it with "
                             f"./edgeforge vm --board {t.name} --detach")
        return Device.reached(_login(
            f"the twin's state {paths.state}", user=state["login"], host="127.0.0.1",
            port=state["port"], identity=opts.identity, known_hosts=paths.known_hosts,
            twin=True), f"the {t.name} twin", ctx.runner(t.name))
    dest = parse_target(opts.target or "")
    return Device.reached(_login(
        f"--target {opts.target}", user=dest.user, host=dest.host, port=dest.port,
        identity=opts.identity, known_hosts=opts.known_hosts),
        f"{dest.user}@{dest.host}:{dest.port}", ctx.runner(t.name))


def _login(what: str, *, identity: Path | None, known_hosts: Path | None,
           **facts) -> Login:
    """The facts a session records to reach the device again (--stop builds ssh from them)."""
    try:
        return Login(**facts, identity=str(identity.absolute()) if identity else None,
                         known_hosts=str(known_hosts.absolute()) if known_hosts else None)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UsageError(f"{what}: {'.'.join(map(str, err['loc']))}: {err['msg']}") from None


def _check_early(ctx: Context, opts: DebugOptions, mode: str | None) -> None:
    """A mistyped --target or a --vscode folder that cannot be written is said before the
    build, the sysroot or a device is looked at (exit 2)."""
    if opts.core is not None:
        return
    if mode == "target":
        parse_target(opts.target or "")
    usable_dir(opts.vscode or ctx.project_root / ".vscode", "VSCode folder",
               "--vscode" if opts.vscode else "the default, .vscode in the project",
               "give --vscode a folder edgeforge can write launch.json and tasks.json into",
               error=UsageError)


def server_command(ctx: Context, t: Target, app: App, opts: DebugOptions,
                   vscode: Path) -> list[str]:
    cmd = [str(ctx.project_root / "edgeforge"), "debug", "--board", t.name, "--app", app.name,
           "--detach", "--vscode", str(vscode)]
    if opts.emulate:
        cmd.append("--emulate")
    elif opts.vm:
        cmd.append("--vm")
    else:
        cmd += ["--target", opts.target or ""]
    if opts.attach is not None:
        cmd += ["--attach", str(opts.attach)]
    if opts.service:
        cmd += ["--service", opts.service]
    if opts.identity:
        cmd += ["--identity", str(opts.identity)]
    if opts.known_hosts:
        cmd += ["--known-hosts", str(opts.known_hosts)]
    return [*cmd, *(["--", *opts.args] if opts.args else [])]


def run(ctx: Context, t: Target, opts: DebugOptions, *, app: str | None = None) -> dict:
    """One debug session of the app named `app` (--app; default: EDGEFORGE_APP, else the
    project's only app) as asked; returns what was set up (the gdb command, the session).
    Stopping the board's debug server needs no app."""
    folder = ctx.layout(t.name).debug
    if opts.stop:
        was = stop_session(folder, ctx.runner(t.name))
        ctx.reporter.info(f"{t.name}: debug server stopped" if was
                          else f"{t.name}: no debug server running")
        return {"stopped": was}
    return _session(ctx, ctx.app(app), t, opts, folder)


def _session(ctx: Context, app: App, t: Target, opts: DebugOptions, folder: Path) -> dict:
    mode = opts.check()
    _check_early(ctx, opts, mode)
    gdb_path = shutil.which(GDB)
    if not gdb_path:
        raise ToolMissingError(f"{GDB} is not installed (the host's gdb cannot debug "
                             f"{t.arch.value}); run ./edgeforge setup, or apt-get install "
                             "gdb-multiarch")
    layout = ctx.layout(t.name, app.name)
    setup_default = gdb_setup(ctx, app, t, sysroots.sysroot_dir(ctx, t.sysroot))
    if not setup_default.program.is_file() or not debuginfo.read_index(setup_default.symbols):
        raise UsageError(f"no build of {app.name} with split debug information for {t.name} in "
                         f"{layout.root}; run ./edgeforge build --board {t.name} --app {app.name}")
    sysroots.ensure_sysroot(ctx, t.sysroot, t.name)
    rootfs = layout.rootfs_tree
    # the twin's own root file system is what its processes (and cores) load, byte for byte
    setup = gdb_setup(ctx, app, t, rootfs) if opts.vm and rootfs.is_dir() else setup_default
    folder.mkdir(parents=True, exist_ok=True)
    gdbinit = folder / ("gdbinit-vm" if setup is not setup_default else "gdbinit")
    write_atomic(gdbinit, gdbinit_text(setup))
    runner = ctx.runner(t.name)

    if opts.core is not None:
        core = opts.core.expanduser().absolute()
        if not core.is_file():
            raise UsageError(f"--core {opts.core}: no such file")
        modules = check_core(core, setup.symbols, runner, app.name, app.program)
        ctx.reporter.info(f"{core.name}: {len(modules)} modules; the program's build-id "
                          f"{core_program(modules, app.program).build_id} matches "
                          f"{setup.symbols}")
        argv = gdb_argv(gdbinit, setup.program, core=core, gdb=gdb_path)
        return _hand_over(ctx, runner, argv, opts, folder, None)

    if session_pid(folder):
        ctx.reporter.info(f"stopping the previous debug server of {t.name}")
    stop_session(folder, runner)
    dev = device_for(ctx, t, opts) if mode != "emulate" else None  # a twin that is down: say so
    sock = folder / SOCKET
    argv = gdb_argv(gdbinit, setup.program, address=str(sock), gdb=gdb_path)
    vscode = (opts.vscode or ctx.project_root / ".vscode").absolute()
    entry = VscodeEntry(
        mode=mode or "", board=t.name, program=setup.program, gdbinit=gdbinit,
        address=str(sock), server_command=server_command(ctx, t, app, opts, vscode),
        stop_command=[str(ctx.project_root / "edgeforge"), "debug", "--board", t.name, "--stop"],
        cwd=ctx.project_root)
    launch, tasks = write_vscode(vscode, entry)  # before a server runs: a bad file stops here
    ctx.reporter.info(f"VSCode: '{entry.name}' in {launch} (pre-launch task in {tasks})")
    t0 = time.monotonic()
    try:
        if mode == "emulate":
            qemu = shutil.which(t.arch.qemu) or t.arch.qemu
            with ctx.reporter.step(f"starting {app.name} under {t.arch.qemu} with its gdb stub"):
                state = start_emulated(folder, runner, qemu, setup.sysroot, setup.program,
                                           list(opts.args))
        else:
            assert dev is not None
            with ctx.reporter.step(f"preparing gdbserver on {dev.name}"):
                check_gdbserver(dev, app.device_image)
                attach = opts.attach
                sudo = False
                program = None
                if opts.service or attach is not None:
                    sudo = can_sudo(dev)
                    if opts.service:
                        attach = service_pid(dev, opts.service, on_device(app))
                    bid = remote_build_id(dev, attach, sudo, folder / "exe.tmp")
                    check_build_id(bid, setup.symbols, f"process {attach} on {dev.name}",
                                   app.program)
                else:
                    program = device_program(dev, setup.app_dir, on_device(app), ctx.reporter)
                state = start_remote(folder, runner, dev, program, list(opts.args),
                                         attach=attach, sudo=sudo)
        state["seconds"] = round(time.monotonic() - t0, 2)
        state["board"] = t.name
        save_session(folder, state)
    except BaseException:
        stop_session(folder, runner)
        raise
    return _hand_over(ctx, runner, argv, opts, folder, state)


def _hand_over(ctx: Context, runner: Runner, argv: list[str], opts: DebugOptions,
               folder: Path, state: dict | None) -> dict:
    command = " ".join(shlex.quote(a) for a in argv)
    ctx.reporter.info(f"gdb: {command}")
    result = {"gdb": argv, "session": state}
    if state and opts.detach:
        ctx.reporter.info(f"the debug server stays up; stop it with ./edgeforge debug --board "
                          f"{state['board']} --stop")
        return result
    try:
        if opts.gdb:
            # interactive: the terminal is gdb's, and Ctrl-C is gdb's (it interrupts the program)
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                run_foreground(runner, argv, needed_by="invoke debug --gdb",
                               env=dict(os.environ), attach_stdin=True, echo=False)
            finally:
                signal.signal(signal.SIGINT, previous)
        elif state:
            ctx.reporter.info("waiting for gdb to connect and the program to end; Ctrl-C stops")
            while session_pid(folder):
                time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        if state:
            stop_session(folder, runner)
    return result
