"""`invoke image` and the virtual twin for jetson-nx. Targets: image build from a warm cache
(root file system base cached, only the app changed) at most 2 min; boot to SSH at most 45 s.

Into a temporary build and dist folder (the checkout's are not touched), caches warm:
  1. `invoke image` with the board built: the release steps, then rootfs (copy the cached
     base, apt-install the .deb, configure), twin (ext4, GPT, qcow2) and l4t-rootfs;
  2. the same with a new version (what a changed app costs: every step after the app);
  3. `invoke vm --detach`: boot to SSH answering on 127.0.0.1, three boots of new overlays.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

from _common import device_sandbox, invoke, machine, timed

BOARD = "jetson-nx"
IMAGE_TARGET_S = 120.0
BOOT_TARGET_S = 45.0
EPOCH = "1700000000"


def main() -> None:
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="edgeforge-image-bench-") as tmp:
        tmp = Path(tmp)
        env = device_sandbox(tmp, EPOCH)
        build = tmp / "build"
        timed(invoke("release", "--board", BOARD, "--version", "1.0.0"), env=env,
              log=tmp / "release.log")
        first = timed(invoke("image", "--board", BOARD, "--version", "1.0.0"), env=env,
                      log=tmp / "image.log")
        steps = re.findall(r"^= ([\w-]+): .*\(([0-9.]+)s\)$", (tmp / "image.log").read_text(),
                           re.M)
        changed = timed(invoke("image", "--board", BOARD, "--version", "1.0.1"), env=env,
                        log=tmp / "image2.log")
        boots = []
        for i in range(3):
            timed(invoke("vm", "--board", BOARD, "--detach"), env=env, log=tmp / f"vm{i}.log")
            state = json.loads((build / BOARD / "vm" / "vm.json").read_text())
            boots.append(state["boot_seconds"])
            timed(invoke("vm", "--board", BOARD, "--stop"), env=env, log=tmp / f"stop{i}.log")
    print(f"1. device image steps on a released board: {first:.1f} s")
    for name, secs in steps:
        print(f"     {name:10s} {float(secs):6.1f} s")
    print(f"2. a new version (every step after the app): {changed:.1f} s")
    print(f"   / {IMAGE_TARGET_S:.0f} s target: {changed / IMAGE_TARGET_S:.2f} "
          f"({'met' if changed <= IMAGE_TARGET_S else 'missed'})")
    best = min(boots)
    print(f"3. boot to SSH (cortex-a76, 2 CPUs, TCG): {', '.join(f'{b:.1f}' for b in boots)} s")
    print(f"   / {BOOT_TARGET_S:.0f} s target: {best / BOOT_TARGET_S:.2f} "
          f"({'met' if best <= BOOT_TARGET_S else 'missed'})")


if __name__ == "__main__":
    main()
