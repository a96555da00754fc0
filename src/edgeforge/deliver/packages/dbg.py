"""The release's debug artifacts: what `debuginfo.split_tree` kept aside when the app was built.

- `<package>-dbg_<version>_<arch>.deb` (boards whose installers include a .deb): the debug files
  under /usr/lib/debug/.build-id/ (gdb's default debug-file-directory on the device), Depends
  on exactly the same version of the app, Section debug, like Debian's -dbgsym packages;
- `<package>-dbg-<version>-<board>.tar.xz` (every board): the same `.build-id/` tree, for a
  developer's machine (`invoke debug` and gdb's `debug-file-directory` read it as it is).

Both are reproducible: sorted members, the release's time, numeric root owners.
"""

from __future__ import annotations

import lzma
import os
import tarfile
from pathlib import Path

from debian.deb822 import Deb822

from edgeforge.core import DescriptorError, Runner
from edgeforge.elf import BUILD_ID_DIR

from ..inputs import ReleaseInput, normalise_times
from .deb import build_deb, changelog_text, installed_size, md5sums_text
from .staging import (
    InstallersSpec,
    folder_modes,
    gzip_bytes,
    load_installers,
    notices_text,
    package_version,
    write_file,
)

DEBUG_DIR = "usr/lib/debug"


def dbg_name(spec: InstallersSpec) -> str:
    return f"{spec.package}-dbg"


def tarball_name(spec: InstallersSpec, version: str, board: str) -> str:
    return f"{dbg_name(spec)}-{package_version(version)}-{board}.tar.xz"


def dbg_control_text(spec: InstallersSpec, version: str, arch: str, size_kib: int) -> str:
    fields = Deb822()
    fields["Package"] = dbg_name(spec)
    fields["Source"] = spec.package
    fields["Version"] = version
    fields["Architecture"] = arch
    fields["Maintainer"] = spec.maintainer
    fields["Installed-Size"] = str(size_kib)
    fields["Depends"] = f"{spec.package} (= {version})"
    fields["Section"] = "debug"
    fields["Priority"] = "optional"
    if spec.homepage:
        fields["Homepage"] = spec.homepage
    fields["Description"] = (
        f"debug symbols for {spec.package}\n"
        f" The separate debug information of the programs and libraries shipped in\n"
        f" {spec.prefix}, found by gdb through their build-ids.")
    return fields.dump()


def debug_files(symbols: Path) -> list[Path]:
    """The debug files under symbols/.build-id/, sorted."""
    root = symbols / BUILD_ID_DIR
    return sorted(p for p in root.rglob("*.debug") if p.is_file()) if root.is_dir() else []


def copy_build_ids(symbols: Path, dest: Path) -> int:
    files = debug_files(symbols)
    for f in files:
        write_file(dest / f.relative_to(symbols), f.read_bytes())
    return len(files)


def stage_dbg_deb(inp: ReleaseInput, spec: InstallersSpec, symbols: Path, root: Path) -> None:
    version = package_version(inp.version)
    (root / "DEBIAN").mkdir(parents=True)
    copy_build_ids(symbols, root / DEBUG_DIR)
    doc = root / "usr/share/doc" / dbg_name(spec)
    write_file(doc / "copyright", notices_text(inp, spec, debian=True))
    write_file(doc / "changelog.gz", gzip_bytes(changelog_text(inp, spec).encode()))
    write_file(root / "DEBIAN/md5sums", md5sums_text(root))
    write_file(root / "DEBIAN/control", dbg_control_text(
        spec, version, inp.target.arch.value, installed_size(root)))
    folder_modes(root)
    normalise_times(root, inp.source_date_epoch)


def write_tarball(symbols: Path, out: Path, epoch: int) -> Path:
    """The `.build-id/` tree as a reproducible .tar.xz."""
    def add(tar: tarfile.TarFile, path: Path, arcname: str) -> None:
        info = tar.gettarinfo(str(path), arcname=arcname)
        info.mtime = epoch
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mode = 0o755 if info.isdir() else 0o644
        if info.isreg():
            with open(path, "rb") as fh:
                tar.addfile(info, fh)
        else:
            tar.addfile(info)

    with open(out, "wb") as raw, lzma.LZMAFile(raw, "wb", preset=6) as xz, \
            tarfile.open(fileobj=xz, mode="w", format=tarfile.GNU_FORMAT) as tar:
        root = symbols / BUILD_ID_DIR
        add(tar, root, BUILD_ID_DIR)
        for dirpath, dirs, files in os.walk(root):
            dirs.sort()
            for name in [*dirs, *sorted(files)]:
                p = Path(dirpath) / name
                if p.is_file() or p.is_dir():
                    add(tar, p, str(p.relative_to(symbols)))
    os.utime(out, (epoch, epoch))
    return out


def write_dbg(inp: ReleaseInput, symbols: Path, out_dir: Path, runner: Runner, *,
              deb: bool, lint: bool = True) -> list[Path]:
    """The tarball, and the -dbg .deb when the board ships a .deb; returns their paths."""
    spec = load_installers(inp.project_root, inp.app)
    if not debug_files(symbols):
        raise DescriptorError(
            f"{symbols} holds no debug files: the app was built without debug information "
            f"(settings: debug_info is {inp.target.debug_info}); set debug_info: full (or "
            "lines) in toolchains/defaults.yaml and rebuild")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [write_tarball(symbols, out_dir / tarball_name(spec, inp.version, inp.board),
                             inp.source_date_epoch)]
    if deb:
        written.append(build_deb(inp, dbg_name(spec), out_dir,
                                 lambda root: stage_dbg_deb(inp, spec, symbols, root), runner,
                                 lint=lint))
    return written
