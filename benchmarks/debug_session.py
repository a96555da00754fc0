"""Debugging jetson-nx's app. Targets: from `invoke debug --emulate` to the first breakpoint hit
at most 10 s; from `invoke debug --vm` (twin already running) to the first breakpoint at most
10 s. Also: what split debug information costs on the device (installed size of the app's
package and of its -dbg package).

Into a temporary build and dist folder (the checkout's are not touched), caches warm:
  1. the build and a release (for the .deb and the -dbg .deb);
  2. `invoke debug --emulate --detach` then gdb-multiarch (the launch.json command line) to
     `Breakpoint 1, avformat_open_input`, three times;
  3. the twin booted once (`invoke image`, `invoke vm --detach`), then the same with --vm.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import tempfile
import time
from pathlib import Path

from _common import APP, device_sandbox, invoke, machine, timed

BOARD = "jetson-nx"
TARGET_S = 10.0
EPOCH = "1700000000"
SCRIPT = ["set breakpoint pending on", "break avformat_open_input", "continue", "kill"]


def to_first_break(start: list[str], env: dict, tmp: Path, vscode: Path, name: str) -> float:
    """Seconds from the debug command to gdb stopping at the first breakpoint."""
    t0 = time.monotonic()
    timed(start, env=env, log=tmp / "debug.log")
    launch = json.loads((vscode / "launch.json").read_text())
    conf = next(c for c in launch["configurations"] if c["name"] == name)
    argv = [conf["miDebuggerPath"], "-batch", *shlex.split(conf["miDebuggerArgs"]),
            "-ex", f"target remote {conf['miDebuggerServerAddress']}"]
    for line in SCRIPT:
        argv += ["-ex", line]
    proc = subprocess.Popen([*argv, conf["program"]], stdout=subprocess.PIPE, text=True,
                            stderr=subprocess.STDOUT)
    hit = None
    for line in proc.stdout:
        if "Breakpoint 1, " in line and hit is None:
            hit = time.monotonic() - t0
    proc.wait()
    timed(invoke("debug", "--board", BOARD, "--stop"), env=env, log=tmp / "stop.log")
    if hit is None:
        raise SystemExit(f"no breakpoint hit; see {tmp / 'debug.log'}")
    return hit


def installed_kib(deb: Path) -> int:
    out = subprocess.run(["dpkg-deb", "-f", str(deb), "Installed-Size"], capture_output=True,
                         text=True, check=True).stdout
    return int(out.strip())


def main() -> None:
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="edgeforge-debug-bench-") as tmp:
        tmp = Path(tmp)
        env = device_sandbox(tmp, EPOCH)
        build, dist, vscode = tmp / "build", tmp / "dist", tmp / ".vscode"
        timed(invoke("image", "--board", BOARD, "--version", "1.0.0"), env=env,
              log=tmp / "image.log")
        release = dist / BOARD / APP / "1.0.0"
        app_kib = installed_kib(release / "edge-infer_1.0.0_arm64.deb")
        dbg_kib = installed_kib(release / "edge-infer-dbg_1.0.0_arm64.deb")
        app = build / BOARD / "edge-infer"
        video = next(p for p in (Path.home() / ".cache/edgeforge/samples").rglob("vtest.avi"))
        args = ["--", "--model", str(app / "share/edge-infer/pedestrian-grid.onnx"),
                "--max-frames", "1", "--output", str(tmp / "o.jsonl"), str(video)]
        emulate = [to_first_break(invoke("debug", "--board", BOARD, "--emulate", "--detach",
                                         "--vscode", str(vscode), *args), env, tmp, vscode,
                                  f"edgeforge: {BOARD} (emulate)") for _ in range(3)]
        timed(invoke("vm", "--board", BOARD, "--detach"), env=env, log=tmp / "vm.log")
        try:
            remote = [to_first_break(invoke(
                "debug", "--board", BOARD, "--vm", "--detach", "--identity", str(tmp / "id"),
                "--vscode", str(vscode), "--", "--max-frames", "1", "--output", "/tmp/o.jsonl",
                "/var/lib/edge-infer/samples/vtest.avi"), env, tmp, vscode,
                f"edgeforge: {BOARD} (vm)") for _ in range(3)]
        finally:
            timed(invoke("vm", "--board", BOARD, "--stop"), env=env, log=tmp / "vmstop.log")
    for label, runs in (("--emulate (qemu-user)", emulate), ("--vm (twin running)", remote)):
        best = min(runs)
        print(f"{label}: to the first breakpoint {', '.join(f'{r:.1f}' for r in runs)} s")
        print(f"   / {TARGET_S:.0f} s target: {best / TARGET_S:.2f} "
              f"({'met' if best <= TARGET_S else 'missed'})")
    print(f"installed size: edge-infer {app_kib / 1024:.1f} MiB (stripped), edge-infer-dbg "
          f"{dbg_kib / 1024:.1f} MiB (debug information, zlib-compressed); unstripped on the "
          f"device would be {(app_kib + dbg_kib) / 1024:.1f} MiB or more")


if __name__ == "__main__":
    main()
