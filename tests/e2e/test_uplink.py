"""The project's second app, edge-uplink: a Meson project in C that takes libmosquitto from the
board's Debian sysroot (no Conan graph), cross-built for boards of every compiler, sysroot and
architecture pairing, gated, tested under qemu-user, and run under qemu against a real MQTT
broker (Debian's mosquitto on 127.0.0.1, started and stopped by the test) that goes away and
comes back: nothing is lost.

The suite's other tests work on edge-infer (EDGEFORGE_APP); these name edge-uplink.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from edgeforge.config import version_tuple
from edgeforge.context import BoardLayout, Context
from tests.conftest import BUILD, DIST, PROJECT, require_tools, run_invoke
from tests.e2e.chroots import Chroot, stand_in_rootfs
from tests.e2e.conftest import sysroot_of
from tests.e2e.mqtt_broker import MqttBroker

pytestmark = pytest.mark.e2e
APP = "edge-uplink"
#: a pairing each: clang 14 + bullseye, the same with a lower ABI ceiling, gcc 12 + bookworm,
#: gcc 12 + bookworm armhf
BOARDS = ["jetson-nx", "jetson-nano", "rpi4", "rpi3-armhf"]
TOPIC = "edge/detections"
EPOCH = "1700000000"


def records(board: str) -> BoardLayout:
    return BoardLayout(BUILD / board).for_app(APP)


@pytest.fixture(scope="module")
def built() -> dict[str, dict]:
    """`invoke build --board B --app edge-uplink` for each board; their manifests."""
    require_tools("mmdebstrap", "qemu-aarch64", "qemu-arm", "clang-14", "meson")
    out = {}
    for board in BOARDS:
        r = run_invoke("build", "--board", board, "--app", APP)
        assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
        out[board] = json.loads(records(board).manifest.read_text())
    return out


@pytest.mark.parametrize("board", BOARDS)
def test_it_builds_with_meson_against_the_sysroot_s_libmosquitto_within_the_ceiling(
        built: dict[str, dict], board: str):
    manifest = built[board]
    t = Context.create(project_root=PROJECT, build_root=BUILD).catalog.resolve(board, env={})
    [program] = [a for a in manifest["artifacts"] if a["role"] == "app"]
    assert program["path"] == f"{APP}/bin/{APP}"
    assert program["elf_machine"] == ("EM_AARCH64" if t.arch.value == "arm64" else "EM_ARM")
    assert "libmosquitto.so.1" in program["needed"]
    assert version_tuple(program["max_versions"]["GLIBC"]) <= version_tuple(t.abi.glibc)
    assert manifest["dependencies"] is None  # no Conan graph: its library is the sysroot's
    installed = BUILD / board / APP / "bin" / APP
    data = installed.read_bytes()
    # stripped, no build folder or checkout in it; its debug information split beside
    assert b".debug_info" not in data
    for path in (str(BUILD), str(PROJECT)):
        assert path.encode() not in data, path
    assert any(records(board).symbols.rglob("*.debug"))


def test_the_version_names_the_board_and_revision(built: dict[str, dict]):
    r = run_invoke("run", "--board", "rpi3-armhf", "--app", APP, "--", "--version")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith(f"{APP} 1.0.0 (rpi3-armhf, "), r.stdout


@pytest.mark.parametrize("board", ["jetson-nx", "rpi3-armhf"])
def test_its_meson_tests_pass_under_qemu(built: dict[str, dict], board: str):
    r = run_invoke("test", "--board", board, "--app", APP)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    assert "meson test for edge-uplink" in r.stdout
    [summary] = [ln for ln in r.stdout.splitlines() if "meson test: " in ln]
    # every test ran (none skipped: the offline run of the program itself too) and passed
    assert re.fullmatch(r"\s*meson test: Ok: ([6-9]|\d\d+), Fail: 0, Skipped: 0", summary), \
        summary


def wait_for(what: str, predicate, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def lines_of(path: Path) -> list[str]:
    return [ln for ln in path.read_text().splitlines() if ln.strip()] if path.exists() else []


def test_nothing_is_lost_while_the_broker_is_away(built: dict[str, dict], tmp_path: Path):
    """The aarch64 program under qemu-user follows a growing JSON Lines file; three lines
    reach a subscriber, the broker stops, three more lines are written, the broker comes back
    on the same port: the subscriber has all six, in order."""
    require_tools("mosquitto", "mosquitto_sub", "qemu-aarch64")
    board = "jetson-nx"
    program = BUILD / board / APP / "bin" / APP
    broker = MqttBroker(tmp_path / "broker").start()
    received, feed, spool = tmp_path / "received.jsonl", tmp_path / "detections.jsonl", \
        tmp_path / "spool"
    frames = [json.dumps({"frame": i, "detections": [{"label": "person", "score": 0.9}]},
                         separators=(",", ":")) for i in range(6)]
    agent = None
    sub = broker.subscribe(TOPIC, len(frames), "checker", received)
    try:
        # the subscriber's session exists before anything is published
        wait_for("the subscriber", lambda: "checker" in (broker.folder / "broker.log")
                 .read_text(errors="replace"))
        feed.write_text("\n".join(frames[:3]) + "\n")
        with open(tmp_path / "agent.log", "wb") as log:
            agent = subprocess.Popen(
                ["qemu-aarch64", "-L", str(sysroot_of(board)), str(program),
                 "--host", "127.0.0.1", "--port", str(broker.port), "--topic", TOPIC,
                 "--client-id", "box-1", "--spool", str(spool), "--follow", str(feed)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        wait_for("the first three messages", lambda: len(lines_of(received)) >= 3)
        time.sleep(1)  # their acknowledgements reach the agent (none is in flight any more)
        broker.stop()
        with open(feed, "a") as fh:
            fh.write("\n".join(frames[3:]) + "\n")
        # the agent reads them into its spool while nobody listens
        wait_for("the new lines in the spool",
                 lambda: frames[5].encode() in (spool / "spool.dat").read_bytes(), timeout=60)
        assert agent.poll() is None, (tmp_path / "agent.log").read_text()
        broker.start()
        sub.wait(timeout=180)
        assert lines_of(received) == frames, (tmp_path / "agent.log").read_text()
        log = (tmp_path / "agent.log").read_text()
        # it saw the broker go and come back (two connections), and said so
        assert "disconnected" in log and len(re.findall(r"\bconnected\b", log)) >= 2, log
        os.kill(agent.pid, signal.SIGTERM)
        assert agent.wait(timeout=30) == 0  # a clean stop flushes the spool
    finally:
        if agent is not None and agent.poll() is None:
            os.killpg(agent.pid, signal.SIGKILL)
            agent.wait()
        if sub.poll() is None:
            sub.kill()
        broker.stop()


# ---- its own release ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def released(built: dict[str, dict]) -> Path:
    r = run_invoke("release", "--board", "jetson-nx", "--app", APP, "--version", "1.0.0",
                   env={"SOURCE_DATE_EPOCH": EPOCH}, timeout=3600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    return DIST / "jetson-nx" / APP / "1.0.0"


def deb_field(deb: Path, name: str) -> str:
    return subprocess.run(["dpkg-deb", "-f", str(deb), name], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_its_release_holds_its_own_packages_sbom_and_licences(released: Path):
    record = json.loads((released / "release.json").read_text())
    assert record["app"] == APP and record["board"] == "jetson-nx"
    names = set(record["files"])
    deb = released / f"{APP}_1.0.0_arm64.deb"
    assert {deb.name, f"{APP}-dbg_1.0.0_arm64.deb", "sbom.cdx.json"} <= names, sorted(names)
    assert not any(n.endswith((".oci", ".docker.tar")) for n in names)  # no container image
    # its library comes from the device's system: a dependency of the package (its minimum
    # from the symbols the program uses, by dpkg-shlibdeps), not inside it
    assert re.search(r"(^|, )libmosquitto1 \(>= [0-9.]+\)", deb_field(deb, "Depends")), \
        deb_field(deb, "Depends")
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True,
                             check=True).stdout
    assert f"./opt/{APP}/bin/{APP}" in listing and "libmosquitto" not in listing
    assert "edge-infer" not in " ".join(ln.split()[-1] for ln in listing.splitlines())
    sbom = json.loads((released / "sbom.cdx.json").read_text())
    top = sbom["metadata"]["component"]
    assert top["name"] == APP and top["version"] == "1.0.0"
    names = {c["name"] for c in sbom.get("components", [])}
    assert "opencv" not in names and "ffmpeg" not in names  # no Conan graph in it
    assert any("mosquitto" in n for n in names), sorted(names)


def test_its_deb_installs_into_an_arm64_root_and_pulls_libmosquitto(released: Path,
                                                                    tmp_path: Path):
    deb = released / f"{APP}_1.0.0_arm64.deb"
    root = Chroot(stand_in_rootfs("jetson-nx"), tmp_path / "rootfs")
    try:
        inside = root.put(deb, f"/tmp/{deb.name}")
        root.run("apt-get", "install", "-y", "--no-install-recommends", inside, timeout=1800)
        status = root.run("dpkg-query", "-W", "-f=${Status}", "libmosquitto1").stdout
        assert status == "install ok installed"
        assert root.run("getent", "passwd", APP).stdout.startswith(f"{APP}:")
        r = root.run(f"/usr/bin/{APP}", "--version", user=APP)
        assert r.stdout.startswith(f"{APP} 1.0.0 (jetson-nx, "), r.stdout
        assert (root.root / f"lib/systemd/system/{APP}@.service").is_file()
        assert (root.root / f"etc/{APP}/default.conf").is_file()
        root.run("apt-get", "purge", "-y", APP)
        assert not (root.root / f"opt/{APP}").exists()
        assert root.run("getent", "passwd", APP, check=False).returncode == 2
    finally:
        root.close()
