"""Splitting debug information is deterministic: the reserved word of a compressed section's
header (which llvm-objcopy 14 leaves uninitialised) is zeroed, on a real object file."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from edgeforge.elf import debuginfo

pytestmark = pytest.mark.integration


def test_compressed_sections_have_a_zero_reserved_word(tmp_path: Path):
    for tool in ("gcc", "objcopy"):
        assert shutil.which(tool), f"{tool} missing: ./edgeforge setup installs it"
    (tmp_path / "a.c").write_text("int twice(int x) { int y = x * 2; return y; }\n")
    obj = tmp_path / "a.o"
    subprocess.run(["gcc", "-g", "-c", str(tmp_path / "a.c"), "-o", str(obj)], check=True)
    dbg = tmp_path / "a.debug"
    subprocess.run(["objcopy", "--only-keep-debug", "--compress-debug-sections=zlib", str(obj),
                    str(dbg)], check=True)
    with open(dbg, "rb") as fh:
        offsets = [s["sh_offset"] + 4 for s in ELFFile(fh).iter_sections()
                   if s["sh_flags"] & debuginfo.SHF_COMPRESSED]
    assert offsets
    data = bytearray(dbg.read_bytes())
    for off in offsets:                      # what an uninitialised word looks like
        data[off:off + 4] = b"\xde\xad\xbe\xef"
    dbg.write_bytes(bytes(data))
    assert debuginfo.zero_compression_padding(dbg) == len(offsets)
    fixed = dbg.read_bytes()
    assert all(fixed[off:off + 4] == b"\0\0\0\0" for off in offsets)
    # still a debug file gdb and readelf read
    out = subprocess.run(["readelf", "--debug-dump=info", str(dbg)], capture_output=True,
                         text=True, check=True).stdout
    assert "twice" in out
