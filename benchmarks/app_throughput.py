"""edge-infer on the sample video: aarch64 under qemu-user vs the native x86_64 build.

Same input (the first FRAMES frames of vtest.avi), same settings, both measured in this run.
Prints, for each: end-to-end FPS, per-stage means, the stage-alone throughputs and peak RSS.
Targets: end-to-end throughput >= 0.9x the slowest stage alone (decode and inference run in
their own threads); peak RSS <= 400 MB; emulated wall time <= 5x native.

Needs `invoke build --board jetson-nx` and `invoke native` (the script runs both; no-ops when
up to date).
"""

from __future__ import annotations

import json
import subprocess
import time

from _common import PROJECT, invoke, machine, timed

FRAMES = 96
BOARD = "jetson-nx"


def sysroot() -> str:
    import sys

    sys.path.insert(0, str(PROJECT / "src"))
    from edgeforge.context import Context
    from edgeforge.toolchain import sysroot_dir

    ctx = Context.create(project_root=PROJECT)
    return str(sysroot_dir(ctx, ctx.catalog.resolve(BOARD, env={}).sysroot))


def run(prefix: list[str], app, args: list[str]) -> tuple[float, dict]:
    t0 = time.monotonic()
    r = subprocess.run([*prefix, str(app / "bin" / "edge-infer"), *args, "--summary"],
                       capture_output=True, text=True, stdin=subprocess.DEVNULL)
    wall = time.monotonic() - t0
    if r.returncode != 0:
        raise SystemExit(f"edge-infer failed: {r.stderr}")
    line = next(ln for ln in r.stderr.splitlines() if ln.startswith('{"summary"'))
    return wall, json.loads(line)["summary"]


def main() -> None:
    timed(invoke("build", "--board", BOARD))
    timed(invoke("native"))
    video = subprocess.run(invoke("sample", "--name", "vtest.avi"), capture_output=True,
                           text=True, check=True).stdout.strip().splitlines()[-1]
    arm_app = PROJECT / "build" / BOARD / "edge-infer"
    x86_app = PROJECT / "build" / "host" / "edge-infer"
    qemu = ["qemu-aarch64", "-L", sysroot(), "-E", f"LD_LIBRARY_PATH={arm_app / 'lib'}"]
    print(f"machine: {machine()}; input: vtest.avi (768x576 DivX), first {FRAMES} frames, "
          "dnn backend (pedestrian-grid.onnx, 256x192)")
    walls = {}
    stages = {}
    for name, prefix, app in (("native x86_64", [], x86_app), (f"{BOARD} under qemu", qemu, arm_app)):
        model = str(app / "share" / "edge-infer" / "pedestrian-grid.onnx")
        wall, s = run(prefix, app, ["--model", model, "--max-frames", str(FRAMES), video])
        _, d = run(prefix, app, ["--backend", "none", "--max-frames", str(FRAMES), video])
        st = s["stages"]
        detect_ms = st["preprocess"]["mean_ms"] + st["inference"]["mean_ms"] + st["postprocess"]["mean_ms"]
        decode_alone = d["fps"]
        detect_alone = 1000.0 / detect_ms
        slowest = min(decode_alone, detect_alone)
        walls[name] = wall
        stages[name] = {**{k: v["mean_ms"] for k, v in st.items()}, "decode alone": 1000.0 / decode_alone}
        print(f"{name}: {s['fps']:.2f} FPS end to end ({wall:.1f} s wall); decode alone "
              f"{decode_alone:.2f} FPS, detection stage alone {detect_alone:.2f} FPS "
              f"(preprocess {st['preprocess']['mean_ms']:.1f} ms, inference "
              f"{st['inference']['mean_ms']:.1f} ms, postprocess {st['postprocess']['mean_ms']:.2f} ms); "
              f"end-to-end / slowest stage = {s['fps'] / slowest:.2f} (target >= 0.9); "
              f"peak RSS {s['peak_rss_mb']:.0f} MB (target <= 400)")
    names = list(walls)
    ratio = walls[names[1]] / walls[names[0]]
    native, emulated = (stages[n] for n in names)
    print("emulated / native per stage: " + ", ".join(
        f"{k} {emulated[k] / native[k]:.0f}x" for k in ("decode alone", "preprocess", "inference")
        if native.get(k)) + " (benchmarks/emulation_floor.py: what qemu-user costs per instruction class)")
    print(f"emulated / native wall time: {ratio:.2f} (target <= 5): {'met' if ratio <= 5 else 'NOT met'}")


if __name__ == "__main__":
    main()
