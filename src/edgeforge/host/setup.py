"""Host bootstrap (`invoke setup`) and checks (`invoke doctor`).

Every check is a small object: how to see whether it holds, and the exact command that fixes
it. `setup` fixes only what a check reports missing, so a second run changes nothing.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from edgeforge.config import Arch
from edgeforge.core import CommandFailedError, HostSetupError, Reporter, Runner, base_env

from .aptsources import deb_src_enabled, enable_deb_src

BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")
DOCKER_SOCK = Path("/var/run/docker.sock")

#: Debian packages the project needs, by what needs them
APT_PACKAGES: dict[str, tuple[str, ...]] = {
    "cross compilers": (
        "gcc-aarch64-linux-gnu", "g++-aarch64-linux-gnu",
        "gcc-arm-linux-gnueabihf", "g++-arm-linux-gnueabihf",
    ),
    "clang cross toolchain": ("clang-14", "lld-14", "llvm-14"),
    "emulation": ("qemu-user", "qemu-user-static"),
    "sysroots": ("mmdebstrap", "arch-test", "debian-archive-keyring", "xz-utils", "dpkg-dev"),
    "images": ("docker.io", "skopeo"),
    # gdb for the boards; eu-unstrip (elfutils) reads the build-ids of a core dump's modules;
    # socat relays gdb's local socket to gdbserver's stdio over SSH
    "debugging": ("gdb-multiarch", "elfutils", "socat"),
    "build tools": ("cmake", "ninja-build", "make", "pkg-config", "ccache", "file", "meson"),
    # the x86_64 parity build of the app's dependencies: FFmpeg's and libjpeg-turbo's x86 SIMD
    "native build": ("nasm",),
    # libyaml-dev: an amd64-only library cross builds must not find; ffmpeg: the program, as
    # the encoder that streams a clip to the app over UDP and RTP; mosquitto: the MQTT broker
    # edge-uplink's tests start on 127.0.0.1 (and stop by its PID), mosquitto-clients their
    # subscriber
    "tests": ("libyaml-dev", "ffmpeg", "mosquitto", "mosquitto-clients"),
    "installers": ("lintian", "rpm", "cpio"),  # .deb gate, rpmbuild + rpm --root, rpm2cpio
    # device images and the virtual twin: qemu-system-aarch64 (its virtio NIC needs iPXE's ROM),
    # qcow2 overlays, partition tables and file systems without loop devices or mounts (FAT
    # boot partitions of SD-card images through mtools), SSH into the twin
    "virtual boards": ("qemu-system-arm", "qemu-utils", "ipxe-qemu", "fdisk", "e2fsprogs",
                       "dosfstools", "mtools", "openssh-client"),
    # sharing builds: only the tests use these, to run a throwaway registry (Distribution 2.8)
    # on 127.0.0.1 with htpasswd (bcrypt) auth for `release --push`; the push itself is skopeo's;
    # and nginx as the team's static file server for the source mirror and packed sysroots
    # (EDGEFORGE_SOURCE_MIRROR_URL, EDGEFORGE_SYSROOT_URL): edgeforge itself only needs a URL
    "sharing": ("docker-registry", "apache2-utils", "nginx-light"),
}

#: executables each package group must provide (for doctor)
TOOLS: dict[str, str] = {
    "aarch64-linux-gnu-g++": "g++-aarch64-linux-gnu",
    "arm-linux-gnueabihf-g++": "g++-arm-linux-gnueabihf",
    "clang-14": "clang-14",
    "ld.lld-14": "lld-14",
    "llvm-ar-14": "llvm-14",
    "qemu-aarch64": "qemu-user",
    "qemu-arm": "qemu-user",
    "qemu-aarch64-static": "qemu-user-static",
    "mmdebstrap": "mmdebstrap",
    "dockerd": "docker.io",
    "gdb-multiarch": "gdb-multiarch",
    "eu-unstrip": "elfutils",
    "socat": "socat",
    "cmake": "cmake",
    "ninja": "ninja-build",
    "pkg-config": "pkg-config",
    "ccache": "ccache",
    "nasm": "nasm",
    "ffmpeg": "ffmpeg",
    "dpkg-source": "dpkg-dev",
    "qemu-system-aarch64": "qemu-system-arm",
    "qemu-img": "qemu-utils",
    "sfdisk": "fdisk",
    "mkfs.fat": "dosfstools",
    "mcopy": "mtools",
    "ssh": "openssh-client",
    "docker-registry": "docker-registry",
    "htpasswd": "apache2-utils",
    "nginx": "nginx-light",
}


@dataclass
class Check:
    name: str
    ok: Callable[[], bool]
    fix: str
    required: bool = True


def missing_packages(runner: Runner) -> list[str]:
    """The project's apt packages that dpkg does not list as installed (one query)."""
    all_pkgs = [p for group in APT_PACKAGES.values() for p in group]
    if not shutil.which("dpkg-query"):
        return all_pkgs
    r = runner.capture(["dpkg-query", "-W", "-f=${Package} ${Status}\n", *all_pkgs],
                       what="dpkg-query installed packages", check=False)
    installed = {ln.split()[0] for ln in r.output.splitlines()
                 if ln.endswith("install ok installed")}
    return [p for p in all_pkgs if p not in installed]


def binfmt_mounted() -> bool:
    return (BINFMT_DIR / "register").exists()


def binfmt_entry(arch: Arch) -> dict[str, str] | None:
    p = BINFMT_DIR / arch.qemu
    if not p.is_file():
        return None
    out = {}
    for line in p.read_text().splitlines():
        if line in ("enabled", "disabled"):
            out["state"] = line
        elif " " in line:
            k, v = line.split(" ", 1)
            out[k.rstrip(":")] = v
    return out


def binfmt_ok(arch: Arch) -> bool:
    e = binfmt_entry(arch)
    return bool(e and e.get("state") == "enabled" and "F" in e.get("flags", "")
                and Path(e.get("interpreter", "/nonexistent")).exists())


def register_binfmt(arch: Arch, runner: Runner) -> bool:
    if binfmt_ok(arch):
        return False
    if not binfmt_mounted():
        runner.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT_DIR)],
                   what="mount binfmt_misc")
    conf = Path(f"/usr/lib/binfmt.d/{arch.qemu}.conf")
    if not conf.is_file():
        raise HostSetupError(f"{conf} is missing: install qemu-user-static first")
    line = conf.read_text().strip()
    if "F" not in line.rsplit(":", 1)[-1]:
        line += "F"
    existing = BINFMT_DIR / arch.qemu
    if existing.exists():  # registered without F or disabled: replace it
        existing.write_text("-1")
    (BINFMT_DIR / "register").write_text(line)
    return True


def require_binfmt(arch: Arch, why: str) -> None:
    if not binfmt_ok(arch):
        raise HostSetupError(
            f"binfmt_misc has no enabled {arch.qemu} entry with the F flag ({why}); "
            "fix: invoke setup"
        )


def docker_ok() -> bool:
    if not DOCKER_SOCK.exists():
        return False
    try:
        # the docker SDK costs ~75 ms of `invoke`'s ~400 ms (python -X importtime): imported
        # only when dockerd is asked, to keep start-up short
        import docker as docker_sdk

        client = docker_sdk.DockerClient(base_url=f"unix://{DOCKER_SOCK}", timeout=5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def start_dockerd(runner: Runner) -> bool:
    if docker_ok():
        return False
    log_path = runner.spawn(["dockerd", "--iptables=false"], what="dockerd",
                            needed_by="invoke setup (container images); fix: apt-get install "
                            "docker.io").log_path
    for _ in range(60):
        if docker_ok():
            return True
        time.sleep(1)
    raise HostSetupError(f"dockerd did not come up within 60 s; see {log_path}")


#: packages whose Debian maintainer scripts start a service on every interface (a registry on
#: :5000, nginx on :80); edgeforge needs only the programs (the tests start their own servers on
#: 127.0.0.1), so the services are neither started at install nor enabled for the next boot
PACKAGED_SERVICES = {"docker-registry": "docker-registry.service", "nginx-light": "nginx.service"}
POLICY_RC = Path("/usr/sbin/policy-rc.d")


@contextmanager
def services_held_back(packages: list[str]) -> Iterator[None]:
    """While `packages` are installed, invoke-rc.d and deb-systemd-invoke start no service
    (policy-rc.d exit 101), unless the host has a policy of its own."""
    hold = bool(set(packages) & set(PACKAGED_SERVICES)) and not POLICY_RC.exists()
    if hold:
        POLICY_RC.write_text("#!/bin/sh\n# edgeforge setup: no service starts while it installs\n"
                             "exit 101\n")
        POLICY_RC.chmod(0o755)
    try:
        yield
    finally:
        if hold:
            POLICY_RC.unlink(missing_ok=True)


def disable_packaged_services(runner: Runner, packages: list[str]) -> list[str]:
    """systemctl disable --now each service the packages brought (where systemd runs)."""
    units = [PACKAGED_SERVICES[p] for p in packages if p in PACKAGED_SERVICES]
    if not units or not Path("/run/systemd/system").is_dir() or not shutil.which("systemctl"):
        return []
    done = []
    for unit in units:
        r = runner.run(["systemctl", "disable", "--now", unit], check=False,
                       what=f"systemctl disable --now {unit}")
        if r.returncode == 0:
            done.append(unit)
    return done


def checks() -> list[Check]:
    out: list[Check] = []
    for tool, pkg in TOOLS.items():
        out.append(Check(f"{tool} ({pkg})", lambda t=tool: shutil.which(t) is not None,
                         f"apt-get install -y {pkg}"))
    out.append(Check("Debian source packages (deb-src)", deb_src_enabled,
                     "invoke setup (adds deb-src to the Debian apt entries, then apt-get update)"))
    for arch in Arch:
        out.append(Check(
            f"binfmt {arch.qemu} with F flag", lambda a=arch: binfmt_ok(a),
            f"invoke setup (or: cat /usr/lib/binfmt.d/{arch.qemu}.conf > "
            f"{BINFMT_DIR}/register)",
        ))
    out.append(Check("dockerd answering on " + str(DOCKER_SOCK), docker_ok,
                     "invoke setup (starts: dockerd --iptables=false)"))
    return out


def doctor(reporter: Reporter, only_missing: bool = False) -> bool:
    all_ok = True
    for c in checks():
        ok = c.ok()
        all_ok &= ok or not c.required
        if ok and only_missing:
            continue
        status = "ok     " if ok else ("MISSING" if c.required else "absent ")
        line = f"{status} {c.name}"
        if not ok:
            line += f"  ->  {c.fix}"
        reporter.info(line)
    return all_ok


def setup(reporter: Reporter, log_dir: Path) -> list[str]:
    """Make the host ready. Returns what changed (empty on a second run)."""
    if os.geteuid() != 0:
        raise HostSetupError("invoke setup needs root (apt, binfmt, dockerd): run it with sudo")
    changed: list[str] = []
    runner = Runner(reporter, log_dir, echo=False)
    env = base_env({"DEBIAN_FRONTEND": "noninteractive"})
    src_changed = False
    if not deb_src_enabled():
        src_changed = enable_deb_src()
        if src_changed:
            changed.append("enabled Debian source packages (deb-src)")
    missing = missing_packages(runner)
    if missing or src_changed:
        with reporter.step("apt-get update"):
            r = runner.run(["apt-get", "update"], env=env, what="apt-get update", check=False)
            if r.returncode != 0:
                reporter.warn(f"apt-get update reported errors (continuing); see {r.log_path}")
    if missing:
        with reporter.step(f"apt-get install {len(missing)} packages"):
            try:
                with services_held_back(missing):
                    runner.run(["apt-get", "install", "-y", "--no-install-recommends", *missing],
                               env=env, what="apt-get install", timeout=3600)
            except CommandFailedError as exc:
                raise HostSetupError(exc.message) from None
            changed.append("installed " + " ".join(missing))
        for unit in disable_packaged_services(runner, missing):
            changed.append(f"disabled {unit} (Debian starts it on every interface; the tests "
                           "run their own on 127.0.0.1)")
    for arch in Arch:
        if register_binfmt(arch, runner):
            changed.append(f"registered binfmt {arch.qemu} (F flag)")
    if start_dockerd(runner):
        changed.append("started dockerd")
    return changed
