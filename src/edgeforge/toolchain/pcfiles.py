"""The sysroot's pkg-config files, moved into the sysroot: a .pc file's absolute paths point
at the device's / (prefix=/usr), so the toolchain folder gets copies whose paths point into
the sysroot on this machine."""

from __future__ import annotations

import re
from pathlib import Path

from edgeforge.config import Arch

_PC_ABS = re.compile(r"(^|(?<=[=\s])|(?<=-I)|(?<=-L)|(?<=-isystem))(/[^\s]*)")


def relocate_pc(text: str, sysroot: str) -> str:
    """Move a sysroot .pc file's absolute paths into the sysroot (prefix=/usr -> prefix=S/usr).

    Only variable definitions and Cflags/Libs lines change; values already pointing into the
    sysroot are left alone.
    """
    out = []
    for line in text.splitlines(keepends=True):
        m = re.match(r"^(\s*[A-Za-z_][A-Za-z0-9_.]*\s*=\s*)(.*)$", line, re.S)
        if m:
            line = m.group(1) + _relocate_value(m.group(2), sysroot)
        else:
            m = re.match(r"^(\s*(?:Cflags|Cflags\.private|Libs|Libs\.private)\s*:)(.*)$", line, re.S)
            if m:
                line = m.group(1) + _relocate_value(m.group(2), sysroot)
        out.append(line)
    return "".join(out)


def _relocate_value(value: str, sysroot: str) -> str:
    def sub(m: re.Match) -> str:
        path = m.group(2)
        if path == sysroot or path.startswith(sysroot.rstrip("/") + "/"):
            return m.group(0)
        return m.group(1) + sysroot.rstrip("/") + path

    return _PC_ABS.sub(sub, value)


def sysroot_pc_files(sysroot: Path, arch: Arch) -> list[Path]:
    files: dict[str, Path] = {}
    for d in (f"usr/lib/{arch.multiarch}/pkgconfig", "usr/lib/pkgconfig", "usr/share/pkgconfig"):
        folder = sysroot / d
        if folder.is_dir():
            for f in sorted(folder.glob("*.pc")):
                files.setdefault(f.name, f)  # first folder wins, as in pkg-config's search
    return list(files.values())
