"""Split debug information: what ships is stripped, its debug information is kept aside.

The board's compilers add -g to every compile (Settings.debug_info). When the app is installed,
each ELF file of it (the program and its private libraries) is split the way Debian's dh_strip
does it:

    objcopy --only-keep-debug --compress-debug-sections=zlib F  symbols/.build-id/xx/rest.debug
    objcopy --strip-all|--strip-unneeded --add-gnu-debuglink=<that file>  F

so the shipped file keeps its build-id and names its debug file, and gdb finds the debug file
by build-id in any `debug-file-directory` holding the `.build-id/` tree (on a device:
/usr/lib/debug, where the release's -dbg package puts it).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import NoteSection

from edgeforge.core import AbiViolationError, HostSetupError, Runner, ToolMissingError, jsonfile

from . import elfinfo
from .elfinfo import is_elf

BUILD_ID_DIR = ".build-id"
INDEX = "build-ids.json"


@dataclass(frozen=True)
class SplitFile:
    path: str          # relative to the installed tree (bin/<program>, lib/libavcodec.so.59...)
    build_id: str
    debug_file: str    # relative to the symbols folder (.build-id/xx/rest.debug); "" if none


def build_id(path: Path) -> str | None:
    """The GNU build-id note of an ELF file, as hex; None when it has none (or is no ELF)."""
    try:
        with open(path, "rb") as fh:
            elf = ELFFile(fh)
            for sec in elf.iter_sections():
                if isinstance(sec, NoteSection):
                    for note in sec.iter_notes():
                        if note["n_type"] == "NT_GNU_BUILD_ID":
                            return str(note["n_desc"])
    except (ELFError, OSError, ValueError):
        return None
    return None


def has_debug_info(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            elf = ELFFile(fh)
            return any(elf.get_section_by_name(n) is not None
                       for n in (".debug_info", ".zdebug_info"))
    except (ELFError, OSError):
        return False


def debug_file_for(bid: str) -> Path:
    """Where gdb looks for the debug file of a build-id, under a debug-file-directory."""
    return Path(BUILD_ID_DIR) / bid[:2] / f"{bid[2:]}.debug"


SHF_COMPRESSED = 0x800


def zero_compression_padding(path: Path) -> int:
    """Zero the reserved word of each compressed section's header (Elf64_Chdr.ch_reserved).
    llvm-objcopy 14 leaves it uninitialised, so two splits of the same library differed in 4
    bytes per section (and so did the debuglink CRC of the shipped file). Returns how many."""
    with open(path, "r+b") as fh:
        elf = ELFFile(fh)
        if elf.elfclass != 64:
            return 0  # Elf32_Chdr has no reserved word
        offsets = [sec["sh_offset"] + 4 for sec in elf.iter_sections()
                   if sec["sh_flags"] & SHF_COMPRESSED and sec["sh_type"] != "SHT_NOBITS"]
        for off in offsets:
            fh.seek(off)
            fh.write(b"\0\0\0\0")
    return len(offsets)


def keep_debug_argv(objcopy: str, binary: Path, debug_file: Path) -> list[str]:
    return [objcopy, "--only-keep-debug", "--compress-debug-sections=zlib", str(binary),
            str(debug_file)]


def strip_argv(objcopy: str, binary: Path, debug_file: Path | None, shared: bool) -> list[str]:
    """What dh_strip does: symbols, .comment and .note go, the build-id stays (so the split
    debug file still matches); shared libraries keep what dynamic linking needs."""
    argv = [objcopy, "--strip-unneeded" if shared else "--strip-all",
            "--remove-section=.comment", "--remove-section=.note"]
    if debug_file is not None:
        argv.append(f"--add-gnu-debuglink={debug_file}")
    return [*argv, str(binary)]


def elf_files(tree: Path) -> list[Path]:
    """Regular ELF files (not links) under an installed tree, sorted."""
    out = []
    for dirpath, dirs, files in os.walk(tree):
        dirs.sort()
        for name in sorted(files):
            p = Path(dirpath) / name
            if not p.is_symlink() and p.is_file() and is_elf(p):
                out.append(p)
    return out


def split_tree(tree: Path, symbols: Path, objcopy: str, runner: Runner) -> list[SplitFile]:
    """Strip every ELF file under `tree` in place; its debug information goes to
    `symbols/.build-id/`, and `symbols/build-ids.json` lists what was split."""
    if not objcopy:
        raise ToolMissingError("splitting debug information needs the board's objcopy, and the "
                             "compiler descriptor names none that exists; fix: install binutils "
                             "for the target (or llvm) or set 'tools.objcopy' in the descriptor")
    symbols.mkdir(parents=True, exist_ok=True)
    done: list[SplitFile] = []
    for f in elf_files(tree):
        rel = str(f.relative_to(tree))
        bid = build_id(f)
        debug_rel = None
        if not bid and has_debug_info(f):
            raise AbiViolationError(
                f"{rel} has debug information but no build-id, so no debugger could find its "
                "debug file; link with -Wl,--build-id (the board's linker omits it)")
        if bid and has_debug_info(f):
            debug_rel = debug_file_for(bid)
            dest = symbols / debug_rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            runner.run(keep_debug_argv(objcopy, f, dest), what=f"keep the debug information "
                       f"of {rel}", echo=False)
            zero_compression_padding(dest)
            dest.chmod(0o644)
        info = elfinfo.inspect(f)
        shared = info is not None and info.kind == "shared-library"
        runner.run(strip_argv(objcopy, f, symbols / debug_rel if debug_rel else None, shared),
                   what=f"strip {rel}", echo=False)
        done.append(SplitFile(rel, bid or "", str(debug_rel) if debug_rel else ""))
    (symbols / INDEX).write_text(json.dumps(
        [f.__dict__ for f in done], indent=2, sort_keys=True) + "\n")
    return done


def read_index(symbols: Path) -> list[SplitFile]:
    """What `split_tree` kept aside ([]: nothing, the app was not built); a damaged index is
    HostSetupError naming it and the fix (an unusable build folder, exit 8)."""
    path = symbols / INDEX
    if not os.path.lexists(path):
        return []
    board = symbols.parent.name
    return jsonfile.read_typed(
        path, list[SplitFile], f"the debug index {path}", HostSetupError,
        fix=f"fix: delete {symbols} and build again (`invoke build --board {board}` rebuilds "
            "the app and its debug files)")
