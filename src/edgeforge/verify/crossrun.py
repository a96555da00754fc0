"""`invoke run` and `invoke gate` on the user's own files: a cross-built program run here under
qemu-user, and the board's ABI gate over files and folders the user names."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from edgeforge.config import App, Target
from edgeforge.context import Context
from edgeforge.core import Reporter, UsageError
from edgeforge.toolchain import ensure_sysroot

from .abi import Policy, build_machine, elf_files_under, gate
from .emulation import run_emulated


def run_program(ctx: Context, t: Target, argv: Sequence[str], timeout: float | None = None,
                verbose: bool = False, *, app: str | None = None) -> int:
    """Run argv[0] (built for the board) with the board's sysroot; returns its exit code. With
    `app` (--app), the app's installed program runs, with argv as its arguments."""
    if app is not None:
        argv = [str(app_program(ctx, t, ctx.app(app))), *argv]
    info = ensure_sysroot(ctx, t.sysroot, t.name)
    return run_emulated(ctx.runner(t.name), t.arch, t.name, info.path, Path(argv[0]),
                        list(argv[1:]), timeout=timeout, verbose=verbose)


def app_program(ctx: Context, t: Target, app: App) -> Path:
    """The app's installed program for the board (build/<board>/<app>/bin/...)."""
    program = ctx.layout(t.name).app(app.name) / app.program
    if not program.is_file():
        raise UsageError(f"{app.name} is not built for {t.name}: no {program}; run "
                         f"./edgeforge build --board {t.name} --app {app.name} first")
    return program


@dataclass(frozen=True)
class GateTargets:
    files: list[Path]          # the ELF files to check
    own: tuple[Path, ...]      # folders holding the files' own libraries
    trees: list[Path]          # build trees (with --build-tree)


def gate_targets(paths: Sequence[Path], build_tree: bool = False) -> GateTargets:
    """The ELF files under `paths` and the folders their own libraries are in."""
    files: list[Path] = []
    own: list[Path] = []
    trees: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = elf_files_under(p)
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
    return GateTargets(files, tuple(own), trees)


def gate_files(reporter: Reporter, files: Sequence[Path], policy: Policy,
               exclude: Sequence[str] = (), build_tree: bool = False) -> None:
    """The gate over `files`: what was not checked and why, then the violations (an
    AbiViolationError) or the summary. In build trees, programs for the build machine are
    listed, not checked."""
    machine = build_machine() if build_tree else None
    report = gate(files, policy, exclude=tuple(exclude), skip_machines=(machine,) if machine else ())
    for path, reason in report.skipped:
        reporter.info(f"  not checked: {path} ({reason})")
    report.raise_for_violations()
    reporter.info(report.summary())
