"""What must never be in a container image, checked in every layer as it is read: ELF files of
another machine (a wrong-architecture base, a host tool copied by mistake) and secrets (private
keys, credential files). Pure checks of names and first bytes, and a layer visitor
(`ContentScan`) that reads each file once and can feed a base image's tree index on the way."""

from __future__ import annotations

import fnmatch
import os
import posixpath
import re
import stat
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from edgeforge.config import Arch
from edgeforge.core import ImageContentError

from .oci.layout import MAX_JSON
from .oci.read import TreeIndex

EM_NAMES = {3: "x86 (EM_386)", 8: "MIPS", 20: "PowerPC", 21: "PowerPC64", 22: "S/390",
            40: "32-bit ARM (EM_ARM)", 62: "x86-64 (EM_X86_64)", 183: "AArch64 (EM_AARCH64)",
            243: "RISC-V"}
EM_CODES = {Arch.ARM64: 183, Arch.ARMHF: 40}
EF_ARM_ABI_FLOAT_HARD = 0x400
#: file names that are secrets wherever they are
SECRET_NAMES = ("id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "*.id_rsa", "ssh_host_*_key",
                ".netrc", ".git-credentials", ".pypirc", "secring.gpg", "*.p12", "*.pfx",
                "credentials.json", ".dockercfg")
#: paths that are secrets
SECRET_PATHS = ("*/.docker/config.json", "*/.aws/credentials", "*/private-keys-v1.d/*",
                "*/.gnupg/*.key", "*/.ssh/*_key")
#: a PEM or OpenPGP private key: the armour line, optional headers, then the base64 body (a
#: library that only names the armour, as GnuTLS and OpenSSL do, is not a key)
SECRET_CONTENT = re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----\r?\n"
                            rb"(?:[A-Za-z-]+: [^\r\n]*\r?\n)*\r?\n?[A-Za-z0-9+/=]{40}")


def elf_header(head: bytes) -> tuple[int, int, str, int] | None:
    """(class 32/64, e_machine, e_type name, e_flags) of an ELF file's first bytes."""
    if len(head) < 52 or head[:4] != b"\x7fELF" or head[4] not in (1, 2) or head[5] not in (1, 2):
        return None
    end = "<" if head[5] == 1 else ">"
    e_type, machine = struct.unpack_from(end + "HH", head, 16)
    if head[4] == 2:
        if len(head) < 64:
            return None
        flags = struct.unpack_from(end + "I", head, 48)[0]
    else:
        flags = struct.unpack_from(end + "I", head, 36)[0]
    types = {1: "ET_REL", 2: "ET_EXEC", 3: "ET_DYN", 4: "ET_CORE"}
    return (32 if head[4] == 1 else 64), machine, types.get(e_type, str(e_type)), flags


def foreign_elf(head: bytes, arch: Arch) -> str | None:
    """Why an ELF file (its first 64 bytes) would not run on `arch`, or None."""
    h = elf_header(head)
    if h is None:
        return None
    cls, machine, e_type, flags = h
    if machine != EM_CODES[arch]:
        return f"an ELF file for {EM_NAMES.get(machine, f'machine {machine}')}"
    if cls != arch.elf_class:
        return f"a {cls}-bit ELF file"
    if arch is Arch.ARMHF and e_type in ("ET_EXEC", "ET_DYN") and not flags & EF_ARM_ABI_FLOAT_HARD:
        return "a soft-float ARM ELF file (the board is hard-float)"
    return None


def secret_path(path: str) -> bool:
    name = posixpath.basename(path)
    return (any(fnmatch.fnmatchcase(name, p) for p in SECRET_NAMES)
            or any(fnmatch.fnmatchcase(path, p) for p in SECRET_PATHS))


class ContentScan:
    """Collects, over every layer, ELF files of another machine and secrets; feeds a tree index
    (for a base image) on the way, reading each file once."""

    CHUNK = 1 << 20

    def __init__(self, arch: Arch, allowed_foreign: Sequence[str] = (),
                 tree: TreeIndex | None = None, elf_keys_under: str | None = None):
        """`elf_keys_under`: the folder whose ELF files are searched for embedded private keys
        (the app's own programs). ELF files elsewhere come from distribution packages, whose
        crypto libraries carry published self-test keys (GnuTLS's FIPS known-answer tests);
        every other file is searched wherever it is."""
        self.arch = arch
        self.elf_keys_under = elf_keys_under
        self.allowed_foreign = tuple(allowed_foreign)
        self.tree = tree
        self.foreign: list[str] = []
        self.secrets: list[str] = []

    def visitor(self, layer: str) -> Callable[[Any, IO[bytes] | None], None]:
        def visit(m, data: IO[bytes] | None) -> None:
            path = "/" + "/".join(p for p in m.name.split("/") if p not in ("", "."))
            if self.tree is not None:
                self.tree.add(m)
            if data is None:
                return
            if secret_path(path):
                self.secrets.append(f"{path} ({layer}): a key or credentials file")
            keep = self.tree is not None and path in self.tree.wanted and m.size <= MAX_JSON
            kept: list[bytes] = []
            tail = b""
            first = True
            search = True
            while chunk := data.read(self.CHUNK):
                if first:
                    first = False
                    why = foreign_elf(chunk[:64], self.arch)
                    if why and not any(fnmatch.fnmatchcase(path, p) for p in self.allowed_foreign):
                        self.foreign.append(f"{path} ({layer}): {why}")
                    if chunk.startswith(b"\x7fELF"):
                        under = self.elf_keys_under
                        search = under is not None and path.startswith(under.rstrip("/") + "/")
                window = tail + chunk
                if search and SECRET_CONTENT.search(window):
                    self.secrets.append(f"{path} ({layer}): holds a private key")
                    tail = b""
                else:
                    tail = window[-4096:]
                if keep:
                    kept.append(chunk)
            if keep:
                self.tree.contents[path] = b"".join(kept)  # type: ignore[union-attr]
        return visit

    def check(self, board: str, what: str = "the container image") -> None:
        problems = []
        if self.foreign:
            problems.append(f"files that would not run on {board} ({self.arch.value}):")
            problems += [f"  {p}" for p in self.foreign[:20]]
            if len(self.foreign) > 20:
                problems.append(f"  and {len(self.foreign) - 20} more")
        if self.secrets:
            problems.append("secrets that must never ship in an image:")
            problems += [f"  {p}" for p in sorted(set(self.secrets))[:20]]
        if problems:
            raise ImageContentError(
                f"{what} would carry " + "\n".join(problems) + "\nfix: remove them "
                "from the app folder, the image's files or the base image (a base's co-processor "
                "firmware can be allowed with base.foreign_elf_allowed in image.yaml)")


@dataclass(frozen=True)
class _TreeMember:
    """What a layer visitor needs of a tar member, for a file of a folder."""

    name: str
    size: int


def scan_tree(root: Path, what: str, board: str, *, elf_keys_under: str | None = None) -> None:
    """The secret scan of container layers, over a staged tree (a device image's root file
    system, an SDK, an installer's payload): links are not followed, every regular file is read.
    ELF files of another machine are not searched for: a device's co-processor firmware is
    ELF, and the ABI gate checks every program that edgeforge builds."""
    scan = ContentScan(Arch.ARM64, allowed_foreign=("*",), elf_keys_under=elf_keys_under)
    visit = scan.visitor(what)
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            path = Path(dirpath) / name
            st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode):
                continue
            rel = path.relative_to(root).as_posix()
            with open(path, "rb") as fh:
                visit(_TreeMember(rel, st.st_size), fh)
    scan.check(board, what)
