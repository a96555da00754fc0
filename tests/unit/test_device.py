"""Device image definitions, the login key check and the disk/twin argv builders (no qemu)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from edgeforge import device as devimage
from edgeforge.config import Catalog
from edgeforge.config import deviceimage as devicedefs
from edgeforge.core import DescriptorError, UsageError
from edgeforge.device import twin as vm
from tests.conftest import PROJECT

IMAGES = PROJECT / "images"
GOOD = (IMAGES / "edge-infer" / devicedefs.DEVICE_FILE).read_text()


def parse(text: str) -> devicedefs.DeviceDef:
    return devicedefs.parse_model(text, "images/edge-infer/device.yaml", devicedefs.DeviceDef)


def test_the_project_definition_loads_and_its_schema_is_current():
    dev = devicedefs.load(IMAGES / "edge-infer")
    assert dev.login.user == "edge" and dev.services[0].instance == "sample"
    assert "openssh-server" in dev.packages and "gdbserver" in dev.packages
    committed = json.loads((IMAGES / devicedefs.SCHEMA_FILE).read_text())
    assert committed == devicedefs.device_schema(), "regenerate with devicedefs.write_schema"


@pytest.mark.parametrize(("change", "message"), [
    (("hostname: edge-infer", "hostnme: edge-infer"), "unknown key 'hostnme'.*did you mean 'hostname'"),
    (("user: edge", "user: root"), "root must not be the login"),
    (("groups: [systemd-journal, video]", "groups: [\"video,sudo\"]"), "is not a group name"),
    (("instance: sample", "instance: ../x"), "instance"),
    (("args: [--max-frames, \"4\", --output", "args: [\"--x $(reboot)\", --output"),
     "one word without spaces"),
    (("packages: [", "packages: [Bad_Name, "), "is not a Debian package name"),
    (("sample: vtest.avi", "sample: vtest.avi\n    source: clip.avi"), "exactly one of"),
    (("path: /var/lib/edge-infer/samples/vtest.avi", "path: /proc/x"), "outside /proc"),
    (("apps: [edge-uplink]", "apps: [edge-uplink, edge-uplink]"), "given more than once"),
    (("apps: [edge-uplink]", "apps: [Edge_Uplink]"), "is not an app's name"),
    (("  - app: edge-uplink\n    instance: sample", "  - app: edge-uplink\n    instance: sample\n"
      "    stream: x\n  - app: edge-uplink\n    instance: sample"), "given more than once"),
])
def test_mistakes_name_the_file_and_key(change, message):
    old, new = change
    assert old in GOOD
    with pytest.raises(DescriptorError, match=message) as exc:
        parse(GOOD.replace(old, new, 1))
    assert "images/edge-infer/device.yaml" in str(exc.value)


def test_the_image_holds_both_apps_and_an_instance_of_each():
    dev = devicedefs.load(IMAGES / "edge-infer")
    assert dev.apps == ("edge-uplink",)
    assert [(s.app, s.instance) for s in dev.services] == [(None, "sample"),
                                                            ("edge-uplink", "sample")]
    assert "mosquitto" in dev.packages  # the box's own broker, which edge-uplink publishes to


def test_an_instance_of_an_app_the_image_does_not_hold_is_named(tmp_path: Path):
    from edgeforge.config import load_app
    infer = load_app(PROJECT, "edge-infer")
    uplink = load_app(PROJECT, "edge-uplink")
    held = {a.name: a for a in (infer, uplink)}
    assert devimage.rootfs.service_of("images/x/device.yaml", held, "edge-uplink").name == \
        "edge-uplink"
    with pytest.raises(UsageError, match=r"^images/x/device.yaml: services: app 'tracker' is not "
                                         r"in the image \(its own app and apps: hold edge-infer, "
                                         r"edge-uplink\); add it to apps: or fix"):
        devimage.rootfs.service_of("images/x/device.yaml", held, "tracker")
    bare = uplink.spec.model_copy(update={"services": ()})
    with pytest.raises(UsageError, match="edge-uplink has no service to run instances of"):
        devimage.rootfs.service_of("images/x/device.yaml",
                                   {"edge-uplink": type(uplink)(bare, uplink.folder,
                                                                uplink.version)}, "edge-uplink")


def test_the_image_s_other_apps_come_from_its_definition(monkeypatch, tmp_path: Path):
    from edgeforge.context import Context
    from edgeforge.core import Reporter, Runner
    from edgeforge.deliver import Release, ReleaseOptions
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    ctx = Context.create(project_root=PROJECT)
    infer = ctx.app("edge-infer")
    assert [a.name for a in devimage.image_apps(ctx, infer)] == ["edge-uplink"]
    # the rootfs step asks the same question of its release
    rel = Release.create(ctx, ctx.catalog.resolve("jetson-nx", env={}), infer,
                         Runner(Reporter(quiet=True), tmp_path), ReleaseOptions(version="1.0.0"))
    assert [a.name for a in devimage.steps.other_apps(rel)] == ["edge-uplink"]


def test_a_missing_source_file_is_named(tmp_path: Path):
    folder = tmp_path / "images" / "edge-infer"
    folder.mkdir(parents=True)
    (folder / "device.yaml").write_text(GOOD.replace("sample: vtest.avi", "source: clip.avi"))
    with pytest.raises(UsageError, match="source 'clip.avi' does not exist"):
        devicedefs.load(folder)


# ---- the login key ---------------------------------------------------------------------------
def keypair(tmp_path: Path) -> tuple[Path, Path]:
    key = tmp_path / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "dev@laptop", "-f",
                    str(key)], check=True)
    return key, key.with_suffix(".pub")


def test_a_public_key_is_taken_and_a_private_one_refused(tmp_path: Path):
    private, public = keypair(tmp_path)
    line = devicedefs.public_key_line(public.read_text(), str(public))
    assert line.startswith("ssh-ed25519 AAAA") and line.endswith(" dev@laptop")
    with pytest.raises(UsageError, match="is a private key: give the public one"):
        devicedefs.public_key_line(private.read_text(), str(private))


@pytest.mark.parametrize(("text", "message"), [
    ("", "found 0 lines"),
    ("ssh-ed25519 AAAA x\nssh-ed25519 AAAA y\n", "found 2 lines"),
    ("hello world\n", "not an OpenSSH public key"),
    ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIbroken comment\n", "damaged"),
    ("ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIGv0 comment\n", "damaged"),
])
def test_bad_public_keys(text, message):
    with pytest.raises(UsageError, match=message):
        devicedefs.public_key_line(text, "key.pub")


# ---- the image's pieces ----------------------------------------------------------------------
def target(board: str):
    return Catalog(PROJECT / "toolchains", PROJECT).resolve(board, env={})


def test_boards_without_a_twin_say_why():
    assert devimage.stand_in_suite(target("jetson-nx")).suite == "bullseye"
    with pytest.raises(UsageError, match="32-bit armhf board"):
        devimage.stand_in_suite(target("rpi3-armhf"))


def test_the_twin_cpu_is_the_closest_qemu_has():
    assert devimage.twin_cpu(target("jetson-nx")) == "cortex-a76"   # Carmel: ARMv8.2
    assert devimage.twin_cpu(target("rpi4")) == "cortex-a72"
    assert devimage.twin_cpu(target("jetson-nano")) == "cortex-a57"


def test_uuids_are_fixed_per_release_and_differ_between_releases():
    a = devimage.image_uuids("jetson-nx", "1.0.0")
    assert a == devimage.image_uuids("jetson-nx", "1.0.0")
    assert len(set(a.values())) == 5 and len(a["mbr"]) == 8
    assert set(a.values()).isdisjoint(devimage.image_uuids("jetson-nx", "1.0.1").values())


def test_partition_table_script_and_mkfs_argv():
    u = devimage.image_uuids("rpi4", "2.0.0")
    script = devimage.sfdisk_script(4096, u)
    assert script.splitlines()[0] == "label: gpt"
    assert f"label-id: {u['disk']}" in script
    assert f"start=2048, size=4096, type={devimage.LINUX_FS_TYPE}, uuid={u['partition']}" in script
    argv = devimage.mkfs_argv(Path("/t"), Path("/o.ext4"), 300, u)
    assert argv[:2] == ["mkfs.ext4", "-q"] and argv[-1] == "300M"
    assert ["-U", u["filesystem"]] == argv[argv.index("-U"):argv.index("-U") + 2]
    assert f"hash_seed={u['hash_seed']}" in argv[argv.index("-E") + 1]
    assert argv[argv.index("-d"):argv.index("-d") + 2] == ["-d", "/t"]


def test_first_boot_makes_host_keys_once_before_ssh():
    unit = devimage.firstboot_unit((("/usr/bin/touch", "/var/lib/x"),))
    lines = unit.splitlines()
    assert "Before=ssh.service sysinit.target" in lines
    assert f"ConditionPathExists=!{devimage.FIRSTBOOT_DONE}" in lines
    starts = [ln for ln in lines if ln.startswith("ExecStart=")]
    assert starts[0] == "ExecStart=/usr/bin/ssh-keygen -A"
    assert starts[1] == "ExecStart=/usr/bin/touch /var/lib/x"
    assert starts[-1] == f"ExecStart=/bin/touch {devimage.FIRSTBOOT_DONE}"
    assert "127.0.1.1\tedge-infer" in devimage.hosts_text("edge-infer")
    assert "PasswordAuthentication no" in devimage.SSHD_DROPIN
    assert "PermitRootLogin no" in devimage.SSHD_DROPIN


def test_base_argv_keeps_apt_lists_and_sets_the_initramfs_modules():
    spec = devimage.stand_in_suite(target("jetson-nx"))
    dev = devicedefs.load(IMAGES / "edge-infer")
    argv = devimage.base_argv(spec, dev, Path("/out"), "http://mirror/debian")
    assert argv[0] == "mmdebstrap" and "--arch=arm64" in argv and "--skip=cleanup/apt/lists" in argv
    include = next(a for a in argv if a.startswith("--include=")).split("=", 1)[1].split(",")
    assert {"linux-image-arm64", "openssh-server", "gdbserver", "initramfs-tools"} <= set(include)
    hook = next(a for a in argv if a.startswith("--setup-hook="))
    assert "MODULES=list" in hook and "virtio_blk" in hook
    assert "deb http://mirror/debian bullseye main" in argv
    key = devimage.base_key(spec, dev, "http://mirror/debian")
    assert key == devimage.base_key(spec, dev, "http://mirror/debian")
    assert key != devimage.base_key(spec, dev, "http://other/debian")


def test_qemu_forwards_ssh_from_localhost_only(tmp_path: Path):
    twin = {"cpu": "cortex-a76", "cpus": 2, "memory_mb": 1024, "kernel": "k", "initrd": "i",
            "cmdline": "root=PARTUUID=x rw console=ttyAMA0", "disk": "d.qcow2", "login": "edge"}
    paths = vm.VmPaths(tmp_path / "vm")
    argv = vm.qemu_argv(twin, tmp_path, paths, 2299)
    assert argv[0] == "qemu-system-aarch64"
    assert argv[argv.index("-M") + 1] == "virt" and argv[argv.index("-cpu") + 1] == "cortex-a76"
    netdev = argv[argv.index("-netdev") + 1]
    assert "hostfwd=tcp:127.0.0.1:2299-:22" in netdev and netdev.count("hostfwd") == 1
    assert "-enable-kvm" not in argv and f"file={paths.overlay}" in " ".join(argv)
    assert argv[argv.index("-serial") + 1] == f"file:{paths.console}"
    hint = vm.connect_hint({"port": 2299, "login": "edge"}, paths)
    assert hint.startswith("ssh -p 2299 ") and hint.endswith(" edge@127.0.0.1")
    assert "BatchMode" not in hint and "PasswordAuthentication=no" in hint


def forged_vm_state(paths: vm.VmPaths, proc: int, **changes) -> None:
    """A vm.json as `invoke vm` writes it, naming another process (its real start time)."""
    from edgeforge.core import proc_start_time
    paths.state.write_text(json.dumps({
        "pid": proc, "pid_started": proc_start_time(proc), "port": 2222, "login": "edge",
        "console": str(paths.console), "disk": "/b/twin/d.qcow2", "started": 1, **changes}))


def test_stop_never_kills_a_process_that_is_not_the_twin(tmp_path: Path):
    paths = vm.VmPaths(tmp_path / "vm")
    paths.folder.mkdir()
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        forged_vm_state(paths, sleeper.pid)
        assert vm.running_pid(paths) is None
        assert vm.stop(paths) is False
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_forged_vm_state_never_kills_a_look_alike_of_the_twin(tmp_path: Path):
    """A process named qemu-system-aarch64 that merely mentions the overlay is not the twin;
    a state that is not what `invoke vm` writes is refused, naming the file."""
    import os
    import sys

    from edgeforge.core import StateFileError

    paths = vm.VmPaths(tmp_path / "vm")
    paths.folder.mkdir()
    fake = tmp_path / "bin" / vm.QEMU
    fake.parent.mkdir()
    os.symlink(os.path.realpath(sys.executable), fake)
    other = subprocess.Popen([str(fake), "-c", "import time; time.sleep(30)",
                              f"-drive file={paths.overlay}"])
    try:
        paths.state.write_text(json.dumps({"pid": other.pid, "port": 1, "login": "x"}))
        with pytest.raises(StateFileError, match=r"vm\.json is not a state file edgeforge "
                           r"wrote \(pid_started: .*\).*Delete it"):
            vm.stop(paths)
        for bad in ({"pid": str(other.pid)}, {"pid": 1}, {"login": "-oProxyCommand=x"},
                    {"port": 0}, {"console": "/elsewhere/console.log"}, {"extra": 1}):
            forged_vm_state(paths, other.pid, **bad)
            with pytest.raises(StateFileError, match="vm.json is not a state file"):
                vm.running_pid(paths)
        forged_vm_state(paths, other.pid)            # every fact right, but not the twin's qemu
        assert vm.running_pid(paths) is None and vm.stop(paths) is False
        forged_vm_state(paths, other.pid, pid_started=1)   # a reused PID: another start time
        assert vm.stop(paths) is False
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_the_twins_disk_option_doubles_commas_in_its_path(tmp_path: Path):
    paths = vm.VmPaths(tmp_path / "a,file=x" / "vm")
    twin = {"cpu": "cortex-a76", "cpus": 2, "memory_mb": 1024, "kernel": "k", "initrd": "i",
            "cmdline": "root=x", "disk": "d.qcow2", "login": "edge"}
    drive = vm.qemu_argv(twin, tmp_path, paths, 2299)
    drive = drive[drive.index("-drive") + 1]
    assert drive == f"if=none,id=hd0,format=qcow2,file={tmp_path}/a,,file=x/vm/overlay.qcow2"


# ---- deploy ----------------------------------------------------------------------------------
def test_deploy_targets_are_parsed_or_refused_with_the_form():
    from edgeforge.device import parse_target
    t = parse_target("ssh://edge@127.0.0.1:2222")
    assert (t.user, t.host, t.port) == ("edge", "127.0.0.1", 2222)
    assert parse_target("ssh://root@box.local").port == 22
    argv = t.argv(Path("/k/id"), Path("/k/known"))
    assert argv[-1] == "edge@127.0.0.1" and argv[1:3] == ["-p", "2222"]
    assert "BatchMode=yes" in argv and "UserKnownHostsFile=/k/known" in argv
    for bad, message in (("edge@host", "expected ssh://user@host"),
                         ("ssh://host", "name the user"),
                         ("ssh://edge@host:99999", "port must be a number"),
                         ("ssh://edge:secret@host", "expected ssh://user@host"),
                         ("ssh://edge@host/path", "expected ssh://user@host")):
        with pytest.raises(UsageError, match=message):
            parse_target(bad)


@pytest.mark.parametrize("services", [("edge-infer",), ("detector", "uplink"), ()])
def test_the_remote_install_script_is_valid_sh_and_checks_before_it_changes(tmp_path: Path,
                                                                             services):
    from edgeforge.device import KEEP_DIR, remote_script
    text = remote_script("edge-infer", services)
    script = tmp_path / "deploy.sh"
    script.write_text(text)
    assert subprocess.run(["sh", "-n", str(script)]).returncode == 0
    assert text.index("--simulate") < text.index("--allow-downgrades")
    assert f"keep={KEEP_DIR}/edge-infer\n" in text and "previous.deb" in text  # its own slot
    assert "dpkg --remove --force-remove-reinstreq edge-infer " in text
    assert "__" not in text  # every placeholder filled
    # the app's services' instances are restarted; without services, none (never every unit)
    units = " ".join(f"'{s}@*.service'" for s in services)
    if services:
        assert f"systemctl list-units --all --plain --no-legend {units} \\\n" in text
        assert f"systemctl list-unit-files --plain --no-legend {units} 2>/dev/null" in text
    else:
        assert "instances=\nenabled=\n" in text and "list-units" not in text


def test_the_deploy_knows_the_app_from_its_descriptor(tmp_path: Path):
    from edgeforge.context import Context
    from edgeforge.device.update import installed
    ctx = Context.create(project_root=PROJECT, cache_dir=tmp_path / "cache",
                         build_root=tmp_path / "build", dist_root=tmp_path / "dist")
    app = installed(ctx, ctx.app())
    assert (app.package, app.program, app.services) == (
        "edge-infer", "/opt/edge-infer/bin/edge-infer", ("edge-infer",))
    assert app.program_name == "edge-infer"


def test_raspberry_pi_card_layout_and_its_base():
    spec = devimage.stand_in_suite(target("rpi4"))
    dev = devicedefs.load(IMAGES / "edge-infer")
    layouts = tuple(target("rpi4").board.spec.device_images)
    assert layouts == ("raspi-sd",)
    assert "non-free-firmware" in devimage.base_components(spec, layouts)
    assert "raspi-firmware" in devimage.base_packages(dev, layouts)
    argv = devimage.base_argv(spec, dev, Path("/out"), "http://m/debian", layouts)
    assert "MODULES=list" not in " ".join(argv)   # real hardware boots it: Debian's default
    assert "deb http://m/debian bookworm main non-free-firmware" in argv
    # a board without the layout keeps its base (and its cache key) as it was
    nx = devimage.stand_in_suite(target("jetson-nx"))
    assert devimage.base_key(nx, dev, "m", ("l4t-rootfs",)) == devimage.base_key(nx, dev, "m")
    u = devimage.image_uuids("rpi4", "1.0.0")
    script = devimage.mbr_script(524288, 2000000, u["mbr"])
    assert script.startswith(f"label: dos\nlabel-id: 0x{u['mbr']}\n")
    assert "start=2048, size=524288, type=c, bootable" in script
    assert "start=526336, size=2000000, type=83" in script
    assert devimage.raspi_partuuid("rpi4", "1.0.0") == f"{u['mbr']}-02"
    assert "LABEL=RASPIFIRM\t/boot/firmware\tvfat" in devimage.fstab_text(True)
    assert devimage.fstab_text(False).splitlines()[-1].startswith("LABEL=root\t/\text4")
