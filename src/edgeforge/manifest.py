"""build/<board>/manifest.json: what a build produced, for pipelines and tests.

Deterministic: sorted, relative paths, no timestamps, so identical inputs give identical files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import elfinfo
from .fsutil import sha256_file, write_json

SCHEMA_VERSION = 1


def artifact_entry(path: Path, base: Path, role: str) -> dict[str, Any]:
    info = elfinfo.inspect(path)
    entry: dict[str, Any] = {
        # inside the board's folder: relative; elsewhere (the cache): absolute
        "path": str(path.relative_to(base)) if path.is_relative_to(base) else str(path),
        "role": role,
        "sha256": sha256_file(path),
        "size": path.stat().st_size,
    }
    if info is not None:
        needs = [v for vs in info.version_needs.values() for v in vs]
        entry.update({
            "kind": info.kind,
            "elf_machine": info.machine,
            "elf_class": info.elf_class,
            "needed": list(info.needed),
            "max_versions": {
                fam: ".".join(map(str, h))
                for fam in ("GLIBC", "GLIBCXX", "CXXABI")
                if (h := elfinfo.highest(needs, fam))
            },
        })
    else:
        entry["kind"] = "file"
    return entry


def write_manifest(board_dir: Path, data: dict[str, Any]) -> Path:
    path = board_dir / "manifest.json"
    data = {"schema_version": SCHEMA_VERSION, **data}
    data["artifacts"] = sorted(data.get("artifacts", []), key=lambda a: a["path"])
    write_json(path, data)
    return path


def read_manifest(board_dir: Path) -> dict[str, Any] | None:
    path = board_dir / "manifest.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        return None


def artifacts_intact(board_dir: Path, manifest: dict[str, Any]) -> bool:
    for a in manifest.get("artifacts", []):
        p = board_dir / a["path"]  # an absolute path stays absolute
        if not p.is_file() or p.stat().st_size != a["size"] or sha256_file(p) != a["sha256"]:
            return False
    return True
