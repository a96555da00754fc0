"""A device image's disks, written from its root file system: the virtual twin's disk, the
tree NVIDIA's flashing tools take (L4T), and a Raspberry Pi's SD card.

Each is made without loop devices or mounts (mkfs.ext4 -d, mkfs.fat and mcopy, sfdisk on a
sparse file, dd), with UUIDs, hash seed and times fixed, so two builds of the same commit are
the same bytes. The twin's disk is a GPT disk with one ext4 partition; it ships as compressed
qcow2 with the kernel and initramfs beside it (the twin boots them directly).
"""

from __future__ import annotations

import gzip
import json
import os
import posixpath
import shutil
import tarfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from edgeforge.config import DeviceDef
from edgeforge.core import Runner, UsageError, base_env, intree, rmtree
from edgeforge.deliver import normalise_times

from .rootfs import COMPLETE

LINUX_FS_TYPE = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"  # GPT "Linux filesystem data"
SECTOR = 512
FIRST_LBA = 2048  # 1 MiB aligned
#: qemu CPU models for the boards' cores (qemu 7.2 has no Carmel, A55, A73 or A78)
QEMU_CPUS = {"carmel": "cortex-a76", "cortex-a53": "cortex-a53", "cortex-a55": "cortex-a53",
             "cortex-a57": "cortex-a57", "cortex-a72": "cortex-a72", "cortex-a73": "cortex-a72",
             "cortex-a76": "cortex-a76", "cortex-a78": "cortex-a76",
             "cortex-a78ae": "cortex-a76"}


@dataclass(frozen=True)
class TwinBoot:
    """How the twin boots the disk: written beside it as <name>.json and read by `invoke vm`."""

    disk: str
    kernel: str
    initrd: str
    cmdline: str
    cpu: str
    memory_mb: int
    cpus: int
    login: str


def twin_cpu(target) -> str:
    """The qemu CPU model closest to the board's first -mcpu core."""
    for flag in target.cpu_flags:
        if flag.startswith("-mcpu="):
            core = flag.split("=", 1)[1].split("+")[0].split(".")[0]
            return QEMU_CPUS.get(core, "cortex-a57")
    return "cortex-a57"


# ---- the disk image -----------------------------------------------------------------------------
def image_uuids(board: str, version: str) -> dict[str, str]:
    """UUIDs derived from the board and version: fixed for a release, distinct between them."""
    ns = uuid.uuid5(uuid.NAMESPACE_URL, f"edgeforge:{board}:{version}")
    out = {k: str(uuid.uuid5(ns, k)) for k in ("disk", "partition", "filesystem", "hash_seed")}
    out["mbr"] = str(uuid.uuid5(ns, "mbr"))[:8]  # an MBR disk identifier: 8 hex digits
    return out


def raspi_partuuid(board: str, version: str) -> str:
    """The SD card's root partition as the kernel names it: <disk identifier>-02."""
    return f"{image_uuids(board, version)['mbr']}-02"


def tree_bytes(root: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            st = os.lstat(os.path.join(dirpath, name))
            total += (st.st_size + 4095) // 4096 * 4096
    return total


def mkfs_argv(tree: Path, out: Path, size_mb: int, uuids: dict[str, str]) -> list[str]:
    return ["mkfs.ext4", "-q", "-F", "-L", "root", "-U", uuids["filesystem"],
            "-E", f"hash_seed={uuids['hash_seed']},lazy_itable_init=0,lazy_journal_init=0",
            "-b", "4096", "-I", "256", "-d", str(tree), str(out), f"{size_mb}M"]


def inode_time_commands(tree: Path, epoch: int) -> str:
    """debugfs commands that give every inode of the image the release's access and change
    times: mkfs.ext4 -d copies them from the build machine (its ctime cannot be set there, and
    reading a file moves its atime), so they differ between two builds otherwise."""
    lines = []
    for dirpath, dirs, files in os.walk(tree):
        dirs.sort()
        rel_dir = "/" + os.path.relpath(dirpath, tree).removeprefix(".")
        for name in ["", *sorted(files), *sorted(d for d in dirs
                                               if os.path.islink(os.path.join(dirpath, d)))]:
            path = posixpath.join(rel_dir, name) if name else rel_dir
            if '"' in path or "\n" in path:
                raise UsageError(f"the root file system holds a path debugfs cannot name: "
                                 f"{path!r}")
            lines += [f'sif "{path}" ctime @{epoch}', f'sif "{path}" atime @{epoch}']
    return "\n".join(lines) + "\n"


def make_ext4(tree: Path, out: Path, free_mb: int, uuids: dict[str, str], epoch: int,
              runner: Runner, what: str) -> Path:
    """The root file system as an ext4 image (what it holds, 15 % for metadata, `free_mb`
    free): mkfs.ext4 -d, then every inode's times fixed."""
    size_mb = (tree_bytes(tree) * 115 // 100) // (1 << 20) + free_mb
    env = base_env({"E2FSPROGS_FAKE_TIME": str(epoch), "SOURCE_DATE_EPOCH": str(epoch)})
    runner.run(mkfs_argv(tree, out, size_mb, uuids), what="mkfs.ext4 -d of the root",
               needed_by=what, env=env, timeout=1800)
    commands = out.with_name(out.name + ".debugfs")
    commands.write_text(inode_time_commands(tree, epoch))
    runner.run(["debugfs", "-w", "-f", str(commands), str(out)],
               what="fix the inode times of the root", needed_by=what, env=env, timeout=1800)
    commands.unlink()
    return out


def assemble_disk(disk: Path, total_sectors: int, table: str,
                  parts: list[tuple[Path, int]], runner: Runner, env: dict[str, str],
                  what: str) -> Path:
    """A sparse disk file: the partition table written by sfdisk from `table`, then each
    partition image copied in at its start sector (no loop device, no mount)."""
    with open(disk, "wb") as fh:
        fh.truncate(total_sectors * SECTOR)
    script = disk.with_name(disk.name + ".sfdisk")
    script.write_text(table)
    runner.run(["sh", "-c", 'exec sfdisk --no-reread --no-tell-kernel -q "$1" < "$2"',
                "sfdisk", str(disk), str(script)],
               what="partition table", needed_by=what, env=env)
    script.unlink()
    for part, start in parts:
        runner.run(["dd", f"if={part}", f"of={disk}", "bs=4M", f"seek={start * SECTOR}",
                    "oflag=seek_bytes", "conv=notrunc,sparse", "status=none"],
                   what=f"copy {part.name} into the disk", needed_by=what, env=env)
    return disk


def sfdisk_script(part_sectors: int, uuids: dict[str, str]) -> str:
    return (f"label: gpt\nlabel-id: {uuids['disk']}\nunit: sectors\nfirst-lba: {FIRST_LBA}\n"
            f"start={FIRST_LBA}, size={part_sectors}, type={LINUX_FS_TYPE}, "
            f"uuid={uuids['partition']}, name=\"root\"\n")


def write_twin(tree: Path, out: Path, name: str, dev: DeviceDef, target, version: str,
               runner: Runner, epoch: int) -> TwinBoot:
    """<name>.qcow2 (GPT, ext4 root), <name>.vmlinuz, <name>.initrd.img and <name>.json."""
    uuids = image_uuids(target.name, version)
    work = out / f".{name}.work"
    work.mkdir()
    try:
        env = base_env({"E2FSPROGS_FAKE_TIME": str(epoch), "SOURCE_DATE_EPOCH": str(epoch)})
        root_img = make_ext4(tree, work / "root.ext4", dev.twin.free_mb, uuids, epoch, runner,
                             "the device image")
        part_sectors = root_img.stat().st_size // SECTOR
        # the backup GPT at the end, 1 MiB aligned
        disk = assemble_disk(work / "disk.img", FIRST_LBA + part_sectors + 2048,
                             sfdisk_script(part_sectors, uuids), [(root_img, FIRST_LBA)],
                             runner, env, "the device image")
        root_img.unlink()
        runner.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", "-c",
                    str(disk), str(out / f"{name}.qcow2")],
                   what="compressed qcow2 of the disk", needed_by="the device image", env=env,
                   timeout=1800)
    finally:
        rmtree(work)
    # the kernel and initramfs are read through the tree's own links, never the build machine's
    kernel = intree.resolve(tree, f"/boot/{sorted((tree / 'boot').glob('vmlinuz-*'))[-1].name}")
    initrd = intree.resolve(tree,
                            f"/boot/{sorted((tree / 'boot').glob('initrd.img-*'))[-1].name}")
    shutil.copyfile(kernel, out / f"{name}.vmlinuz")
    shutil.copyfile(initrd, out / f"{name}.initrd.img")
    boot = TwinBoot(disk=f"{name}.qcow2", kernel=f"{name}.vmlinuz", initrd=f"{name}.initrd.img",
                    cmdline=f"root=PARTUUID={uuids['partition']} rw console=ttyAMA0 "
                    "net.ifnames=0", cpu=twin_cpu(target), memory_mb=dev.twin.memory_mb,
                    cpus=dev.twin.cpus, login=dev.login.user)
    (out / f"{name}.json").write_text(json.dumps(boot.__dict__, indent=1, sort_keys=True) + "\n")
    normalise_times(out, epoch)
    return boot


# ---- NVIDIA's flashing layout -------------------------------------------------------------------
L4T_ROOT = "Linux_for_Tegra/rootfs"
#: left out of the L4T tarball: Debian's kernel and modules (apply_binaries.sh installs NVIDIA's)
L4T_SKIP = ("boot/vmlinuz-", "boot/initrd.img-", "boot/System.map-", "boot/config-")


def write_l4t_rootfs(tree: Path, out: Path, name: str, epoch: int) -> Path:
    """<name>.tar.gz: the root file system under Linux_for_Tegra/rootfs/, members sorted, times
    the release's, owners numeric (as extracted by `tar xpf` into an L4T BSP), without Debian's
    kernel: NVIDIA's apply_binaries.sh puts the L4T kernel, modules and firmware in."""
    path = out / f"{name}.tar.gz"
    with open(path, "wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
        def add(rel: str) -> None:
            src = tree / rel if rel else tree
            info = tar.gettarinfo(str(src), arcname=f"{L4T_ROOT}/{rel}".rstrip("/"))
            info.mtime = epoch
            info.uname = info.gname = ""
            if info.isreg():
                with open(src, "rb") as fh:
                    tar.addfile(info, fh)
            else:
                tar.addfile(info)

        for dirpath, dirs, files in os.walk(tree):
            rel_dir = os.path.relpath(dirpath, tree)
            rel_dir = "" if rel_dir == "." else rel_dir
            add(rel_dir)
            if rel_dir in ("lib/modules", "usr/lib/modules"):
                dirs[:] = []  # Debian's kernel modules: L4T brings its own
            links = [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]
            dirs[:] = sorted(d for d in dirs if d not in links)
            for f in sorted([*files, *links]):
                rel = os.path.join(rel_dir, f)
                if not rel.startswith(L4T_SKIP) and rel != COMPLETE:
                    add(rel)
    os.utime(path, (epoch, epoch))
    return path


# ---- Raspberry Pi SD card -----------------------------------------------------------------------
BOOT_MB = 256


def mbr_script(boot_sectors: int, root_sectors: int, mbr: str) -> str:
    """DOS label (what every Raspberry Pi boots): a FAT32 boot partition, then the root."""
    return (f"label: dos\nlabel-id: 0x{mbr}\nunit: sectors\n"
            f"start={FIRST_LBA}, size={boot_sectors}, type=c, bootable\n"
            f"start={FIRST_LBA + boot_sectors}, size={root_sectors}, type=83\n")


def write_raspi_sd(tree: Path, out: Path, name: str, dev: DeviceDef, target, version: str,
                   runner: Runner, epoch: int) -> Path:
    """<name>.img.xz: the SD card of a Raspberry Pi, made without loop devices or mounts:
    raspi-firmware's /boot/firmware as a FAT32 partition (mkfs.fat --invariant, mcopy), the
    root as ext4, an MBR; times, IDs and order fixed, so a rebuild is the same bytes."""
    uuids = image_uuids(target.name, version)
    boot = tree / "boot" / "firmware"
    needed = ("config.txt", "cmdline.txt", "start4.elf", "bcm2711-rpi-4-b.dtb")
    missing = [f for f in needed if not (boot / f).is_file()]
    if missing:
        raise UsageError(f"the root file system's /boot/firmware lacks {', '.join(missing)}: "
                         "raspi-firmware did not populate it")
    work = out / f".{name}.work"
    work.mkdir()
    try:
        env = base_env({"E2FSPROGS_FAKE_TIME": str(epoch), "SOURCE_DATE_EPOCH": str(epoch),
                        "MTOOLS_SKIP_CHECK": "1"})
        fat = work / "boot.vfat"
        runner.run(["mkfs.fat", "-C", "-F", "32", "-n", "RASPIFIRM", "-i", uuids["mbr"],
                    "--invariant", str(fat), str(BOOT_MB * 1024)],
                   what="FAT32 boot partition", needed_by="the SD-card image", env=env)
        runner.run(["mcopy", "-i", str(fat), "-s", "-p", "-m", "-Q",
                    *[str(p) for p in sorted(boot.iterdir())], "::/"],
                   what="copy /boot/firmware into the boot partition",
                   needed_by="the SD-card image", env=env)
        root_img = make_ext4(tree, work / "root.ext4", dev.twin.free_mb, uuids, epoch, runner,
                             "the SD-card image")
        boot_sectors = fat.stat().st_size // SECTOR
        root_sectors = root_img.stat().st_size // SECTOR
        disk = assemble_disk(work / f"{name}.img", FIRST_LBA + boot_sectors + root_sectors,
                             mbr_script(boot_sectors, root_sectors, uuids["mbr"]),
                             [(fat, FIRST_LBA), (root_img, FIRST_LBA + boot_sectors)],
                             runner, env, "the SD-card image")
        runner.run(["xz", "-T2", "-3", "--keep", str(disk)], what="xz of the SD-card image",
                   needed_by="the SD-card image", env=env, timeout=3600)
        final = out / f"{name}.img.xz"
        (work / f"{name}.img.xz").rename(final)
    finally:
        rmtree(work)
    os.utime(final, (epoch, epoch))
    return final
