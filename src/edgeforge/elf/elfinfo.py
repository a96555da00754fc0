"""Read what the dynamic loader will need from an ELF file, with pyelftools.

No readelf scraping: machine, class, float ABI, interpreter, DT_NEEDED, RPATH/RUNPATH,
SONAME, the symbol versions a file needs (per library, with the symbols that need them) and
the versions a library defines.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerDefSection, GNUVerNeedSection, GNUVerSymSection

ELF_MAGIC = b"\x7fELF"
EF_ARM_ABI_FLOAT_HARD = 0x400


@dataclass(frozen=True)
class ElfInfo:
    path: Path
    machine: str
    elf_class: int
    elf_type: str
    interpreter: str | None
    needed: tuple[str, ...]
    rpath: tuple[str, ...]
    runpath: tuple[str, ...]
    soname: str | None
    #: library -> version -> symbols that need it
    version_needs: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    defined_versions: tuple[str, ...] = ()
    arm_hard_float: bool | None = None

    @property
    def kind(self) -> str:
        if self.elf_type == "ET_EXEC" or (self.elf_type == "ET_DYN" and self.interpreter):
            return "executable"
        if self.elf_type == "ET_DYN":
            return "shared-library"
        if self.elf_type == "ET_REL":
            return "object"
        return self.elf_type.lower()


def is_elf(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == ELF_MAGIC
    except OSError:
        return False


def inspect(path: Path) -> ElfInfo | None:
    """ElfInfo for an ELF file, None for anything else."""
    path = Path(path)
    if path.is_symlink() or not path.is_file() or not is_elf(path):
        return None
    try:
        with open(path, "rb") as fh:
            return _read(path, ELFFile(fh))
    except ELFError:
        return None


def _read(path: Path, elf: ELFFile) -> ElfInfo:
    interp = None
    for seg in elf.iter_segments():
        if seg["p_type"] == "PT_INTERP":
            interp = seg.get_interp_name()
    needed: list[str] = []
    rpath: list[str] = []
    runpath: list[str] = []
    soname = None
    for sec in elf.iter_sections():
        if isinstance(sec, DynamicSection):
            for tag in sec.iter_tags():
                if tag.entry.d_tag == "DT_NEEDED":
                    needed.append(tag.needed)
                elif tag.entry.d_tag == "DT_RPATH":
                    rpath.extend(p for p in tag.rpath.split(":") if p)
                elif tag.entry.d_tag == "DT_RUNPATH":
                    runpath.extend(p for p in tag.runpath.split(":") if p)
                elif tag.entry.d_tag == "DT_SONAME":
                    soname = tag.soname

    # versions needed: map verneed 'other' index -> (library, version)
    index_to_need: dict[int, tuple[str, str]] = {}
    needs: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    defined: list[str] = []
    versym = None
    dynsym = elf.get_section_by_name(".dynsym")
    for sec in elf.iter_sections():
        if isinstance(sec, GNUVerNeedSection):
            for verneed, auxes in sec.iter_versions():
                lib = verneed.name
                for aux in auxes:
                    index_to_need[aux["vna_other"]] = (lib, aux.name)
                    needs[lib].setdefault(aux.name, [])
        elif isinstance(sec, GNUVerDefSection):
            for verdef, auxes in sec.iter_versions():
                if verdef["vd_flags"] & 0x1:  # VER_FLG_BASE: the file's own name
                    continue
                for aux in auxes:
                    defined.append(aux.name)
                    break
        elif isinstance(sec, GNUVerSymSection):
            versym = sec
    if versym is not None and dynsym is not None:
        for i, sym in enumerate(dynsym.iter_symbols()):
            if i == 0:
                continue
            ndx = versym.get_symbol(i)["ndx"]
            if isinstance(ndx, int) and ndx in index_to_need and sym["st_shndx"] == "SHN_UNDEF":
                lib, ver = index_to_need[ndx]
                needs[lib][ver].append(sym.name)

    hard_float = None
    if elf["e_machine"] == "EM_ARM":
        hard_float = bool(elf["e_flags"] & EF_ARM_ABI_FLOAT_HARD)
    return ElfInfo(
        path=path,
        machine=elf["e_machine"],
        elf_class=elf.elfclass,
        elf_type=elf["e_type"],
        interpreter=interp,
        needed=tuple(needed),
        rpath=tuple(rpath),
        runpath=tuple(runpath),
        soname=soname,
        version_needs={lib: {v: tuple(sorted(s)) for v, s in vs.items()} for lib, vs in needs.items()},
        defined_versions=tuple(defined),
        arm_hard_float=hard_float,
    )


def split_version(tag: str) -> tuple[str, tuple[int, ...]] | None:
    """'GLIBCXX_3.4.29' -> ('GLIBCXX', (3, 4, 29)); None for GLIBC_PRIVATE and the like."""
    if "_" not in tag:
        return None
    name, _, num = tag.rpartition("_")
    try:
        return name, tuple(int(p) for p in num.split("."))
    except ValueError:
        return None


def highest(versions, family: str) -> tuple[int, ...] | None:
    best = None
    for v in versions:
        sv = split_version(v)
        if sv and sv[0] == family and (best is None or sv[1] > best):
            best = sv[1]
    return best


def highest_text(versions, family: str) -> str | None:
    """The highest version of a family as text ('3.4.29'), or None."""
    h = highest(versions, family)
    return ".".join(map(str, h)) if h else None


def max_versions(versions, families) -> dict[str, str]:
    """{family: highest version} for each family that occurs in `versions`."""
    return {fam: v for fam in families if (v := highest_text(versions, fam))}
