"""Run cross-built programs under qemu-user with the board's sysroot."""

from __future__ import annotations

from pathlib import Path

from edgeforge.config import Arch
from edgeforge.core import Runner, ToolMissingError, UsageError, base_env, run_foreground
from edgeforge.elf import elfinfo
from edgeforge.host import qemu_user_argv, require_binfmt


def library_path(program: Path, extra: tuple[Path, ...] = ()) -> list[str]:
    """The program's own library folders: beside it and ../lib (the install layout)."""
    here = program.resolve().parent
    dirs = [here, here.parent / "lib", *extra]
    return [str(d) for d in dirs if d.is_dir()]


def qemu_argv(qemu: str, sysroot: Path, program: Path, args: list[str],
              lib_dirs: list[str]) -> list[str]:
    """qemu-user running `program` with its own library folders first (LD_LIBRARY_PATH)."""
    for d in lib_dirs:
        for c in (",", ":"):
            if c in d:
                raise UsageError(
                    f"{d}: the folder of {program.name}'s libraries holds {c!r}; qemu-user splits "
                    "its -E values at ',' and the loader splits LD_LIBRARY_PATH at ':', so "
                    "the rest would become variables or folders of their own. Move the "
                    "program to a folder whose path has neither")
    env = {"LD_LIBRARY_PATH": ":".join(lib_dirs)} if lib_dirs else None
    return qemu_user_argv(qemu, sysroot, program, args, env=env)


def check_program(program: Path, arch: Arch, board: str) -> None:
    if not program.is_file():
        raise UsageError(f"no program at {program}")
    info = elfinfo.inspect(program)
    if info is None:
        raise UsageError(f"{program} is not an ELF program")
    if info.machine != arch.elf_machine:
        raise UsageError(
            f"{program} is built for {info.machine}, not for {board} ({arch.elf_machine}); "
            "run it directly, or build it with the board's toolchain"
        )


def emulated_argv(runner: Runner, arch: Arch, board: str, sysroot: Path, program: Path,
                  args: list[str]) -> list[str]:
    """Check qemu, binfmt and the program, then return the qemu-user command line."""
    qemu = arch.qemu
    try:
        runner.which(qemu, f"invoke run --board {board}")
    except ToolMissingError:
        raise ToolMissingError(
            f"{qemu} not found: it runs {arch.value} programs on this machine; "
            "fix: apt-get install qemu-user (or `invoke setup`)"
        ) from None
    require_binfmt(arch, why=f"{board}'s programs and their tests run under emulation")
    check_program(program, arch, board)
    return qemu_argv(qemu, sysroot, program, args, library_path(program))


def exit_status(returncode: int) -> int:
    """A shell's view of a child's end: its exit code, or 128+N when signal N killed it."""
    return 128 - returncode if returncode < 0 else returncode


def run_emulated(runner: Runner, arch: Arch, board: str, sysroot: Path, program: Path,
                 args: list[str], timeout: float | None = None, verbose: bool = False) -> int:
    """Run attached to the caller: stdin, stdout and stderr are the program's (so it works in
    a pipeline), and so is the exit code. The qemu command line goes to stderr, if asked."""
    argv = emulated_argv(runner, arch, board, sysroot, program, args)
    code = run_foreground(runner, argv, needed_by=f"running {program.name} for {board}",
                          env=base_env(), timeout=timeout, attach_stdin=True, echo=verbose)
    if code == 124 and timeout is not None:
        runner.reporter.warn_plain(f"invoke run: {program.name} killed after {timeout:g}s "
                                   "(--timeout)")
    return exit_status(code)


def capture_emulated(runner: Runner, arch: Arch, board: str, sysroot: Path, program: Path,
                     args: list[str], what: str, timeout: float | None = 1800):
    """Run under qemu-user and return the Result (output captured and logged)."""
    argv = emulated_argv(runner, arch, board, sysroot, program, args)
    return runner.run(argv, what=what, env=base_env(), check=False, echo=False, timeout=timeout,
                      log_name=what.replace(" ", "-"))
