"""Build state: where things go. Configuration (descriptors) stays in frozen objects.

Heavy state (sysroots, source mirror, Conan home, ccache, probe results) lives in one cache
directory outside the checkout, EDGEFORGE_CACHE (default: $XDG_CACHE_HOME/edgeforge or
~/.cache/edgeforge), so a fresh clone reuses it. Produced artifacts go to build/<board>/.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .descriptors import Catalog
from .report import Reporter
from .runner import Runner


def default_cache_dir() -> Path:
    if os.environ.get("EDGEFORGE_CACHE"):
        return Path(os.environ["EDGEFORGE_CACHE"]).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return (Path(xdg) / "edgeforge").resolve()


def find_project_root(start: Path | None = None) -> Path:
    here = (start or Path.cwd()).resolve()
    for cand in (here, *here.parents):
        if (cand / "toolchains" / "defaults.yaml").is_file() and (cand / "pyproject.toml").is_file():
            return cand
    # the package's own checkout (editable installs)
    pkg = Path(__file__).resolve().parents[2]
    return pkg


@dataclass
class Context:
    project_root: Path
    cache_dir: Path
    build_root: Path
    reporter: Reporter
    catalog: Catalog

    @classmethod
    def create(
        cls,
        project_root: Path | None = None,
        cache_dir: Path | None = None,
        build_root: Path | None = None,
        reporter: Reporter | None = None,
    ) -> Context:
        root = Path(project_root).resolve() if project_root else find_project_root()
        build = build_root or Path(os.environ.get("EDGEFORGE_BUILD_DIR", root / "build"))
        return cls(
            project_root=root,
            cache_dir=Path(cache_dir).resolve() if cache_dir else default_cache_dir(),
            build_root=Path(build).resolve(),
            reporter=reporter or Reporter(),
            catalog=Catalog(root / "toolchains", root),
        )

    # ---- cache layout -----------------------------------------------------------------------
    @property
    def sysroots_dir(self) -> Path:
        return self.cache_dir / "sysroots"

    @property
    def downloads_dir(self) -> Path:
        return self.cache_dir / "downloads"

    @property
    def probes_dir(self) -> Path:
        return self.cache_dir / "probes"

    @property
    def conan_home(self) -> Path:
        return self.cache_dir / "conan2"

    @property
    def ccache_dir(self) -> Path:
        return self.cache_dir / "ccache"

    # ---- build layout -----------------------------------------------------------------------
    def board_dir(self, board: str) -> Path:
        return self.build_root / board

    def logs_dir(self, board: str | None = None) -> Path:
        return (self.board_dir(board) if board else self.build_root) / "logs"

    def runner(self, board: str | None = None) -> Runner:
        return Runner(self.reporter, self.logs_dir(board))
