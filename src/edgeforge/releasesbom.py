"""What the release's SBOM says: every component that ships, gathered from the board's build.

- the app (its programs, with their DT_NEEDED lists) and the model it loads, with provenance;
- every Conan package whose code ships (not test-only requirements such as googletest): name,
  version, purl, licence from its recipe, its shipped libraries, and the pinned source
  archives with their sha256 and the Debian source package they came from;
- every system library the app loads from the device's OS, with its Debian package, version
  and licence from the sysroot's dpkg database, and the libraries copied from the sysroot into
  the container image;
- the runtime dependency graph (who needs whom, from DT_NEEDED);
- the board, its ABI ceiling, compiler, sysroot and the commit, as metadata properties.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from . import shlibdeps
from .container import ImageFile, read_result
from .context import Context
from .fsutil import sha256_file
from .recipedata import recipe_licenses
from .releaseinput import APP_NAME, ReleaseInput, shipped_packages
from .runner import Runner
from .sbom import Component, SourceArchive, make_spec, write_sbom

MODEL_FILE = "pedestrian-grid.onnx"


def _name_version(ref: str) -> tuple[str, str]:
    name, rest = ref.split("/", 1)
    return name, rest.split("#", 1)[0].split("@", 1)[0]


def app_component(inp: ReleaseInput) -> Component:
    app = inp.manifest.by_role("app")
    programs = [a for a in app if a.path.startswith(f"{APP_NAME}/bin/")]
    return Component(
        ref=f"app:{APP_NAME}", name=APP_NAME, version=inp.version, kind="application",
        licenses=recipe_licenses(inp.project_root / "apps" / APP_NAME),
        description="video analytics for edge boxes (FFmpeg decode, OpenCV dnn/HOG/Haar)",
        files=tuple((a.path, a.sha256) for a in programs),
        needs=tuple(sorted({n for a in programs for n in a.needed})),
        uses=(f"model:{MODEL_FILE}",),
        properties=(("edgeforge:revision", inp.revision),),
    )


def model_component(inp: ReleaseInput) -> Component:
    model = inp.app_dir / "share" / APP_NAME / MODEL_FILE
    card = inp.project_root / "apps" / APP_NAME / "model" / "MODEL.md"
    return Component(
        ref=f"model:{MODEL_FILE}", name=MODEL_FILE.rsplit(".", 1)[0], version=inp.version,
        kind="machine-learning-model", licenses=("Apache-2.0",),
        description="single-shot pedestrian detector (ONNX), trained in this repository "
                    "by apps/edge-infer/model/train_detector.py on OpenCV's vtest.avi, "
                    "labelled by OpenCV's HOG people detector",
        files=((f"{APP_NAME}/share/{APP_NAME}/{MODEL_FILE}", sha256_file(model)),),
        properties=(("edgeforge:model-card", "apps/edge-infer/model/MODEL.md"),
                    ("edgeforge:model-card-sha256", sha256_file(card))),
    )


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
            files=tuple((f"{APP_NAME}/lib/{Path(lib.path).name}", lib.sha256) for lib in libs),
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
                      image_files: list[ImageFile]) -> list[Component]:
    """One component per Debian package of the sysroot that the app loads or the container
    image carries."""
    arch = {"arm64": "arm64", "armhf": "armhf"}.get(inp.target.arch.value, inp.target.arch.value)
    by_pkg: dict[str, dict] = {}
    for lib in shlibdeps.system_libraries(inp, runner):
        e = by_pkg.setdefault(lib.package, {"version": lib.version, "licence": lib.licence,
                                            "provides": set(), "files": set()})
        e["provides"].add(lib.soname)
        e["files"].add(lib.path)
    for f in image_files:
        if not f.package:
            continue
        e = by_pkg.setdefault(f.package, {"version": f.package_version or "", "licence": None,
                                          "provides": set(), "files": set()})
        e["files"].add(f"{f.path} (in the container image)")
    out = []
    for pkg, e in sorted(by_pkg.items()):
        out.append(Component(
            ref=f"deb:{pkg}", name=pkg, version=e["version"], kind="library",
            purl=f"pkg:deb/debian/{quote(pkg)}@{quote(e['version'])}?arch={arch}",
            licenses=(e["licence"],) if e["licence"] else (),
            supplier="Debian (the board's stand-in sysroot " + inp.target.sysroot.name + ")",
            provides=tuple(sorted(e["provides"])),
            files=tuple((f, "") for f in sorted(e["files"])),
            properties=(("edgeforge:origin", "sysroot"),),
        ))
    return out


def write(inp: ReleaseInput, ctx: Context, runner: Runner, path: Path,
          shipped: dict[str, Path]) -> Path:
    image = shipped.get("image")
    image_files = read_result(image).system_files() if image else []
    t = inp.target
    spec = make_spec(
        app_component(inp),
        [model_component(inp), *conan_components(inp),
         *system_components(inp, runner, image_files)],
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
