"""`invoke suite`: edgeforge's own test suite, the fast tiers first (what CI runs)."""

from __future__ import annotations

import os
import sys

from edgeforge.context import Context
from edgeforge.core import UsageError, run_foreground

TIERS = ("unit", "integration", "e2e")


def suite_argv(ctx: Context, tier: str = "all", k: str | None = None) -> list[str]:
    """pytest on the tier's folder (`all`: every tier, unit first: a unit failure shows in
    seconds, not after the end-to-end builds), with -k when given."""
    if tier not in ("all", *TIERS):
        raise UsageError(f"--tier {tier!r}: expected unit, integration, e2e or all")
    tiers = TIERS if tier == "all" else (tier,)
    argv = [sys.executable, "-m", "pytest", *(str(ctx.project_root / "tests" / t) for t in tiers)]
    return [*argv, "-k", k] if k else argv


def run_suite(ctx: Context, tier: str = "all", k: str | None = None) -> int:
    """Run the suite attached to the terminal; returns pytest's exit code."""
    argv = suite_argv(ctx, tier, k)
    return run_foreground(ctx.runner(), argv, needed_by="invoke suite", env=dict(os.environ),
                          cwd=ctx.project_root)
