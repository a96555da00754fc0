"""`invoke image` and `invoke vm` end to end for jetson-nx: the device's root file system (its
stand-in suite, the .deb installed by apt, a key-only login, the service), the twin's disk
(GPT, ext4) rebuilt byte-identical, and the virtual twin booted by real qemu-system-aarch64:
SSH with the key, no password login, the service's output on the device, new host keys on
every first boot, and a clean stop by PID."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

import pytest

from edgeforge import device as devimage
from edgeforge.config import deviceimage as devicedefs
from edgeforge.context import Context
from edgeforge.core import Reporter, Runner
from edgeforge.deliver.packages import deb as debpkg
from edgeforge.device import twin as vm
from tests.conftest import BUILD, DIST, PROJECT, app_records, release_dir, require_tools, run_invoke
from tests.e2e.conftest import build_board

pytestmark = pytest.mark.e2e
BOARD = "jetson-nx"
VERSION = "1.0.0"
EPOCH = "1700000000"
TWIN = app_records(BOARD) / "release" / "twin"
ROOTFS = app_records(BOARD) / "release" / "rootfs" / "tree"
NAME = f"edge-infer-{VERSION}-{BOARD}-twin"
#: the sample instance's JSON Lines (device.yaml), which edge-uplink@sample publishes
DETECTIONS = "/var/lib/edge-infer/sample/detections.jsonl"


@pytest.fixture(scope="module")
def key(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ssh")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tester",
                    "-f", str(folder / "id")], check=True)
    return folder / "id"


def make_image(key: Path) -> subprocess.CompletedProcess:
    return run_invoke("image", "--board", BOARD, "--version", VERSION, "--ssh-key",
                      f"{key}.pub", env={"SOURCE_DATE_EPOCH": EPOCH}, timeout=3600)


@pytest.fixture(scope="module")
def imaged(key: Path) -> Path:
    require_tools("mmdebstrap", "qemu-system-aarch64", "qemu-img", "sfdisk", "mkfs.ext4", "ssh")
    build_board(BOARD, smoke_only=False)
    r = make_image(key)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    return release_dir(BOARD, VERSION)


def test_the_release_holds_the_twin_with_digests_and_sbom(imaged: Path):
    for suffix in (".qcow2", ".vmlinuz", ".initrd.img", ".json"):
        assert (imaged / f"{NAME}{suffix}").is_file(), suffix
    sums = (imaged / "SHA256SUMS").read_text()
    assert f"  {NAME}.qcow2" in sums and f"  {NAME}.vmlinuz" in sums
    sbom = json.loads((imaged / "sbom.cdx.json").read_text())
    refs = {c["bom-ref"]: c for c in sbom["components"]}
    disk = refs[f"device-image:{NAME}"]
    assert disk["type"] == "file"
    deps = {d["ref"]: set(d.get("dependsOn", [])) for d in sbom["dependencies"]}
    uses = deps[f"device-image:{NAME}"]
    assert {"deb:openssh-server", "deb:systemd", "deb:gdbserver", "app:edge-infer"} <= uses
    assert refs["deb:openssh-server"]["version"]


def test_the_root_file_system_is_configured_and_holds_no_secret(imaged: Path, key: Path):
    status = (ROOTFS / "var/lib/dpkg/status").read_text()
    assert re.search(r"Package: edge-infer\nStatus: install ok installed", status)
    assert "Package: gdbserver\nStatus: install ok installed" in status
    assert (ROOTFS / "etc/hostname").read_text() == "edge-infer\n"
    assert "127.0.1.1\tedge-infer" in (ROOTFS / "etc/hosts").read_text()
    assert not list((ROOTFS / "etc/ssh").glob("ssh_host_*"))        # made on first boot
    for line in (ROOTFS / "etc/shadow").read_text().splitlines():
        assert line.split(":")[1] in ("*", "!", "!*", "!!") or line.split(":")[1].startswith("!"), line
    auth = (ROOTFS / "home/edge/.ssh/authorized_keys").read_text()
    assert auth.split()[:2] == Path(f"{key}.pub").read_text().split()[:2]
    assert not any("PRIVATE KEY" in p.read_text(errors="replace")
                   for p in (ROOTFS / "home/edge/.ssh").iterdir())
    wants = ROOTFS / "etc/systemd/system/multi-user.target.wants"
    assert (wants / "edge-infer@sample.service").is_symlink()
    conf = (ROOTFS / "etc/edge-infer/sample.conf").read_text()
    assert "STREAM=/var/lib/edge-infer/samples/vtest.avi" in conf
    assert (ROOTFS / "var/lib/edge-infer/samples/vtest.avi").stat().st_size > 100000


def test_the_disk_has_a_gpt_with_one_ext4_root(imaged: Path, tmp_path: Path):
    raw = tmp_path / "disk.img"
    subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw",
                    str(imaged / f"{NAME}.qcow2"), str(raw)], check=True)
    table = json.loads(subprocess.run(["sfdisk", "--json", str(raw)], capture_output=True,
                                      text=True, check=True).stdout)["partitiontable"]
    assert table["label"] == "gpt" and len(table["partitions"]) == 1
    part = table["partitions"][0]
    assert part["type"] == "0FC63DAF-8483-4772-8E79-3D69D8477DE4" and part["start"] == 2048
    boot = json.loads((imaged / f"{NAME}.json").read_text())
    assert f"root=PARTUUID={part['uuid'].lower()}" in boot["cmdline"]
    ext4 = tmp_path / "root.ext4"
    subprocess.run(["dd", f"if={raw}", f"of={ext4}", "bs=512", "skip=2048",
                    f"count={part['size']}", "status=none"], check=True)
    info = subprocess.run(["dumpe2fs", "-h", str(ext4)], capture_output=True, text=True,
                          check=True).stdout
    assert re.search(r"Filesystem volume name:\s+root", info)
    fstab = subprocess.run(["debugfs", "-R", "cat /etc/fstab", str(ext4)], capture_output=True,
                           text=True, check=True).stdout
    assert "LABEL=root\t/\text4" in fstab


def test_the_l4t_tarball_is_a_rootfs_for_linux_for_tegra(imaged: Path):
    tarball = imaged / f"edge-infer-{VERSION}-{BOARD}-l4t-rootfs.tar.gz"
    with tarfile.open(tarball) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert all(n.startswith("Linux_for_Tegra/rootfs") for n in members)
    root = "Linux_for_Tegra/rootfs/"
    assert members[root + "opt/edge-infer/bin/edge-infer"].isfile()
    assert members[root + "etc/hostname"].isfile()
    shadow = members[root + "etc/shadow"]
    assert shadow.uid == 0 and shadow.mode & 0o004 == 0      # owners and modes kept
    home = members[root + "home/edge"]
    assert home.uid >= 1000
    assert not [n for n in members if n.startswith(root + "boot/vmlinuz")]  # L4T's kernel
    assert not [n for n in members if re.match(root + r"(usr/)?lib/modules/.", n)]
    assert {m.mtime for m in members.values()} == {int(EPOCH)}
    assert not [n for n in members if "ssh_host_" in n]


def test_a_rebuild_of_the_image_is_byte_identical(imaged: Path, key: Path, tmp_path: Path):
    def outputs() -> dict[str, bytes]:
        return {p.name: p.read_bytes() for step in ("twin", "l4t-rootfs")
                for p in (app_records(BOARD) / "release" / step).iterdir() if p.is_file()}
    before = outputs()
    for step in ("rootfs", "twin", "l4t-rootfs"):
        shutil.rmtree(app_records(BOARD) / "release" / step)
    r = make_image(key)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    after = outputs()
    assert sorted(before) == sorted(after)
    differ = [name for name in before if before[name] != after[name]]
    assert not differ, differ


# ---- a Raspberry Pi SD card ------------------------------------------------------------------
def test_rpi4_sd_card_has_the_raspberry_pi_layout(key: Path, tmp_path: Path):
    """rpi4's image: an MBR card with raspi-firmware's FAT32 boot partition (firmware, kernel,
    device trees, config.txt, cmdline.txt naming the root partition) and the ext4 root, checked
    structurally (no Raspberry Pi here, and qemu has no raspi4 machine)."""
    require_tools("mcopy", "mkfs.fat", "xz")
    build_board("rpi4", smoke_only=False)
    r = run_invoke("image", "--board", "rpi4", "--version", VERSION, "--ssh-key", f"{key}.pub",
                   env={"SOURCE_DATE_EPOCH": EPOCH}, timeout=3600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    release = release_dir("rpi4", VERSION)
    xz = release / f"edge-infer-{VERSION}-rpi4-sdcard.img.xz"
    assert f"  {xz.name}" in (release / "SHA256SUMS").read_text()
    card = tmp_path / "sd.img"
    with open(card, "wb") as fh:
        subprocess.run(["xz", "-dc", str(xz)], stdout=fh, check=True)
    table = json.loads(subprocess.run(["sfdisk", "--json", str(card)], capture_output=True,
                                      text=True, check=True).stdout)["partitiontable"]
    assert table["label"] == "dos" and len(table["partitions"]) == 2
    boot, root = table["partitions"]
    assert boot["type"] == "c" and boot.get("bootable") and boot["start"] == 2048
    assert root["type"] == "83" and root["start"] == boot["start"] + boot["size"]
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
    fat = f"{card}@@{boot['start'] * 512}"
    listing = subprocess.run(["mdir", "-b", "-i", fat, "::/"], capture_output=True, text=True,
                             env=env, check=True).stdout
    names = {line.rsplit("/", 1)[-1] for line in listing.split()}
    assert {"config.txt", "cmdline.txt", "start4.elf", "fixup4.dat",
            "bcm2711-rpi-4-b.dtb"} <= names, names
    assert any(n.startswith("vmlinuz-") for n in names) and any(n.startswith("initrd.img-")
                                                                for n in names)

    def fat_file(name: str) -> str:
        return subprocess.run(["mtype", "-i", fat, f"::/{name}"], capture_output=True,
                              text=True, env=env, check=True).stdout

    label_id = table["id"].removeprefix("0x")
    assert f"root=PARTUUID={label_id}-02" in fat_file("cmdline.txt")
    assert "arm_64bit=1" in fat_file("config.txt")
    ext4 = tmp_path / "root.ext4"
    subprocess.run(["dd", f"if={card}", f"of={ext4}", "bs=512", f"skip={root['start']}",
                    f"count={root['size']}", "status=none"], check=True)
    fstab = subprocess.run(["debugfs", "-R", "cat /etc/fstab", str(ext4)], capture_output=True,
                           text=True, check=True).stdout
    assert "LABEL=root\t/\text4" in fstab and "LABEL=RASPIFIRM\t/boot/firmware\tvfat" in fstab
    wants = subprocess.run(["debugfs", "-R", "ls -l /etc/systemd/system/multi-user.target.wants",
                            str(ext4)], capture_output=True, text=True, check=True).stdout
    assert "edge-infer@sample.service" in wants
    status = subprocess.run(["debugfs", "-R", "cat /var/lib/dpkg/status", str(ext4)],
                            capture_output=True, text=True, check=True).stdout
    assert "Package: edge-infer\nStatus: install ok installed" in status
    assert "Package: raspi-firmware\nStatus: install ok installed" in status


# ---- the virtual twin -------------------------------------------------------------------------
def ssh(state: dict, paths: vm.VmPaths, key: Path, *cmd: str,
        check: bool = True) -> subprocess.CompletedProcess:
    remote = " ".join(shlex.quote(word) for word in cmd)  # ssh hands one line to the shell
    r = subprocess.run([*vm.ssh_argv(state, paths, identity=key), remote], capture_output=True,
                       text=True, timeout=300, stdin=subprocess.DEVNULL)
    if check:
        assert r.returncode == 0, f"{cmd}: {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def boot(port_hint: int = 2322) -> tuple[dict, vm.VmPaths]:
    port = vm.free_port(port_hint)
    r = run_invoke("vm", "--board", BOARD, "--detach", "--port", str(port), timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert f"-p {port} " in r.stdout and "edge@127.0.0.1" in r.stdout
    paths = vm.VmPaths(BUILD / BOARD / "vm")
    return json.loads(paths.state.read_text()), paths


def alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def host_key(port: int) -> str:
    r = subprocess.run(["ssh-keyscan", "-p", str(port), "-t", "ed25519", "127.0.0.1"],
                       capture_output=True, text=True, timeout=60)
    return r.stdout.split()[-1]


@pytest.fixture(scope="module")
def twin(imaged: Path):
    state, paths = boot()
    try:
        yield state, paths
    finally:
        run_invoke("vm", "--board", BOARD, "--stop")


def test_the_twin_boots_and_lets_in_the_key_only(twin, key: Path):
    state, paths = twin
    # SSH answers before systemd has finished starting the rest: wait for the boot's end
    booted = ssh(state, paths, key, "timeout", "180", "systemctl", "is-system-running", "--wait",
                 check=False)
    assert booted.stdout.strip() == "running", booted.stdout + booted.stderr
    r = ssh(state, paths, key, "systemctl", "is-active", "multi-user.target")
    assert r.stdout.strip() == "active"
    assert ssh(state, paths, key, "cat", "/etc/hostname").stdout == "edge-infer\n"
    assert ssh(state, paths, key, "getent", "hosts", "edge-infer").stdout.startswith("127.0.1.1")
    nokey = subprocess.run(
        ["ssh", "-p", str(state["port"]), "-o", f"UserKnownHostsFile={paths.known_hosts}",
         "-o", "StrictHostKeyChecking=accept-new", "-o", "BatchMode=yes",
         "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password,"
         "keyboard-interactive", "edge@127.0.0.1", "true"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert nokey.returncode == 255 and "Permission denied (publickey)" in nokey.stderr, nokey.stderr
    root = subprocess.run([*vm.ssh_argv({**state, "login": "root"}, paths, identity=key), "true"],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert root.returncode == 255


def test_the_service_ran_on_the_sample_and_its_output_is_on_the_device(twin, key: Path):
    state, paths = twin
    r = ssh(state, paths, key, "systemctl", "is-enabled", "edge-infer@sample")
    assert r.stdout.strip() == "enabled"
    # a file input: the instance runs to its end once per boot (4 frames), then exits 0
    ssh(state, paths, key, "sh", "-c", "for i in $(seq 300); do s=$(systemctl show -p "
        "ActiveState --value edge-infer@sample); [ $s = inactive ] || [ $s = failed ] && "
        "break; sleep 1; done")
    result = ssh(state, paths, key, "systemctl", "show", "-p", "Result", "-p", "ExecMainStatus",
                 "-p", "User", "edge-infer@sample").stdout
    assert "Result=success" in result and "ExecMainStatus=0" in result, result
    # its JSON Lines: into its own state folder (--output in device.yaml, for edge-uplink)
    lines = ssh(state, paths, key, "cat", DETECTIONS).stdout.splitlines()
    frames = [json.loads(ln) for ln in lines if ln.startswith("{")]
    assert [f["frame"] for f in frames] == [0, 1, 2, 3], lines[-10:]
    user = ssh(state, paths, key, "getent", "passwd", "edge-infer").stdout.split(":")
    assert user[0] == "edge-infer" and int(user[2]) != 0  # the service's own system user
    assert "User=edge-infer" in result


# ---- the second app on the twin: edge-infer's detections to the box's MQTT broker --------------
def wait_until(state: dict, paths: vm.VmPaths, key: Path, condition: str, seconds: int = 180):
    """Poll a shell condition on the twin, once a second."""
    r = ssh(state, paths, key, "sh", "-c", f"for i in $(seq {seconds}); do if {condition}; "
            "then exit 0; fi; sleep 1; done; exit 1", check=False)
    assert r.returncode == 0, f"timed out on the twin waiting for: {condition}"


def test_the_detections_reach_the_box_s_broker_and_survive_its_outage(twin, key: Path):
    """The image holds both apps and the broker: edge-uplink@sample follows edge-infer@sample's
    JSON Lines. A subscriber with a session of its own subscribes; the broker stops; edge-infer
    runs again (4 new detection lines); the broker comes back: the subscriber gets those 4 lines,
    as edge-infer wrote them."""
    state, paths = twin
    for unit in ("mosquitto", "edge-uplink@sample"):
        wait_until(state, paths, key, f"systemctl is-active -q {unit}")
    assert ssh(state, paths, key, "systemctl", "show", "-p", "User", "--value",
               "edge-uplink@sample").stdout.strip() == "edge-uplink"
    wait_instance(state, paths, key)
    ssh(state, paths, key, "sudo", "-n", "systemd-run", "--quiet", "--collect", "--unit",
        "edgeforge-checker", "sh", "-c", "mosquitto_sub -h 127.0.0.1 -t edge/detections -q 1 "
        "-c -i checker -C 4 > /tmp/received.jsonl")
    # the checker's session exists on the broker (persistent: it outlives the restart)
    wait_until(state, paths, key, "sudo -n grep -q 'as checker' /var/log/mosquitto/mosquitto.log")
    ssh(state, paths, key, "sudo", "-n", "systemctl", "stop", "mosquitto")
    ssh(state, paths, key, "sudo", "-n", "systemctl", "restart", "edge-infer@sample")
    result = wait_instance(state, paths, key)
    assert "Result=success" in result, result
    time.sleep(3)  # the uplink spools the new lines while the broker is away
    assert ssh(state, paths, key, "systemctl", "is-active", "edge-uplink@sample").stdout.strip() \
        == "active"
    ssh(state, paths, key, "sudo", "-n", "systemctl", "start", "mosquitto")
    wait_until(state, paths, key, "! systemctl is-active -q edgeforge-checker")
    got = ssh(state, paths, key, "cat", "/tmp/received.jsonl").stdout.splitlines()
    wrote = ssh(state, paths, key, "cat", DETECTIONS).stdout.splitlines()
    assert len(wrote) == 4 and got == wrote, (got, wrote)
    journal = ssh(state, paths, key, "sudo", "-n", "journalctl", "-q", "-o", "cat", "-u",
                  "edge-uplink@sample").stdout
    assert "disconnected" in journal, journal[-2000:]


def unit_state(state: dict, paths: vm.VmPaths, key: Path, unit: str) -> str:
    return ssh(state, paths, key, "systemctl", "show", "-p", "InvocationID", "-p", "MainPID",
               unit).stdout


def test_deploying_one_app_leaves_the_other_running(twin, key: Path, tmp_path: Path):
    """`invoke deploy --app edge-uplink` of its 1.0.1: its instance restarts with the new
    version; edge-infer's instance and the broker are left as they were."""
    state, paths = twin
    r = run_invoke("release", "--board", BOARD, "--app", "edge-uplink", "--version", "1.0.1",
                   env={"SOURCE_DATE_EPOCH": EPOCH}, timeout=3600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    deb = DIST / BOARD / "edge-uplink" / "1.0.1" / "edge-uplink_1.0.1_arm64.deb"
    before = {u: unit_state(state, paths, key, u) for u in
              ("edge-infer@sample", "mosquitto", "edge-uplink@sample")}
    r = run_invoke("deploy", "--board", BOARD, "--app", "edge-uplink", "--target",
                   f"ssh://{state['login']}@127.0.0.1:{state['port']}", "--package", str(deb),
                   "--identity", str(key), "--known-hosts", str(paths.known_hosts),
                   timeout=1800)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "edge-uplink@sample.service" in r.stdout and "edge-infer@" not in r.stdout
    assert ssh(state, paths, key, "dpkg-query", "-W", "-f=${Version}", "edge-uplink").stdout \
        == "1.0.1"
    assert ssh(state, paths, key, "dpkg-query", "-W", "-f=${Version}", "edge-infer").stdout \
        == VERSION
    for unit in ("edge-infer@sample", "mosquitto"):
        assert unit_state(state, paths, key, unit) == before[unit], unit
    assert unit_state(state, paths, key, "edge-uplink@sample") != before["edge-uplink@sample"]
    wait_until(state, paths, key, "systemctl is-active -q edge-uplink@sample")
    # each app keeps its own rollback package
    kept = ssh(state, paths, key, "ls", "/var/lib/edgeforge/deploy").stdout.split()
    assert kept == ["edge-infer", "edge-uplink"], kept


# ---- deploying to the twin --------------------------------------------------------------------
@pytest.fixture(scope="module")
def newer_debs(imaged: Path, tmp_path_factory) -> dict[str, Path]:
    """The same build as version 1.0.1, and a broken 1.0.2 whose postinst fails."""
    from tests.e2e.test_installers import release_input
    out = tmp_path_factory.mktemp("debs")
    runner = Runner(Reporter(quiet=True), out / "logs")
    good = debpkg.write_deb(release_input(BOARD, BUILD / BOARD / "edge-infer", "1.0.1"),
                            out / "good", runner, lint=False)
    tree = out / "broken-tree"
    subprocess.run(["dpkg-deb", "-R", str(good), str(tree)], check=True)
    control = (tree / "DEBIAN/control").read_text()
    (tree / "DEBIAN/control").write_text(control.replace("Version: 1.0.1", "Version: 1.0.2"))
    postinst = tree / "DEBIAN/postinst"
    postinst.write_text(postinst.read_text().replace("set -e\n", "set -e\necho broken >&2; exit 1\n", 1))
    broken = out / "edge-infer_1.0.2_arm64.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(tree), str(broken)], check=True,
                   capture_output=True)
    return {"good": good, "broken": broken}


def deploy(state: dict, paths: vm.VmPaths, key: Path, package: Path) -> subprocess.CompletedProcess:
    return run_invoke("deploy", "--board", BOARD, "--target",
                      f"ssh://{state['login']}@127.0.0.1:{state['port']}", "--package",
                      str(package), "--identity", str(key), "--known-hosts",
                      str(paths.known_hosts), timeout=1800)


def wait_instance(state: dict, paths: vm.VmPaths, key: Path) -> str:
    ssh(state, paths, key, "sh", "-c", "for i in $(seq 300); do s=$(systemctl show -p "
        "ActiveState --value edge-infer@sample); [ $s = inactive ] || [ $s = failed ] && "
        "break; sleep 1; done")
    return ssh(state, paths, key, "systemctl", "show", "-p", "Result", "-p", "ExecMainStatus",
               "edge-infer@sample").stdout


@pytest.fixture(scope="module")
def upgraded(twin, key: Path, newer_debs) -> subprocess.CompletedProcess:
    """`invoke deploy` of the good 1.0.1 onto the twin, once per module: the upgrade one test
    checks and the previous version another one falls back to."""
    state, paths = twin
    return deploy(state, paths, key, newer_debs["good"])


def test_deploy_upgrades_the_twin_and_the_service_comes_back(twin, key: Path, upgraded):
    state, paths = twin
    r = upgraded
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "on the device: package 1.0.1 install ok installed, program edge-infer " in r.stdout
    assert "edge-infer@sample.service" in r.stdout
    version = ssh(state, paths, key, "dpkg-query", "-W", "-f=${Version}", "edge-infer").stdout
    assert version == "1.0.1"
    result = wait_instance(state, paths, key)
    assert "Result=success" in result and "ExecMainStatus=0" in result, result


def test_a_broken_package_leaves_the_previous_version_working(twin, key: Path, newer_debs,
                                                              upgraded):
    state, paths = twin
    assert upgraded.returncode == 0, upgraded.stderr[-3000:]   # 1.0.1 is the previous version
    r = deploy(state, paths, key, newer_debs["broken"])
    assert r.returncode == 11, r.stderr[-3000:]        # the device failed the deploy
    assert "failed" in r.stderr and "the previous package is back" in r.stderr, r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    status = ssh(state, paths, key, "dpkg-query", "-W", "-f=${Version} ${Status}",
                 "edge-infer").stdout
    assert status == "1.0.1 install ok installed", status
    out = ssh(state, paths, key, "/opt/edge-infer/bin/edge-infer", "--version").stdout
    assert out.startswith("edge-infer ")
    ssh(state, paths, key, "sudo", "-n", "systemctl", "restart", "edge-infer@sample")
    result = wait_instance(state, paths, key)
    assert "Result=success" in result, result


def variant_deb(good: Path, out: Path, version: str, *, depends: str = "",
                postinst_first: str = "") -> Path:
    """The good package as another version, with one more Depends or a first postinst line."""
    tree = out / f"tree-{version}"
    subprocess.run(["dpkg-deb", "-R", str(good), str(tree)], check=True)
    control = (tree / "DEBIAN/control").read_text().replace("Version: 1.0.1", f"Version: {version}")
    if depends:
        control = re.sub(r"^Depends: ", f"Depends: {depends}, ", control, count=1, flags=re.M)
        assert depends in control
    (tree / "DEBIAN/control").write_text(control)
    if postinst_first:
        postinst = tree / "DEBIAN/postinst"
        postinst.write_text(postinst.read_text().replace("set -e\n", f"set -e\n{postinst_first}\n", 1))
    deb = out / f"edge-infer_{version}_arm64.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(tree), str(deb)], check=True,
                   capture_output=True)
    return deb


DEVICE_STATE = ("dpkg-query -W -f='${Version} ${Status}\\n' edge-infer; "
                "sha256sum /opt/edge-infer/bin/edge-infer "
                "/var/lib/edgeforge/deploy/edge-infer/previous.deb "
                "2>&1; systemctl show -p ActiveEnterTimestampMonotonic edge-infer@sample")


def test_deploy_asks_apt_first_and_changes_nothing_when_it_cannot(twin, key: Path, newer_debs,
                                                                   upgraded, tmp_path: Path):
    """A package whose Depends the device cannot satisfy is refused before anything changes:
    exit 11 with apt's reason; the installed package, its program, the kept rollback package
    and the running instance are as they were."""
    state, paths = twin
    deb = variant_deb(newer_debs["good"], tmp_path, "1.0.3", depends="edgeforge-no-such-package")
    before = ssh(state, paths, key, "sh", "-c", DEVICE_STATE).stdout
    r = deploy(state, paths, key, deb)
    assert r.returncode == 11, r.stdout[-3000:] + r.stderr[-3000:]
    assert "deploy refused, nothing changed" in r.stderr, r.stderr[-3000:]
    assert "edgeforge-no-such-package" in r.stderr and "Traceback" not in r.stderr
    assert ssh(state, paths, key, "sh", "-c", DEVICE_STATE).stdout == before


def test_a_dropped_connection_does_not_stop_the_install_half_way(twin, key: Path, newer_debs,
                                                                 upgraded, tmp_path: Path):
    """The SSH connection of `invoke deploy` is cut (its ssh client killed) while the device
    installs a package whose postinst takes 20 s: deploy ends with exit 11, and on the device
    the install goes on to the end (a transient systemd unit, not the SSH session)."""
    import signal
    import time

    from tests.conftest import INVOKE
    state, paths = twin
    deb = variant_deb(newer_debs["good"], tmp_path, "1.0.4", postinst_first="sleep 20")
    env = {**os.environ, "EDGEFORGE_BUILD_DIR": str(BUILD), "EDGEFORGE_DIST_DIR": str(DIST)}
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with open(out, "w") as o, open(err, "w") as e:
        proc = subprocess.Popen(
            [str(INVOKE), "--search-root", str(PROJECT), "deploy", "--board", BOARD, "--target",
             f"ssh://{state['login']}@127.0.0.1:{state['port']}", "--package", str(deb),
             "--identity", str(key), "--known-hosts", str(paths.known_hosts)],
            cwd=PROJECT, env=env, stdin=subprocess.DEVNULL, stdout=o, stderr=e,
            start_new_session=True)
    try:
        ssh(state, paths, key, "sh", "-c", "for i in $(seq 600); do systemctl is-active -q "
            "edgeforge-deploy && exit 0; sleep 0.5; done; exit 1")
        # the session deploy holds open while the device installs (whichever it is: the one
        # that started the unit, or one that waits for it) is cut
        for _ in range(100):
            clients = [p for p in _children(proc.pid) if _read(Path(f"/proc/{p}/cmdline"))
                       .startswith(b"ssh\0") and b"edgeforge-deploy" in
                       _read(Path(f"/proc/{p}/cmdline")).split(b"\0")[-2]]
            if clients:
                break
            time.sleep(0.1)
        assert len(clients) == 1, clients
        os.kill(clients[0], signal.SIGKILL)          # the connection drops
        code = proc.wait(timeout=600)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert code == 11, out.read_text()[-3000:] + err.read_text()[-3000:]
    assert "Traceback" not in out.read_text() + err.read_text()
    ssh(state, paths, key, "sh", "-c", "for i in $(seq 300); do systemctl is-active -q "
        "edgeforge-deploy || exit 0; sleep 1; done; exit 1")
    status = ssh(state, paths, key, "dpkg-query", "-W", "-f=${Version} ${Status}",
                 "edge-infer").stdout
    said = ssh(state, paths, key, "sh", "-c", "tail -n 30 /tmp/edgeforge-deploy.out "
               "/tmp/edgeforge-deploy.log; sudo -n journalctl -q -n 30 -u edgeforge-deploy",
               check=False)
    assert status == "1.0.4 install ok installed", (status, said.stdout, said.stderr)
    program = ssh(state, paths, key, "/opt/edge-infer/bin/edge-infer", "--version").stdout
    assert program.startswith("edge-infer ")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid`."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = _read(stat).rsplit(b")", 1)[-1].split()
        if len(fields) > 1 and fields[1] == str(pid).encode():
            out.append(int(stat.parent.name))
    return out


# ---- debugging on the twin ----------------------------------------------------------------------
def debug_vm(key: Path, vscode: Path, *args: str) -> subprocess.CompletedProcess:
    return run_invoke("debug", "--board", BOARD, "--vm", "--detach", "--identity", str(key),
                      "--vscode", str(vscode), *args, timeout=900)


#: the loopback address in /proc/net/tcp (127.0.0.1) and tcp6 (::1)
LOOPBACK = ("0100007F", "00000000000000000000000001000000")


def listening_ports(text: str) -> set[int]:
    """TCP ports listening beyond the device itself, in a dump of /proc/net/tcp and tcp6 (the
    image's MQTT broker listens on 127.0.0.1 only, by design)."""
    return {int(m.group(2), 16) for m in re.finditer(
        r"^\s*\d+: ([0-9A-F]+):([0-9A-F]{4}) [0-9A-F]+:[0-9A-F]{4} 0A ", text, re.M)
        if m.group(1) not in LOOPBACK}


def frames(gdb_output: str) -> list[str]:
    """The function names of the last backtrace in gdb's output (gdb also prints the current
    frame, as #0, when it opens a core)."""
    gdb_output = gdb_output[gdb_output.rfind("\n#0 ") + 1:]
    return re.findall(r"^#\d+\s+(?:0x[0-9a-f]+ in )?([\w:~<>]+) \(", gdb_output, re.M)


def test_debug_on_the_twin_breaks_in_ffmpeg_and_opencv_and_exits(twin, key: Path,
                                                                  tmp_path: Path):
    from tests.e2e.test_debug import GDB_SCRIPT, gdb_batch, launch_argv
    state, paths = twin
    vscode = tmp_path / ".vscode"
    r = debug_vm(key, vscode, "--", "--max-frames", "2", "--output", "/tmp/dbg.jsonl",
                 "/var/lib/edge-infer/samples/vtest.avi")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "runs this build (/opt/edge-infer)" in r.stdout        # deployed: nothing copied
    try:
        gdbinit = (BUILD / BOARD / "debug/gdbinit-vm").read_text()
        assert f"set sysroot {ROOTFS}" in gdbinit
        # stopped at the first breakpoint, gdb asks the device what listens and what runs
        probe = " ".join(shlex.quote(a) for a in [*vm.ssh_argv(state, paths, identity=key),
                                                  "cat /proc/net/tcp /proc/net/tcp6; ps -eo args"])
        script = [*GDB_SCRIPT[:GDB_SCRIPT.index("bt") + 1], f"shell {probe}",
                  *GDB_SCRIPT[GDB_SCRIPT.index("bt") + 1:]]
        text = gdb_batch(launch_argv(vscode, f"edgeforge: {BOARD} (vm)"), script)
    finally:
        run_invoke("debug", "--board", BOARD, "--stop")
    # gdbserver ran, on its stdio over SSH: nothing but sshd listens for the network (the
    # broker, mosquitto, listens on the device's loopback only)
    assert "gdbserver - /opt/edge-infer/bin/edge-infer --max-frames 2" in text, text[-4000:]
    assert listening_ports(text) == {22}, text[-4000:]
    assert re.search(r"^\s*\d+: (0100007F|0{24}01000000):075B [0-9A-F]+:[0-9A-F]{4} 0A ", text,
                     re.M), "mosquitto on the loopback's port 1883"
    assert "Breakpoint 1, avformat_open_input (" in text and "libavformat/demux.c:" in text, \
        text[-4000:]
    assert "edge_infer::VideoSource::VideoSource (" in text, text[-4000:]
    assert " in main (" in text, text[-4000:]
    assert "Value returned is $1 = 0" in text and "opts = " in text, text[-4000:]
    assert "Breakpoint 2, cv::resize (" in text and "imgproc/src/resize.cpp:4089" in text, \
        text[-4000:]
    assert "exited normally" in text, text[-4000:]
    out = ssh(state, paths, key, "cat", "/tmp/dbg.jsonl").stdout
    assert len(out.splitlines()) == 2
    assert "gdbserver" not in ssh(state, paths, key, "ps", "-eo", "args").stdout  # ended with gdb


def test_attach_and_a_core_dump_give_the_same_backtrace(twin, key: Path, tmp_path: Path):
    from tests.e2e.test_debug import gdb_batch, launch_argv
    state, paths = twin
    # the app blocked opening a FIFO: inside FFmpeg, under the app's frames
    ssh(state, paths, key, "sh", "-c", "rm -f /tmp/core* /tmp/f && mkfifo /tmp/f && cd /tmp && "
        "ulimit -c unlimited && { nohup /opt/edge-infer/bin/edge-infer --max-frames 1 /tmp/f "
        ">/tmp/app.log 2>&1 & echo $! >/tmp/app.pid; }")
    pid = ssh(state, paths, key, "cat", "/tmp/app.pid").stdout.strip()
    vscode = tmp_path / ".vscode"
    r = debug_vm(key, vscode, "--attach", pid)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    try:
        text = gdb_batch(launch_argv(vscode, f"edgeforge: {BOARD} (vm)"), ["bt", "detach"])
    finally:
        run_invoke("debug", "--board", BOARD, "--stop")
    live = frames(text)
    assert "avformat_open_input" in live, text[-3000:]
    assert "edge_infer::VideoSource::VideoSource" in live, text[-3000:]
    assert live[-1] == "main" and "edge_infer::run" in live, text[-3000:]
    # the same process dumps core; the core opens with the same frames
    ssh(state, paths, key, "sh", "-c", f"kill -SEGV {pid}; for i in $(seq 60); do "
        "[ -s /tmp/core ] && break; sleep 1; done; ls -l /tmp/core")
    core = tmp_path / "core"
    with open(core, "wb") as fh:
        subprocess.run([*vm.ssh_argv(state, paths, identity=key), "cat /tmp/core"], stdout=fh,
                       check=True, timeout=300, stdin=subprocess.DEVNULL)
    r = run_invoke("debug", "--board", BOARD, "--vm", "--core", str(core), timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    printed = next(ln.split("gdb: ", 1)[1] for ln in r.stdout.splitlines() if "gdb: " in ln)
    post = frames(gdb_batch(shlex.split(printed), ["bt"]))
    assert post == live, (post, live)


def test_attach_to_the_service_by_its_instance_name(twin, key: Path, tmp_path: Path):
    """`--service NAME`: the instance's MainPID, attached as root (the service runs as its own
    user), its backtrace with the app's frames; detaching leaves the service running."""
    from tests.e2e.test_debug import gdb_batch, launch_argv
    state, paths = twin
    fifo = "/var/lib/edge-infer/samples/live.fifo"   # readable under ProtectSystem=strict
    ssh(state, paths, key, "sh", "-c", f"sudo -n rm -f {fifo} && sudo -n mkfifo -m 644 {fifo} && "
        f"printf 'STREAM={fifo}\\n' | sudo -n tee /etc/edge-infer/dbg.conf >/dev/null && "
        "sudo -n systemctl start edge-infer@dbg")
    vscode = tmp_path / ".vscode"
    try:
        r = debug_vm(key, vscode, "--service", "dbg")
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        text = gdb_batch(launch_argv(vscode, f"edgeforge: {BOARD} (vm)"), ["bt", "detach"])
        assert "edge_infer::VideoSource::VideoSource" in frames(text), text[-3000:]
        assert frames(text)[-1] == "main", text[-3000:]
        assert ssh(state, paths, key, "systemctl", "is-active", "edge-infer@dbg",
                   check=False).stdout.strip() == "active"
    finally:
        run_invoke("debug", "--board", BOARD, "--stop")
        ssh(state, paths, key, "sh", "-c", "sudo -n systemctl stop edge-infer@dbg; "
            f"sudo -n rm -f {fifo} /etc/edge-infer/dbg.conf", check=False)


def test_debug_errors_on_the_twin_say_what_to_do(twin, key: Path, tmp_path: Path):
    state, paths = twin
    vscode = tmp_path / ".vscode"
    # --stop ends a session nobody connected to, gdbserver on the device included
    r = debug_vm(key, vscode, "--", "--version")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    # (gdbserver starts when gdb connects: connect without gdb, then stop)
    sock = json.loads((BUILD / BOARD / "debug/session.json").read_text())["socket"]
    import socket as sockets
    conn = sockets.socket(sockets.AF_UNIX)
    conn.connect(sock)
    try:
        ssh(state, paths, key, "sh", "-c", "for i in $(seq 60); do ps -eo args | grep -q "
            "'^gdbserver - ' && exit 0; sleep 1; done; exit 1")
        assert "debug server stopped" in run_invoke("debug", "--board", BOARD, "--stop").stdout
    finally:
        conn.close()
    ssh(state, paths, key, "sh", "-c", "for i in $(seq 30); do ps -eo args | grep -q "
        "'^gdbserver - ' || exit 0; sleep 1; done; exit 1")
    # a device whose installed build differs gets this build copied beside it, and runs that
    ssh(state, paths, key, "sh", "-c", "sudo -n cp -a /opt/edge-infer/bin/edge-infer /tmp/keep "
        "&& printf x | sudo -n tee -a /opt/edge-infer/bin/edge-infer >/dev/null")
    try:
        r = debug_vm(key, vscode, "--", "--version")
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        assert "copying this one to /home/edge/.cache/edgeforge-debug/edge-infer" in r.stdout
        copied = ssh(state, paths, key, "sha256sum",
                     "/home/edge/.cache/edgeforge-debug/edge-infer/bin/edge-infer").stdout
        assert copied.split()[0] == hashlib.sha256(
            (BUILD / BOARD / "edge-infer/bin/edge-infer").read_bytes()).hexdigest()
    finally:
        run_invoke("debug", "--board", BOARD, "--stop")
        ssh(state, paths, key, "sudo", "-n", "cp", "-a", "/tmp/keep", "/opt/edge-infer/bin/edge-infer")
    # a process of another program: its build-id has no debug files here
    ssh(state, paths, key, "sh", "-c", "{ nohup sleep 300 >/dev/null 2>&1 & echo $! >/tmp/s.pid; }")
    pid = ssh(state, paths, key, "cat", "/tmp/s.pid").stdout.strip()
    r = debug_vm(key, vscode, "--attach", pid)
    assert r.returncode == 11 and "Traceback" not in r.stderr
    assert "build-id mismatch" in r.stderr and "deploy" in r.stderr, r.stderr[-2000:]
    # no gdbserver on the device
    ssh(state, paths, key, "sudo", "-n", "mv", "/usr/bin/gdbserver", "/usr/bin/gdbserver.off")
    try:
        r = debug_vm(key, vscode)
    finally:
        ssh(state, paths, key, "sudo", "-n", "mv", "/usr/bin/gdbserver.off", "/usr/bin/gdbserver")
    assert r.returncode == 11 and "gdbserver is not installed" in r.stderr, r.stderr[-2000:]
    assert "apt-get install gdbserver" in r.stderr
    # no route to a device
    r = run_invoke("debug", "--board", BOARD, "--target", "ssh://edge@127.0.0.1:1",
                   "--identity", str(key), "--vscode", str(vscode), timeout=120)
    assert r.returncode == 11 and "cannot reach edge@127.0.0.1:1" in r.stderr, r.stderr[-2000:]
    assert "Traceback" not in r.stderr


def test_every_first_boot_makes_its_own_host_keys_and_stop_ends_the_twin(twin, key: Path):
    state, paths = twin
    first = host_key(state["port"])
    pid = state["pid"]
    r = run_invoke("vm", "--board", BOARD, "--stop")
    assert r.returncode == 0 and "twin stopped" in r.stdout
    assert not alive(pid)
    assert (paths.console).stat().st_size > 0          # the console log is kept
    state2, paths2 = boot()
    try:
        second = host_key(state2["port"])
        assert first and second and first != second
    finally:
        run_invoke("vm", "--board", BOARD, "--stop")


def test_image_writes_never_follow_a_link_out_of_the_real_base(imaged: Path, key: Path,
                                                               tmp_path: Path, request):
    """A copy of the real cached base with links planted where Debian has them (or could):
    /etc/localtime, /etc/ssl/certs, /var/run, /tmp, /etc/resolv.conf, the login's home. The
    .deb is installed and the image configured with `files:` at those paths, as `invoke image`
    does; the victim files outside keep their digests and every write lands in the tree."""
    ctx = Context.create(project_root=PROJECT, build_root=BUILD, dist_root=DIST)
    runner = Runner(Reporter(quiet=True), tmp_path / "logs")
    dev = devicedefs.load(PROJECT / "images" / "edge-infer")
    base = devimage.ensure_base(ctx, ctx.catalog.resolve(BOARD, cli={}), dev, runner,
                                ctx.app().device_image)  # cached
    tree = tmp_path / "tree"
    subprocess.run(["cp", "-a", "--reflink=auto", str(base), str(tree)], check=True)
    (tree / devimage.COMPLETE).unlink()
    # victims outside /tmp: a planted /tmp link to a path under /tmp would be a loop in the tree
    victims = Path(tempfile.mkdtemp(prefix="victims-", dir=BUILD))
    request.addfinalizer(lambda: shutil.rmtree(victims, ignore_errors=True))
    (victims / "dir").mkdir(parents=True)
    files = {n: victims / n for n in ("localtime", "resolv.conf", "pem")}
    for n, f in files.items():
        f.write_text(f"victim {n}\n")
    keep = victims / "dir" / "keep"
    keep.write_text("keep\n")
    before = {f: hashlib.sha256(f.read_bytes()).hexdigest() for f in [*files.values(), keep]}
    listing = sorted(os.listdir(victims / "dir"))
    for rel, target in (("etc/localtime", files["localtime"]), ("etc/resolv.conf", files["resolv.conf"]),
                        ("etc/ssl/certs", victims / "dir"), ("var/run", victims / "dir"),
                        ("tmp", victims / "dir")):
        p = tree / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink(missing_ok=True)
        os.symlink(str(target), p)
    images = tmp_path / "images" / "edge-infer"
    images.mkdir(parents=True)
    (images / "tz").write_text("zone of the device\n")
    (images / "site.pem").write_text("a public certificate\n")
    dev = dev.model_copy(update={"files": (
        devicedefs.FileSpec(path="/etc/localtime", source="tz"),
        devicedefs.FileSpec(path="/etc/ssl/certs/site.pem", source="site.pem"),
        devicedefs.FileSpec(path="/var/run/edge/flag", source="tz"),
    )})
    deb = sorted((app_records(BOARD) / "release" / "deb").glob("*.deb"))[0]
    # the image's other app too, as `invoke image` installs it (its .deb made by `imaged`)
    others = [ctx.app(name) for name in dev.apps]
    debs = [sorted(ctx.layout(BOARD, a.name).release_step("deb").glob("*.deb"))[0] for a in others]
    devimage.install_app(tree, [deb, *debs], runner, int(EPOCH))
    devimage.configure(ctx, tree, dev, ctx.app(), images,
                       key.with_suffix(".pub").read_text().strip(), runner, int(EPOCH),
                       others=others)
    for f, d in before.items():
        assert hashlib.sha256(f.read_bytes()).hexdigest() == d, f"{f} was written through a link"
    assert sorted(os.listdir(victims / "dir")) == listing
    assert (tree / "etc/localtime").read_text() == "zone of the device\n"
    inside = tree / str(victims / "dir").lstrip("/")
    assert (inside / "site.pem").read_text() == "a public certificate\n"
    assert (inside / "edge/flag").read_text() == "zone of the device\n"
    status = (tree / "var/lib/dpkg/status").read_text()
    assert re.search(r"Package: edge-infer\nStatus: install ok installed", status)
