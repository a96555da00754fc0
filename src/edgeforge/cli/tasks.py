"""invoke tasks: each a thin call into the library; errors become invoke's Exit."""

from __future__ import annotations

import functools
import getpass
import os
import re
import shlex
import signal
import sys
import tempfile
import traceback
from pathlib import Path

from invoke import Exit, task

from edgeforge import pipeline
from edgeforge.build import app as edge_app
from edgeforge.config import write_schemas
from edgeforge.context import Context
from edgeforge.core import (
    EXIT_BUG,
    EXIT_INTERRUPTED,
    CheckFailedError,
    DescriptorError,
    EdgeforgeError,
    HostSetupError,
    UsageError,
    redact,
    run_foreground,
)
from edgeforge.deliver import ReleaseOptions
from edgeforge.deps import conan_env, prepare_sources
from edgeforge.host import setup as hostsetup
from edgeforge.team import registry, remotes
from edgeforge.toolchain import probe
from edgeforge.toolchain import sysroot as sysroots
from edgeforge.verify import abi, capture_emulated, run_emulated

_STATE: dict[str, Context] = {}


def _terminated(signum, frame):
    raise KeyboardInterrupt


def handled(fn):
    """Turn library errors into a message and an exit code, never a traceback.

    An unexpected exception is a bug: the user sees what was being done, where the traceback
    was logged and that it is a bug (exit 70); the traceback itself goes to the log only.
    Whatever the message repeats of the user's input is redacted: no password or token in a
    URL, --target or --push is ever shown or logged."""

    @functools.wraps(fn)
    def wrapper(c, *args, **kwargs):
        # a cancelled CI job or `kill` ends the task like Ctrl-C: children stopped, outputs
        # written aside never renamed into place
        signal.signal(signal.SIGTERM, _terminated)
        try:
            return fn(c, *args, **kwargs)
        except EdgeforgeError as exc:
            raise Exit(f"error: {redact(exc.message)}", code=exc.exit_code) from None
        except KeyboardInterrupt:
            raise Exit("interrupted", code=EXIT_INTERRUPTED) from None
        except Exit:
            raise
        except Exception as exc:  # the last resort: a bug, reported without a traceback
            raise Exit(bug_report(fn.__name__, exc), code=EXIT_BUG) from None

    return wrapper


def bug_report(task_name: str, exc: BaseException) -> str:
    """Log the traceback; return the paragraph the user sees (both redacted)."""
    ctx = _STATE.get("ctx")
    doing = (ctx.reporter.failed_step or ctx.reporter.current()) if ctx else ""
    log_dir = ctx.host_logs_dir if ctx else Path(tempfile.gettempdir())
    text = "".join(traceback.format_exception(exc))
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f"bug-{task_name}-", suffix=".log", dir=log_dir)
        with os.fdopen(fd, "w") as fh:
            fh.write(redact(f"invoke {task_name}: {shlex.join(sys.argv)}\n{text}"))
        where = f"the traceback is in {name}"
    except OSError:
        where = "the traceback could not be written to a log"
    during = f" while {doing}" if doing else ""
    # redacted whole, then cut: a cut first could leave half a URL the redaction misses
    said = redact(str(exc))[:300]
    return redact(f"error: unexpected {type(exc).__name__} in `invoke {task_name}`{during}: "
                  f"{said}\nthis is a bug in edgeforge; {where} (please attach it to a bug "
                  "report)")


def _remainder(c) -> list[str]:
    if "--" in sys.argv:
        return sys.argv[sys.argv.index("--") + 1:]
    return shlex.split(getattr(c, "remainder", "") or "")


def _number(option: str, value: str | None, default: float | None = None, *,
            seconds: bool = False, high: int | None = None) -> float | None:
    """A number option's value (`default` when not given): a whole number from 1 (to `high`),
    or with `seconds` any number above 0. Number options are declared with a None default, so
    invoke hands their text over unparsed (a typed default makes invoke's parser convert it,
    and a bad value ends in its traceback); a bad one is a usage error naming the option."""
    if value is None:
        return default
    text = str(value).strip()
    if seconds:
        number = float(text) if re.fullmatch(r"[0-9]+(\.[0-9]*)?|\.[0-9]+", text) else 0.0
        ok, expected = number > 0, "a number of seconds above 0 (e.g. 30 or 2.5)"
    else:
        number = int(text) if re.fullmatch(r"[0-9]{1,18}", text) else 0
        ok = 1 <= number <= (high or number)
        expected = f"a whole number from 1 to {high}" if high else "a whole number from 1"
    if not ok:
        raise UsageError(f"--{option} {text[:40]!r}: expected {expected}")
    return number


def _ctx() -> Context:
    ctx = Context.create()
    _STATE["ctx"] = ctx
    return ctx


def _target(ctx: Context, board: str | None, compiler: str | None = None,
            sysroot: str | None = None, build_type: str | None = None):
    return ctx.catalog.resolve(board, cli={"compiler": compiler, "sysroot": sysroot,
                                           "build_type": build_type})


@task
@handled
def setup(c):
    """Install and start what the host needs (apt packages, deb-src, binfmt, dockerd)."""
    ctx = _ctx()
    changed = hostsetup.setup(ctx.reporter, ctx.host_logs_dir)
    if changed:
        for line in changed:
            ctx.reporter.info(f"changed: {line}")
    else:
        ctx.reporter.info("setup: nothing to change, the host is ready")
    if not hostsetup.doctor(ctx.reporter, only_missing=True):
        raise HostSetupError("prerequisites still missing after setup (see above)")


@task
@handled
def doctor(c):
    """One line per prerequisite, with the command that fixes a missing one."""
    ctx = _ctx()
    if not hostsetup.doctor(ctx.reporter):
        raise HostSetupError("required prerequisites are missing; run `invoke setup`")


@task(help={"check": "also probe each board's compiler and CPU flags"})
@handled
def boards(c, check=False):
    """List every board with its resolved compiler, sysroot, triple and ABI ceilings."""
    ctx = _ctx()
    cat = ctx.catalog
    defaults = cat.defaults().spec
    errors = cat.problems("boards")  # misnamed files, folders, broken links: named, not listed
    rows = []
    for name in cat.names("boards"):
        try:
            t = cat.resolve(name, env={})
            if check:
                probe(ctx, t)
            ov = ", ".join(t.board.spec.overlays) or "-"
            rows.append((name + (" *" if name == defaults.default_board else ""),
                         t.compiler.name, t.sysroot.name, t.triple,
                         f"GLIBC_{t.abi.glibc} GLIBCXX_{t.abi.glibcxx}",
                         t.abi.strategy.value, " ".join(t.cpu_flags), ov))
        except EdgeforgeError as exc:
            errors.append(f"{name}: {exc.message}")
    head = ("board", "compiler", "sysroot", "triple", "ceiling", "strategy", "cpu flags",
            "overlays")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        ctx.reporter.info("  ".join(col.ljust(w) for col, w in zip(r, widths, strict=True)).rstrip())
    ctx.reporter.info("(* default board)")
    if errors:
        raise DescriptorError("\n".join(errors))


@task(help={"board": "board name (default: toolchains/defaults.yaml)",
            "pack": "also write the sysroot as a reproducible DIR/<name>-<key>.tar.gz and its "
                    ".sha256, for a team file server (EDGEFORGE_SYSROOT_URL)"})
@handled
def sysroot(c, board=None, compiler=None, sysroot=None, pack=None):
    """Build or import the board's sysroot into the cache (a no-op when cached); with
    EDGEFORGE_SYSROOT_URL, a Debian sysroot the team published is fetched instead of built."""
    ctx = _ctx()
    t = _target(ctx, board, compiler, sysroot)
    info = pipeline.run_until(ctx, t, "sysroot")["sysroot"]
    ctx.reporter.info(f"{t.name}: sysroot {info.name} at {info.path} (glibc {info.glibc}, "
                      f"GLIBCXX_{info.glibcxx})")
    if pack:
        p = sysroots.pack_sysroot(ctx, t.sysroot, info, Path(pack).expanduser().resolve())
        ctx.reporter.info(f"packed {p.archive} ({p.size / 1e6:.1f} MB), sha256 {p.sha256} in "
                          f"{p.checksum_file.name}; serve {p.archive.parent} and set "
                          "EDGEFORGE_SYSROOT_URL to its URL. To pin it, add this line to "
                          f"toolchains/sysroots/published.sha256:\n  {p.sha256}  {p.archive.name}")


@task(help={"board": "board name"})
@handled
def toolchain(c, board=None, compiler=None, sysroot=None, build_type=None):
    """Write the board's Conan profiles, CMake toolchain, pkg-config wrapper, Meson file,
    compiler wrappers and environment script (for building other projects for the board)."""
    ctx = _ctx()
    t = _target(ctx, board, compiler, sysroot, build_type)
    ctx.reporter.info(t.describe_resolution())
    prepared = pipeline.run_until(ctx, t, "toolchain", rerun=("toolchain",))["toolchain"]
    ctx.reporter.info(f"toolchain files for {t.name} in {prepared.toolchain.out_dir}:")
    width = max(map(len, prepared.toolchain.files))
    for name, path in sorted(prepared.toolchain.files.items()):
        ctx.reporter.info(f"  {name:<{width}} {path}")
    ctx.reporter.info(f"build other projects for {t.name} in a shell set up with: "
                      f". {prepared.toolchain.env_script}")


@task(help={
    "board": "board name (default: toolchains/defaults.yaml)",
    "compiler": "override the board's compiler descriptor",
    "sysroot": "override the board's sysroot descriptor",
    "build-type": "Release, Debug, RelWithDebInfo or MinSizeRel",
    "dry-run": "print the resolution and the plan, do nothing",
    "force": "rebuild even when the plan is up to date",
    "smoke-only": "toolchain check only: sysroot, toolchain files, smoke program (no Conan deps)",
})
@handled
def build(c, board=None, compiler=None, sysroot=None, build_type=None, dry_run=False,
          force=False, smoke_only=False):
    """Cross-build everything for a board; outputs recorded in build/<board>/manifest.json."""
    ctx = _ctx()
    t = _target(ctx, board, compiler, sysroot, build_type)
    if dry_run:
        ctx.reporter.info(t.describe_resolution())
        ctx.reporter.info(pipeline.board_plan(ctx, t, not smoke_only).render())
        return
    pipeline.build(ctx, t, force=force, with_deps=not smoke_only)


@task(iterable=["board"], help={
    "board": "board name (repeat for several boards: one OCI image index holds them all)",
    "version": "release version (default: the app's version and the commit, from git)",
    "sign-key": "gpg key (id or fingerprint) to sign SHA256SUMS with "
                "(default: EDGEFORGE_SIGNING_KEY; unsigned without one)",
    "check-reproducible": "build the release a second time in another folder and compare",
    "sdk": "also ship the board's SDK archive (as `invoke sdk` writes it), listed in the SBOM",
    "dry-run": "print the plan, do nothing",
    "push": "then push the container image (several boards: the image index) to "
            "REGISTRY/REPO[:TAG] (tag: the version); credentials from EDGEFORGE_REGISTRY_USER "
            "and EDGEFORGE_REGISTRY_PASSWORD, or an auth file (REGISTRY_AUTH_FILE, docker login)",
})
@handled
def release(c, board=None, version=None, sign_key=None, check_reproducible=False, sdk=False,
            dry_run=False, push=None):
    """Build what is not up to date, then write dist/<board>/<version>/ (image, installers,
    SBOM, legal/, SHA256SUMS, release.json)."""
    ctx = _ctx()
    opts = ReleaseOptions(version=version, sign_key=sign_key, sdk=bool(sdk))
    targets = [_target(ctx, b) for b in (board or [None])]
    push_to = registry.prepare(push) if push is not None else None  # checked before building
    if dry_run:
        for t in targets:
            ctx.reporter.info(pipeline.board_plan(ctx, t, release=opts).render())
        if push_to:
            ctx.reporter.info(push_to.describe("the image index" if len(targets) > 1 else
                                               f"the {targets[0].name} image"))
        return
    folders = [pipeline.release(ctx, t, opts) for t in targets]
    index = pipeline.release_index(ctx, folders) if len(folders) > 1 else None
    if index:
        ctx.reporter.info(f"multi-board image index: {index}")
    if check_reproducible:
        for t, folder in zip(targets, folders, strict=True):
            pipeline.check_reproducible(ctx, t, opts, folder)
    if push_to:
        source = registry.index_source(index) if index else registry.release_source(folders[0])
        registry.push(ctx, push_to, source, ctx.runner(None if index else targets[0].name))


@task(help={
    "board": "board name",
    "version": "release version (default: the app's version and the commit, from git)",
    "ssh-key": "the login's public key, a .pub file (default: EDGEFORGE_SSH_KEY, then "
               "~/.ssh/id_ed25519.pub, id_ecdsa.pub, id_rsa.pub)",
    "dry-run": "print the plan, do nothing",
})
@handled
def image(c, board=None, version=None, ssh_key=None, dry_run=False):
    """The release plus the board's device image: its root file system (stand-in suite, the
    .deb through apt, login, services) and the virtual twin's disk, in dist/<board>/<version>/."""
    ctx = _ctx()
    t = _target(ctx, board)
    opts = ReleaseOptions(version=version, device=True, ssh_key=ssh_key)
    if dry_run:
        ctx.reporter.info(pipeline.board_plan(ctx, t, release=opts).render())
        return
    pipeline.release(ctx, t, opts)


@task(help={
    "board": "board name",
    "port": "SSH port on 127.0.0.1 (default: the first free one from 2222)",
    "detach": "leave the twin running in the background (stop it with --stop)",
    "stop": "stop the board's running twin",
    "timeout": "seconds to wait for SSH (default 300)",
})
@handled
def vm(c, board=None, port=None, detach=False, stop=False, timeout=None):
    """Boot the board's virtual twin (qemu-system-aarch64 -M virt) on a copy-on-write overlay
    of its disk image, SSH forwarded from 127.0.0.1; Ctrl-C or --stop stops it."""
    import time

    from edgeforge.device import image as devimage
    from edgeforge.device import twin

    ssh_port = _number("port", port, high=65535)
    boot_timeout = _number("timeout", timeout, 300, seconds=True)
    ctx = _ctx()
    t = _target(ctx, board)
    paths = twin.VmPaths(ctx.board_dir(t.name) / "vm")
    if stop:
        was = twin.stop(paths)
        ctx.reporter.info(f"{t.name}: twin stopped" if was else f"{t.name}: no twin running")
        return
    devimage.stand_in_suite(t)
    runner = ctx.runner(t.name)
    twin_dir = ctx.board_dir(t.name) / "release" / "twin"
    with ctx.reporter.step(f"booting the virtual twin of {t.name}"):
        state = twin.start(twin_dir, paths, runner, port=ssh_port,
                           boot_timeout=boot_timeout, reporter=ctx.reporter)
    ctx.reporter.info(f"{t.name} twin up in {state['boot_seconds']} s (PID {state['pid']}); "
                      f"console log: {paths.console}")
    ctx.reporter.info(f"connect: {twin.connect_hint(state, paths)}")
    if detach:
        ctx.reporter.info(f"stop it with: ./edgeforge vm --board {t.name} --stop")
        return
    ctx.reporter.info("Ctrl-C stops the twin")
    try:
        while twin.running_pid(paths):
            time.sleep(1)
    except KeyboardInterrupt:
        twin.stop(paths)
        ctx.reporter.info(f"{t.name}: twin stopped")


@task(help={
    "board": "board name",
    "target": "the device: ssh://user@host[:port] (the user needs root or passwordless sudo)",
    "package": "the .deb to install (default: the board's current one, from its last release)",
    "identity": "SSH private key file to log in with (default: ssh's own choice)",
    "known-hosts": "known_hosts file for the device (default: ssh's own)",
})
@handled
def deploy(c, board=None, target=None, package=None, identity=None, known_hosts=None):
    """Install the board's current .deb on a running device over SSH, restart the app's
    instances and report their state and the app's --version from the device; a failed
    install puts the previous package back."""
    from edgeforge.device import deploy as deployer

    ctx = _ctx()
    t = _target(ctx, board)
    if not target:
        raise UsageError("give the device: --target ssh://user@host[:port] (for the virtual "
                         f"twin `./edgeforge vm --board {t.name}` prints it)")
    dest = deployer.parse_target(target)
    if package:
        from edgeforge.core import not_a_file

        deb = Path(package).expanduser()
        if why := not_a_file(deb):  # a folder, /dev/zero or a FIFO would be read or wait forever
            raise UsageError(f"--package {package}: {why}; give the board's .deb (`./edgeforge "
                             f"release --board {t.name}` writes it)")
    else:
        debs = sorted((ctx.board_dir(t.name) / "release" / "deb").glob("*.deb"))
        if not debs:
            raise UsageError(f"no .deb built for {t.name} yet: run `./edgeforge release --board "
                             f"{t.name}` first (or give --package)")
        deb = debs[0]
    with ctx.reporter.step(f"deploying {deb.name} to {dest.user}@{dest.host}:{dest.port}"):
        result = deployer.deploy(deb, dest, ctx.runner(t.name),
                                 identity=Path(identity).expanduser() if identity else None,
                                 known_hosts=Path(known_hosts).expanduser() if known_hosts else None)
    ctx.reporter.info(f"installed {result['installed']}; on the device: package "
                      f"{result['package']}, program {result['version']}")
    for unit, state in sorted(result["instances"].items()):
        ctx.reporter.info(f"  {unit}: {state}")


@task(help={
    "board": "board name; the program's arguments follow --",
    "emulate": "run the app here under qemu-user with its gdb stub (a Unix socket)",
    "vm": "run (or attach) on the board's running virtual twin",
    "target": "run (or attach) on a device: ssh://user@host[:port]",
    "attach": "attach to this PID on the device instead of starting the app",
    "service": "attach to the app's service instance (NAME, or a unit name)",
    "core": "open a core dump from the device with the matching binaries and debug files",
    "gdb": "start gdb-multiarch here (otherwise the command is printed)",
    "detach": "leave the debug server running (stop it with --stop)",
    "stop": "stop the board's debug server",
    "identity": "SSH private key file to log in with",
    "known-hosts": "known_hosts file for --target",
    "vscode": "folder of launch.json and tasks.json (default: the checkout's .vscode)",
})
@handled
def debug(c, board=None, emulate=False, vm=False, target=None, attach=None, service=None,
          core=None, gdb=False, detach=False, stop=False, identity=None, known_hosts=None,
          vscode=None):
    """gdb-multiarch on the app, with every library's symbols: under qemu-user (--emulate), on
    the virtual twin (--vm) or a device (--target), attached (--attach/--service), or on a core
    dump (--core); writes build/<board>/debug/gdbinit and VSCode launch/tasks entries."""
    from edgeforge.debug import DebugOptions
    from edgeforge.debug import run as run_debug

    pid = _number("attach", attach)  # a process ID
    ctx = _ctx()
    t = _target(ctx, board)
    opts = DebugOptions(
        emulate=emulate, vm=vm, target=target, attach=int(pid) if pid is not None else None,
        service=service, core=Path(core) if core else None, gdb=gdb, detach=detach, stop=stop,
        args=tuple(_remainder(c)), identity=Path(identity).expanduser() if identity else None,
        known_hosts=Path(known_hosts).expanduser() if known_hosts else None,
        vscode=Path(vscode).expanduser() if vscode else None)
    run_debug(ctx, t, opts)


@task(help={"board": "board name; the program and its arguments follow --",
            "timeout": "kill the program after this many seconds (exit 124)",
            "verbose": "print the qemu-user command line on stderr"})
@handled
def run(c, board=None, timeout=None, verbose=False):
    """Run a cross-built program under qemu-user: invoke run --board X -- PROGRAM ARGS...

    stdin, stdout and the exit code are the program's (pipelines work); edgeforge's own
    messages go to stderr."""
    argv = _remainder(c)
    if not argv:
        raise UsageError("nothing to run; usage: invoke run --board X -- PROGRAM [ARGS...]")
    seconds = _number("timeout", timeout, seconds=True)
    ctx = _ctx()
    ctx.reporter.out = ctx.reporter.err  # stdout is the program's: edgeforge's own go to stderr
    t = _target(ctx, board)
    info = sysroots.ensure_sysroot(ctx, t.sysroot, t.name)
    code = run_emulated(ctx.runner(t.name), t.arch, t.name, info.path, Path(argv[0]),
                        argv[1:], timeout=seconds, verbose=verbose)
    if code != 0:
        raise Exit(code=code)


@task(help={"board": "board name; files (or folders) to check follow --",
            "exclude": "skip files matching this pattern or inside a folder matching it "
                       "(e.g. 'meson-private', '*.exe', 'tests/*'); repeatable",
            "build-tree": "the folders are build trees: programs for the build machine (code "
                          "generators, Meson's sanity checks) are listed, not checked, and "
                          "RUNPATHs into the tree itself are accepted"},
      iterable=["exclude"])
@handled
def gate(c, board=None, exclude=None, build_tree=False):
    """Run the ABI gate on files: invoke gate --board X [--exclude PAT] -- FILE_OR_DIR..."""
    paths = [Path(p).absolute() for p in _remainder(c)]
    if not paths:
        raise UsageError("usage: invoke gate --board X [--exclude PATTERN] [--build-tree] -- "
                         "FILE_OR_DIR...")
    ctx = _ctx()
    t = _target(ctx, board)
    info = sysroots.ensure_sysroot(ctx, t.sysroot, t.name)
    files: list[Path] = []
    own: list[Path] = []
    trees: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = abi.elf_files_under(p)
            files += found
            own += [d for d in (p, p / "lib") if d.is_dir()]
            # the tree's own libraries, wherever its layout puts them (usr/lib/<triple>, .libs)
            own += sorted({f.parent for f in found if ".so" in f.name})
            if build_tree:
                trees.append(p)
        elif p.is_file():
            files.append(p)
            own.append(p.parent)
        else:
            raise UsageError(f"no such file: {p}")
    policy = pipeline.gate_policy(ctx, t, info.path, tuple(own)).with_build_trees(trees)
    machine = abi.build_machine() if build_tree else None
    report = abi.gate(files, policy, exclude=tuple(exclude or ()),
                      skip_machines=(machine,) if machine else ())
    for path, reason in report.skipped:
        ctx.reporter.info(f"  not checked: {path} ({reason})")
    report.raise_for_violations()
    ctx.reporter.info(report.summary())


@task
@handled
def sources(c):
    """Fill the offline source mirror (from the team's mirror, EDGEFORGE_SOURCE_MIRROR_URL,
    else Debian's source archive or upstream) and verify every pin."""
    ctx = _ctx()
    from edgeforge.deps import sources as src

    pins = src.load_pins(ctx.project_root / "recipes")
    prepare_sources(ctx, ctx.runner())
    ctx.reporter.info(f"source mirror {src.mirror_dir(ctx)}: {len(pins)} archives, all verified")
    for st in src.status(ctx, pins):
        size = st.path.stat().st_size
        ctx.reporter.info(f"  {st.pin.recipe + '/' + st.pin.version:<22} {st.pin.name:<44} "
                          f"{size / 1e6:7.1f} MB  sha256 {st.pin.sha256[:16]}...")


@task(help={"board": "board name",
            "test": "also run the test_package of packages that were already built",
            "only": "build only these packages of the graph (recipe names, comma-separated: "
                    "one level of `invoke ci`'s pipeline); their dependencies must be built "
                    "or on the team's remote"})
@handled
def deps(c, board=None, compiler=None, sysroot=None, build_type=None, test=False, only=None):
    """Cross-build the dependency graph (FFmpeg, ...) for a board with Conan."""
    ctx = _ctx()
    t = _target(ctx, board, compiler, sysroot, build_type)
    ctx.reporter.info(t.describe_resolution())
    if only is not None:
        from edgeforge.deps import recipe_names
        from edgeforge.team import parse_only

        names = parse_only(only, recipe_names(ctx.project_root))
        result = pipeline.build_some_deps(ctx, t, names, deps_tests=test)
    else:
        # the graph is always asked again (seconds when everything is cached): `invoke deps`
        # is how a user checks that nothing is missing
        result = pipeline.run_until(ctx, t, "deps", rerun=("deps",), deps_tests=test)["deps"]
    ctx.reporter.info(f"lockfile: {result.lockfile}")
    for name, folder in sorted(result.package_dirs.items()):
        ctx.reporter.info(f"  {name:<16} {folder}")
    if not result.built:
        ctx.reporter.info("all packages were already built: nothing compiled")


@task(iterable=["board"], help={
    "provider": "gitlab or github",
    "out": "file to write (default: .gitlab-ci.yml or .github/workflows/edgeforge.yml in the "
           "project)",
    "board": "only this board (repeatable; default: every board in toolchains/boards/)",
    "levels": "where the dependency levels come from: conan (default: `conan graph "
              "build-order` on each board's settings, seconds) or recipes (the recipes' own "
              "requirements, no Conan)",
    "remote": "the team's Conan remote's name in CI (default: team); it names Conan's login "
              "variables CONAN_LOGIN_USERNAME_<NAME> and CONAN_PASSWORD_<NAME>",
    "push": "on tags, also push each board's release image to $EDGEFORGE_REGISTRY/PUSH/<board>",
})
@handled
def ci(c, provider=None, out=None, board=None, levels="conan", remote="team", push=None):
    """Write the CI pipeline: per board, a job per dependency level, the app built and tested
    under qemu, binaries pushed to the team's Conan remote, and on tags the release."""
    from edgeforge.team import ci as cipipeline

    ctx = _ctx()
    opts = cipipeline.CiOptions(remote=remote, push=push, levels_from=levels)
    path = cipipeline.write(ctx, provider, out, board or None, opts)
    ctx.reporter.info(f"wrote {path}")


@task
@handled
def schema(c):
    """Write JSON schemas for editors into toolchains/schema/ and images/."""
    from edgeforge.config import containerimage as imagedefs
    from edgeforge.config import deviceimage as devicedefs

    ctx = _ctx()
    images = ctx.project_root / "images"
    for p in [*write_schemas(ctx.project_root / "toolchains" / "schema"),
              imagedefs.write_schema(images), devicedefs.write_schema(images)]:
        ctx.reporter.info(f"wrote {p}")


@task(help={"tier": "unit, integration, e2e or all (default)", "k": "pytest -k expression"})
@handled
def suite(c, tier="all", k=None):
    """Run the test suite (what CI runs)."""
    ctx = _ctx()
    root = ctx.project_root
    if tier not in ("all", "unit", "integration", "e2e"):
        raise UsageError(f"--tier {tier!r}: expected unit, integration, e2e or all")
    argv = [sys.executable, "-m", "pytest"]
    # the fast tiers first: a unit failure shows in seconds, not after the end-to-end builds
    tiers = ("unit", "integration", "e2e") if tier == "all" else (tier,)
    argv += [str(root / "tests" / t) for t in tiers]
    if k:
        argv += ["-k", k]
    code = run_foreground(ctx.runner(), argv, needed_by="invoke suite", env=dict(os.environ),
                          cwd=root)
    if code != 0:
        raise Exit(code=code)


@task(help={"board": "board name",
            "frames": "frames of the sample video for the smoke run (default 16)"})
@handled
def test(c, board=None, frames=None):
    """The app's ctest suite under qemu-user, then a smoke run on the sample video."""
    frames = int(_number("frames", frames, 16))
    ctx = _ctx()
    t = _target(ctx, board)
    pipeline.build(ctx, t)  # nothing runs when the outputs are up to date
    runner = ctx.runner(t.name)
    bdir = ctx.board_dir(t.name)
    with ctx.reporter.step(f"ctest for {edge_app.APP_NAME} on {t.name} (under qemu-user)"):
        ctx.reporter.info(edge_app.run_ctest(ctx, bdir / "work" / edge_app.APP_NAME / "build",
                                             runner, conan_env(ctx), t.name))
    installed = bdir / edge_app.APP_NAME
    video = edge_app.sample(ctx, edge_app.SAMPLE_VIDEO)
    info = sysroots.ensure_sysroot(ctx, t.sysroot, t.name)
    with ctx.reporter.step(f"smoke run of {edge_app.APP_NAME} on {video.name} ({frames} frames)"):
        n = frames
        out = bdir / "smoke-run.jsonl"
        out.unlink(missing_ok=True)
        result = capture_emulated(runner, t.arch, t.name, info.path,
                                  installed / "bin" / edge_app.APP_NAME,
                                  edge_app.smoke_args(installed, video, n, out), what="smoke run")
        if result.returncode != 0 or not out.is_file():
            raise CheckFailedError(f"smoke run exited {result.returncode}; log: {result.log_path}")
        seen = edge_app.check_smoke_output(out.read_text(), n)
        ctx.reporter.info(f"{seen['frames']} frames, {seen['people']} person detections "
                          f"(JSON Lines: {out})")
        for line in result.output.splitlines():
            if line.startswith("edge-infer:"):
                ctx.reporter.info(line)


@task(help={"name": "sample file name (vtest.avi, Megamind.avi)"})
@handled
def sample(c, name="vtest.avi"):
    """Print the path of a sample video (extracted from the pinned OpenCV source archive)."""
    print(edge_app.sample(_ctx(), name))


@task(help={"sanitize": "build the app with -fsanitize=address,undefined (into build/host/edge-infer-asan)",
            "test": "run the native ctest suite afterwards"})
@handled
def native(c, sanitize=False, test=False):
    """Build the dependencies and the app for this x86_64 machine (parity and sanitizer checks)."""
    ctx = _ctx()
    runner = ctx.runner(edge_app.NATIVE)
    final = pipeline.build_native(ctx, sanitize="address,undefined" if sanitize else None)
    if test:
        name = final.name
        with ctx.reporter.step(f"ctest for {name} (native)"):
            ctx.reporter.info(edge_app.run_ctest(
                ctx, ctx.board_dir(edge_app.NATIVE) / "work" / name / "build", runner,
                conan_env(ctx), edge_app.NATIVE))


@task(help={"board": "board name",
            "compiler": "override the board's compiler descriptor",
            "sysroot": "override the board's sysroot descriptor"})
@handled
def sdk(c, board=None, compiler=None, sysroot=None):
    """Write the board's relocatable SDK archive into dist/<board>/: the sysroot with the
    built dependency packages installed into it, the toolchain files, the environment script
    and a README, for building without edgeforge."""
    from edgeforge.build import read_manifest
    from edgeforge.core import gitinfo
    from edgeforge.deliver import sdk_summary, write_sdk

    ctx = _ctx()
    t = _target(ctx, board, compiler, sysroot)
    runner = ctx.runner(t.name)
    info = sysroots.ensure_sysroot(ctx, t.sysroot, t.name)
    prepared = pipeline.prepare(ctx, t, info, runner)
    manifest = read_manifest(ctx.board_dir(t.name))
    if manifest is None or manifest.dependencies is None:
        ctx.reporter.warn(f"no dependency graph built for {t.name} yet (`invoke build --board "
                          f"{t.name}`): the SDK's sysroot has the system's libraries only")
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    mtime = int(epoch) if epoch and epoch.isascii() and epoch.isdigit() else (
        gitinfo.commit_time(runner, ctx.project_root) or 0)
    with ctx.reporter.step(f"writing the SDK for {t.name}"):
        archive = write_sdk(prepared.toolchain.inputs, manifest, ctx.dist_root / t.name,
                            ctx.board_dir(t.name) / "work", mtime,
                            cmake_generators=edge_app.generators_dir(ctx, t.name))
    ctx.reporter.info(sdk_summary(archive))


def _remote_password(name: str) -> str:
    """From Conan's own variable, EDGEFORGE_CONAN_PASSWORD, or a prompt in a terminal; never
    from the command line (it would stay in the shell's history and in `ps`)."""
    for var in (remotes.password_var(name), "EDGEFORGE_CONAN_PASSWORD"):
        if os.environ.get(var):
            return os.environ[var]
    if sys.stdin.isatty():
        return getpass.getpass(f"password for remote {name}: ")
    return ""


@task(positional=["action"], help={
    "action": "list (default), add --name N --url U, login --name N --user U, remove --name N, "
              "enable --name N, disable --name N (./edgeforge remote add N U works too)",
    "name": "the remote's name (e.g. team)",
    "url": "add: the remote's URL (a Conan server, Artifactory or Nexus Conan repository)",
    "user": "login: the user (the password comes from CONAN_PASSWORD_<NAME>, "
            "EDGEFORGE_CONAN_PASSWORD or a prompt)",
})
@handled
def remote(c, action, name="", url="", user=""):
    """The team's Conan remotes in edgeforge's Conan home: `invoke build` downloads the binaries
    they hold (exact package IDs) before building anything."""
    ctx = _ctx()
    runner = ctx.runner()
    need = {"add": ("name", "url"), "login": ("name",), "remove": ("name",),
            "enable": ("name",), "disable": ("name",), "list": ()}
    if action not in need:
        raise UsageError(f"unknown remote action {action!r}; use one of: {', '.join(need)}")
    given = {"name": name, "url": url}
    missing = [k.upper() for k in need[action] if not given[k]]
    if missing:
        raise UsageError(f"`invoke remote {action}` needs {' and '.join(missing)}; e.g. "
                         "`./edgeforge remote add team https://conan.example.com` (or `invoke "
                         "remote add --name team --url https://conan.example.com`)")
    if action == "add":
        r = remotes.add(ctx, runner, name, url)
        ctx.reporter.info(f"remote {r.name} -> {r.url}; log in with `invoke remote login "
                          f"{r.name} --user USER`")
    elif action == "login":
        remotes.login(ctx, runner, name, user or os.environ.get(remotes.user_var(name), ""),
                      _remote_password(name))
        ctx.reporter.info(f"logged in to remote {name}")
    elif action == "remove":
        remotes.remove(ctx, runner, name)
    elif action in ("enable", "disable"):
        remotes.enable(ctx, runner, name, action == "enable")
    for r in remotes.list_remotes(ctx, runner):
        ctx.reporter.info(f"{r.name}: {r.url}{'' if r.enabled else ' (disabled)'}")


@task(positional=["action"], help={
    "action": "push: upload the board's recipes, binaries and lockfile to a remote; "
              "status: what `invoke build` would download, build or find cached",
    "board": "board name",
    "remote": "remote name (default: the only enabled one)",
})
@handled
def cache(c, action, board=None, remote=None):
    """Share a board's Conan graph through the team's remote (`invoke cache push --board X`)."""
    ctx = _ctx()
    t = _target(ctx, board)
    if action == "push":
        remotes.push(ctx, ctx.runner(t.name), t.name, remote)
    elif action == "status":
        files = pipeline.run_until(ctx, t, "toolchain")["toolchain"].toolchain
        remotes.status(ctx, ctx.runner(t.name), t.name, files.host_profile, files.build_profile)
    else:
        raise UsageError(f"unknown cache action {action!r}; use push or status")
