"""`invoke release`: what a device installs, written into dist/<board>/<version>/ atomically.

The release is more steps of the board's plan, after `manifest`:

    image -> deb | rpm | run (as the board asks) -> dbg [-> sdk] [-> rootfs -> twin] -> sbom -> legal
    -> release

Each deliverable is one step with its own module (container.py, debpkg.py, rpmpkg.py,
runinstaller.py, sbom.py, legal.py): a pure "what goes in" part computed from the
`ReleaseInput` below and a thin "write it" part through the runner. Each writes into
build/<board>/release/<step>/ (skipped when up to date); the last step copies them into a
staging folder beside dist/<board>/<version>/, adds SHA256SUMS, release.json and a detached
signature when a key is configured, and renames it into place: a failed release leaves the
previous one intact and no half folder.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeforge import __version__
from edgeforge.build import generators_dir, read_manifest
from edgeforge.config import containerimage as imagedefs
from edgeforge.core import (
    Execution,
    Runner,
    Step,
    UsageError,
    code_digest,
    gitinfo,
    publish,
    read_limited,
    sha256_file,
    source_date_epoch,
    staged,
    tree_digest,
    write_atomic,
    write_json,
)

from . import legal
from . import sbom as releasesbom
from .inputs import APP_NAME, ReleaseInput, normalise_times
from .oci import image as container
from .packages import deb as debpkg
from .packages import rpm as rpmpkg
from .packages import run as runinstaller
from .scan import scan_tree
from .sdk import write_sdk

if TYPE_CHECKING:
    from edgeforge.pipeline import BoardBuild

IMAGES_DIR = "images"
#: device image steps: what each writes, and the last part of its files' names
DEVICE_IMAGES = {
    "twin": ("disk image of the virtual twin (GPT, ext4; qcow2, kernel, initramfs)", "twin"),
    "l4t-rootfs": ("root file system tarball for NVIDIA's Linux_for_Tegra/rootfs",
                   "l4t-rootfs"),
    "raspi-sd": ("Raspberry Pi SD-card image (raspi-firmware boot partition, root)", "sdcard"),
}
_VERSION = re.compile(r"[0-9][A-Za-z0-9.+~-]*")


# ---- version and time ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ReleaseOptions:
    version: str | None = None       # None: from git
    sign_key: str | None = None      # a gpg key id; None: EDGEFORGE_SIGNING_KEY or unsigned
    sdk: bool = False                # also ship the board's SDK archive (listed in the SBOM)
    device: bool = False             # also the device image and the virtual twin's disk
    ssh_key: str | None = None       # the login's public key (a .pub file) for device images


def app_version(project_root: Path) -> str:
    text = (project_root / "apps" / APP_NAME / "CMakeLists.txt").read_text()
    m = re.search(r"project\(\s*\w+\s+VERSION\s+([0-9.]+)", text)
    return m.group(1) if m else "0.0.0"


def default_version(project_root: Path, runner: Runner) -> str:
    """The app's version, plus the commit when the checkout is not at a `vX.Y.Z` tag:
    `1.0.0+git20261124.e79c14f0a1b2` (a valid Debian, RPM and OCI tag version)."""
    base = app_version(project_root)
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
    import time

    return time.strftime("%Y%m%d", time.gmtime(epoch))


def check_version(version: str) -> str:
    if not _VERSION.fullmatch(version) or len(version) > 100:
        raise UsageError(
            f"--version {version[:100]!r}: a release version starts with a digit and uses only "
            "letters, digits and . + ~ - (e.g. 1.2.0 or 1.2.0~rc1), as Debian, RPM and OCI "
            "tags all accept")
    return version


# ---- the release steps ------------------------------------------------------------------------
class ReleaseSteps:
    """The steps a release adds to a board's plan; each method is one step's action."""

    def __init__(self, bb: BoardBuild, opts: ReleaseOptions):
        self.bb = bb
        self.ctx = bb.ctx
        self.t = bb.t
        self.opts = opts
        probe = self.ctx.probe_runner()
        root = self.ctx.project_root
        self.version = check_version(opts.version) if opts.version else default_version(root, probe)
        self.epoch = source_date_epoch(root, probe)
        self.revision = gitinfo.revision(probe, root)
        self.work = bb.bdir / "release"
        self.final = self.ctx.dist_root / self.t.name / self.version
        self.sign_key = opts.sign_key or os.environ.get("EDGEFORGE_SIGNING_KEY") or None

    def input(self, ex: Execution) -> ReleaseInput:
        manifest = read_manifest(self.bb.bdir)
        if manifest is None:
            raise UsageError(f"{self.bb.bdir / 'manifest.json'} is missing or unreadable; "
                                 f"run `invoke build --board {self.t.name}`")
        return ReleaseInput(
            target=self.t, manifest=manifest, app_dir=ex["app"], sysroot=ex["sysroot"].path,
            project_root=self.ctx.project_root, version=self.version, revision=self.revision,
            source_date_epoch=self.epoch, mirror_dir=self.ctx.mirror_dir)

    def _into(self, name: str, write) -> Path:
        """Run a writer into a staging folder and publish it as build/<board>/release/<name>."""
        final = self.work / name
        with staged(final) as out:
            out.mkdir(parents=True)
            write(out)
            return publish(out, final)

    # actions --------------------------------------------------------------------------------
    def image(self, ex: Execution) -> Path:
        inp = self.input(ex)
        image_def = imagedefs.load(self.ctx.project_root / IMAGES_DIR / APP_NAME)
        return self._into("image", lambda out: container.write_container_image(
            inp, image_def, out, self.bb.runner))

    def installer(self, kind: str):
        def action(ex: Execution) -> Path:
            writer = {"deb": debpkg.write_deb, "rpm": rpmpkg.write_rpm,
                      "run": runinstaller.write_run}[kind]
            inp = self.input(ex)
            return self._into(kind, lambda out: writer(inp, out, self.bb.runner))
        return action

    def dbg(self, ex: Execution) -> Path:
        """The debug artifacts: a tarball of the split debug files, and a -dbg .deb."""
        from edgeforge.elf import debuginfo

        from .packages import dbg as dbgpkg
        inp = self.input(ex)
        symbols = self.bb.bdir / debuginfo.SYMBOLS_DIR
        return self._into("dbg", lambda out: dbgpkg.write_dbg(
            inp, symbols, out, self.bb.runner, deb="deb" in self.installers()))

    def sdk(self, ex: Execution) -> Path:
        inputs = ex["toolchain"].toolchain.inputs
        manifest = self.input(ex).manifest
        return self._into("sdk", lambda out: write_sdk(
            inputs, manifest, out, self.bb.bdir / "work", self.epoch,
            cmake_generators=generators_dir(self.ctx, self.t.name)))

    def rootfs(self, ex: Execution) -> Path:
        """The device's root file system (build/<board>/release/rootfs/tree): the cached base,
        the board's .deb installed by apt, the login, services, files and first boot."""
        from edgeforge.device import image as devimage
        dev = self.device_def()
        runner = self.bb.runner
        base = devimage.ensure_base(self.ctx, self.t, dev, runner)
        debs = sorted(ex["deb"].glob("*.deb"))
        final = self.work / "rootfs"
        with staged(final) as out:
            out.mkdir(parents=True)
            tree = out / "tree"
            with self.ctx.reporter.step(f"root file system of {self.t.name}: copy the base, "
                                        f"install {debs[0].name}, configure"):
                runner.run(["cp", "-a", "--reflink=auto", str(base), str(tree)],
                           what="copy the base root file system", needed_by="the device image")
                (tree / devimage.COMPLETE).unlink()
                devimage.install_app(tree, debs[0], runner, self.epoch)
                partuuid = (devimage.raspi_partuuid(self.t.name, self.version)
                            if "raspi-sd" in self.t.board.spec.device_images else None)
                devimage.configure(self.ctx, tree, dev, self.images_dir(), self.login_key(),
                                   runner, self.epoch, raspi_partuuid=partuuid)
                scan_tree(tree, f"the device image of {self.t.name}", self.t.name)
            return publish(out, final)

    def device_image(self, kind: str):
        """The action of one device image step: a writer of devimage.py on the rootfs tree."""
        def action(ex: Execution) -> Path:
            from edgeforge.device import image as devimage
            name = f"{APP_NAME}-{self.version}-{self.t.name}-{DEVICE_IMAGES[kind][1]}"
            tree = ex["rootfs"] / "tree"
            if kind == "l4t-rootfs":
                return self._into(kind, lambda out: devimage.write_l4t_rootfs(
                    tree, out, name, self.epoch))
            writer = {"twin": devimage.write_twin, "raspi-sd": devimage.write_raspi_sd}[kind]
            return self._into(kind, lambda out: writer(
                tree, out, name, self.device_def(), self.t, self.version, self.bb.runner,
                self.epoch))
        return action

    def device_layouts(self) -> tuple[str, ...]:
        """The device images this release writes: the twin's disk, then the board's own."""
        if not self.opts.device:
            return ()
        return ("twin", *self.t.board.spec.device_images)

    def sbom_sources(self) -> tuple[str, ...]:
        """What the SBOM describes: what ships, and the root file system the images hold."""
        return (*self.shipped_steps(), *(("rootfs",) if self.opts.device else ()))

    def images_dir(self) -> Path:
        return self.ctx.project_root / IMAGES_DIR / APP_NAME

    def device_def(self):
        from edgeforge.config import deviceimage as devicedefs
        return devicedefs.load(self.images_dir())

    def login_key(self) -> str:
        """The login's public key: --ssh-key, EDGEFORGE_SSH_KEY, or ~/.ssh/id_ed25519.pub
        (then id_ecdsa.pub, id_rsa.pub)."""
        from edgeforge.config import public_key_line
        given = self.opts.ssh_key or os.environ.get("EDGEFORGE_SSH_KEY")
        if given:
            path = Path(given).expanduser()
        else:
            home = Path.home() / ".ssh"
            found = [home / n for n in ("id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub")
                     if (home / n).is_file()]
            if not found:
                raise UsageError("a device image needs the login's public key: give "
                                 "--ssh-key FILE.pub (or EDGEFORGE_SSH_KEY), or make one with "
                                 "ssh-keygen -t ed25519")
            path = found[0]
        # a regular file of at most 20 KB (never /dev/zero, a folder or a named pipe)
        origin = "--ssh-key" if self.opts.ssh_key else \
            "EDGEFORGE_SSH_KEY" if given else "the default"
        raw = read_limited(path, f"the SSH public key {path} (from {origin})", limit=20000,
                           fix="fix: give --ssh-key FILE.pub, a public key ssh-keygen wrote")
        return public_key_line(raw.decode(errors="replace"), str(path))

    def sbom(self, ex: Execution) -> Path:
        inp = self.input(ex)
        return self._into("sbom", lambda out: releasesbom.write(
            inp, self.ctx, self.bb.runner, out / "sbom.cdx.json",
            shipped={k: ex[k] for k in self.sbom_sources()}))

    def legal(self, ex: Execution) -> Path:
        inp = self.input(ex)
        return self._into("legal", lambda out: legal.write_legal(inp, self.ctx, self.bb.runner,
                                                                 out))

    def assemble(self, ex: Execution) -> Path:
        parts = {name: ex[name] for name in (*self.shipped_steps(), "sbom", "legal")}
        with staged(self.final) as out:
            out.mkdir(parents=True)
            for name, folder in parts.items():
                dest = out if name not in ("legal",) else out / "legal"
                copy_tree(folder, dest)
            write_release_record(self, out)
            sums = write_sha256sums(out)
            if self.sign_key:
                sign(self.bb.runner, sums, self.sign_key)
            normalise_times(out, self.epoch)
            publish(out, self.final)
        self.ctx.reporter.info(f"release {self.version} for {self.t.name}: {self.final}")
        return self.final

    # the plan -------------------------------------------------------------------------------
    def installers(self) -> tuple[str, ...]:
        return tuple(self.t.board.spec.installers)

    def shipped_steps(self) -> tuple[str, ...]:
        return ("image", *self.installers(), "dbg", *(("sdk",) if self.opts.sdk else ()),
                *self.device_layouts())

    def steps(self) -> list[Step]:
        root = self.ctx.project_root
        # edgeforge's own code is an input too: a release step whose writer changed runs again
        common = {"version": self.version, "epoch": self.epoch, "revision": self.revision,
                  "edgeforge": __version__, "code": code_digest()}
        images = tree_digest(root / IMAGES_DIR) if (root / IMAGES_DIR).is_dir() else None
        w = self.work
        steps = [Step("image", f"container image edge-infer:{self.version}-{self.t.name} "
                      "(OCI layout + docker archive)", self.image,
                      inputs={**common, "images": images}, needs=("app", "manifest"),
                      outputs=(w / "image",), load=lambda ex: w / "image")]
        for kind in self.installers():
            steps.append(Step(kind, f".{kind} installer", self.installer(kind),
                              inputs={**common, "images": images}, needs=("app", "manifest"),
                              outputs=(w / kind,), load=lambda ex, k=kind: w / k))
        steps.append(Step("dbg", "debug artifacts: the split debug files as a tarball"
                          + (" and a -dbg .deb" if "deb" in self.installers() else ""), self.dbg,
                          inputs={**common, "images": images}, needs=("app", "manifest"),
                          outputs=(w / "dbg",), load=lambda ex: w / "dbg"))
        if self.opts.sdk:
            steps.append(Step("sdk", f"SDK archive for {self.t.name} (sysroot with the packages, "
                              "toolchain files, environment script)", self.sdk, inputs=common,
                              needs=("toolchain", "deps", "app", "manifest"),
                              outputs=(w / "sdk",), load=lambda ex: w / "sdk"))
        if self.opts.device:
            if "deb" not in self.installers():
                raise UsageError(f"a device image installs the board's .deb, and "
                                 f"{self.t.name}'s descriptor does not ask for one "
                                 "(installers:); add deb to it")
            from edgeforge.device import image as devimage
            devimage.stand_in_suite(self.t)  # a board that cannot have one says so now
            key = self.login_key()
            device = {**common, "images": images, "ssh_key": key}
            steps.append(Step("rootfs", f"root file system of {self.t.name} (its stand-in suite, "
                              "the .deb through apt, login, services, first boot)", self.rootfs,
                              inputs=device, needs=("deb",), outputs=(w / "rootfs",),
                              load=lambda ex: w / "rootfs"))
            for kind in self.device_layouts():
                steps.append(Step(kind, DEVICE_IMAGES[kind][0], self.device_image(kind),
                                  inputs=device, needs=("rootfs",), outputs=(w / kind,),
                                  load=lambda ex, k=kind: w / k))
        steps += [
            Step("sbom", "CycloneDX SBOM of everything that ships", self.sbom,
                 inputs=common, needs=("deps", *self.sbom_sources()),
                 outputs=(w / "sbom",), load=lambda ex: w / "sbom"),
            Step("legal", "licence texts and corresponding sources", self.legal,
                 inputs=common, needs=("deps", "app"), outputs=(w / "legal",),
                 load=lambda ex: w / "legal"),
            Step("release", f"assemble {self.final} (SHA256SUMS, release.json"
                 + (", signature" if self.sign_key else "") + ")", self.assemble,
                 inputs={**common, "sign_key": self.sign_key},
                 needs=(*self.shipped_steps(), "sbom", "legal"), outputs=(self.final,),
                 load=lambda ex: self.final),
        ]
        return steps


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


def write_release_record(rs: ReleaseSteps, folder: Path) -> Path:
    t = rs.t
    files = {str(p.relative_to(folder)): {"sha256": sha256_file(p), "size": p.stat().st_size}
             for p in release_files(folder)}
    record: dict[str, Any] = {
        "schema_version": 1,
        "app": APP_NAME, "version": rs.version, "revision": rs.revision,
        "source_date_epoch": rs.epoch, "edgeforge": __version__,
        "board": t.name, "arch": t.arch.value, "triple": t.triple,
        "abi_ceiling": {"glibc": t.abi.glibc, "glibcxx": t.abi.glibcxx, "cxxabi": t.abi.cxxabi,
                        "strategy": t.abi.strategy.value},
        "compiler": t.compiler.name, "sysroot": t.sysroot.name,
        "installers": list(rs.installers()),
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
