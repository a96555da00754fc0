"""qemu-user's command line, written once: a program for the board run on this machine
(`invoke run`, the smoke runs, the ABI gate's checks), the emulator CMake runs a cross-built
test program with, and qemu-user's gdb stub (`invoke debug --emulate`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from edgeforge.core import UsageError


def env_options(env: Mapping[str, str]) -> list[str]:
    """qemu-user's -E options: one per variable. qemu splits an -E value at every ',' (it has
    no escape for one), so a value holding a ',' would set variables of its own (a folder
    named 'q,BASH_ENV=/x'): refused."""
    out: list[str] = []
    for name, value in env.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise UsageError(f"{name!r} is not an environment variable's name")
        if "," in value or "\0" in value:
            raise UsageError(f"{name}={value!r} cannot be given to qemu-user: it splits -E "
                             "values at ',' and would set the text after it as variables "
                             "of their own")
        out += ["-E", f"{name}={value}"]
    return out


def qemu_user_argv(qemu: str, sysroot: Path, program: Path | None = None,
                   args: Sequence[str] = (), *, env: Mapping[str, str] | None = None,
                   gdb_socket: Path | None = None) -> list[str]:
    """`QEMU [-g SOCKET] -L SYSROOT [-E NAME=VALUE ...] [PROGRAM ARGS...]`: the board's loader
    and libraries from the sysroot; the gdb stub on a Unix socket when asked (given a port,
    qemu-user would listen on every interface: it binds 0.0.0.0); without a program, the
    emulator prefix (CMAKE_CROSSCOMPILING_EMULATOR)."""
    argv = [qemu]
    if gdb_socket is not None:
        argv += ["-g", str(gdb_socket)]
    argv += ["-L", str(sysroot)]
    if env:
        argv += env_options(env)
    if program is not None:
        argv += [str(program), *args]
    return argv
