"""What qemu-user costs per instruction class: the same C kernels built by jetson-nx's
generated toolchain (run under qemu-user through `invoke run`) and natively for x86_64 with
the same compiler (clang 14) and the same -O3, side by side in one run.

Kernels (benchmarks/emulation_floor/floor.c): a dependent scalar integer chain, byte SIMD
(sum of absolute differences) and float SIMD (multiply-add over arrays), each timed inside
the program. The ratios bound what any program dominated by that class can reach under
emulation; they explain the app's emulated/native ratio in app_throughput.py.
"""

from __future__ import annotations

import shutil
import subprocess

from _common import PROJECT, invoke, machine, timed

BOARD = "jetson-nx"
SOURCE = PROJECT / "benchmarks" / "emulation_floor"


def build(name: str, extra: list[str]) -> str:
    out = PROJECT / "build" / "benchmarks" / "emulation-floor" / name
    shutil.rmtree(out, ignore_errors=True)
    log = PROJECT / "build" / "benchmarks" / f"emulation-floor-{name}.log"
    timed(["cmake", "-S", str(SOURCE), "-B", str(out / "build"), "-G", "Ninja",
           "-DCMAKE_BUILD_TYPE=Release", *extra], log=log)
    timed(["cmake", "--build", str(out / "build")], log=log)
    return str(out / "build" / "emulation-floor")


def kernels(argv: list[str]) -> dict[str, float]:
    r = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({r.returncode}): {r.stderr.strip()}")
    return {name: float(ns) for name, ns, _ in (ln.split() for ln in r.stdout.splitlines()
                                                if ln.count(" ") == 2)}


def qemu_version() -> str:
    out = subprocess.run(["qemu-aarch64", "--version"], capture_output=True, text=True).stdout
    return out.splitlines()[0] if out else "unknown"


def main() -> None:
    (PROJECT / "build" / "benchmarks").mkdir(parents=True, exist_ok=True)
    timed(invoke("toolchain", "--board", BOARD))
    toolchain = PROJECT / "build" / BOARD / "toolchain" / "toolchain.cmake"
    cross = build(BOARD, [f"-DCMAKE_TOOLCHAIN_FILE={toolchain}"])
    native = build("host", ["-DCMAKE_C_COMPILER=clang-14"])
    host = kernels([native])
    emulated = kernels(invoke("run", "--board", BOARD, "--", cross))
    print(f"machine: {machine()}; qemu: {qemu_version()}")
    print(f"{'kernel':<12} {'native ns/elem':>15} {'qemu ns/elem':>13} {'ratio':>8}")
    for name, ns in host.items():
        print(f"{name:<12} {ns:>15.4f} {emulated[name]:>13.4f} {emulated[name] / ns:>7.1f}x")


if __name__ == "__main__":
    main()
