"""The system libraries the app needs, and the packages of the board's sysroot that give them.

The app carries its own OpenCV and FFmpeg (lib/, found through $ORIGIN); everything else it
loads comes from the device's OS. Which packages, at which minimum versions, is what
dpkg-shlibdeps computes for Debian packages from the symbols and shlibs files of the sysroot's
dpkg database. Run against a sysroot (`--admindir=SYSROOT/var/lib/dpkg -lSYSROOT/lib/...`),
dpkg-shlibdeps finds the libraries but asks `dpkg-query --search` with the sysroot's prefix
still on each path, which the database does not know; a small `dpkg-query` shim first on PATH
strips the prefix going in and puts it back on the answers.

The result is typed data every installer uses: the .deb's Depends (dpkg-shlibdeps' own
answer, never written by hand), the .rpm's Requires (the same libraries as soname capabilities
with the symbol versions the app uses, the form RPM distributions provide), and for the SBOM
each system library with its package, the version installed in the sysroot and its licence.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from debian.deb822 import PkgRelation

from edgeforge.config import Arch
from edgeforge.core import DependencyError, Runner, SysrootError, base_env
from edgeforge.elf import elfinfo, find_in_tree, lib_dirs

from .inputs import ReleaseInput

#: the dpkg-query stand-in dpkg-shlibdeps runs (its folder goes first on PATH)
SHIM = r"""#!/bin/sh
# dpkg-query for dpkg-shlibdeps against a sysroot (written by edgeforge.deliver.shlibdeps):
# `--search` gets paths without the sysroot prefix and answers with it put back.
prefix=$EDGEFORGE_SYSROOT
real=$EDGEFORGE_REAL_DPKG_QUERY
if [ "$1" != --search ]; then
    exec "$real" "$@"
fi
shift
[ "${1-}" = -- ] && shift
n=$#
while [ "$n" -gt 0 ]; do
    arg=$1
    shift
    case $arg in
        "$prefix"/*) arg=${arg#"$prefix"} ;;
    esac
    set -- "$@" "$arg"
    n=$((n - 1))
done
"$real" --search -- "$@" | while IFS= read -r line; do
    case $line in
        *": /"*) printf '%s: %s/%s\n' "${line%%: /*}" "$prefix" "${line#*: /}" ;;
        *) printf '%s\n' "$line" ;;
    esac
done
"""


@dataclass(frozen=True)
class Relation:
    """One Debian relation: `libc6 (>= 2.17)`."""

    package: str
    op: str | None = None
    version: str | None = None

    def __str__(self) -> str:
        return f"{self.package} ({self.op} {self.version})" if self.op else self.package


@dataclass(frozen=True)
class SystemLibrary:
    """A library the app loads from the device's OS."""

    soname: str                         # libstdc++.so.6
    path: str                           # where the sysroot has it, as on the device
    package: str                        # the Debian package in the sysroot that ships it
    version: str                        # that package's version in the sysroot
    licence: str | None                 # from /usr/share/doc/<package>/copyright, if readable
    needed_by: tuple[str, ...]          # app files (relative to the app folder) that need it
    symbol_versions: tuple[str, ...]    # GLIBC_2.17, GLIBCXX_3.4.22 ... the app uses


@dataclass(frozen=True)
class SystemDeps:
    """What the app needs from the device's OS."""

    depends: tuple[tuple[Relation, ...], ...]   # dpkg-shlibdeps: AND of OR-groups
    libraries: tuple[SystemLibrary, ...]
    private: tuple[str, ...] = field(default=())  # sonames the app carries itself

    def depends_text(self) -> str:
        return ", ".join(" | ".join(str(r) for r in group) for group in self.depends)

    def packages(self) -> list[tuple[str, str]]:
        """(package, version in the sysroot) of each system library's package, for the SBOM."""
        return sorted({(lib.package, lib.version) for lib in self.libraries})


# ---- pure parts ---------------------------------------------------------------------------
def app_elf_files(app_dir: Path) -> dict[str, elfinfo.ElfInfo]:
    """Every ELF file of the installed app (relative path -> info), links skipped."""
    out = {}
    for p in sorted(app_dir.rglob("*")):
        info = elfinfo.inspect(p)
        if info is not None:
            out[str(p.relative_to(app_dir))] = info
    return out


def private_sonames(app_dir: Path, files: Mapping[str, elfinfo.ElfInfo]) -> set[str]:
    """Library names the app resolves itself: anything in its lib/ (files and links) and
    every SONAME it ships."""
    names = {p.name for p in (app_dir / "lib").glob("*.so*")} if (app_dir / "lib").is_dir() else set()
    names |= {info.soname for info in files.values() if info.soname}
    return names


def system_needs(files: Mapping[str, elfinfo.ElfInfo], private: set[str]
                 ) -> dict[str, tuple[set[str], set[str]]]:
    """soname -> (app files that need it, symbol versions they use), for libraries the app
    does not carry."""
    out: dict[str, tuple[set[str], set[str]]] = {}
    for rel, info in files.items():
        for soname in info.needed:
            if soname in private:
                continue
            users, versions = out.setdefault(soname, (set(), set()))
            users.add(rel)
            versions.update(info.version_needs.get(soname, {}))
    return out


def parse_depends(text: str) -> tuple[tuple[Relation, ...], ...]:
    """A Depends value (`libc6 (>= 2.17), libgcc-s1 (>= 3.0) | foo`) as relation groups."""
    groups = []
    for group in PkgRelation.parse_relations(text.strip()):
        rels = []
        for rel in group:
            ver = rel.get("version")
            rels.append(Relation(rel["name"], ver[0] if ver else None, ver[1] if ver else None))
        if rels:
            groups.append(tuple(rels))
    return tuple(groups)


def parse_substvars(text: str, key: str = "shlibs:Depends") -> tuple[tuple[Relation, ...], ...]:
    """The relations dpkg-shlibdeps wrote into its substvars file under `key`."""
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip() == key:
            return parse_depends(value)
    return ()


def parse_dpkg_search(output: str) -> dict[str, list[str]]:
    """`dpkg-query --search` lines (`libc6:arm64: /lib/.../libc.so.6`) -> path -> packages,
    architecture qualifiers dropped; diversion lines skipped."""
    out: dict[str, list[str]] = {}
    for line in output.splitlines():
        if line.startswith(("diversion by", "local diversion")):
            continue
        m = re.match(r"^([-a-z0-9+.:, ]+): (/.*)$", line)
        if not m:
            continue
        pkgs = [p.strip().split(":", 1)[0] for p in m.group(1).split(",") if p.strip()]
        out[m.group(2)] = pkgs
    return out


def parse_dpkg_show(output: str) -> dict[str, str]:
    """`dpkg-query -W -f='${Package}\\t${Version}\\n'` lines -> package -> version."""
    out = {}
    for line in output.splitlines():
        name, sep, version = line.partition("\t")
        if sep and name and version:
            out[name.strip()] = version.strip()
    return out


#: free-form copyright files (glibc's, gcc's) say their licence in words; only these
#: unambiguous phrases are recognised, anything else stays unknown
_FREE_FORM = (
    (re.compile(r"GCC\s+Runtime\s+Library\s+Exception", re.I),
     "GPL-3.0-or-later WITH GCC-exception-3.1"),
    (re.compile(r"GNU\s+Lesser\s+General\s+Public\s+License.{0,120}?version\s+2\.1", re.I | re.S),
     "LGPL-2.1-or-later"),
)


def copyright_licence(text: str) -> str | None:
    """The licence a Debian copyright file gives for the package as a whole: the `Files: *`
    paragraph of a machine-readable (DEP-5) file, or a recognised phrase of a free-form one."""
    if re.match(r"^Format:\s*\S*copyright-format", text):
        # start-up: 10 ms (python-debian's deb822 parser), and only a release reads these
        from debian.copyright import Copyright, NotMachineReadableError

        try:
            cp = Copyright(text.splitlines(True), strict=False)
        except (NotMachineReadableError, ValueError):
            return None
        for para in cp.all_files_paragraphs():
            if "*" in para.files and para.license is not None:
                return para.license.synopsis.strip() or None
        return None
    for pattern, licence in _FREE_FORM:
        if pattern.search(text):
            return licence
    return None


def shlibdeps_argv(files: Iterable[Path], sysroot: Path, arch: Arch, substvars: Path,
                   private_dir: str) -> list[str]:
    """dpkg-shlibdeps for the ELF files of a package tree, against the sysroot's libraries and
    dpkg database. `private_dir` (inside the package, e.g. /opt/<app>/lib) is where the
    app's own libraries are: OpenCV's modules carry no RPATH of their own."""
    argv = ["dpkg-shlibdeps", f"--admindir={sysroot / 'var/lib/dpkg'}", f"-T{substvars}",
            f"-l{private_dir}"]
    argv += [f"-l{sysroot / d.lstrip('/')}" for d in lib_dirs(sysroot, arch)]
    argv += ["-e" + str(f) for f in files]
    return argv


def shlibdeps_env(sysroot: Path, arch: Arch, shim_dir: Path, real_dpkg_query: str) -> dict[str, str]:
    env = base_env({
        "DEB_HOST_ARCH": arch.value,
        "DEB_HOST_MULTIARCH": arch.multiarch,
        "DEB_HOST_GNU_TYPE": arch.multiarch,
        "EDGEFORGE_SYSROOT": str(sysroot),
        "EDGEFORGE_REAL_DPKG_QUERY": real_dpkg_query,
    })
    env["PATH"] = f"{shim_dir}:{env['PATH']}"
    return env


# ---- running ------------------------------------------------------------------------------
def _admindir(sysroot: Path, board: str) -> Path:
    admindir = sysroot / "var/lib/dpkg"
    if not (admindir / "status").is_file():
        raise SysrootError(
            f"the sysroot of {board} ({sysroot}) has no dpkg database (var/lib/dpkg/status): "
            "the installers' dependencies are computed from it; use a sysroot made from "
            "Debian packages, or a device image that keeps its dpkg database")
    return admindir


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def stage_app(app_dir: Path, pkgroot: Path, prefix: str) -> Path:
    """The app as a package tree dpkg-shlibdeps understands: PKGROOT/DEBIAN and the app under
    PKGROOT/<prefix> (so $ORIGIN resolves inside the package)."""
    (pkgroot / "DEBIAN").mkdir(parents=True, exist_ok=True)
    dest = pkgroot / prefix.lstrip("/")
    shutil.copytree(app_dir, dest, symlinks=True, copy_function=_link_or_copy)
    return dest


def analyse(inp: ReleaseInput, runner: Runner, *, pkgroot: Path | None = None,
            prefix: str | None = None) -> SystemDeps:
    """The app's system dependencies. `pkgroot`: a package tree already holding the app under
    `prefix` (default: its descriptor's install.prefix) with a DEBIAN/ folder (the .deb's
    staging); without it the app is staged aside."""
    prefix = prefix or inp.app.spec.install.prefix
    sysroot = Path(inp.sysroot).resolve()
    admindir = _admindir(sysroot, inp.board)
    with tempfile.TemporaryDirectory(prefix="edgeforge-shlibdeps-") as tmp:
        work = Path(tmp)
        if pkgroot is None:
            pkgroot = work / "pkg"
            stage_app(inp.app_dir, pkgroot, prefix)
        app_root = pkgroot / prefix.lstrip("/")
        files = app_elf_files(app_root)
        if not files:
            raise DependencyError(f"no ELF file in {inp.app_dir}: is the app built?")
        private = private_sonames(app_root, files)
        needs = system_needs(files, private)

        # which file of the sysroot the loader would take, and which package ships it
        dirs = lib_dirs(sysroot, inp.target.arch)
        found: dict[str, str] = {}
        for soname in sorted(needs):
            hit = find_in_tree(sysroot, soname, dirs)
            if hit is None:
                users = ", ".join(sorted(needs[soname][0]))
                raise DependencyError(
                    f"{soname} (needed by {users}) is neither in the app's lib/ nor in the "
                    f"sysroot of {inp.board} ({sysroot}); install the package that ships it "
                    "into the sysroot, or bundle the library with the app")
            found[soname] = "/" + str(hit.relative_to(sysroot))

        shim_dir = work / "shim"
        shim_dir.mkdir()
        (shim_dir / "dpkg-query").write_text(SHIM)
        (shim_dir / "dpkg-query").chmod(0o755)
        real = runner.which("dpkg-query", "dependency computation",
                            fix="apt-get install dpkg")
        substvars = work / "substvars"
        (work / "debian").mkdir()
        (work / "debian/control").write_text(
            f"Source: {inp.app_name}\n\nPackage: {inp.app_name}\n"
            f"Architecture: {inp.target.arch.value}\n")
        runner.run(shlibdeps_argv([app_root / f for f in files], sysroot, inp.target.arch,
                                  substvars, f"{prefix.rstrip('/')}/lib"),
                   what=f"dpkg-shlibdeps for {inp.app_name} on {inp.board}",
                   needed_by="the installers' Depends (fix: apt-get install dpkg-dev)",
                   cwd=work, env=shlibdeps_env(sysroot, inp.target.arch, shim_dir, real),
                   log_name=f"dpkg-shlibdeps-{inp.board}")
        depends = parse_substvars(substvars.read_text() if substvars.exists() else "")
        if not depends:
            raise DependencyError(
                f"dpkg-shlibdeps computed no dependency for {inp.app_name} on {inp.board}: "
                "an app that loads glibc cannot have none; see the log in "
                f"{runner.log_dir}")

        # package and version of each system library, through the sysroot's database
        env = base_env()
        paths = sorted(set(found.values()) | {_real(sysroot, p) for p in found.values()})
        r = runner.capture(["dpkg-query", f"--admindir={admindir}", "--search", "--", *paths],
                           what="dpkg-query --search system libraries", env=env, check=False)
        owners = parse_dpkg_search(r.output)
        pkg_of: dict[str, str] = {}
        for soname, path in found.items():
            pkgs = owners.get(path) or owners.get(_real(sysroot, path))
            if not pkgs:
                raise DependencyError(
                    f"{soname} ({path} in the sysroot of {inp.board}) belongs to no package "
                    "of the sysroot's dpkg database; the installers cannot depend on it")
            pkg_of[soname] = pkgs[0]
        r = runner.capture(["dpkg-query", f"--admindir={admindir}", "-W",
                            "-f=${Package}\t${Version}\n", *sorted(set(pkg_of.values()))],
                           what="dpkg-query versions of system packages", env=env)
        versions = parse_dpkg_show(r.output)

    libraries = []
    for soname in sorted(needs):
        users, symvers = needs[soname]
        pkg = pkg_of[soname]
        libraries.append(SystemLibrary(
            soname=soname, path=found[soname], package=pkg, version=versions.get(pkg, ""),
            licence=package_licence(sysroot, pkg), needed_by=tuple(sorted(users)),
            symbol_versions=tuple(sorted(symvers, key=_version_key))))
    return SystemDeps(depends=depends, libraries=tuple(libraries),
                      private=tuple(sorted(private)))


def system_libraries(inp: ReleaseInput, runner: Runner) -> list[SystemLibrary]:
    """Each library the app loads from the device's OS, with its package, version and licence
    (the SBOM's view)."""
    return list(analyse(inp, runner).libraries)


def _real(sysroot: Path, path: str) -> str:
    """The path a sysroot file resolves to, as on the device (links resolved inside the tree)."""
    resolved = (sysroot / path.lstrip("/")).resolve()
    try:
        return "/" + str(resolved.relative_to(sysroot))
    except ValueError:
        return path


def package_licence(sysroot: Path, package: str) -> str | None:
    """A sysroot package's licence, from its /usr/share/doc/<package>/copyright."""
    f = Path(sysroot) / "usr/share/doc" / package / "copyright"
    try:
        return copyright_licence(f.read_text(errors="replace"))
    except OSError:
        return None


def _version_key(tag: str) -> tuple:
    name, _, ver = tag.partition("_")
    return (name, tuple(int(x) if x.isdigit() else 0 for x in ver.split(".")))
