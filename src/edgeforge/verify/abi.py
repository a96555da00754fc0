"""The ABI gate: will this file load and run on the board?

For every ELF file edgeforge produces: e_machine (and float ABI) match the board; the program
interpreter exists in the sysroot; every needed GLIBC_/GLIBCXX_/CXXABI_ version is at or below
the board's ceiling; every DT_NEEDED library resolves in the sysroot or the package's own
libraries; no RPATH/RUNPATH points into build or cache directories.
"""

from __future__ import annotations

import fnmatch
import os
import platform
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from edgeforge.config import AbiCeiling, Arch, version_tuple
from edgeforge.core import AbiViolationError
from edgeforge.elf import elfinfo, lib_dirs


@dataclass(frozen=True)
class Violation:
    path: Path
    rule: str
    message: str


@dataclass(frozen=True)
class Policy:
    board: str
    arch: Arch
    ceiling: AbiCeiling
    sysroot: Path
    own_lib_dirs: tuple[Path, ...] = ()
    forbidden_prefixes: tuple[Path, ...] = ()
    #: build trees being gated (`invoke gate --build-tree`): their RPATH/RUNPATH into
    #: themselves is what the build system replaces at install time, not a violation
    build_trees: tuple[Path, ...] = ()

    def with_build_trees(self, trees: Iterable[Path]) -> Policy:
        return replace(self, build_trees=tuple(trees))


@dataclass
class GateReport:
    policy: Policy
    checked: list[elfinfo.ElfInfo] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    #: ELF files looked at but not checked, with the reason (excluded, build machine)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def max_versions(self) -> dict[str, str]:
        # a file for another machine is a violation of its own; its glibc is not the board's
        tags = [v for info in self.checked if info.machine == self.policy.arch.elf_machine
                for vs in info.version_needs.values() for v in vs]
        return elfinfo.max_versions(tags, ("GLIBC", "GLIBCXX", "CXXABI", "GCC"))

    def summary(self) -> str:
        mv = self.max_versions()
        need = ", ".join(f"{k}_{v}" for k, v in mv.items()) or "no versioned symbols"
        c = self.policy.ceiling
        return (
            f"ABI gate for {self.policy.board}: {len(self.checked)} ELF files, needs {need}; "
            f"ceiling GLIBC_{c.glibc}, GLIBCXX_{c.glibcxx}"
            + (f", CXXABI_{c.cxxabi}" if c.cxxabi else "")
            + (": ok" if self.ok else f": {len(self.violations)} violation(s)")
            + self._skipped_note()
        )

    def _skipped_note(self) -> str:
        if not self.skipped:
            return ""
        counts: dict[str, int] = {}
        for _path, reason in self.skipped:
            kind = reason.split(" (")[0]
            counts[kind] = counts.get(kind, 0) + 1
        return " (not checked: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) + ")"

    def raise_for_violations(self) -> None:
        if self.ok:
            return
        lines = [self.summary()]
        lines += [f"  {v.path}: {v.message}" for v in self.violations]
        raise AbiViolationError("\n".join(lines))


def _ceiling_for(tag_family: str, ceiling: AbiCeiling) -> str | None:
    return {"GLIBC": ceiling.glibc, "GLIBCXX": ceiling.glibcxx, "CXXABI": ceiling.cxxabi}.get(
        tag_family
    )


def _inside(path: Path, prefixes: Iterable[Path]) -> Path | None:
    for p in prefixes:
        try:
            path.relative_to(p)
            return p
        except ValueError:
            continue
    return None


def _resolve_in_sysroot(sysroot: Path, path: str) -> Path:
    return sysroot / path.lstrip("/")


def check_file(info: elfinfo.ElfInfo, policy: Policy) -> list[Violation]:
    v: list[Violation] = []
    arch, ceiling = policy.arch, policy.ceiling
    p = info.path

    def bad(rule: str, msg: str) -> None:
        v.append(Violation(p, rule, msg))

    if info.machine != arch.elf_machine or info.elf_class != arch.elf_class:
        hint = ("; it is a program for the build machine: to gate a build tree, use "
                "`invoke gate --build-tree` or --exclude" if info.machine == build_machine() else "")
        bad("machine", f"is {info.machine} ({info.elf_class}-bit), but {policy.board} needs "
            f"{arch.elf_machine} ({arch.elf_class}-bit){hint}")
        return v  # nothing else is meaningful for a foreign file
    if arch is Arch.ARMHF and info.arm_hard_float is False:
        bad("float-abi", f"uses the soft-float ABI; {policy.board} is armhf (hard-float)")

    if info.interpreter and not _resolve_in_sysroot(policy.sysroot, info.interpreter).exists():
        bad("interpreter", f"asks for program interpreter {info.interpreter}, which the "
            f"sysroot does not have (expected {arch.interpreter})")

    for lib, versions in sorted(info.version_needs.items()):
        for tag, symbols in sorted(versions.items()):
            sv = elfinfo.split_version(tag)
            if tag == "GLIBC_PRIVATE":
                bad("symbol-version", f"needs GLIBC_PRIVATE from {lib}: private glibc "
                    "interfaces break across glibc updates")
                continue
            if not sv:
                continue
            fam, num = sv
            limit = _ceiling_for(fam, ceiling)
            if limit and num > version_tuple(limit):
                syms = ", ".join(symbols[:4]) + (" ..." if len(symbols) > 4 else "")
                bad("symbol-version",
                    f"needs {tag} (from {lib}{': ' + syms if syms else ''}), above "
                    f"{policy.board}'s ceiling {fam}_{limit}")

    origin = p.parent
    search: list[Path] = []
    for entry in (*info.rpath, *info.runpath):
        if "$ORIGIN" in entry or "${ORIGIN}" in entry:
            expanded = Path(os.path.normpath(
                entry.replace("${ORIGIN}", str(origin)).replace("$ORIGIN", str(origin))))
            search.append(expanded)
            continue
        leak = _inside(Path(entry), policy.forbidden_prefixes)
        if leak is not None and _inside(Path(entry), policy.build_trees) is not None:
            search.append(Path(entry))  # a build tree's own RUNPATH, replaced at install
        elif leak is not None:
            bad("rpath", f"has RPATH/RUNPATH {entry}, inside {leak} (a build or cache folder "
                "that does not exist on the device); use $ORIGIN-relative paths")
        else:
            search.append(_resolve_in_sysroot(policy.sysroot, entry))
    search += list(policy.own_lib_dirs)
    search += [_resolve_in_sysroot(policy.sysroot, d) for d in lib_dirs(policy.sysroot, arch)]
    for lib in info.needed:
        if not any((d / lib).exists() for d in search):
            bad("needed", f"needs {lib}, found neither in the sysroot nor among the package's "
                "own libraries")
    return v


def build_machine() -> str | None:
    """e_machine of programs built for this machine (a build tree's code generators, Meson's
    sanity checks ...)."""
    return {"x86_64": "EM_X86_64", "amd64": "EM_X86_64", "aarch64": "EM_AARCH64",
            "arm64": "EM_AARCH64"}.get(platform.machine().lower())


def excluded_by(path: Path, patterns: Iterable[str]) -> str | None:
    """The first pattern that matches the path or one of its trailing parts ('*.exe',
    'meson-private', 'CMakeFiles/*'): a pattern that names a folder excludes what is inside."""
    parts = Path(path).parts
    tails = ["/".join(parts[i:j]) for j in range(len(parts), 0, -1) for i in range(j)]
    for pat in patterns:
        pat = pat.rstrip("/")
        if any(fnmatch.fnmatchcase(t.replace("//", "/"), pat) for t in tails):
            return pat
    return None


def gate(paths: Sequence[Path], policy: Policy, *, exclude: Sequence[str] = (),
         skip_machines: Sequence[str] = ()) -> GateReport:
    """Check every ELF file; files matching `exclude`, and files for `skip_machines` (other than
    the board's), are listed in report.skipped instead of being checked."""
    report = GateReport(policy)
    for path in paths:
        pattern = excluded_by(Path(path), exclude) if exclude else None
        if pattern:
            if elfinfo.is_elf(Path(path)):
                report.skipped.append((Path(path), f"excluded ({pattern})"))
            continue
        info = elfinfo.inspect(Path(path))
        if info is None or info.kind == "object":
            continue
        if info.machine in skip_machines and info.machine != policy.arch.elf_machine:
            report.skipped.append((Path(path), f"build-machine ({info.machine})"))
            continue
        report.checked.append(info)
        report.violations.extend(check_file(info, policy))
    return report


def elf_files_under(root: Path) -> list[Path]:
    out = []
    for dirpath, _dirs, files in os.walk(root):
        for f in sorted(files):
            p = Path(dirpath) / f
            if not p.is_symlink() and elfinfo.is_elf(p):
                out.append(p)
    return sorted(out)
