"""legal/: what a release owes its recipients under the licences of what it ships (the way
Buildroot's `legal-info` does it).

    legal/README                    what is here and how it was made
    legal/manifest.csv              component, version, licence, source, where its texts are
    legal/licenses/<component>/     every component's licence texts
    legal/sources/<component>/      for every (L)GPL component built here: the exact source
                                    archives (from the source mirror, sha256-verified) and the
                                    recipe with its patches (the scripts that control the build)

System libraries come from Debian (the board's stand-in sysroot): their copyright files are
copied and the exact Debian source package and version of each is named in the manifest; the
sources are Debian's (`apt-get source PACKAGE=VERSION`).
"""

from __future__ import annotations

import csv
import io
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from edgeforge.config import recipe_licenses
from edgeforge.context import Context
from edgeforge.core import Runner, verify_sha256, write_atomic
from edgeforge.deps import fill as fill_mirror
from edgeforge.deps import mirror_path
from edgeforge.elf import dpkg_status

from . import shlibdeps
from .inputs import ReleaseInput, shipped_packages

COPYLEFT = ("GPL", "LGPL", "AGPL", "MPL", "EPL")


@dataclass(frozen=True)
class LegalEntry:
    component: str
    version: str
    licences: tuple[str, ...]
    origin: str             # built here (Conan recipe), this repository, or Debian
    texts: tuple[Path, ...]  # licence files to copy
    sources: tuple[tuple[str, Path], ...] = ()  # (name in legal/sources/<component>/, file)

    @property
    def copyleft(self) -> bool:
        return any(any(c in lic for c in COPYLEFT) for lic in self.licences)


def conan_entries(inp: ReleaseInput, ctx: Context) -> list[LegalEntry]:
    out = []
    for pkg in shipped_packages(inp):
        folder = Path(pkg.record.package_folder) if pkg.record.package_folder else None
        texts = tuple(sorted((folder / "licenses").rglob("*"))) \
            if folder and (folder / "licenses").is_dir() else ()
        # a graph downloaded from the team's remote left the mirror empty: fetch (verified)
        for line in fill_mirror(ctx, list(pkg.pins)):
            ctx.reporter.info(f"fetched {line}")
        for p in pkg.pins:  # what a customer receives must be exactly what was built
            verify_sha256(mirror_path(ctx, p), p.sha256, p.describe())
        sources = tuple((p.name, mirror_path(ctx, p)) for p in pkg.pins)
        sources += tuple((f"recipe/{f.relative_to(pkg.recipe_dir)}", f)
                         for f in sorted(pkg.recipe_dir.rglob("*"))
                         if f.is_file() and "test_package" not in f.parts)
        out.append(LegalEntry(pkg.name, pkg.version, recipe_licenses(pkg.recipe_dir),
                              "built here from its Conan recipe",
                              tuple(t for t in texts if t.is_file()), sources))
    return out


def debian_sources(sysroot: Path) -> dict[str, tuple[str, str]]:
    """Binary package -> (source package, source version), from the sysroot's dpkg status."""
    return {name: (p.source, p.source_version) for name, p in dpkg_status(sysroot).items()}


def system_entries(inp: ReleaseInput, runner: Runner) -> list[LegalEntry]:
    seen: dict[str, LegalEntry] = {}
    sources = debian_sources(inp.sysroot)
    for lib in shlibdeps.system_libraries(inp, runner):
        copyright_file = inp.sysroot / "usr" / "share" / "doc" / lib.package / "copyright"
        src, src_version = sources.get(lib.package, (lib.package, lib.version))
        seen.setdefault(lib.package, LegalEntry(
            lib.package, lib.version, (lib.licence,) if lib.licence else ("see copyright",),
            f"Debian package {lib.package} {lib.version} from the sysroot "
            f"{inp.target.sysroot.name}; sources: Debian source package {src} {src_version} "
            f"(apt-get source {src}={src_version})",
            (copyright_file,) if copyright_file.is_file() else ()))
    return sorted(seen.values(), key=lambda e: e.component)


def own_entries(inp: ReleaseInput) -> list[LegalEntry]:
    """The app (its descriptor's licence) and each of its data files (a model: its licence,
    where it comes from and its card), all from this repository."""
    app = inp.app
    licence = inp.project_root / "LICENSE"
    texts = (licence,) if licence.is_file() else ()
    entries = [LegalEntry(app.name, inp.version, (app.spec.license,), "this repository", texts)]
    for d in app.spec.data:
        card = app.folder / d.card if d.card is not None else None
        notes = [*([d.origin] if d.origin else []),
                 *([f"provenance in {PurePosixPath(d.card).name}"] if d.card else [])]
        origin = "this repository" + (f" ({'; '.join(notes)})" if notes else "")
        stem = PurePosixPath(d.install).name.rsplit(".", 1)[0]
        entries.append(LegalEntry(f"{stem}-{d.kind}", inp.version, (d.license,), origin,
                                  (*texts, card) if card and card.is_file() else texts))
    return entries


def manifest_csv(entries: list[LegalEntry]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["component", "version", "licence", "origin", "licence texts", "sources"])
    for e in entries:
        w.writerow([e.component, e.version, " AND ".join(e.licences), e.origin,
                    f"licenses/{e.component}/" if e.texts else "",
                    f"sources/{e.component}/" if e.sources and e.copyleft else ""])
    return buf.getvalue()


README = """Licence information for {app} {version} ({board})

manifest.csv lists every component that ships: its version, licence, where it comes from,
and where its licence texts and (for copyleft components built here) its sources are.

licenses/<component>/  the licence texts of each component
sources/<component>/   for each (L)GPL component built by edgeforge: the exact source
                       archives it was built from (verified against their pinned sha256) and
                       its recipe with any patches, i.e. the scripts that control the build

System libraries come unmodified from Debian; manifest.csv names the exact Debian source
package and version of each (`apt-get source PACKAGE=VERSION` fetches them).
"""


def write_legal(inp: ReleaseInput, ctx: Context, runner: Runner, out: Path) -> Path:
    entries = [*own_entries(inp), *conan_entries(inp, ctx), *system_entries(inp, runner)]
    for e in entries:
        for text in e.texts:
            dest = out / "licenses" / e.component / text.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(text, dest)
        if e.copyleft:
            for name, src in e.sources:
                dest = out / "sources" / e.component / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dest)
    write_atomic(out / "manifest.csv", manifest_csv(entries))
    write_atomic(out / "README", README.format(app=inp.app_name, version=inp.version,
                                               board=inp.board))
    return out
