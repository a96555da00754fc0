"""The .run: a self-extracting installer for every board, for devices without a package
manager edgeforge targets (or users without root).

A POSIX sh header (images/<app>/run/header.sh.j2) followed by a gzip-compressed tar archive of
the app (bin/, lib/, share/), its licence notices and an uninstaller. The header checks, in
this order, that the CPU is the board's (`uname -m`) and the board's loader exists, that the C
library is at least the board's ABI ceiling (`getconf GNU_LIBC_VERSION`, else the loader's
`--version`), that the payload has its recorded size and sha256; then installs into `--prefix`
(default from images/<app>/installers.yaml), recording the folders it creates, so that the
uninstaller removes exactly what was installed. gzip rather than xz: every device has gzip
(Debian's minbase has no xz).

Written in Python, not by makeself: the archive is built with sorted members, owner root:root,
every time at SOURCE_DATE_EPOCH, gzip without name or time, so a rebuild gives the same bytes
wherever it is written.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edgeforge.config import Arch
from edgeforge.core import InstallerError, Runner

from ..inputs import ReleaseInput
from ..scan import scan_tree
from .staging import (
    InstallersSpec,
    copy_app,
    folder_modes,
    load_installers,
    notices_text,
    package_version,
    template_env,
    template_vars,
    write_file,
)

OFFSET_WIDTH = 12
_SAFE_NAME = re.compile(r"^[A-Za-z0-9._+@=-][A-Za-z0-9._+@=/-]*$")


@dataclass(frozen=True)
class Platform:
    """What the header checks the device against."""

    machines: tuple[str, ...]   # acceptable `uname -m`
    description: str
    loader: str                 # the board's program interpreter
    glibc: str                  # the board's ABI ceiling


def platform_for(arch: Arch, glibc: str) -> Platform:
    if arch is Arch.ARM64:
        return Platform(("aarch64", "arm64"), "aarch64 (64-bit Arm)", arch.interpreter, glibc)
    # a 64-bit kernel may run the 32-bit userland: the loader check tells them apart
    return Platform(("armv7l", "armv8l", "aarch64"), "armhf (32-bit Arm, hard-float)",
                    arch.interpreter, glibc)


def run_filename(package: str, version: str, board: str) -> str:
    return f"{package}-{version}-{board}.run"


def uninstaller_name(package: str) -> str:
    return f"uninstall-{package}"


# ---- the payload ----------------------------------------------------------------------------
def tree_entries(root: Path) -> tuple[list[str], list[str]]:
    """(folders, files and links) of a tree, relative, sorted (parents before children)."""
    folders, files = [], []
    for dirpath, dirs, names in os.walk(root):
        dirs.sort()
        rel = Path(dirpath).relative_to(root)
        for d in dirs:
            p = Path(dirpath) / d
            (files if p.is_symlink() else folders).append(str(rel / d))
        files += [str(rel / n) for n in names]
    for name in folders + files:
        if not _SAFE_NAME.match(name) or "/../" in f"/{name}/":
            raise InstallerError(f"cannot put {name!r} into a .run: file names there must be "
                                 "letters, digits and ._+@=-")
    return sorted(folders), sorted(files)


def payload_tar(root: Path, epoch: int) -> bytes:
    """A deterministic tar of the tree: sorted, root:root, every time `epoch`, no '.' entry
    (extracting never changes the prefix folder itself)."""
    folders, files = tree_entries(root)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name in sorted(folders + files):
            path = root / name
            info = tar.gettarinfo(str(path), arcname=name)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = epoch
            if info.isdir():
                info.mode = 0o755
            elif info.isfile():
                info.mode = 0o755 if path.stat().st_mode & 0o100 else 0o644
            if info.isfile():
                with open(path, "rb") as fh:
                    tar.addfile(info, fh)
            else:
                tar.addfile(info)
    return buf.getvalue()


def compress(data: bytes) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=9, mtime=0) as gz:
        gz.write(data)
    return out.getvalue()


# ---- the scripts ----------------------------------------------------------------------------
def uninstaller_text(inp: ReleaseInput, spec: InstallersSpec, files: list[str]) -> str:
    return template_env(inp.project_root, inp.app).get_template(
        "run/uninstall.sh.j2").render(files=files, **template_vars(inp, spec))


def header_text(inp: ReleaseInput, spec: InstallersSpec, *, filename: str, folders: list[str],
                files: list[str], payload: bytes) -> bytes:
    """The sh header; PAYLOAD_OFFSET is its own length (padded to a fixed width, so the
    number does not change the length it measures)."""
    plat = platform_for(inp.target.arch, inp.target.abi.glibc)
    tmpl = template_env(inp.project_root, inp.app).get_template("run/header.sh.j2")

    def render(offset: str) -> bytes:
        return tmpl.render(
            filename=filename, folders=folders, files=files, machines=plat.machines,
            arch_desc=plat.description, loader=plat.loader, glibc=plat.glibc,
            default_prefix=spec.run.default_prefix, payload_size=len(payload),
            payload_sha256=hashlib.sha256(payload).hexdigest(), offset=offset,
            **template_vars(inp, spec)).encode()

    draft = render("X" * OFFSET_WIDTH)
    offset = str(len(draft)).ljust(OFFSET_WIDTH)
    text = render(offset)
    if len(text) != len(draft):
        raise InstallerError("the .run header changed length when its offset was filled in")
    return text


def stage_run(inp: ReleaseInput, spec: InstallersSpec, root: Path,
              runner: Runner) -> tuple[list[str], list[str]]:
    """The tree the .run installs below --prefix (the app as built, its notices, the
    uninstaller); returns its (folders, files)."""
    copy_app(inp.app_dir, root)  # stripped when it was built (debuginfo.py)
    if not (root / inp.app.program).is_file():
        raise InstallerError(f"{inp.app_dir} has no {inp.app.program}: is the app built?")
    write_file(root / "share/doc" / spec.package / "copyright", notices_text(inp, spec))
    uninstaller = root / uninstaller_name(spec.package)
    write_file(uninstaller, "", 0o755)  # listed by itself; written below
    folders, files = tree_entries(root)
    write_file(uninstaller, uninstaller_text(inp, spec, files), 0o755)
    folder_modes(root)
    return folders, files


def write_run(inp: ReleaseInput, out_dir: Path, runner: Runner) -> Path:
    """Write the board's .run into out_dir; returns its path."""
    spec = load_installers(inp.project_root, inp.app)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / run_filename(spec.package, package_version(inp.version), inp.board)
    with tempfile.TemporaryDirectory(prefix=".run-", dir=out_dir) as tmp:
        root = Path(tmp) / "root"
        with runner.reporter.step(f"self-extracting installer {out.name}"):
            folders, files = stage_run(inp, spec, root, runner)
            scan_tree(root, f"the installer {out.name}", inp.board, elf_keys_under="/")
            payload = compress(payload_tar(root, inp.source_date_epoch))
            header = header_text(inp, spec, filename=out.name, folders=folders, files=files,
                                 payload=payload)
            part = Path(tmp) / out.name
            part.write_bytes(header + payload)
            os.chmod(part, 0o755)
            os.utime(part, (inp.source_date_epoch, inp.source_date_epoch))
            part.replace(out)
            runner.reporter.info(f"{out.name}: {len(files)} files, {len(payload)} bytes of payload")
    return out
