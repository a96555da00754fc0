"""`invoke release`: what a device installs, written into dist/<board>/<app>/<version>/ atomically.

The release is more steps of the board's plan, after `manifest` (the formats of formats.py,
in the registry's order, the device image formats of device/ among them):

    image -> deb | rpm | run (as the board asks) -> dbg [-> sdk] [-> rootfs -> twin] -> sbom -> legal
    -> release

Each deliverable is one step with its own module (oci/image.py, packages/deb.py, rpm.py,
run.py, dbg.py, sbom.py, legal.py, sdk.py): a pure "what goes in" part computed from the
`ReleaseInput` and a thin "write it" part through the runner. Each step receives a `Release`
(a plain value: context, target, board layout, runner, version, time) and writes into
build/<board>/apps/<app>/release/<step>/ (skipped when up to date); the last step copies them into a
staging folder beside dist/<board>/<app>/<version>/, adds SHA256SUMS, release.json and a detached
signature when a key is configured, and renames it into place: a failed release leaves the
previous one intact and no half folder.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeforge import __version__
from edgeforge.build import read_manifest
from edgeforge.config import IMAGES_DIR, App, Target
from edgeforge.context import BoardLayout, Context
from edgeforge.core import (
    Execution,
    Runner,
    Step,
    UsageError,
    code_closure,
    gitinfo,
    publish,
    sha256_file,
    source_date_epoch,
    staged,
    tree_digest,
    write_atomic,
    write_json,
)

from .inputs import ReleaseInput, normalise_times
from .oci import read_container_result, write_container_index

_VERSION = re.compile(r"[0-9][A-Za-z0-9.+~-]*")


# ---- version and time ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ReleaseOptions:
    version: str | None = None       # None: from git
    sign_key: str | None = None      # a gpg key id; None: EDGEFORGE_SIGNING_KEY or unsigned
    sdk: bool = False                # also ship the board's SDK archive (listed in the SBOM)
    device: bool = False             # also the device image and the virtual twin's disk
    ssh_key: str | None = None       # the login's public key (a .pub file) for device images


def default_version(project_root: Path, runner: Runner, base: str) -> str:
    """The app's version `base` (its descriptor's), plus the commit when the checkout is not at
    a `vX.Y.Z` tag: `1.0.0+git20261124.e79c14f0a1b2` (a valid Debian, RPM and OCI tag
    version)."""
    tag = gitinfo.exact_tag(runner, project_root)
    if tag and tag.lstrip("v") == base:
        return base
    rev = gitinfo.revision(runner, project_root)
    when = gitinfo.commit_time(runner, project_root)
    if rev == "unknown" or when is None:
        return base
    day = _utc_day(when)
    return f"{base}+git{day}.{rev.replace('-dirty', '.dirty')}"


def _utc_day(epoch: int) -> str:
    return time.strftime("%Y%m%d", time.gmtime(epoch))


def check_version(version: str) -> str:
    if not _VERSION.fullmatch(version) or len(version) > 100:
        raise UsageError(
            f"--version {version[:100]!r}: a release version starts with a digit and uses only "
            "letters, digits and . + ~ - (e.g. 1.2.0 or 1.2.0~rc1), as Debian, RPM and OCI "
            "tags all accept")
    return version


# ---- the plain value every release step receives -----------------------------------------------
@dataclass(frozen=True)
class Release:
    """One board's release of one app: what its steps need, never the builder object."""

    ctx: Context
    target: Target
    app: App                   # the app released (its descriptor, folder and version)
    layout: BoardLayout
    runner: Runner
    opts: ReleaseOptions
    version: str
    epoch: int                 # SOURCE_DATE_EPOCH: every time stamp of every artefact
    revision: str
    sign_key: str | None
    final: Path                # dist/<board>/<app>/<version>/
    common: dict[str, Any]     # what every release step's signature holds
    images: str | None         # digest of images/ (what the images and installers are made of)

    @classmethod
    def create(cls, ctx: Context, target: Target, app: App, runner: Runner,
               opts: ReleaseOptions) -> Release:
        probe = ctx.probe_runner()
        root = ctx.project_root
        version = (check_version(opts.version) if opts.version
                   else default_version(root, probe, app.version))
        epoch = source_date_epoch(root, probe)
        revision = gitinfo.revision(probe, root)
        # edgeforge's own code is an input too: a release step whose writer changed runs again
        # (the deliver wing and all it imports; not the CLI, the team or debug code); so is
        # the app's descriptor (its names, data, services and deliverables go into the files)
        common = {"version": version, "epoch": epoch, "revision": revision,
                  "edgeforge": __version__, "code": code_closure("deliver"),
                  "app": {"name": app.name, "spec": app.spec.model_dump(mode="json")}}
        images = root / IMAGES_DIR
        return cls(ctx=ctx, target=target, app=app,
                   layout=ctx.layout(target.name).for_app(app.name),
                   runner=runner,
                   opts=opts, version=version, epoch=epoch, revision=revision,
                   sign_key=opts.sign_key or os.environ.get("EDGEFORGE_SIGNING_KEY") or None,
                   final=ctx.dist_dir(target.name) / app.name / version, common=common,
                   images=tree_digest(images) if images.is_dir() else None)

    @property
    def installers(self) -> tuple[str, ...]:
        """The installers the board asks for and the app gets (deliver.formats of its
        descriptor), in the board's descriptor's order."""
        return tuple(i for i in self.target.board.spec.installers
                     if i in self.app.spec.deliver.formats)

    @property
    def graph(self) -> tuple[str, ...]:
        """("deps",): the plan's Conan graph step, for a release of an app built with Conan;
        () for an app that takes its libraries from the sysroot."""
        return ("deps",) if self.app.spec.build.kind == "conan" else ()

    def ships(self, fmt: str) -> bool:
        """Whether the app's descriptor asks for a deliverable (deliver.formats: dbg, ...)."""
        return fmt in self.app.spec.deliver.formats

    @property
    def device_dir(self) -> Path:
        """images/<app>/: the folder of the device image's definition (device.yaml) and of the
        files it copies in."""
        return (self.ctx.project_root / self.app.device_image).parent

    def input(self, ex: Execution) -> ReleaseInput:
        manifest = read_manifest(self.layout.root, self.app.name)
        if manifest is None:
            raise UsageError(f"{self.layout.manifest} is missing or unreadable; "
                             f"run `invoke build --board {self.target.name}`")
        return ReleaseInput(
            target=self.target, app=self.app, manifest=manifest, app_dir=ex["app"],
            sysroot=ex["sysroot"].path, project_root=self.ctx.project_root,
            version=self.version, revision=self.revision, source_date_epoch=self.epoch,
            mirror_dir=self.ctx.mirror_dir)

    def into(self, name: str, write: Callable[[Path], Any]) -> Path:
        """Run a writer into a staging folder and publish it as
        build/<board>/apps/<app>/release/<name>."""
        final = self.layout.release_step(name)
        with staged(final) as out:
            out.mkdir(parents=True)
            write(out)
            return publish(out, final)

    def step(self, name: str, description: str, action: Callable[[Execution], Any], *,
             inputs: dict[str, Any], needs: tuple[str, ...]) -> Step:
        """A release step of the app writing build/<board>/apps/<app>/release/<name>/ (its
        result: that folder)."""
        folder = self.layout.release_step(name)
        return Step(name, description, action, inputs=inputs, needs=needs, outputs=(folder,),
                    load=lambda ex: folder, scope=self.app.name)


# ---- assembling -------------------------------------------------------------------------------
def copy_tree(src: Path, dest: Path) -> None:
    """Copy a step's folder into the release (hard links where the file system allows)."""
    for dirpath, _dirs, files in os.walk(src):
        rel = Path(dirpath).relative_to(src)
        (dest / rel).mkdir(parents=True, exist_ok=True)
        for f in files:
            s, d = Path(dirpath) / f, dest / rel / f
            if s.is_symlink():
                os.symlink(os.readlink(s), d)
                continue
            try:
                os.link(s, d)
            except OSError:
                shutil.copy2(s, d)


def release_files(folder: Path) -> list[Path]:
    skip = {"SHA256SUMS", "SHA256SUMS.asc"}
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()
                  and str(p.relative_to(folder)) not in skip)


def write_sha256sums(folder: Path) -> Path:
    lines = [f"{sha256_file(p)}  {p.relative_to(folder)}" for p in release_files(folder)]
    path = folder / "SHA256SUMS"
    write_atomic(path, "\n".join(lines) + "\n")
    return path


def assemble(rel: Release, parts: dict[str, str], ex: Execution) -> Path:
    """Copy each part's folder into the release (at `parts[name]`: "" is the top), add
    release.json, SHA256SUMS and the signature, and rename it into place."""
    with staged(rel.final) as out:
        out.mkdir(parents=True)
        for name, place in parts.items():
            copy_tree(ex[name], out / place if place else out)
        write_release_record(rel, out)
        sums = write_sha256sums(out)
        if rel.sign_key:
            sign(rel.runner, sums, rel.sign_key)
        normalise_times(out, rel.epoch)
        publish(out, rel.final)
    rel.ctx.reporter.info(f"release {rel.version} for {rel.target.name}: {rel.final}")
    return rel.final


def assemble_step(rel: Release, parts: dict[str, str]) -> Step:
    """The last step: the release folder from the parts (step name -> place in the folder)."""
    return Step("release", f"assemble {rel.final} (SHA256SUMS, release.json"
                + (", signature" if rel.sign_key else "") + ")",
                lambda ex: assemble(rel, parts, ex),
                inputs={**rel.common, "sign_key": rel.sign_key}, needs=tuple(parts),
                outputs=(rel.final,), load=lambda ex: rel.final, scope=rel.app.name)


def write_release_record(rs: Release, folder: Path) -> Path:
    t = rs.target
    files = {str(p.relative_to(folder)): {"sha256": sha256_file(p), "size": p.stat().st_size}
             for p in release_files(folder)}
    record: dict[str, Any] = {
        "schema_version": 1,
        "app": rs.app.name, "version": rs.version, "revision": rs.revision,
        "source_date_epoch": rs.epoch, "edgeforge": __version__,
        "board": t.name, "arch": t.arch.value, "triple": t.triple,
        "abi_ceiling": {"glibc": t.abi.glibc, "glibcxx": t.abi.glibcxx, "cxxabi": t.abi.cxxabi,
                        "strategy": t.abi.strategy.value},
        "compiler": t.compiler.name, "sysroot": t.sysroot.name,
        "installers": list(rs.installers),
        "files": files,
    }
    path = folder / "release.json"
    write_json(path, record)
    return path


def sign(runner: Runner, sums: Path, key: str) -> Path:
    """A detached, armoured signature of SHA256SUMS made by gpg with the configured key."""
    out = sums.with_name(sums.name + ".asc")
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "GNUPGHOME")}
    env.update({"LC_ALL": "C.UTF-8"})
    runner.run(["gpg", "--batch", "--yes", "--pinentry-mode", "loopback", "--local-user", key,
                "--armor", "--detach-sign", "--output", str(out), str(sums)], env=env,
               what=f"sign SHA256SUMS with key {key}", echo=False)
    return out


def write_release_index(dist_root: Path, folders: list[Path]) -> Path:
    """One OCI image layout holding every released board's image (an image index by platform),
    written beside the boards' releases: dist/index/<app>/<version>/."""
    results = [read_container_result(f) for f in folders]
    final = dist_root / "index" / folders[0].parent.name / results[0].version
    with staged(final) as out:
        out.mkdir(parents=True)
        write_container_index(results, out)
        return publish(out, final)
