"""Device images: a board's root file system with the app installed, and its disk image.

The root file system is made in two parts. The base (the board's stand-in Debian suite, the
device definition's packages and Debian's kernel with a small initramfs) takes minutes under
qemu-user, so mmdebstrap builds it once into <cache>/device-rootfs/ (aside, then renamed) keyed
by everything that goes into it. Each image then copies the base, installs the board's .deb
with apt (which resolves its Depends), and configures the login, the services, the files and
the first boot. Nothing secret is in it: no SSH host key (made on the first boot), no
password, only the user's public key.

The disk image of the virtual twin is a GPT disk with one ext4 partition, made without loop
devices or mounts (mkfs.ext4 -d, sfdisk on a sparse file, dd), with UUIDs, hash seed and times
fixed, so two builds of the same commit are the same bytes; it ships as compressed qcow2 with
the kernel and initramfs beside it (the twin boots them directly).
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from edgeforge.build import sample
from edgeforge.config import Arch, DebianSysroot, DeviceDef
from edgeforge.context import Context
from edgeforge.core import (
    HostSetupError,
    Runner,
    UsageError,
    base_env,
    canonical_hash,
    file_lock,
    intree,
    rmtree,
)
from edgeforge.deliver import normalise_times
from edgeforge.host import require_binfmt

from .deploy import KEEP_DIR

FORMAT = 1  # bump when the base's making changes, so cached bases are rebuilt
COMPLETE = ".edgeforge-device-rootfs.json"
#: the app's configuration folder (the .deb's conffiles live there)
CONF_DIR = "/etc/edge-infer"
LINUX_FS_TYPE = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"  # GPT "Linux filesystem data"
SECTOR = 512
FIRST_LBA = 2048  # 1 MiB aligned
#: qemu CPU models for the boards' cores (qemu 7.2 has no Carmel, A55, A73 or A78)
QEMU_CPUS = {"carmel": "cortex-a76", "cortex-a53": "cortex-a53", "cortex-a55": "cortex-a53",
             "cortex-a57": "cortex-a57", "cortex-a72": "cortex-a72", "cortex-a73": "cortex-a72",
             "cortex-a76": "cortex-a76", "cortex-a78": "cortex-a76",
             "cortex-a78ae": "cortex-a76"}
#: files a build leaves that differ from one build to the next and are no use on the device
TRANSIENT = ("var/log/dpkg.log", "var/log/alternatives.log", "var/log/apt", "var/log/bootstrap.log",
             "var/cache/apt/pkgcache.bin", "var/cache/apt/srcpkgcache.bin", "var/cache/ldconfig/aux-cache",
             "var/lib/apt/lists", "var/cache/debconf/config.dat-old",
             "var/cache/debconf/templates.dat-old", "var/lib/dpkg/status-old",
             "var/lib/dpkg/diversions-old", "var/lib/dbus/machine-id", "etc/ssh/ssh_host_*",
             "etc/passwd-", "etc/group-", "etc/shadow-", "etc/gshadow-", "etc/subuid-",
             "etc/subgid-", "tmp/edgeforge", "root/.bash_history")
FIRSTBOOT_UNIT = "edgeforge-first-boot.service"


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


def stand_in_suite(target) -> DebianSysroot:
    spec = target.sysroot.spec
    if not isinstance(spec, DebianSysroot):
        raise UsageError(f"{target.name} cannot have a device image or a virtual twin: its "
                         f"sysroot {target.sysroot.name} is not made from a Debian suite, so "
                         "there is no stand-in suite to build its root file system from")
    if spec.arch is not Arch.ARM64:
        raise UsageError(f"{target.name} cannot have a virtual twin: it is a 32-bit "
                         f"{spec.arch.value} board and edgeforge's twins are arm64 "
                         "(qemu-system-aarch64 -M virt with Debian's arm64 kernel)")
    return spec


def twin_cpu(target) -> str:
    """The qemu CPU model closest to the board's first -mcpu core."""
    for flag in target.cpu_flags:
        if flag.startswith("-mcpu="):
            core = flag.split("=", 1)[1].split("+")[0].split(".")[0]
            return QEMU_CPUS.get(core, "cortex-a57")
    return "cortex-a57"


# ---- the cached base ----------------------------------------------------------------------------
def base_packages(dev: DeviceDef, layouts: tuple[str, ...] = ()) -> list[str]:
    extra = ("raspi-firmware",) if "raspi-sd" in layouts else ()
    return sorted({*dev.packages, dev.twin.kernel, "initramfs-tools", "passwd", "ca-certificates",
                   *(("sudo",) if dev.login.sudo else ()), *extra})


def base_components(spec: DebianSysroot, layouts: tuple[str, ...] = ()) -> tuple[str, ...]:
    """raspi-firmware is in non-free-firmware (bookworm on) or non-free (before)."""
    if "raspi-sd" not in layouts:
        return spec.components
    extra = "non-free" if spec.suite in ("buster", "bullseye") else "non-free-firmware"
    return tuple(dict.fromkeys((*spec.components, extra)))


def base_key(spec: DebianSysroot, dev: DeviceDef, mirror: str,
             layouts: tuple[str, ...] = ()) -> str:
    layouts = tuple(x for x in layouts if x == "raspi-sd")  # the only one the base depends on
    return canonical_hash({"format": FORMAT, "suite": spec.suite, "extra": spec.extra_suites,
                           "components": spec.components, "arch": spec.arch.value,
                           "packages": base_packages(dev), "modules": dev.twin.modules,
                           "mirror": mirror, **({"layouts": layouts} if layouts else {})})[:16]


def base_argv(spec: DebianSysroot, dev: DeviceDef, target: Path, mirror: str,
              layouts: tuple[str, ...] = ()) -> list[str]:
    """mmdebstrap for the base: apt's lists are kept (each image installs its .deb with apt);
    the initramfs is told which modules the twin needs before the kernel is installed (a board
    that boots real hardware from the same root keeps Debian's default, MODULES=most)."""
    if "raspi-sd" in layouts:
        setup = 'mkdir -p "$1/etc/initramfs-tools/conf.d"'
    else:
        modules = "\\n".join(dev.twin.modules)
        setup = ('mkdir -p "$1/etc/initramfs-tools/conf.d" && '
                 'echo MODULES=list > "$1/etc/initramfs-tools/conf.d/edgeforge.conf" && '
                 f'printf "{modules}\\n" > "$1/etc/initramfs-tools/modules"')
    components = base_components(spec, layouts)
    comps = " ".join(components)
    return ["mmdebstrap", f"--arch={spec.arch.value}", "--variant=minbase",
            f"--components={','.join(components)}",
            "--include=" + ",".join(base_packages(dev, layouts)),
            "--dpkgopt=force-confold", "--skip=cleanup/apt/lists",
            "--dpkgopt=path-exclude=/usr/share/man/*",
            "--dpkgopt=path-exclude=/usr/share/locale/*",
            "--dpkgopt=path-exclude=/usr/share/doc/*",
            "--dpkgopt=path-include=/usr/share/doc/*/copyright",
            f"--setup-hook={setup}",
            spec.suite, str(target),
            *[f"deb {mirror} {s} {comps}" for s in (spec.suite, *spec.extra_suites)]]


def ensure_base(ctx: Context, target, dev: DeviceDef, runner: Runner) -> Path:
    from edgeforge.host import debian_mirror
    from edgeforge.toolchain import SOURCE_DATE_EPOCH
    spec = stand_in_suite(target)
    layouts = tuple(target.board.spec.device_images)
    mirror = debian_mirror()
    if not mirror:
        raise HostSetupError("cannot tell which Debian mirror to use: set "
                             "EDGEFORGE_DEBIAN_MIRROR to the mirror's URL")
    key = base_key(spec, dev, mirror, layouts)
    parent = ctx.cache_dir / "device-rootfs"
    final = parent / f"{spec.suite}-{spec.arch.value}-{key}"
    if (final / COMPLETE).is_file():
        return final
    parent.mkdir(parents=True, exist_ok=True)
    with file_lock(parent / ".lock"):
        if (final / COMPLETE).is_file():
            return final
        require_binfmt(spec.arch, why=f"mmdebstrap runs {spec.arch.value} maintainer scripts")
        partial = parent / f".partial-{final.name}"
        rmtree(partial)
        try:
            with ctx.reporter.step(f"base root file system {spec.suite} {spec.arch.value} "
                                   f"({len(base_packages(dev, layouts))} packages + their "
                                   "dependencies; "
                                   "a few minutes, once)"):
                runner.run(base_argv(spec, dev, partial, mirror, layouts),
                           what=f"mmdebstrap {spec.suite} {spec.arch.value} device root",
                           needed_by="the device image", timeout=3600,
                           env=base_env({"SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH}))
            kernels = sorted((partial / "boot").glob("vmlinuz-*"))
            initrds = sorted((partial / "boot").glob("initrd.img-*"))
            if not kernels or not initrds:
                raise UsageError(f"the base root file system has no kernel or initramfs in "
                                 f"/boot (package {dev.twin.kernel}); check twin.kernel in "
                                 "images/edge-infer/device.yaml")
            (partial / COMPLETE).write_text(json.dumps(
                {"suite": spec.suite, "arch": spec.arch.value, "key": key,
                 "packages": base_packages(dev, layouts)}, indent=1) + "\n")
            for old in parent.glob(f"{spec.suite}-{spec.arch.value}-*"):
                rmtree(old)
            partial.rename(final)
        finally:
            rmtree(partial)
    return final


# ---- the image's root file system ---------------------------------------------------------------
def chroot_argv(root: Path, *cmd: str) -> list[str]:
    return ["chroot", str(root), *cmd]


def chroot_env(epoch: int) -> dict[str, str]:
    return base_env({"DEBIAN_FRONTEND": "noninteractive", "SOURCE_DATE_EPOCH": str(epoch),
                     "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                     "HOME": "/root", "TZ": "UTC"})


def write_file(root: Path, path: str, text: str, mode: int = 0o644) -> Path:
    """Write `path` inside the image: links resolved inside it, a link at the leaf replaced."""
    return intree.write_text(root, path, text, mode)


def hosts_text(hostname: str) -> str:
    return (f"127.0.0.1\tlocalhost\n127.0.1.1\t{hostname}\n"
            "::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\n"
            "ff02::2\tip6-allrouters\n")


def instance_conf(stream: str, args: tuple[str, ...]) -> str:
    return (f"# written by edgeforge from images/edge-infer/device.yaml\nSTREAM={stream}\n"
            f"EDGE_INFER_ARGS={' '.join(args)}\n")


FIRSTBOOT_DONE = "/var/lib/edgeforge/first-boot-done"


def firstboot_unit(commands: tuple[tuple[str, ...], ...]) -> str:
    """Runs once, before SSH: host keys of this device only, then the image's own actions."""
    lines = ["[Unit]", "Description=edgeforge first boot: SSH host keys and the image's actions",
             f"ConditionPathExists=!{FIRSTBOOT_DONE}", "DefaultDependencies=no",
             "After=local-fs.target systemd-remount-fs.service",
             "Before=ssh.service sysinit.target", "", "[Service]", "Type=oneshot",
             "RemainAfterExit=yes", "ExecStart=/usr/bin/ssh-keygen -A"]
    lines += ["ExecStart=" + " ".join(argv) for argv in commands]
    lines += [f"ExecStart=/bin/mkdir -p {Path(FIRSTBOOT_DONE).parent}",
              f"ExecStart=/bin/touch {FIRSTBOOT_DONE}"]
    return "\n".join(lines + ["", "[Install]", "WantedBy=sysinit.target", ""])


SSHD_DROPIN = """# edgeforge: the only way in is the login user's public key
PasswordAuthentication no
KbdInteractiveAuthentication no
ChallengeResponseAuthentication no
PermitRootLogin no
PermitEmptyPasswords no
"""

NETWORK = """[Match]
Name=en* eth*

[Network]
DHCP=yes
"""


def install_app(root: Path, deb: Path, runner: Runner, epoch: int) -> None:
    """apt installs the .deb, resolving its Depends from the base's lists (or the mirror); a
    copy is kept where `invoke deploy` finds the package to roll back to."""
    deb_bytes = deb.read_bytes()
    intree.write_bytes(root, f"/tmp/edgeforge/{deb.name}", deb_bytes)
    resolv = intree.resolve(root, "/etc/resolv.conf", follow_leaf=False)
    saved = resolv.read_bytes() if resolv.is_file() and not resolv.is_symlink() else None
    saved_link = os.readlink(resolv) if resolv.is_symlink() else None
    intree.write_bytes(root, "/etc/resolv.conf", Path("/etc/resolv.conf").read_bytes())
    try:
        runner.run(chroot_argv(root, "apt-get", "install", "-y", "--no-install-recommends",
                               f"/tmp/edgeforge/{deb.name}"),
                   what=f"apt-get install {deb.name} in the image", needed_by="the device image",
                   env=chroot_env(epoch), timeout=1800)
        intree.write_bytes(root, f"{KEEP_DIR}/previous.deb", deb_bytes)
    finally:
        if saved is not None:
            intree.write_bytes(root, "/etc/resolv.conf", saved)
        else:
            intree.remove(root, "/etc/resolv.conf")
            if saved_link is not None:
                os.symlink(saved_link, resolv)
        intree.remove(root, "/tmp/edgeforge")


def fstab_text(raspi: bool) -> str:
    """The root by its label (the twin's disk and an SD card alike); a Raspberry Pi's boot
    partition where raspi-firmware keeps it (nofail: the twin has none)."""
    text = ("# written by edgeforge: the root file system is labelled root on every medium\n"
            "LABEL=root\t/\text4\tdefaults,errors=remount-ro\t0\t1\n")
    if raspi:
        text += ("LABEL=RASPIFIRM\t/boot/firmware\tvfat\t"
                 "defaults,nofail,x-systemd.device-timeout=10s\t0\t2\n")
    return text


def configure_raspi(root: Path, partuuid: str, runner: Runner, epoch: int) -> None:
    """raspi-firmware's kernel hook again, with the SD card's root partition: it writes the
    boot partition's tree (/boot/firmware: firmware, kernel, initramfs, device trees,
    config.txt, cmdline.txt)."""
    defaults = "/etc/default/raspi-firmware"
    lines = [ln for ln in intree.read_text(root, defaults).splitlines()
             if not ln.startswith(("ROOTPART=", "CONSOLES="))]
    intree.write_text(root, defaults, "\n".join(lines + [f"ROOTPART=PARTUUID={partuuid}",
                                                        'CONSOLES="ttyS1,115200 tty0"']) + "\n")
    env = {**chroot_env(epoch), "DEB_MAINT_PARAMS": "configure"}
    # the hook checks that it runs in a chroot with ischroot, which needs /proc; rather than
    # mount anything into the tree, the check is answered in the shell that sources the hook
    runner.run(chroot_argv(root, "/bin/sh", "-c", "ischroot() { return 0; }; "
                           ". /etc/kernel/postinst.d/z50-raspi-firmware"),
               what="raspi-firmware's boot files", needed_by="the SD-card image", env=env)
    cmdline = intree.read_text(root, "/boot/firmware/cmdline.txt")
    if f"root=PARTUUID={partuuid}" not in cmdline:
        raise UsageError(f"raspi-firmware wrote a cmdline.txt without the root partition "
                         f"(PARTUUID={partuuid}): {cmdline.strip()}")


def configure(ctx: Context, root: Path, dev: DeviceDef, images_dir: Path, login_key: str,
              runner: Runner, epoch: int, raspi_partuuid: str | None = None) -> None:
    env = chroot_env(epoch)
    if raspi_partuuid:
        configure_raspi(root, raspi_partuuid, runner, epoch)
    write_file(root, "/etc/hostname", dev.hostname + "\n")
    write_file(root, "/etc/hosts", hosts_text(dev.hostname))
    write_file(root, "/etc/fstab", fstab_text(raspi_partuuid is not None))
    write_file(root, "/etc/machine-id", "")  # made on the first boot (ConditionFirstBoot)
    write_file(root, "/etc/ssh/sshd_config.d/edgeforge.conf", SSHD_DROPIN)
    write_file(root, "/etc/systemd/network/20-wired.network", NETWORK)
    write_file(root, f"/etc/systemd/system/{FIRSTBOOT_UNIT}", firstboot_unit(dev.first_boot))
    user = dev.login.user
    known = {line.split(":", 1)[0] for line in intree.read_text(root, "/etc/group").splitlines()}
    missing = [g for g in dev.login.groups if g not in known]
    if missing:
        raise UsageError(f"images/edge-infer/device.yaml: login.groups: {', '.join(missing)} "
                         "does not exist in the image; add the package that makes it to "
                         "'packages' or remove it")
    groups = list(dev.login.groups)
    runner.run(chroot_argv(root, "useradd", "--create-home", "--user-group", "--shell",
                           "/bin/bash", *(["--groups", ",".join(groups)] if groups else []),
                           user),
               what=f"add the login user {user}", needed_by="the device image", env=env)
    if dev.login.sudo:
        write_file(root, f"/etc/sudoers.d/edgeforge-{user}",
                   f"# the login may administer the device (invoke deploy)\n"
                   f"{user} ALL=(ALL) NOPASSWD:ALL\n", mode=0o440)
    ssh_dir = intree.mkdirs(root, f"/home/{user}/.ssh", 0o700)
    write_file(root, f"/home/{user}/.ssh/authorized_keys", login_key + "\n", mode=0o600)
    ids = _ids(root, user)
    for p in (ssh_dir, ssh_dir / "authorized_keys"):
        os.chown(p, *ids, follow_symlinks=False)
    for svc in dev.services:
        write_file(root, f"{CONF_DIR}/{svc.instance}.conf", instance_conf(svc.stream, svc.args))
    write_files(ctx, root, dev, images_dir)
    units = [FIRSTBOOT_UNIT, "systemd-networkd.service", "ssh.service",
             *[f"edge-infer@{s.instance}.service" for s in dev.services]]
    runner.run(["systemctl", f"--root={root}", "enable", *units],
               what="enable the image's services", needed_by="the device image", env=env)
    remove_transient(root)
    intree.mkdirs(root, "/var/lib/apt/lists/partial")
    normalise_times(root, epoch)


def write_files(ctx: Context, root: Path, dev: DeviceDef, images_dir: Path) -> None:
    """The device definition's `files:`: sources from the image's folder (never a link, never
    outside it) or edgeforge's samples, written inside the tree."""
    for i, f in enumerate(dev.files):
        what = f"device.yaml: files[{i}] ({f.path})"
        if f.sample:
            src = sample(ctx, f.sample)
            allowed = src.parent
        else:
            src, allowed = images_dir / f.source, images_dir
        intree.copy_in(root, f.path, src, f.mode, allowed=allowed, what=what)


def remove_transient(root: Path) -> None:
    """Delete what a build leaves that differs between builds; a folder of a pattern is
    resolved inside the tree, so a link never leads the deletion outside it."""
    for pattern in TRANSIENT:
        folder, _, leaf = pattern.rpartition("/")
        where = intree.resolve(root, folder)
        if not where.is_dir():
            continue
        for p in sorted(where.glob(leaf)):
            rmtree(p)


def _ids(root: Path, user: str) -> tuple[int, int]:
    for line in intree.read_text(root, "/etc/passwd").splitlines():
        fields = line.split(":")
        if fields[0] == user:
            return int(fields[2]), int(fields[3])
    raise UsageError(f"user {user} is missing from the image's /etc/passwd")


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
    import gzip
    import tarfile

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
