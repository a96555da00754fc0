"""What the release's SBOM says: every component that ships, gathered from the board's build.

- the app (its programs, with their DT_NEEDED lists) and the runtime data it ships (models
  and other files of its descriptor's `data`), with their provenance;
- every Conan package whose code ships (not test-only requirements such as googletest): name,
  version, purl, licence from its recipe, its shipped libraries, and the pinned source
  archives with their sha256 and the Debian source package they came from;
- every system library the app loads from the device's OS, with its Debian package, version
  and licence from the sysroot's dpkg database, and the libraries copied from the sysroot into
  the container image;
- with `--sdk`, the SDK archive and what it holds: every Debian package of its sysroot and
  every Conan package installed into it;
- the release's own artefacts (the container image, the installers, the debug artefacts, the
  device images): each of their files in the release folder, with its sha256 (in CycloneDX
  `hashes`, see sbom.py); the container image, the installers and the device images as each
  format describes itself (its `sbom_ref`, `sbom_type`, `sbom_text`: formats.py), which the
  SBOM step passes in as `Listed` values, in the plan's order;
- the runtime dependency graph (who needs whom, from DT_NEEDED);
- the board, its ABI ceiling, compiler, sysroot and the commit, as metadata properties.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from edgeforge.config import DataSpec, recipe_licenses
from edgeforge.context import ROOTFS_TREE, Context
from edgeforge.core import Runner, sha256_file
from edgeforge.elf import dpkg_status

from . import shlibdeps
from .cyclonedx import Component, SourceArchive, make_spec, write_sbom
from .inputs import ReleaseInput, shipped_packages
from .oci import ContainerImageFile, read_container_result
from .sdk import packages_from_manifest

#: the CycloneDX type of a data file of the app, by its kind (its descriptor's data.kind)
DATA_TYPES = {"model": "machine-learning-model", "data": "data"}
#: the bom-ref prefix of a device image's component: listed after the SDK and the debug
#: artefacts, with the Debian packages of the root file system the images hold
DEVICE_IMAGE = "device-image"


@dataclass(frozen=True)
class Listed:
    """A format whose folder the SBOM lists as a component of its own, as the format describes
    itself (a `Deliverable`'s sbom_ref, sbom_type and sbom_text: formats.py)."""

    name: str       # the format's name: its folder's key in `shipped`
    ref: str        # its component's bom-ref prefix: container-image, installer, device-image
    cdx_type: str   # its CycloneDX type
    text: str       # its description: {app}, {board} and {tag} (the container image's tag)


def _name_version(ref: str) -> tuple[str, str]:
    name, rest = ref.split("/", 1)
    return name, rest.split("#", 1)[0].split("@", 1)[0]


def data_ref(d: DataSpec) -> str:
    """The bom-ref of a data file of the app: <kind>:<file name>."""
    return f"{d.kind}:{PurePosixPath(d.install).name}"


def app_component(inp: ReleaseInput) -> Component:
    """The app: its programs (install.programs) as the manifest records them, its licence and
    summary from its descriptor; it uses its data files."""
    app = inp.app
    built = {a.path: a for a in inp.manifest.by_role("app")}
    programs = [built[p] for p in (f"{app.name}/{rel}" for rel in app.spec.install.programs)
                if p in built]
    return Component(
        ref=f"app:{app.name}", name=app.name, version=inp.version, kind="application",
        licenses=(app.spec.license,),
        description=app.spec.summary,
        files=tuple((a.path, a.sha256) for a in programs),
        needs=tuple(sorted({n for a in programs for n in a.needed})),
        uses=tuple(data_ref(d) for d in app.spec.data),
        properties=(("edgeforge:revision", inp.revision),),
    )


def data_components(inp: ReleaseInput) -> list[Component]:
    """The app's runtime data (its descriptor's data: models, other files), each installed
    file with its sha256 and its provenance: what it is, how it was made, its card."""
    app = inp.app
    out = []
    for d in app.spec.data:
        card = () if d.card is None else (
            (f"edgeforge:{d.kind}-card", f"{app.rel}/{d.card}"),
            (f"edgeforge:{d.kind}-card-sha256", sha256_file(app.folder / d.card)))
        out.append(Component(
            ref=data_ref(d), name=PurePosixPath(d.install).name.rsplit(".", 1)[0],
            version=inp.version, kind=DATA_TYPES[d.kind], licenses=(d.license,),
            description=f"{d.description}, {d.made_by}",
            files=((f"{app.name}/{d.install}", sha256_file(inp.app_dir / d.install)),),
            properties=card))
    return out


def conan_components(inp: ReleaseInput) -> list[Component]:
    shipped_libs = {p.name for p in (inp.app_dir / "lib").iterdir()} \
        if (inp.app_dir / "lib").is_dir() else set()
    out = []
    for pkg in shipped_packages(inp):
        libs = [lib for lib in pkg.record.libraries if Path(lib.path).name in shipped_libs]
        rrev = pkg.record.ref.split("#", 1)[1] if "#" in pkg.record.ref else None
        out.append(Component(
            ref=f"conan:{pkg.name}", name=pkg.name, version=pkg.version, kind="library",
            purl=f"pkg:conan/{pkg.name}@{pkg.version}" + (f"?rrev={rrev}" if rrev else ""),
            licenses=recipe_licenses(pkg.recipe_dir),
            files=tuple((f"{inp.app_name}/lib/{Path(lib.path).name}", lib.sha256)
                        for lib in libs),
            provides=tuple(sorted({lib.soname for lib in libs if lib.soname})),
            needs=tuple(sorted({n for lib in libs for n in lib.needed})),
            sources=tuple(SourceArchive(p.name, p.sha256,
                                        f"{p.debian_package} {p.debian_version}"
                                        if p.debian_package else None) for p in pkg.pins),
            properties=(("edgeforge:package_id", pkg.record.package_id),
                        ("edgeforge:linkage", "shared" if libs else "static or header-only")),
        ))
    return out


def system_components(inp: ReleaseInput, runner: Runner,
                      image_files: list[ContainerImageFile]) -> list[Component]:
    """One component per Debian package of the sysroot that the app loads or the container
    image carries."""
    arch = deb_arch(inp)
    by_pkg: dict[str, dict] = {}
    for lib in shlibdeps.system_libraries(inp, runner):
        e = by_pkg.setdefault(lib.package, {"version": lib.version, "licence": lib.licence,
                                            "provides": set(), "files": set()})
        e["provides"].add(lib.soname)
        e["files"].add((lib.path, ""))  # on the device: not shipped, no digest
    for f in image_files:
        if not f.package:
            continue
        e = by_pkg.setdefault(f.package, {"version": f.package_version or "", "licence": None,
                                          "provides": set(), "files": set()})
        e["files"].add((f"{f.path} (in the container image)", f.sha256 or ""))
    out = []
    for pkg, e in sorted(by_pkg.items()):
        out.append(Component(
            ref=f"deb:{pkg}", name=pkg, version=e["version"], kind="library",
            purl=f"pkg:deb/debian/{quote(pkg)}@{quote(e['version'])}?arch={arch}",
            licenses=(e["licence"],) if e["licence"] else (),
            supplier="Debian (the board's stand-in sysroot " + inp.target.sysroot.name + ")",
            provides=tuple(sorted(e["provides"])),
            files=tuple(sorted(e["files"])),
            properties=(("edgeforge:origin", "sysroot"),),
        ))
    return out


def folder_files(folder: Path) -> tuple[tuple[str, str], ...]:
    """Every file of a step's folder as the release folder holds it (the same files
    SHA256SUMS lists): its path there and its sha256, sorted."""
    return tuple((p.relative_to(folder).as_posix(), sha256_file(p))
                 for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink())


def artefact_components(inp: ReleaseInput, listed: Sequence[Listed], shipped: dict[str, Path],
                        image_files: list[ContainerImageFile], image_tag: str = "") -> list[Component]:
    """The container image and the installers (the listed formats that are not device images,
    in the plan's order): one component each, holding every file of its folder with its
    sha256; each uses the app (the image also the Debian packages it copies)."""
    out = []
    for f in listed:
        if f.ref == DEVICE_IMAGE or f.name not in shipped:
            continue
        uses = {f"app:{inp.app_name}"}
        if f.name == "image":
            uses |= {f"deb:{i.package}" for i in image_files if i.package}
        name = f"{inp.app_name}-{inp.version}-{inp.target.name}-{f.name}"
        out.append(Component(
            ref=f"{f.ref}:{name}", name=name, version=inp.version, kind=f.cdx_type,
            description=f.text.format(tag=image_tag, app=inp.app_name, board=inp.target.name),
            files=folder_files(shipped[f.name]), uses=tuple(sorted(uses))))
    return out


def deb_arch(inp: ReleaseInput) -> str:
    return {"arm64": "arm64", "armhf": "armhf"}.get(inp.target.arch.value, inp.target.arch.value)


def sdk_components(inp: ReleaseInput, sdk_dir: Path, have: set[str]) -> list[Component]:
    """The SDK archive, and what it holds that the SBOM does not list yet: the Debian packages
    of its sysroot and the Conan packages installed into it (test-only ones such as
    googletest included: the SDK ships them). The archive's component uses them all."""
    archives = sorted(sdk_dir.glob("*.tar.gz"))
    if len(archives) != 1:
        raise ValueError(f"{sdk_dir}: expected one SDK archive, found {len(archives)}")
    archive = archives[0]
    out: list[Component] = []
    uses: list[str] = []
    for pkg in packages_from_manifest(inp.manifest):
        name, version = _name_version(pkg.ref)
        ref = f"conan:{name}"
        uses.append(ref)
        if ref not in have:
            out.append(Component(
                ref=ref, name=name, version=version, kind="library",
                purl=f"pkg:conan/{name}@{version}",
                licenses=recipe_licenses(inp.project_root / "recipes" / name),
                properties=(("edgeforge:in", "sdk"),)))
    deb_out, deb_refs = debian_components(inp, inp.sysroot, have, "sdk",
                                          "the board's stand-in sysroot "
                                          + inp.target.sysroot.name)
    out += deb_out
    uses += deb_refs
    name = archive.name.removesuffix(".tar.gz")
    out.append(Component(
        ref=f"sdk:{name}", name=name, version=inp.version, kind="file",
        description=f"board SDK for {inp.target.name}: the sysroot with the built packages, "
                    "toolchain files and environment script",
        files=((archive.name, sha256_file(archive)),), uses=tuple(sorted(set(uses))),
        properties=(("edgeforge:sysroot", inp.target.sysroot.name),)))
    return out


def debian_components(inp: ReleaseInput, root: Path, have: set[str], where: str,
                      origin: str) -> tuple[list[Component], list[str]]:
    """Every Debian package installed in the tree `root` (its dpkg database): the components
    not listed yet, and the refs of all of them (what the artefact holding the tree uses)."""
    arch = deb_arch(inp)
    out: list[Component] = []
    refs: list[str] = []
    for name, pkg in sorted(dpkg_status(root).items()):
        ref = f"deb:{name}"
        refs.append(ref)
        if ref in have:
            continue
        have.add(ref)
        licence = shlibdeps.package_licence(root, name)
        out.append(Component(
            ref=ref, name=name, version=pkg.version, kind="library",
            purl=f"pkg:deb/debian/{quote(name)}@{quote(pkg.version)}"
                 f"?arch={quote(pkg.architecture or arch)}",
            licenses=(licence,) if licence else (),
            supplier=f"Debian ({origin})",
            properties=(("edgeforge:origin", "sysroot" if where == "sdk" else "device image"),
                        ("edgeforge:in", where),
                        ("edgeforge:source", f"{pkg.source} {pkg.source_version}"))))
    return out, refs


def device_components(inp: ReleaseInput, images: Sequence[tuple[Listed, Path]], rootfs: Path,
                      have: set[str]) -> list[Component]:
    """The device images (each listed format with its folder: one component each, every file
    with its sha256) and the Debian packages of the root file system they hold; each image
    uses them and the app."""
    out, uses = debian_components(inp, rootfs, have, "device-image",
                                  f"the device image's root file system, {inp.target.sysroot.name}"
                                  " stand-in suite")
    for f, folder in images:
        files = tuple((p.name, sha256_file(p)) for p in sorted(folder.iterdir())
                      if p.is_file() and not p.name.startswith("."))
        name = f"{inp.app_name}-{inp.version}-{inp.target.name}-{f.name}"
        out.append(Component(
            ref=f"{f.ref}:{name}", name=name, version=inp.version, kind=f.cdx_type,
            description=f.text.format(app=inp.app_name, board=inp.target.name),
            files=files, uses=tuple(sorted(set(uses))) + (f"app:{inp.app_name}",),
            properties=(("edgeforge:sysroot", inp.target.sysroot.name),)))
    return out


def dbg_component(inp: ReleaseInput, folder: Path, components: list[Component]) -> Component:
    """The -dbg artifacts (the .deb and the tarball, every file with its sha256): the debug
    information of the app and of the Conan packages whose libraries ship with it."""
    files = tuple((p.name, sha256_file(p)) for p in sorted(folder.iterdir())
                  if p.is_file() and not p.name.startswith("."))
    name = f"{inp.app_name}-dbg"
    return Component(
        ref=f"debug-symbols:{name}", name=name, version=inp.version, kind="file",
        description=f"split debug information (build-id files) of {inp.app_name} and its private "
                    f"libraries for {inp.target.name}",
        files=files,
        uses=tuple(sorted(c.ref for c in components if c.ref.startswith("conan:")))
        + (f"app:{inp.app_name}",),
        properties=(("edgeforge:debug_info", inp.target.debug_info),))


def write(inp: ReleaseInput, ctx: Context, runner: Runner, path: Path,
          shipped: dict[str, Path], listed: Sequence[Listed] = ()) -> Path:
    """The SBOM of the formats' folders in `shipped` (name -> folder); `listed`: the formats
    listed as components of their own, as they describe themselves, in the plan's order."""
    image = shipped.get("image")
    result = read_container_result(image) if image else None
    image_files = result.system_files() if result else []
    t = inp.target
    components = [*data_components(inp), *conan_components(inp),
                  *system_components(inp, runner, image_files),
                  *artefact_components(inp, listed, shipped, image_files,
                                       result.tag if result else "")]
    if "sdk" in shipped:
        components += sdk_components(inp, shipped["sdk"], {c.ref for c in components})
    if "dbg" in shipped:
        components.append(dbg_component(inp, shipped["dbg"], components))
    images = [(f, shipped[f.name]) for f in listed if f.ref == DEVICE_IMAGE and f.name in shipped]
    if images:
        components += device_components(inp, images, shipped["rootfs"] / ROOTFS_TREE,
                                        {c.ref for c in components})
    spec = make_spec(
        app_component(inp),
        components,
        inp.source_date_epoch,
        properties=(("edgeforge:board", t.name), ("edgeforge:arch", t.arch.value),
                    ("edgeforge:triple", t.triple),
                    ("edgeforge:abi-ceiling", f"GLIBC_{t.abi.glibc} GLIBCXX_{t.abi.glibcxx} "
                                              f"CXXABI_{t.abi.cxxabi}"),
                    ("edgeforge:compiler", t.compiler.name),
                    ("edgeforge:sysroot", t.sysroot.name),
                    ("edgeforge:revision", inp.revision),
                    ("edgeforge:installers", " ".join(t.board.spec.installers))))
    return write_sbom(spec, path)
