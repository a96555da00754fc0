"""The twin's qemu on a disk that never boots: `invoke vm` gives up after its timeout with the
console log's path, and leaves no qemu running (stopped by its own PID)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from edgeforge.core import EdgeforgeError, Reporter, Runner
from edgeforge.device import twin as vm
from tests.conftest import require_tools

pytestmark = pytest.mark.integration


def test_a_twin_that_never_answers_is_stopped_and_named(tmp_path: Path):
    require_tools("qemu-system-aarch64", "qemu-img")
    twin_dir = tmp_path / "twin"
    twin_dir.mkdir()
    (twin_dir / "t.vmlinuz").write_bytes(b"\0" * 4096)  # not a kernel: the CPU spins
    (twin_dir / "t.initrd.img").write_bytes(b"\0" * 4096)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(twin_dir / "t.qcow2"), "64M"],
                   check=True)
    (twin_dir / "t.json").write_text(json.dumps({
        "disk": "t.qcow2", "kernel": "t.vmlinuz", "initrd": "t.initrd.img",
        "cmdline": "console=ttyAMA0", "cpu": "cortex-a57", "memory_mb": 256, "cpus": 1,
        "login": "edge"}))
    paths = vm.VmPaths(tmp_path / "vm")
    runner = Runner(Reporter(quiet=True), tmp_path / "logs")
    with pytest.raises(EdgeforgeError, match="did not answer on SSH within 6 s") as exc:
        vm.start(twin_dir, paths, runner, port=vm.free_port(2400), boot_timeout=6)
    assert str(paths.console) in str(exc.value)
    pid = json.loads(paths.state.read_text())["pid"]
    assert vm.running_pid(paths) is None
    stat = Path(f"/proc/{pid}/stat")
    assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    assert (twin_dir / "t.qcow2").stat().st_size < 1 << 20   # the image itself untouched
