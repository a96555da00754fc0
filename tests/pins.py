"""Source pins kept outside recipes/: the outside projects the SDK's tests cross-build
(tests/e2e/outside/projects.yml). Read here, not by edgeforge: only tests use such a file."""

from __future__ import annotations

from pathlib import Path

import yaml

from edgeforge.core import SourceError
from edgeforge.deps import Pin


def load_pin_file(path: Path) -> list[Pin]:
    """Pins kept outside recipes/ (e.g. the outside projects the SDK's tests cross-build): a
    YAML mapping `name: {version, sha256, debian: {package, version, file}, url}`."""
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SourceError(f"{path}: cannot read the pins ({exc})") from None
    pins = []
    for name, entry in sorted(data.items()):
        sha = str(entry.get("sha256", ""))
        if len(sha) != 64:
            raise SourceError(f"{path}: {name} has no valid sha256 pin")
        deb = entry.get("debian") or {}
        urls = entry.get("url") or ()
        pins.append(Pin(name, str(entry["version"]), sha, (urls,) if isinstance(urls, str)
                        else tuple(urls), deb.get("package"), deb.get("version"), deb.get("file")))
    return pins
