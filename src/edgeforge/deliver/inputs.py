"""What every release deliverable is made from: one frozen record per board and release."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from edgeforge.build import Manifest, PackageRecord
from edgeforge.config import App, Target
from edgeforge.deps import Pin, load_pins


@dataclass(frozen=True)
class ReleaseInput:
    """Everything a deliverable needs to know, computed once per release (frozen)."""

    target: Target            # the resolved board (arch, triple, ABI ceiling, installers ...)
    app: App                  # the app's descriptor (apps/<app>/app.yaml), its folder, version
    manifest: Manifest        # build/<board>/manifest.json, typed
    app_dir: Path             # the installed app: bin/<program>, lib/*.so*, share/<app>/
    sysroot: Path             # the board's sysroot (system libraries, dpkg database)
    project_root: Path
    version: str              # e.g. 1.0.0+git20261124.e79c14f, or --version
    revision: str             # commit id
    source_date_epoch: int    # every timestamp in every artefact
    mirror_dir: Path          # the source mirror (<cache>/sources/s/<sha256>)

    @property
    def app_name(self) -> str:
        return self.app.name

    @property
    def board(self) -> str:
        return self.target.name

    def env(self) -> dict[str, str]:
        """Environment additions for every tool that writes an artefact."""
        return {"SOURCE_DATE_EPOCH": str(self.source_date_epoch), "TZ": "UTC",
                "LC_ALL": "C.UTF-8"}


def normalise_times(root: Path, epoch: int) -> None:
    """Every file, folder and link under root gets the release's timestamp."""
    for dirpath, dirs, files in os.walk(root, topdown=False):
        for name in (*files, *dirs):
            os.utime(Path(dirpath) / name, (epoch, epoch), follow_symlinks=False)
    os.utime(root, (epoch, epoch))


@dataclass(frozen=True)
class ShippedPackage:
    """A Conan package of the board's graph whose code ships with the app."""

    name: str
    version: str
    record: PackageRecord
    pins: tuple[Pin, ...]        # the pinned source archives it was built from
    recipe_dir: Path


def shipped_packages(inp: ReleaseInput) -> list[ShippedPackage]:
    """Host packages of the locked graph, without the app's test-only requirements."""
    deps = inp.manifest.dependencies
    if deps is None:
        return []
    test_only = set(inp.app.spec.build.test_requires)
    pins = load_pins(inp.project_root / "recipes")
    out = []
    for pkg in deps.packages:
        name, rest = pkg.ref.split("/", 1)
        if pkg.context != "host" or name in test_only:
            continue
        out.append(ShippedPackage(name, rest.split("#", 1)[0].split("@", 1)[0], pkg,
                                  tuple(p for p in pins if p.recipe == name),
                                  inp.project_root / "recipes" / name))
    return out
