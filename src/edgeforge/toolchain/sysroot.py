"""Build or import a board's sysroot into the cache, once, atomically.

A sysroot lives at <cache>/sysroots/<name>-<key>, where the key hashes the descriptor's
inputs. It is a cached tree (core.cached_tree): built aside (<cache>/sysroots/.partial-...)
under a lock, made usable for cross-linking (absolute symlinks made relative, linker scripts
checked), stamped, then renamed into place: an interrupted build never leaves a tree that later
runs would use.

A team shares Debian sysroots as archives (`invoke sysroot --pack DIR`, see sysrootpack.py)
on a static file server: with EDGEFORGE_SYSROOT_URL set, a missing Debian sysroot is fetched
from <URL>/<name>-<key>.tar.gz (verified against its .sha256 and the project's pin, extracted
with the hostile-archive rules, its stamp checked) before mmdebstrap would build it. A 404 means
the team has not published it: it is built here. A server that cannot be reached, or sends an
archive that fails a check, stops the run and leaves nothing in the cache.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeforge.config import (
    App,
    Arch,
    DebianSysroot,
    DirectorySysroot,
    Loaded,
    TarballSysroot,
    expand_path,
    sysroot_json,
)
from edgeforge.context import Context
from edgeforge.core import (
    CACHED_TREE_EPOCH,
    EdgeforgeError,
    HostSetupError,
    RemoteError,
    SourceError,
    SysrootError,
    UsageError,
    base_env,
    base_url_from_env,
    cached_tree,
    canonical_hash,
    download,
    join_url,
    jsonfile,
    safe_extract,
    sha256_file,
    verify_sha256,
    write_json,
)
from edgeforge.elf import lib_dirs, probe_tree
from edgeforge.host import debian_mirror, require_binfmt

from . import sysrootpack
from .systemlibs import DPKG_STATUS, app_packages, system_library_problems, with_packages

FORMAT = 3  # bump when the post-processing changes, so cached trees are rebuilt
STAMP = ".edgeforge-sysroot.json"


@dataclass(frozen=True)
class SysrootInfo:
    name: str
    key: str
    path: Path
    arch: Arch
    glibc: str | None
    glibcxx: str | None
    gcc_version: str | None


# ---- keys and folders ---------------------------------------------------------------------------
def project_spec(ctx: Context, loaded: Loaded) -> Any:
    """The sysroot as the project needs it: with every app's system libraries (the sysroot is
    shared by all the project's apps on a board, not only the one a command works on)."""
    return with_packages(loaded.spec, app_packages(ctx.apps()))


def sysroot_key(spec: Any) -> str:
    data = sysroot_json(spec)
    data.pop("description", None)
    data.pop("settings", None)
    if isinstance(spec, DirectorySysroot):
        data["path"] = str(expand_path(spec.path).resolve())
    return canonical_hash({"format": FORMAT, "spec": data})[:16]


def project_key(ctx: Context, loaded: Loaded) -> str:
    """The key of the sysroot the project's apps need (`project_spec`)."""
    return sysroot_key(project_spec(ctx, loaded))


def sysroot_dir(ctx: Context, loaded: Loaded) -> Path:
    return ctx.sysroots_dir / f"{loaded.name}-{project_key(ctx, loaded)}"


@dataclass(frozen=True)
class _Stamp:
    """The keys of a sysroot's stamp that are read back (it holds more: the descriptor)."""

    name: str
    key: str
    arch: Arch
    glibc: str | None = None
    glibcxx: str | None = None
    gcc_version: str | None = None


def load_info(path: Path, error: type[EdgeforgeError] = HostSetupError,
              fix: str | None = None) -> SysrootInfo | None:
    """The stamp of the finished sysroot `path` (None: it has none, it is unfinished). A damaged
    stamp is `error` naming it and the key, with `fix` (default: delete the tree and build it
    again; a cache folder edgeforge cannot use is exit 8)."""
    stamp = path / STAMP
    if not os.path.lexists(stamp):
        return None
    fix = fix or (f"fix: delete {path} and run `invoke sysroot --board BOARD` again (it is "
                  "built or fetched anew)")
    d = jsonfile.read_typed(stamp, _Stamp, f"the sysroot stamp {stamp}", error, fix=fix,
                            limit=1 << 20)
    return SysrootInfo(d.name, d.key, path, d.arch, d.glibc, d.glibcxx, d.gcc_version)


# ---- pure argv builders -----------------------------------------------------------------------
def mmdebstrap_argv(spec: DebianSysroot, target: Path, mirror: str) -> list[str]:
    suites = [spec.suite, *spec.extra_suites]
    comps = " ".join(spec.components)
    argv = [
        "mmdebstrap",
        f"--arch={spec.arch.value}",
        f"--variant={spec.variant}",
        f"--components={','.join(spec.components)}",
        "--dpkgopt=path-exclude=/usr/share/man/*",
        "--dpkgopt=path-exclude=/usr/share/locale/*",
        "--dpkgopt=path-exclude=/usr/share/doc/*",
        "--dpkgopt=path-include=/usr/share/doc/*/copyright",
    ]
    if spec.packages:
        argv.append("--include=" + ",".join(spec.packages))
    argv += [spec.suite, str(target)]
    argv += [f"deb {mirror} {s} {comps}" for s in suites]
    return argv


# ---- post-processing ----------------------------------------------------------------------------
def make_links_relative(root: Path) -> int:
    """Rewrite absolute symlinks inside `root` so they resolve inside the tree."""
    count = 0
    root = Path(root)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            if not p.is_symlink():
                continue
            target = os.readlink(p)
            if not target.startswith("/"):
                continue
            here = "/" + str(Path(dirpath).relative_to(root))
            rel = os.path.relpath(os.path.normpath(target), os.path.normpath(here))
            p.unlink()
            os.symlink(rel, p)
            count += 1
    return count


_LDSCRIPT_FILE = re.compile(r"(?<![\w.=$-])(/[\w./+-]+)")


def check_linker_scripts(root: Path, arch: Arch) -> list[Path]:
    """Find linker scripts (text .so files such as libc.so) and check their absolute paths.

    GNU ld and lld look up absolute paths of a script that lies inside the sysroot under the
    sysroot itself, so the scripts may stay as they are; but every file they name must exist
    inside the tree, otherwise linking would fall back to the host's.
    """
    scripts = []
    problems = []
    for libdir in lib_dirs(root, arch):
        d = root / libdir.lstrip("/")
        if not d.is_dir():
            continue
        for f in d.glob("*.so"):
            if f.is_symlink() or not f.is_file() or f.stat().st_size > 8192:
                continue
            head = f.read_bytes()[:8192]
            if head.startswith(b"\x7fELF") or b"\0" in head:
                continue
            text = head.decode("utf-8", errors="replace")
            if "GROUP" not in text and "INPUT" not in text:
                continue
            scripts.append(f)
            body = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
            for ref in _LDSCRIPT_FILE.findall(body):
                if not (root / ref.lstrip("/")).exists():
                    problems.append(f"{f.relative_to(root)} names {ref}, missing from the sysroot")
    if problems:
        raise SysrootError("broken linker scripts in sysroot " + str(root) + ":\n  " +
                           "\n  ".join(problems))
    return scripts


# ---- building -----------------------------------------------------------------------------------
def ensure_sysroot(ctx: Context, loaded: Loaded, board: str | None = None) -> SysrootInfo:
    """Build or import the sysroot unless the cache already holds it (then: no-op); a Debian
    sysroot gets the project's apps' system libraries, any other kind is checked to hold them."""
    spec = project_spec(ctx, loaded)
    key = sysroot_key(spec)
    final = ctx.sysroots_dir / f"{loaded.name}-{key}"
    fix = (f"fix: delete {final} and run `invoke sysroot --board {board or 'BOARD'}` again (it "
           "is built or fetched anew)")
    found: list[SysrootInfo] = []
    built: list[Path] = []

    def complete(folder: Path) -> bool:
        info = load_info(folder, fix=fix)
        if info:
            found.append(info)
        return info is not None

    def build(partial: Path) -> Path:
        """The tree to rename into place: the team's published one, else built here."""
        fetched = None
        if isinstance(loaded.spec, DebianSysroot):
            fetched = fetch_published(ctx, loaded, key, partial)
        if fetched is None:
            _build_and_stamp(ctx, loaded, spec, key, partial, board)
            fetched = partial / "root"
        built.append(fetched)
        return fetched

    cached_tree(final, complete, build, on_unfinished=lambda p: ctx.reporter.warn(
        f"removing unfinished sysroot {p} (no stamp)"))
    if built:
        info = load_info(final)
        assert info is not None
        ctx.reporter.info(f"sysroot {loaded.name} ready at {final}")
    else:  # the cache held it, or another process finished it while we waited
        info = found[-1]
    check_system_libraries(ctx, loaded, info.path, ctx.apps())
    return info


def _build_and_stamp(ctx: Context, loaded: Loaded, spec: Any, key: str, partial: Path,
                     board: str | None) -> None:
    """Build or import the tree (`spec`: the descriptor with the apps' packages) into
    partial/root, check it and stamp it."""
    tree = partial / "root"
    with ctx.reporter.step(f"building sysroot {loaded.name} ({spec.kind}, {spec.arch.value})"):
        if isinstance(spec, DebianSysroot):
            _build_debian(ctx, spec, tree, board)
        elif isinstance(spec, TarballSysroot):
            _import_tarball(ctx, loaded, spec, partial, tree)
        elif isinstance(spec, DirectorySysroot):
            _import_directory(ctx, loaded, spec, tree)
        fixed = make_links_relative(tree)
        scripts = check_linker_scripts(tree, spec.arch)
        probed = probe_tree(tree, spec.arch)
        if not probed["glibc"]:
            raise SysrootError(
                f"sysroot {loaded.name} ({ctx.catalog.rel(loaded.path)}) has no "
                f"libc.so.6 in {', '.join(lib_dirs(tree, spec.arch)[:2])}: it is not an "
                f"{spec.arch.value} glibc root file system"
            )
        ctx.reporter.info(
            f"glibc {probed['glibc']}, libstdc++ up to GLIBCXX_{probed['glibcxx']}, "
            f"gcc {probed['gcc_version']}; {fixed} absolute links made relative, "
            f"{len(scripts)} linker scripts checked"
        )
        write_json(tree / STAMP, {
            "name": loaded.name, "key": key, "arch": spec.arch.value,
            "descriptor": sysroot_json(spec), **probed,
        })


# ---- a vendor tree and the apps' system libraries ----------------------------------------------
def check_system_libraries(ctx: Context, loaded: Loaded, tree: Path, apps: Iterable[App]) -> None:
    """A tarball or directory sysroot has no package list to add the apps' system libraries to:
    each must already be installed in it (its dpkg status says so)."""
    needing = [a for a in apps if a.spec.system_libraries]
    if not needing or isinstance(loaded.spec, DebianSysroot):
        return
    status_file = tree / DPKG_STATUS
    status = status_file.read_text(encoding="utf-8", errors="replace") \
        if status_file.is_file() else None
    problems = system_library_problems(loaded, ctx.catalog.rel(loaded.path), needing, status)
    if problems:
        raise SysrootError("\n".join(problems))


# ---- sharing over a file server -----------------------------------------------------------------
def published_pin(ctx: Context, archive: str) -> tuple[str | None, str]:
    """The project's pin for a packed sysroot (None: not pinned), and the pin file's name."""
    path = ctx.catalog.root / "sysroots" / sysrootpack.PINS_FILE
    rel = ctx.catalog.rel(path)
    if not path.is_file():
        return None, rel
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SysrootError(f"{rel}: cannot be read ({exc}); restore it from git") from None
    return sysrootpack.parse_pins(text, rel).get(archive), rel


def fetch_published(ctx: Context, loaded: Loaded, key: str, partial: Path) -> Path | None:
    """The team's packed sysroot, downloaded and extracted inside `partial` and checked, ready
    to be renamed into place; None when EDGEFORGE_SYSROOT_URL is unset or the server has none
    (a 404). Everything it writes stays inside `partial`."""
    base = base_url_from_env(sysrootpack.URL_VAR, sysrootpack.LAYOUT)
    if not base:
        return None
    spec = loaded.spec
    folder = f"{loaded.name}-{key}"
    name = sysrootpack.archive_name(folder)
    url, sha_url = join_url(base, name), join_url(base, name + ".sha256")

    def fetch(u: str, dest: Path) -> Path | None:
        try:
            return download(u, dest, f"sysroot {loaded.name}", missing_ok=True)
        except SourceError as exc:
            raise RemoteError(
                f"the team's sysroot server ({sysrootpack.URL_VAR}) did not answer: {exc.message};"
                " nothing was added to the cache. Fix: start the file server or correct the URL;"
                f" or unset {sysrootpack.URL_VAR} to build the sysroot here with mmdebstrap"
            ) from None

    sha_path = fetch(sha_url, partial / (name + ".sha256"))
    if sha_path is None:
        ctx.reporter.info(f"no published sysroot at {url} (HTTP 404 for its .sha256): building "
                          "it here")
        return None
    published = sysrootpack.parse_sha256_file(
        sha_path.read_text(errors="replace")[:4096], name, sha_url)
    pinned, pins_rel = published_pin(ctx, name)
    if pinned and pinned != published:
        raise SourceError(
            f"{sha_url} publishes sha256 {published} for {name}, but {pins_rel} pins {pinned}: "
            "the server holds another archive than the one the project trusts; nothing was "
            "downloaded. Fix: publish the pinned archive again, or update the pin after checking "
            "the new one")
    host = urllib.parse.urlsplit(url).hostname or ""
    if not pinned and url.startswith("http://") and host not in ("127.0.0.1", "localhost", "::1"):
        raise SourceError(
            f"{url} would be trusted on its own server's word: {sysrootpack.URL_VAR} is plain "
            f"HTTP and {pins_rel} pins no sha256 for {name}, so anyone on the network could swap "
            "the sysroot every binary links against; nothing was downloaded. Fix: commit the "
            f"line `invoke sysroot --pack` printed to {pins_rel}, or serve it over https")
    if not pinned:
        ctx.reporter.warn(f"sysroot {name}: no pin in {pins_rel}; trusting {sha_url}")
    expected = pinned or published
    with ctx.reporter.step(f"fetching sysroot {loaded.name} ({spec.arch.value}) from {url}"):
        archive = fetch(url, partial / name)
        if archive is None:
            raise RemoteError(
                f"the team's sysroot server publishes {sha_url} but not {url} (HTTP 404); "
                f"fix: publish both files of `invoke sysroot --pack DIR`, or unset "
                f"{sysrootpack.URL_VAR} to build the sysroot here")
        actual = sha256_file(archive)
        if actual != expected:
            against = f"the pin in {pins_rel}" if pinned else sha_url
            raise SourceError(
                f"checksum mismatch for the sysroot archive {url} ({sysrootpack.URL_VAR}): "
                f"expected sha256 {expected} ({against}), got {actual}; nothing was added to the "
                "cache. Fix: publish it again with `invoke sysroot --pack DIR` (the file is "
                f"corrupt or was replaced), or unset {sysrootpack.URL_VAR} to build it here")
        report = safe_extract(archive, partial / "extract", rootfs=True)
        archive.unlink()
        tree = partial / "extract" / folder
        if tree.is_symlink() or not tree.is_dir():
            raise SysrootError(
                f"the sysroot archive {url} has no top folder {folder}/: it was not made by "
                "`invoke sysroot --pack` for this sysroot; nothing was added to the cache. Fix: "
                f"publish it again, or unset {sysrootpack.URL_VAR} to build the sysroot here")
        sysrootpack.check_stamp(_read_stamp(tree), loaded.name, key, spec.arch.value, url)
        check_linker_scripts(tree, spec.arch)
        probed = probe_tree(tree, spec.arch)
        info = load_info(tree, SysrootError, fix=f"fix: publish it again with `invoke sysroot "
                         f"--pack DIR`, or unset {sysrootpack.URL_VAR} to build it here")
        assert info is not None
        if (probed["glibc"], probed["glibcxx"]) != (info.glibc, info.glibcxx):
            raise SysrootError(
                f"the sysroot archive {url} does not hold what its stamp says: glibc "
                f"{probed['glibc']} and GLIBCXX_{probed['glibcxx']} in the tree, glibc "
                f"{info.glibc} and GLIBCXX_{info.glibcxx} in the stamp; nothing was added to the "
                "cache. Fix: publish it again with `invoke sysroot --pack DIR`")
        extra = f", {len(report.skipped_devices)} device nodes skipped" \
            if report.skipped_devices else ""
        ctx.reporter.info(f"fetched sysroot {loaded.name} from {url}: sha256 {actual} verified "
                          f"({'pinned in ' + pins_rel if pinned else 'published .sha256'}), "
                          f"stamp key {key}, glibc {info.glibc}, GLIBCXX_{info.glibcxx}{extra}")
    return tree


def _read_stamp(tree: Path) -> dict | None:
    """The stamp of a fetched archive (the server's word: size- and depth-capped), or None when
    it has none that reads as a JSON object (check_stamp says so)."""
    try:
        data = jsonfile.read(tree / STAMP, error=SysrootError, limit=1 << 20)
    except SysrootError:
        return None
    return data if isinstance(data, dict) else None


def pack_sysroot(ctx: Context, loaded: Loaded, info: SysrootInfo,
                 out_dir: Path) -> sysrootpack.Packed:
    """Write the cached sysroot as a reproducible archive (+ .sha256) into out_dir."""
    spec = loaded.spec
    if not isinstance(spec, DebianSysroot):
        origin = "an archive" if isinstance(spec, TarballSysroot) else "a folder on this machine"
        raise UsageError(
            f"--pack: sysroot {loaded.name} is kind '{spec.kind}', imported from {origin}, not "
            "built here; share that instead (a tarball descriptor fetches its archive with "
            "'url:' and 'sha256:'). --pack is for Debian sysroots built with mmdebstrap")
    with ctx.reporter.step(f"packing sysroot {loaded.name} into {out_dir}"):
        try:
            packed = sysrootpack.pack(info.path, info.path.name, out_dir, CACHED_TREE_EPOCH)
        except OSError as exc:  # an unreadable file, a full disk: no half archive is left
            raise SysrootError(f"--pack: cannot write the archive of {loaded.name} into {out_dir}:"
                               f" {exc}; fix: free space or choose another folder") from None
    if packed.skipped:
        ctx.reporter.info(f"left out {len(packed.skipped)} device nodes, FIFOs or sockets "
                          f"({', '.join(packed.skipped[:3])}...): a sysroot needs none")
    return packed


def _build_debian(ctx: Context, spec: DebianSysroot, tree: Path, board: str | None) -> None:
    mirror = debian_mirror()
    if not mirror:
        raise SysrootError(
            "cannot tell which Debian mirror to use: no 'deb' entry for a Debian suite in "
            "/etc/apt; set EDGEFORGE_DEBIAN_MIRROR to the mirror's URL"
        )
    require_binfmt(spec.arch, why=f"mmdebstrap runs {spec.arch.value} maintainer scripts")
    env = base_env({"SOURCE_DATE_EPOCH": str(CACHED_TREE_EPOCH)})
    ctx.runner(board).run(
        mmdebstrap_argv(spec, tree, mirror),
        what=f"mmdebstrap {spec.suite} {spec.arch.value}",
        needed_by=f"sysroot kind 'debian' ({spec.suite})",
        env=env,
        timeout=3600,
    )


def subdir_parts(subdir: str | None, rel: str) -> tuple[str, ...]:
    """The components of a descriptor's 'subdir:', which must stay inside the archive."""
    if not subdir:
        return ()
    parts = tuple(p for p in subdir.split("/") if p not in ("", "."))
    if subdir.startswith("/") or "\0" in subdir or ".." in parts:
        raise SysrootError(
            f"key 'subdir' in {rel}: {subdir!r} must be a relative path inside the archive "
            "(no '/' at the start, no '..'); fix: e.g. 'subdir: rootfs'"
        )
    return parts


def archive_subdir(extracted: Path, subdir: str | None, rel: str) -> Path:
    """The folder 'subdir:' names inside the extracted archive: every component a real folder
    (a symlink is never followed), and the result inside `extracted`."""
    folder = extracted
    for part in subdir_parts(subdir, rel):
        folder = folder / part
        try:
            mode = folder.lstat().st_mode
        except (FileNotFoundError, NotADirectoryError):
            mode = 0
        if stat.S_ISLNK(mode):
            raise SysrootError(
                f"key 'subdir' in {rel}: {subdir!r}: {part!r} is a symlink in the archive (to "
                f"{os.readlink(folder)!r}), not a folder; fix: name the real folder instead"
            )
        if not stat.S_ISDIR(mode):
            raise SysrootError(
                f"key 'subdir' in {rel}: {subdir!r} is not a folder in the archive; fix: list "
                "the archive (tar tf ARCHIVE) and name the folder that holds lib/ and usr/"
            )
    top, real = os.path.realpath(extracted), os.path.realpath(folder)
    if os.path.commonpath([top, real]) != top:  # unreachable after the walk; kept as a guard
        raise SysrootError(f"key 'subdir' in {rel}: {subdir!r} leads outside the archive")
    return folder


def _import_tarball(ctx: Context, loaded: Loaded, spec: TarballSysroot, partial: Path,
                    tree: Path) -> None:
    rel = ctx.catalog.rel(loaded.path)
    subdir_parts(spec.subdir, rel)  # refuse a bad 'subdir:' before fetching or extracting
    if spec.file:
        archive = expand_path(spec.file)
        if not archive.is_file():
            raise SysrootError(
                f"key 'file' in {rel}: {archive} does not exist; download the vendor rootfs "
                "archive there or fix the path"
            )
    elif spec.url:
        archive = ctx.downloads_dir / f"{spec.sha256}-{Path(spec.url).name}"
        if not archive.is_file():
            try:
                download(spec.url, archive, f"key 'url' in {rel}")
            except SourceError as exc:
                raise SourceError(f"{exc.message}; download it by hand and set 'file:' to its "
                                  "path") from None
    else:
        raise SysrootError(f"{rel}: a tarball sysroot needs 'file' or 'url'")
    verify_sha256(archive, spec.sha256, f"sysroot archive of {loaded.name} ({rel})")
    extract_to = partial / "extract"
    report = safe_extract(archive, extract_to, rootfs=True)
    if report.skipped_devices:
        ctx.reporter.info(f"skipped {len(report.skipped_devices)} device nodes from the archive")
    os.rename(archive_subdir(extract_to, spec.subdir, rel), tree)


def _import_directory(ctx: Context, loaded: Loaded, spec: DirectorySysroot, tree: Path) -> None:
    rel = ctx.catalog.rel(loaded.path)
    src = expand_path(spec.path)
    if not src.is_dir():
        raise SysrootError(
            f"key 'path' in {rel}: {src} is not a directory; copy the "
            "device's root file system there (e.g. rsync -a device:/{lib,usr,etc} DIR) or fix it"
        )
    if tree.parent.resolve().is_relative_to(src.resolve()):
        raise SysrootError(
            f"key 'path' in {rel}: {src} holds edgeforge's cache ({tree.parent}), which would be "
            "copied into itself; fix: copy the device's tree into a folder of its own, or set "
            "EDGEFORGE_CACHE to a folder outside it"
        )
    pseudo = {"dev", "proc", "sys", "run", "tmp"}  # a live device's virtual file systems
    special: list[str] = []  # device nodes, FIFOs, sockets: copying would read the host's

    def ignore(folder: str, names: list[str]) -> set[str]:
        out = pseudo & set(names) if Path(folder) == src else set()
        for n in set(names) - out:
            try:
                mode = os.lstat(os.path.join(folder, n)).st_mode
            except OSError:
                continue
            if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
                out.add(n)
                special.append(os.path.join(folder, n))
        return out

    shutil.copytree(src, tree, symlinks=True, ignore_dangling_symlinks=True, ignore=ignore)
    if special:
        ctx.reporter.info(f"skipped {len(special)} device nodes, FIFOs or sockets in {src}")
