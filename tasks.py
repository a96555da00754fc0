"""invoke entry point: assembles the task collection; the work lives in src/edgeforge/."""

import sys
from pathlib import Path

from invoke import Collection

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from edgeforge.cli import tasks as commands  # noqa: E402

ns = Collection.from_module(commands)
ns.configure({"run": {"echo": True}})
