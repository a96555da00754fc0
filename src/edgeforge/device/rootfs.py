"""A device's root file system: the board's stand-in Debian suite with the app installed and
the device definition applied.

It is made in two parts. The base (the board's stand-in Debian suite, the device definition's
packages and Debian's kernel with a small initramfs) takes minutes under qemu-user, so
mmdebstrap builds it once into <cache>/device-rootfs/ (a cached tree: aside, under a lock, then
renamed) keyed by everything that goes into it. Each image then copies the base, installs the
board's .deb with apt (which resolves its Depends), and configures the login, the services, the
files and the first boot. Nothing secret is in it: no SSH host key (made on the first boot), no
password, only the user's public key.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from edgeforge.build import sample
from edgeforge.config import App, Arch, DebianSysroot, DeviceDef
from edgeforge.context import Context
from edgeforge.core import (
    CACHED_TREE_EPOCH,
    HostSetupError,
    Runner,
    UsageError,
    base_env,
    cached_tree,
    canonical_hash,
    intree,
    rmtree,
)
from edgeforge.deliver import normalise_times
from edgeforge.host import debian_mirror, require_binfmt

from .deploy import KEEP_DIR

FORMAT = 1  # bump when the base's making changes, so cached bases are rebuilt
COMPLETE = ".edgeforge-device-rootfs.json"
#: files a build leaves that differ from one build to the next and are no use on the device
TRANSIENT = ("var/log/dpkg.log", "var/log/alternatives.log", "var/log/apt", "var/log/bootstrap.log",
             "var/cache/apt/pkgcache.bin", "var/cache/apt/srcpkgcache.bin", "var/cache/ldconfig/aux-cache",
             "var/lib/apt/lists", "var/cache/debconf/config.dat-old",
             "var/cache/debconf/templates.dat-old", "var/lib/dpkg/status-old",
             "var/lib/dpkg/diversions-old", "var/lib/dbus/machine-id", "etc/ssh/ssh_host_*",
             "etc/passwd-", "etc/group-", "etc/shadow-", "etc/gshadow-", "etc/subuid-",
             "etc/subgid-", "tmp/edgeforge", "root/.bash_history")
FIRSTBOOT_UNIT = "edgeforge-first-boot.service"


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


def ensure_base(ctx: Context, target, dev: DeviceDef, runner: Runner, definition: str) -> Path:
    """The board's base root file system, from the cache or built now (core.cached_tree); a
    new base of a suite and architecture replaces the older ones. `definition`: the device
    definition's path, for messages (images/<app>/device.yaml)."""
    spec = stand_in_suite(target)
    layouts = tuple(target.board.spec.device_images)
    mirror = debian_mirror()
    if not mirror:
        raise HostSetupError("cannot tell which Debian mirror to use: set "
                             "EDGEFORGE_DEBIAN_MIRROR to the mirror's URL")
    key = base_key(spec, dev, mirror, layouts)

    def build(partial: Path) -> Path:
        require_binfmt(spec.arch, why=f"mmdebstrap runs {spec.arch.value} maintainer scripts")
        tree = partial / "rootfs"
        with ctx.reporter.step(f"base root file system {spec.suite} {spec.arch.value} "
                               f"({len(base_packages(dev, layouts))} packages + their "
                               "dependencies; "
                               "a few minutes, once)"):
            runner.run(base_argv(spec, dev, tree, mirror, layouts),
                       what=f"mmdebstrap {spec.suite} {spec.arch.value} device root",
                       needed_by="the device image", timeout=3600,
                       env=base_env({"SOURCE_DATE_EPOCH": str(CACHED_TREE_EPOCH)}))
        kernels = sorted((tree / "boot").glob("vmlinuz-*"))
        initrds = sorted((tree / "boot").glob("initrd.img-*"))
        if not kernels or not initrds:
            raise UsageError(f"the base root file system has no kernel or initramfs in "
                             f"/boot (package {dev.twin.kernel}); check twin.kernel in "
                             f"{definition}")
        (tree / COMPLETE).write_text(json.dumps(
            {"suite": spec.suite, "arch": spec.arch.value, "key": key,
             "packages": base_packages(dev, layouts)}, indent=1) + "\n")
        return tree

    name = f"{spec.suite}-{spec.arch.value}"
    return cached_tree(ctx.cache_dir / "device-rootfs" / f"{name}-{key}",
                       lambda final: (final / COMPLETE).is_file(), build,
                       replaces=f"{name}-*")


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


def instance_conf(definition: str, variable: str, stream: str, args: tuple[str, ...]) -> str:
    """A service instance's configuration file: its stream and, in the service's args variable
    (its descriptor's services.args_variable), its arguments."""
    return (f"# written by edgeforge from {definition}\nSTREAM={stream}\n"
            f"{variable}={' '.join(args)}\n")


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


def package_of(deb: Path) -> str:
    """The package name of a .deb named the Debian way (<package>_<version>_<arch>.deb)."""
    return deb.name.split("_", 1)[0]


def install_app(root: Path, deb: Path | Sequence[Path], runner: Runner, epoch: int) -> None:
    """apt installs the .deb (or the image's apps' .debs, in one transaction), resolving their
    Depends from the base's lists (or the mirror); a copy of each is kept where `invoke deploy`
    finds the package to roll back to (KEEP_DIR/<package>/previous.deb)."""
    debs = [deb] if isinstance(deb, Path) else list(deb)
    for d in debs:
        intree.write_bytes(root, f"/tmp/edgeforge/{d.name}", d.read_bytes())
    resolv = intree.resolve(root, "/etc/resolv.conf", follow_leaf=False)
    saved = resolv.read_bytes() if resolv.is_file() and not resolv.is_symlink() else None
    saved_link = os.readlink(resolv) if resolv.is_symlink() else None
    intree.write_bytes(root, "/etc/resolv.conf", Path("/etc/resolv.conf").read_bytes())
    try:
        runner.run(chroot_argv(root, "apt-get", "install", "-y", "--no-install-recommends",
                               *(f"/tmp/edgeforge/{d.name}" for d in debs)),
                   what=f"apt-get install {', '.join(d.name for d in debs)} in the image",
                   needed_by="the device image", env=chroot_env(epoch), timeout=1800)
        for d in debs:
            intree.write_bytes(root, f"{KEEP_DIR}/{package_of(d)}/previous.deb", d.read_bytes())
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


def configure(ctx: Context, root: Path, dev: DeviceDef, app: App, images_dir: Path,
              login_key: str, runner: Runner, epoch: int,
              raspi_partuuid: str | None = None, others: Sequence[App] = ()) -> None:
    """The device definition `dev` (app.device_image, in `images_dir`) applied to the tree:
    hostname, network, SSH, first boot, the login, the instances of the apps' services (each
    app's first: services of its descriptor; `app`'s, or the one of `others` an instance
    names) with their configuration files, the files."""
    env = chroot_env(epoch)
    definition = app.device_image
    held = {a.name: a for a in (app, *others)}
    services = [(svc, service_of(definition, held, svc.app or app.name)) for svc in dev.services]
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
        raise UsageError(f"{definition}: login.groups: {', '.join(missing)} "
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
    instances = []
    for svc, service in services:
        write_file(root, service.config.replace("{instance}", svc.instance),
                   instance_conf(definition, service.args_variable, svc.stream, svc.args))
        instances.append(f"{service.name}@{svc.instance}.service")
    write_files(ctx, root, dev, images_dir)
    units = [FIRSTBOOT_UNIT, "systemd-networkd.service", "ssh.service", *instances]
    runner.run(["systemctl", f"--root={root}", "enable", *units],
               what="enable the image's services", needed_by="the device image", env=env)
    remove_transient(root)
    intree.mkdirs(root, "/var/lib/apt/lists/partial")
    normalise_times(root, epoch)


def service_of(definition: str, held: dict[str, App], name: str):
    """The service (its descriptor's first) of the image's app `name` an instance names."""
    app = held.get(name)
    if app is None:
        raise UsageError(f"{definition}: services: app {name!r} is not in the image (its own "
                         f"app and apps: hold {', '.join(held)}); add it to apps: or fix the "
                         "instance's app")
    if not app.spec.services:
        raise UsageError(f"{definition}: services: {name} has no service to run instances of "
                         f"(services: in {app.rel}/app.yaml); add one or remove the instances")
    return app.spec.services[0]


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
