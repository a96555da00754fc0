"""Progress reporting as a domain object: nested, timed steps; warnings to stderr.

    with reporter.step("cross-building smoke for jetson-nx"):
        ...

prints the step when it starts and its elapsed time when it ends (or fails). Long-running
commands call `heartbeat()` so non-interactive logs (CI) still show which step is running
and for how long.

Everything printed is redacted first (redact.py): a password or token that a message, a step
name or an echoed command line repeats from the user's input is shown as `***`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

from .redact import redact


def fmt_seconds(sec: float) -> str:
    if sec < 60:
        return f"{sec:.1f}s"
    m, s = divmod(int(sec), 60)
    return f"{m}m{s:02d}s"


class Reporter:
    def __init__(self, quiet: bool = False, stream=None, err_stream=None):
        self.quiet = quiet
        self.out = Console(file=stream or sys.stdout, highlight=False, soft_wrap=True)
        self.err = Console(file=err_stream or sys.stderr, highlight=False, soft_wrap=True)
        self._stack: list[tuple[str, float]] = []
        #: the innermost step that was running when an exception left it (for bug reports)
        self.failed_step: str | None = None

    @property
    def _indent(self) -> str:
        return "  " * len(self._stack)

    def info(self, text: str) -> None:
        if not self.quiet:
            for line in redact(text).splitlines() or [""]:
                self.out.print(f"{self._indent}{line}", markup=False)

    def warn(self, text: str) -> None:
        self.err.print(f"{self._indent}warning: {redact(text)}", style="yellow", markup=False)

    def warn_plain(self, text: str) -> None:
        """A line for stderr that is not a warning (e.g. a command line echoed there)."""
        self.err.print(f"{self._indent}{redact(text)}", markup=False, highlight=False)

    def current(self) -> str:
        return self._stack[-1][0] if self._stack else ""

    def elapsed(self) -> float:
        return time.monotonic() - self._stack[-1][1] if self._stack else 0.0

    def heartbeat(self, detail: str = "") -> None:
        if self._stack and not self.quiet:
            what, t0 = self._stack[-1]
            extra = f": {redact(detail)}" if detail else ""
            self.out.print(
                f"{self._indent}.. still {what} ({fmt_seconds(time.monotonic() - t0)}){extra}",
                markup=False,
                style="dim",
            )

    @contextmanager
    def step(self, what: str) -> Iterator[None]:
        what = redact(what)  # kept redacted: current() and failed_step go into bug reports
        if not self.quiet:
            self.out.print(f"{self._indent}> {what}", markup=False, style="bold")
        self._stack.append((what, time.monotonic()))
        try:
            yield
        except BaseException as exc:
            if self.failed_step is None:
                self.failed_step = what
            _, t0 = self._stack.pop()
            ended = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            self.err.print(
                f"{self._indent}x {what} {ended} after {fmt_seconds(time.monotonic() - t0)}",
                style="red",
                markup=False,
            )
            raise
        _, t0 = self._stack.pop()
        if not self.quiet:
            self.out.print(
                f"{self._indent}= {what} ({fmt_seconds(time.monotonic() - t0)})",
                markup=False,
                style="green",
            )
