"""The system libraries a program loads, taken from the board's sysroot: the exact DT_NEEDED
closure with the loader, and for each file the Debian package of the sysroot that ships it.

Starting from the app's ELF files, every DT_NEEDED name the app does not carry itself is looked
up the way the device's loader would (rootfs.lib_dirs: ld.so.conf, then the default folders),
then the libraries those need, until nothing new appears. Each library is kept with the path
the loader finds it under and the whole chain of symbolic links to the real file, folders
included (`libstdc++.so.6 -> libstdc++.so.6.0.28`; on a merged-/usr tree `/lib -> usr/lib`),
so the image resolves names exactly as the device does. Links are followed inside the tree
only: an absolute target means the tree's root, `..` never climbs above it.
"""

from __future__ import annotations

import os
import posixpath
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from debian.deb822 import Deb822

from edgeforge.config import Arch
from edgeforge.core import ClosureError

from . import elfinfo
from .libdirs import LinkLoop, find_in_tree, lib_dirs, walk_links

#: symbolic links followed while resolving one path before it counts as a loop (as Linux)
MAX_LINKS = 40


@dataclass(frozen=True)
class TreeEntry:
    """One entry copied from the tree into the image: a file or a symbolic link."""

    path: str                # absolute path in the image, e.g. /lib/aarch64-linux-gnu/libc.so.6
    kind: str                # "file" or "symlink"
    target: str | None       # a link's target as written in the tree
    source: Path             # where it is on the build machine


@dataclass(frozen=True)
class Library:
    soname: str              # the DT_NEEDED name (or the loader's path for the loader)
    path: str                # where the loader finds it, e.g. /lib/aarch64-linux-gnu/libc.so.6
    real: str                # the file it resolves to, e.g. /lib/aarch64-linux-gnu/libc-2.31.so
    needed_by: tuple[str, ...]  # image paths of the files that name it


@dataclass(frozen=True)
class Closure:
    loader: Library
    libraries: tuple[Library, ...]
    entries: tuple[TreeEntry, ...]   # every link and file to copy, sorted by path, unique
    search_dirs: tuple[str, ...]     # folders of the libraries outside the loader's defaults

    def files(self) -> list[TreeEntry]:
        return [e for e in self.entries if e.kind == "file"]


# ---- resolving inside a tree ---------------------------------------------------------------------
def resolve(root: Path, path: str) -> list[TreeEntry]:
    """The symbolic links met while resolving `path` inside `root` (folders included), then the
    regular file it names. Raises ClosureError for a loop, a missing file or a non-file."""
    links, real = _walk(Path(root), path, strict=True)
    host = Path(root) / real.lstrip("/")
    if real == "/" or not host.is_file():
        raise ClosureError(f"{path} in {root}: {real} is not a regular file")
    return [*links, TreeEntry(real, "file", None, host)]


def _walk(root: Path, path: str, strict: bool) -> tuple[list[TreeEntry], str]:
    """Resolve `path` inside `root` like the kernel would with `root` as `/`: the links met
    and the real path. `strict`: a missing component is an error, else it is kept as is."""

    def readlink(p: str) -> str | None:
        host = root / p.lstrip("/")
        return os.readlink(host) if host.is_symlink() else None

    def exists(p: str, through_link: bool) -> None:
        if strict and not (root / p.lstrip("/")).exists():
            raise ClosureError(f"{path} in {root}: {p} does not exist"
                               + (" (reached through a link)" if through_link else ""))

    try:
        links, real = walk_links(path, readlink, MAX_LINKS, exists)
    except LinkLoop:
        raise ClosureError(f"{path} in {root}: more than {MAX_LINKS} symbolic links "
                           "(a loop); repair the tree") from None
    return [TreeEntry(p, "symlink", t, root / p.lstrip("/")) for p, t in links], real


def image_path(root: Path, host: Path) -> str:
    return "/" + str(Path(host).relative_to(root))


# ---- the closure ----------------------------------------------------------------------------------
def closure(root: Path, arch: Arch, needed: Mapping[str, Iterable[str]], *,
            interpreter: str | None = None, private: Iterable[str] = (),
            extra: Iterable[str] = (), what: str = "the app") -> Closure:
    """The libraries `needed` (image path of an app file -> its DT_NEEDED names) load from the
    tree `root`, with their own dependencies, the loader, and `extra` libraries (loaded at run
    time without a DT_NEEDED entry). Names in `private` are the app's own and not looked up."""
    root = Path(root)
    dirs = lib_dirs(root, arch)
    private = set(private)
    users: dict[str, set[str]] = {}
    queue: deque[str] = deque()

    def want(soname: str, user: str) -> None:
        if soname in private:
            return
        if soname not in users:
            users[soname] = set()
            queue.append(soname)
        users[soname].add(user)

    for user, names in sorted(needed.items()):
        for soname in names:
            want(soname, user)
    for soname in extra:
        want(soname, "(extra_libraries)")

    entries: dict[str, TreeEntry] = {}
    found: dict[str, tuple[str, str]] = {}
    while queue:
        soname = queue.popleft()
        hit = find_in_tree(root, soname, dirs)
        if hit is None:
            raise ClosureError(
                f"{soname} (needed by {', '.join(sorted(users[soname]))}) is neither one of "
                f"{what}'s own libraries nor in the sysroot {root} (searched "
                f"{', '.join(dirs)}); install the package that ships it into the sysroot, or "
                "bundle the library with the app")
        chain = resolve(root, image_path(root, hit))
        _add(entries, chain)
        real = chain[-1]
        found[soname] = (image_path(root, hit), real.path)
        info = elfinfo.inspect(real.source)
        if info is None:
            raise ClosureError(f"{soname} in the sysroot ({real.source}) is not an ELF library")
        for dep in info.needed:
            want(dep, real.path)

    loader_path = interpreter or arch.interpreter
    chain = resolve(root, loader_path)
    _add(entries, chain)
    loader = Library(loader_path, loader_path, chain[-1].path, ("(PT_INTERP)",))

    defaults = {f"/lib/{arch.multiarch}", f"/usr/lib/{arch.multiarch}", "/lib", "/usr/lib"}
    search = sorted({posixpath.dirname(p) for p, _ in found.values()} - defaults)
    libraries = tuple(Library(s, p, r, tuple(sorted(users[s])))
                      for s, (p, r) in sorted(found.items()))
    return Closure(loader, libraries, tuple(entries[k] for k in sorted(entries)),
                   tuple(search))


def _add(entries: dict[str, TreeEntry], chain: list[TreeEntry]) -> None:
    for e in chain:
        old = entries.get(e.path)
        if old is not None and (old.kind, old.target) != (e.kind, e.target):
            raise ClosureError(f"{e.path} is both a {old.kind} and a {e.kind}: a bug")
        entries[e.path] = e


def app_needed(app_dir: Path, prefix: str) -> tuple[dict[str, tuple[str, ...]], set[str],
                                                     set[str]]:
    """For the installed app: image path -> DT_NEEDED of each ELF file, the names it carries
    itself (its lib/ and every SONAME) and the program interpreters its programs ask for."""
    needed: dict[str, tuple[str, ...]] = {}
    private = {p.name for p in (app_dir / "lib").glob("*.so*")} if (app_dir / "lib").is_dir() \
        else set()
    interpreters: set[str] = set()
    for p in sorted(app_dir.rglob("*")):
        info = elfinfo.inspect(p)
        if info is None:
            continue
        needed[f"{prefix}/{p.relative_to(app_dir)}"] = info.needed
        if info.soname:
            private.add(info.soname)
        if info.interpreter:
            interpreters.add(info.interpreter)
    return needed, private, interpreters


# ---- which package ships a file -------------------------------------------------------------------
@dataclass(frozen=True)
class PackageFile:
    package: str
    version: str


def dpkg_owners(root: Path) -> dict[str, PackageFile]:
    """Resolved path in the tree -> the package of its dpkg database that ships it (paths as
    dpkg lists them, their folders resolved inside the tree, so /lib/x and /usr/lib/x meet on a
    merged-/usr tree). Empty when the tree has no dpkg database."""
    info = Path(root) / "var/lib/dpkg/info"
    if not info.is_dir():
        return {}
    versions = dpkg_versions(root)
    real_dirs: dict[str, str] = {}
    out: dict[str, PackageFile] = {}
    for lst in sorted(info.glob("*.list")):
        package = lst.name[:-len(".list")].split(":", 1)[0]
        pf = PackageFile(package, versions.get(package, ""))
        for line in lst.read_text(errors="replace").splitlines():
            if not line.startswith("/") or line == "/.":
                continue
            parent, name = posixpath.split(line)
            real = real_dirs.get(parent)
            if real is None:
                real = real_dirs[parent] = _real_dir(root, parent)
            out.setdefault(posixpath.join(real, name), pf)
    return out


def owner_of(owners: Mapping[str, PackageFile], root: Path, path: str) -> PackageFile | None:
    parent, name = posixpath.split(path)
    return owners.get(posixpath.join(_real_dir(root, parent), name))


def _real_dir(root: Path, folder: str) -> str:
    try:
        return _walk(Path(root), folder, strict=False)[1]
    except ClosureError:
        return folder


@dataclass(frozen=True)
class DpkgPackage:
    name: str
    version: str
    architecture: str
    source: str           # the Debian source package it was built from
    source_version: str


def dpkg_status(root: Path) -> dict[str, DpkgPackage]:
    """Installed packages of the tree's var/lib/dpkg/status (empty without one)."""
    status = Path(root) / "var/lib/dpkg/status"
    out: dict[str, DpkgPackage] = {}
    try:
        with open(status, encoding="utf-8", errors="replace") as fh:
            for para in Deb822.iter_paragraphs(fh, use_apt_pkg=False):
                name = para.get("Package")
                if not name or not para.get("Status", "").endswith(" installed"):
                    continue
                version = para.get("Version", "")
                # "Source: gcc-10 (10.2.1-6)": the source's own version when it differs
                source = para.get("Source", name).split()
                out[name] = DpkgPackage(name, version, para.get("Architecture", ""), source[0],
                                        source[1].strip("()") if len(source) > 1 else version)
    except OSError:
        return {}
    return out


def dpkg_versions(root: Path) -> dict[str, str]:
    """Installed package -> version, from the tree's var/lib/dpkg/status."""
    return {name: p.version for name, p in dpkg_status(root).items()}
