"""invoke entry point: the task collection is assembled in src/edgeforge/cli/."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from edgeforge.cli import ns  # noqa: E402,F401
