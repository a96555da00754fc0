"""Delivery formats: one small protocol, one registry in plan order.

A format is one step of a board's release: it says whether the board and the options ask for
it, and gives the step that writes build/<board>/release/<name>/ from a `Release` (a plain
value, never the builder). A new format is one module (its writer and a `Deliverable`) and
one line in a registry below: the format also says how the SBOM lists it (`sbom_ref`,
`sbom_type`, `sbom_text`), and the SBOM step passes that on to sbom.py for the formats of the
plan, so sbom.py keeps no table of formats. The device image formats register in device/
(device/steps.py) against the same protocol: the plan composer (pipeline.py) puts them between
the artefacts and the documents, since the documents describe them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Protocol

from edgeforge.config import containerimage
from edgeforge.core import Execution, Runner, Step

from . import legal
from . import sbom as releasesbom
from .inputs import ReleaseInput
from .oci import write_container_image
from .packages import dbg as dbgpkg
from .packages import deb as debpkg
from .packages import rpm as rpmpkg
from .packages import run as runinstaller
from .release import Release, assemble_step
from .sdk import write_sdk


class Deliverable(Protocol):
    """One delivery format: a step of the release, and where its files go."""

    #: its step's name, and its folder build/<board>/release/<name>/
    name: str
    #: where the release folder holds its files ("": the top, "legal": legal/), or None (not
    #: copied into the release: the device's root file system)
    place: str | None
    #: the SBOM describes its files (and so needs its step)
    described: bool
    #: how the SBOM lists its folder as a component of its own: the component's bom-ref prefix
    #: (container-image, installer, device-image: sbom.DEVICE_IMAGE), its CycloneDX type and
    #: its description ({app}, {board}, {tag}: the container image's tag); all None when the
    #: SBOM does not list it so (dbg and sdk: components of their own making in sbom.py;
    #: rootfs: its Debian packages; sbom, legal: not described)
    sbom_ref: str | None
    sbom_type: str | None
    sbom_text: str | None

    def wanted(self, rel: Release) -> bool:
        """Whether this release has it (the board's descriptor, the options)."""
        ...

    def step(self, rel: Release, plan: Sequence[Deliverable]) -> Step:
        """Its step; `plan` is every format of this release, in order."""
        ...


def shipped_inputs(rel: Release) -> dict:
    """What the artefacts' signatures hold: the release's common inputs and images/."""
    return {**rel.common, "images": rel.images}


# ---- the artefacts ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ContainerImage:
    """The container image: an OCI layout and a docker archive (oci/image.py)."""

    name: str = "image"
    place: str | None = ""
    described: bool = True
    sbom_ref: str | None = "container-image"
    sbom_type: str | None = "container"
    sbom_text: str | None = ("container image {tag}: OCI layout, docker archive and the "
                             "image's record")

    def wanted(self, rel: Release) -> bool:
        return rel.app.spec.deliver.container_image is not None

    def write(self, rel: Release, ex: Execution) -> Path:
        inp = rel.input(ex)
        definition = rel.app.spec.deliver.container_image
        assert definition is not None  # wanted() holds
        image_def = containerimage.load_file(rel.ctx.project_root / definition, definition)
        return rel.into(self.name, lambda out: write_container_image(inp, image_def, out,
                                                                     rel.runner))

    def step(self, rel: Release, plan: Sequence[Deliverable]) -> Step:
        tag = f"{rel.app.name}:{rel.version}-{rel.target.name}"
        return rel.step(self.name, f"container image {tag} (OCI layout + docker archive)",
                        lambda ex: self.write(rel, ex), inputs=shipped_inputs(rel),
                        needs=("app", "manifest"))


@dataclass(frozen=True)
class Installer:
    """An installer the board's descriptor asks for (installers:): .deb, .rpm or .run."""

    name: str
    writer: Callable[[ReleaseInput, Path, Runner], Path]
    sbom_text: str | None       # how the SBOM describes it ({app}, {board})
    place: str | None = ""
    described: bool = True
    sbom_ref: str | None = "installer"
    sbom_type: str | None = "file"

    def wanted(self, rel: Release) -> bool:
        return self.name in rel.installers

    def write(self, rel: Release, ex: Execution) -> Path:
        inp = rel.input(ex)
        return rel.into(self.name, lambda out: self.writer(inp, out, rel.runner))

    def step(self, rel: Release, plan: Sequence[Deliverable]) -> Step:
        return rel.step(self.name, f".{self.name} installer", lambda ex: self.write(rel, ex),
                        inputs=shipped_inputs(rel), needs=("app", "manifest"))


@dataclass(frozen=True)
class DebugArtifacts:
    """The split debug files as a tarball, and a -dbg .deb when the board ships a .deb."""

    name: str = "dbg"
    place: str | None = ""
    described: bool = True
    sbom_ref: str | None = None
    sbom_type: str | None = None
    sbom_text: str | None = None

    def wanted(self, rel: Release) -> bool:
        return rel.ships(self.name)

    def write(self, rel: Release, ex: Execution) -> Path:
        inp = rel.input(ex)
        return rel.into(self.name, lambda out: dbgpkg.write_dbg(
            inp, rel.layout.symbols, out, rel.runner, deb="deb" in rel.installers))

    def step(self, rel: Release, plan: Sequence[Deliverable]) -> Step:
        return rel.step(self.name, "debug artifacts: the split debug files as a tarball"
                        + (" and a -dbg .deb" if "deb" in rel.installers else ""),
                        lambda ex: self.write(rel, ex), inputs=shipped_inputs(rel),
                        needs=("app", "manifest"))


@dataclass(frozen=True)
class SdkArchive:
    """With --sdk: the board's relocatable SDK archive (sdk.py)."""

    name: str = "sdk"
    place: str | None = ""
    described: bool = True
    sbom_ref: str | None = None
    sbom_type: str | None = None
    sbom_text: str | None = None

    def wanted(self, rel: Release) -> bool:
        return rel.opts.sdk and rel.ships(self.name)

    def write(self, rel: Release, ex: Execution) -> Path:
        inputs = ex["toolchain"].toolchain.inputs
        manifest = rel.input(ex).manifest
        return rel.into(self.name, lambda out: write_sdk(
            inputs, manifest, out, rel.layout.work, rel.epoch,
            cmake_generators=rel.layout.generators(rel.app.name)))

    def step(self, rel: Release, plan: Sequence[Deliverable]) -> Step:
        return rel.step(self.name, f"SDK archive for {rel.target.name} (sysroot with the "
                        "packages, toolchain files, environment script)",
                        lambda ex: self.write(rel, ex), inputs=rel.common,
                        needs=("toolchain", *rel.graph, "app", "manifest"))


# ---- the documents: after every artefact (the device images too) --------------------------------
@dataclass(frozen=True)
class Sbom:
    """The CycloneDX SBOM of everything the formats before it wrote (sbom.py)."""

    name: str = "sbom"
    place: str | None = ""
    described: bool = False
    sbom_ref: str | None = None
    sbom_type: str | None = None
    sbom_text: str | None = None

    def wanted(self, rel: Release) -> bool:
        return True

    def write(self, rel: Release, ex: Execution, sources: tuple[str, ...],
              listed: tuple[releasesbom.Listed, ...]) -> Path:
        inp = rel.input(ex)
        return rel.into(self.name, lambda out: releasesbom.write(
            inp, rel.ctx, rel.runner, out / "sbom.cdx.json",
            shipped={k: ex[k] for k in sources}, listed=listed))

    def step(self, rel: Release, plan: Sequence[Deliverable]) -> Step:
        # what ships, then what is described without shipping (the device's root file system)
        sources = (*(f.name for f in plan if f.described and f.place is not None),
                   *(f.name for f in plan if f.described and f.place is None))
        listed = sbom_listing(plan)
        # the formats' descriptions are inputs too: device/ (not in deliver's code) has some
        return rel.step(self.name, "CycloneDX SBOM of everything that ships",
                        lambda ex: self.write(rel, ex, sources, listed),
                        inputs={**rel.common, "listed": [list(astuple(f)) for f in listed]},
                        needs=(*rel.graph, *sources))


def sbom_listing(formats: Sequence[Deliverable]) -> tuple[releasesbom.Listed, ...]:
    """How the SBOM lists the formats it lists as components of their own, in their order."""
    return tuple(releasesbom.Listed(f.name, f.sbom_ref, f.sbom_type, f.sbom_text) for f in formats
                 if f.sbom_ref is not None and f.sbom_type is not None
                 and f.sbom_text is not None)


@dataclass(frozen=True)
class Legal:
    """Licence texts and corresponding sources, in the release's legal/ (legal.py)."""

    name: str = "legal"
    place: str | None = "legal"
    described: bool = False
    sbom_ref: str | None = None
    sbom_type: str | None = None
    sbom_text: str | None = None

    def wanted(self, rel: Release) -> bool:
        return True

    def write(self, rel: Release, ex: Execution) -> Path:
        inp = rel.input(ex)
        return rel.into(self.name, lambda out: legal.write_legal(inp, rel.ctx, rel.runner, out))

    def step(self, rel: Release, plan: Sequence[Deliverable]) -> Step:
        return rel.step(self.name, "licence texts and corresponding sources",
                        lambda ex: self.write(rel, ex), inputs=rel.common,
                        needs=(*rel.graph, "app"))


# ---- the registry ---------------------------------------------------------------------------------
#: what ships, in plan order (the device image formats of device/ come after these)
ARTEFACTS: tuple[Deliverable, ...] = (
    ContainerImage(),
    Installer("deb", debpkg.write_deb, "Debian package of {app} for {board}"),
    Installer("rpm", rpmpkg.write_rpm, "RPM package of {app} for {board}"),
    Installer("run", runinstaller.write_run, "self-extracting installer of {app} for {board}"),
    DebugArtifacts(),
    SdkArchive(),
)
#: what describes the artefacts: last, so they describe every format before them
DOCUMENTS: tuple[Deliverable, ...] = (
    Sbom(),
    Legal(),
)


def release_steps(rel: Release, formats: Sequence[Deliverable]) -> list[Step]:
    """The steps of the formats this release has, in the registry's order, then `release`,
    which copies every placed format's folder into dist/<board>/<app>/<version>/."""
    plan = tuple(f for f in formats if f.wanted(rel))
    steps = [f.step(rel, plan) for f in plan]
    parts = {f.name: f.place for f in plan if f.place is not None}
    return [*steps, assemble_step(rel, parts)]
