"""`invoke build --board jetson-nx` when nothing changed. Target: at most 0.5 s wall."""

from __future__ import annotations

import statistics

from _common import invoke, machine, timed


def main() -> None:
    board = "jetson-nx"
    first = timed(invoke("build", "--board", board))  # makes sure everything is built
    runs = [timed(invoke("build", "--board", board)) for _ in range(5)]
    med = statistics.median(runs)
    print(f"machine: {machine()}")
    print(f"first invoke build --board {board}: {first:.2f} s (builds whatever was missing)")
    print(f"no-op invoke build --board {board}: median {med:.2f} s over {len(runs)} runs "
          f"(min {min(runs):.2f}, max {max(runs):.2f})")
    print(f"no-op/0.5 s ratio: {med / 0.5:.2f} (target <= 1): {'met' if med <= 0.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
