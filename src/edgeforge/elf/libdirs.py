"""Reading a root file system's library folders (sysroots, device images): where the loader
looks, where a library is, which glibc and libstdc++ the tree carries. No building here."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgeforge.config import Arch

from . import elfinfo


def lib_dirs(root: Path, arch: Arch) -> list[str]:
    """The loader's search directories inside the tree (ld.so.conf plus the defaults)."""
    dirs: list[str] = []
    conf = root / "etc" / "ld.so.conf"
    files = [conf] + sorted((root / "etc" / "ld.so.conf.d").glob("*.conf"))
    for f in files:
        if not f.is_file():
            continue
        for line in f.read_text(errors="replace").splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("/") and line not in dirs:
                dirs.append(line)
    for d in (f"/lib/{arch.multiarch}", f"/usr/lib/{arch.multiarch}", "/lib", "/usr/lib"):
        if d not in dirs:
            dirs.append(d)
    return dirs


def find_in_tree(root: Path, name: str, dirs: list[str]) -> Path | None:
    for d in dirs:
        p = root / d.lstrip("/") / name
        if p.exists():
            return p
    return None


def glibc_release(libc: Path) -> str | None:
    """glibc's own release (2.31), read from its version banner; symbol-version tags can lag
    behind it (2.31 added none, so its newest tag is GLIBC_2.30)."""
    data = libc.read_bytes()
    m = re.search(rb"release version (\d+\.\d+)", data)
    if m:
        return m.group(1).decode()
    info = elfinfo.inspect(libc)
    return elfinfo.highest_text(info.defined_versions, "GLIBC") if info else None


def probe_tree(root: Path, arch: Arch) -> dict[str, Any]:
    dirs = lib_dirs(root, arch)
    out: dict[str, Any] = {"glibc": None, "glibcxx": None, "gcc_version": None}
    libc = find_in_tree(root, "libc.so.6", dirs)
    if libc:
        out["glibc"] = glibc_release(libc.resolve())
    cxx = find_in_tree(root, "libstdc++.so.6", dirs)
    if cxx:
        info = elfinfo.inspect(cxx.resolve())
        if info:
            out["glibcxx"] = elfinfo.highest_text(info.defined_versions, "GLIBCXX")
    gccdir = root / "usr" / "lib" / "gcc" / arch.multiarch
    if gccdir.is_dir():
        versions = sorted((p.name for p in gccdir.iterdir() if (p / "crtbegin.o").exists()),
                          key=lambda s: [int(x) for x in s.split(".") if x.isdigit()])
        out["gcc_version"] = versions[-1] if versions else None
    return out


class LinkLoop(Exception):
    """More symbolic links than a path may pass through."""


def walk_links(path: str, readlink: Callable[[str], str | None], max_links: int = 40,
               check: Callable[[str, bool], None] | None = None
               ) -> tuple[list[tuple[str, str]], str]:
    """Resolve `path` in a tree with `/` as its root, as the kernel would: the links met
    ((path, target) in order) and the real path. `readlink(p)` is p's target, None when p is
    not a link; `check(p, through_link)` is called for each real component (to refuse missing
    ones). '..' never leaves the root. Raises LinkLoop past `max_links` links."""
    links: list[tuple[str, str]] = []
    parts = deque(p for p in path.split("/") if p)
    cur = ""  # the resolved prefix: real folders only
    while parts:
        comp = parts.popleft()
        if comp == ".":
            continue
        if comp == "..":
            cur = cur.rpartition("/")[0]
            continue
        cand = f"{cur}/{comp}"
        target = readlink(cand)
        if target is not None:
            if len(links) >= max_links:
                raise LinkLoop(cand)
            links.append((cand, target))
            if target.startswith("/"):
                cur = ""
            parts.extendleft(reversed([p for p in target.split("/") if p]))
            continue
        if check is not None:
            check(cand, bool(links))
        cur = cand
    return links, cur or "/"
