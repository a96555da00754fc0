"""The device image steps of a release (added to it by `invoke image`): delivery
formats registered against deliver's `Deliverable` protocol, listed in `DEVICE_FORMATS`.

    rootfs -> twin [-> l4t-rootfs | raspi-sd (as the board asks)]

`rootfs` writes the device's root file system (build/<board>/apps/<app>/release/rootfs/tree):
the cached base, the app's .deb and those of the other apps the image holds (device.yaml's
apps:) installed by apt, the login, services, files and first boot. Each device image format
is a writer of disks.py on that tree, into build/<board>/apps/<app>/release/<name>/,
copied into the release. A new device image format is one writer and one line below (with
how the SBOM describes it: deliver's SBOM step takes that from the plan).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from edgeforge.config import App, DeviceDef, deviceimage, public_key_line
from edgeforge.context import ROOTFS_TREE, Context
from edgeforge.core import (
    Execution,
    Step,
    UsageError,
    code_closure,
    publish,
    read_limited,
    sha256_file,
    staged,
)
from edgeforge.deliver import Deliverable, Release, scan_tree

from .disks import raspi_partuuid, write_l4t_rootfs, write_raspi_sd, write_twin
from .rootfs import COMPLETE, configure, ensure_base, install_app, stand_in_suite

ROOTFS = "rootfs"


def device_def(rel: Release) -> DeviceDef:
    """images/<app>/device.yaml (the app's `device_image`)."""
    return deviceimage.load(rel.device_dir)


def login_key(rel: Release) -> str:
    """The login's public key: --ssh-key, EDGEFORGE_SSH_KEY, or ~/.ssh/id_ed25519.pub
    (then id_ecdsa.pub, id_rsa.pub)."""
    given = rel.opts.ssh_key or os.environ.get("EDGEFORGE_SSH_KEY")
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
    origin = "--ssh-key" if rel.opts.ssh_key else \
        "EDGEFORGE_SSH_KEY" if given else "the default"
    raw = read_limited(path, f"the SSH public key {path} (from {origin})", limit=20000,
                       fix="fix: give --ssh-key FILE.pub, a public key ssh-keygen wrote")
    return public_key_line(raw.decode(errors="replace"), str(path))


def image_apps(ctx: Context, app: App) -> list[App]:
    """The apps `app`'s device image holds besides `app` itself (its device.yaml's apps:)."""
    definition = app.device_image
    dev = deviceimage.load((ctx.project_root / definition).parent)
    return [ctx.app(n, origin=f"{definition}: apps") for n in dev.apps if n != app.name]


def other_apps(rel: Release) -> list[App]:
    """The apps the release's device image holds besides its own app."""
    return image_apps(rel.ctx, rel.app)


def other_debs(rel: Release, others: Sequence[App]) -> list[Path]:
    """Their .debs, from their own releases for the board (`invoke image` makes them first)."""
    debs = []
    for a in others:
        found = sorted(rel.ctx.layout(rel.target.name, a.name).release_step("deb").glob("*.deb"))
        if not found:
            raise UsageError(f"{rel.app.device_image} holds {a.name}, and no .deb of it is "
                             f"built for {rel.target.name}: run `./edgeforge release --board "
                             f"{rel.target.name} --app {a.name}` (`invoke image` does it first)")
        debs.append(found[0])
    return debs


def others_inputs(rel: Release) -> dict:
    """The other apps' packages, by content: a new one of theirs makes the image again."""
    out = {}
    for a in other_apps(rel):
        folder = rel.ctx.layout(rel.target.name, a.name).release_step("deb")
        out[a.name] = {"spec": a.spec.model_dump(mode="json"),
                       "debs": {p.name: sha256_file(p) for p in sorted(folder.glob("*.deb"))}}
    return out


def device_inputs(rel: Release) -> dict:
    """What every device step's signature holds: the release's, images/ and the login key."""
    return {**rel.common, "images": rel.images, "ssh_key": login_key(rel),
            "device_code": code_closure("device")}


@dataclass(frozen=True)
class RootFileSystem:
    """The device's root file system: not shipped itself, described by the SBOM."""

    name: str = ROOTFS
    place: str | None = None
    described: bool = True
    # the SBOM lists its Debian packages, with the device images that hold them
    sbom_ref: str | None = None
    sbom_type: str | None = None
    sbom_text: str | None = None

    def wanted(self, rel: Release) -> bool:
        return rel.opts.device

    def write(self, rel: Release, ex: Execution) -> Path:
        t, runner = rel.target, rel.runner
        dev = device_def(rel)
        others = other_apps(rel)
        base = ensure_base(rel.ctx, t, dev, runner, rel.app.device_image)
        debs = [sorted(ex["deb"].glob("*.deb"))[0], *other_debs(rel, others)]
        final = rel.layout.release_step(self.name)
        with staged(final) as out:
            out.mkdir(parents=True)
            tree = out / ROOTFS_TREE
            with rel.ctx.reporter.step(f"root file system of {t.name}: copy the base, "
                                       f"install {', '.join(d.name for d in debs)}, "
                                       "configure"):
                runner.run(["cp", "-a", "--reflink=auto", str(base), str(tree)],
                           what="copy the base root file system", needed_by="the device image")
                (tree / COMPLETE).unlink()
                install_app(tree, debs, runner, rel.epoch)
                partuuid = (raspi_partuuid(t.name, rel.version)
                            if "raspi-sd" in t.board.spec.device_images else None)
                configure(rel.ctx, tree, dev, rel.app, rel.device_dir, login_key(rel), runner,
                          rel.epoch, raspi_partuuid=partuuid, others=others)
                scan_tree(tree, f"the device image of {t.name}", t.name)
            return publish(out, final)

    def step(self, rel: Release, plan: Sequence[Deliverable]) -> Step:
        t = rel.target
        if "deb" in t.board.spec.installers and not rel.ships("deb"):
            raise UsageError(f"a device image installs the app's .deb, and {rel.app.name} gets "
                             f"none (deliver.formats in {rel.app.rel}/app.yaml); add deb to it")
        if "deb" not in rel.installers:
            raise UsageError(f"a device image installs the board's .deb, and "
                             f"{t.name}'s descriptor does not ask for one "
                             "(installers:); add deb to it")
        stand_in_suite(t)  # a board that cannot have one says so now
        return rel.step(self.name, f"root file system of {t.name} (its stand-in suite, "
                        "the .deb through apt, login, services, first boot)",
                        lambda ex: self.write(rel, ex),
                        inputs={**device_inputs(rel), "apps": others_inputs(rel)},
                        needs=("deb",))


def twin_disk(rel: Release, tree: Path, out: Path, name: str) -> Path:
    return write_twin(tree, out, name, device_def(rel), rel.target, rel.version, rel.runner,
                      rel.epoch)


def l4t_rootfs(rel: Release, tree: Path, out: Path, name: str) -> Path:
    return write_l4t_rootfs(tree, out, name, rel.epoch)


def raspi_sd(rel: Release, tree: Path, out: Path, name: str) -> Path:
    return write_raspi_sd(tree, out, name, device_def(rel), rel.target, rel.version, rel.runner,
                          rel.epoch)


@dataclass(frozen=True)
class DeviceImage:
    """One device image format: a writer on the root file system's tree."""

    name: str
    description: str
    suffix: str          # the last part of its files' names: <app>-<version>-<board>-<suffix>
    writer: Callable[[Release, Path, Path, str], Path]   # (release, tree, out, file name)
    board_asks: bool     # written only when the board's descriptor lists it (device_images:)
    sbom_text: str | None  # how the SBOM describes it ({board})
    place: str | None = ""
    described: bool = True
    sbom_ref: str | None = "device-image"   # deliver/sbom.py's DEVICE_IMAGE
    sbom_type: str | None = "file"

    def wanted(self, rel: Release) -> bool:
        return rel.opts.device and (not self.board_asks
                                    or self.name in rel.target.board.spec.device_images)

    def write(self, rel: Release, ex: Execution) -> Path:
        name = f"{rel.app.name}-{rel.version}-{rel.target.name}-{self.suffix}"
        tree = ex[ROOTFS] / ROOTFS_TREE
        return rel.into(self.name, lambda out: self.writer(rel, tree, out, name))

    def step(self, rel: Release, plan: Sequence[Deliverable]) -> Step:
        return rel.step(self.name, self.description, lambda ex: self.write(rel, ex),
                        inputs=device_inputs(rel), needs=(ROOTFS,))


#: the device steps, in plan order: the root file system, the twin's disk, then the board's own
DEVICE_FORMATS: tuple[Deliverable, ...] = (
    RootFileSystem(),
    DeviceImage("twin", "disk image of the virtual twin (GPT, ext4; qcow2, kernel, initramfs)",
                "twin", twin_disk, board_asks=False,
                sbom_text="disk image of the virtual twin of {board} (GPT, ext4 root) with its "
                          "kernel and initramfs"),
    DeviceImage("l4t-rootfs", "root file system tarball for NVIDIA's Linux_for_Tegra/rootfs",
                "l4t-rootfs", l4t_rootfs, board_asks=True,
                sbom_text="root file system of {board} for NVIDIA's Linux_for_Tegra/rootfs "
                          "(L4T's kernel comes from apply_binaries.sh)"),
    DeviceImage("raspi-sd", "Raspberry Pi SD-card image (raspi-firmware boot partition, root)",
                "sdcard", raspi_sd, board_asks=True,
                sbom_text="SD-card image of {board}: raspi-firmware's boot partition and the "
                          "root file system"),
)
