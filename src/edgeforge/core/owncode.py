"""The digest of edgeforge's own code, as a step input: a step whose way of working changed
runs again. One rule for every step: the digest covers the files of the modules named (dotted
names below `edgeforge`, e.g. "build.app"), or the whole package with its templates."""

from __future__ import annotations

import hashlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]
_SUFFIXES = (".py", ".j2", ".json")


def code_of(*modules: str) -> str:
    """Digest of some of edgeforge's modules (dotted names below `edgeforge`)."""
    h = hashlib.sha256()
    for name in modules:
        h.update((PACKAGE / (name.replace(".", "/") + ".py")).read_bytes())
    return h.hexdigest()


def code_digest() -> str:
    """Digest of all of edgeforge's modules and templates (not their caches)."""
    h = hashlib.sha256()
    for p in sorted(PACKAGE.rglob("*")):
        if p.is_file() and p.suffix in _SUFFIXES and "__pycache__" not in p.parts:
            h.update(str(p.relative_to(PACKAGE)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()
