"""The host's apt sources, read once: both formats (deb822 `.sources` files, parsed with
python-debian, and one-line `.list` files). Host setup enables Debian source packages from
them; sysroot builds take the Debian mirror from them, so no host name is written into the
project."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from debian.deb822 import Deb822

APT_DIR = Path("/etc/apt")
DEBIAN_SUITES = ("bookworm", "bullseye", "trixie", "stable")


@dataclass(frozen=True)
class AptEntry:
    file: Path
    types: tuple[str, ...]
    uris: tuple[str, ...]
    suites: tuple[str, ...]
    enabled: bool = True

    @property
    def is_debian(self) -> bool:
        return any("/debian" in u for u in self.uris)


def _source_files(apt_dir: Path) -> tuple[list[Path], list[Path]]:
    d = apt_dir / "sources.list.d"
    deb822 = sorted(d.glob("*.sources")) if d.is_dir() else []
    lists = [apt_dir / "sources.list", *(sorted(d.glob("*.list")) if d.is_dir() else [])]
    return deb822, [f for f in lists if f.is_file()]


def entries(apt_dir: Path = APT_DIR) -> list[AptEntry]:
    """Every apt entry of the host, in apt's order."""
    out: list[AptEntry] = []
    deb822, lists = _source_files(apt_dir)
    for f in deb822:
        with open(f, encoding="utf-8", errors="replace") as fh:
            for para in Deb822.iter_paragraphs(fh):
                fields = {k.lower(): v for k, v in para.items()}
                out.append(AptEntry(f, tuple(fields.get("types", "").split()),
                                    tuple(fields.get("uris", "").split()),
                                    tuple(fields.get("suites", "").split()),
                                    fields.get("enabled", "yes").strip().lower() != "no"))
    for f in lists:
        for line in f.read_text(errors="replace").splitlines():
            parts = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
            if len(parts) >= 3 and parts[0] in ("deb", "deb-src"):
                out.append(AptEntry(f, (parts[0],), (parts[1],), (parts[2],)))
    return out


def debian_mirror(apt_dir: Path = APT_DIR) -> str | None:
    """The Debian mirror the host's apt already uses (EDGEFORGE_DEBIAN_MIRROR overrides it)."""
    override = os.environ.get("EDGEFORGE_DEBIAN_MIRROR")
    if override:
        return override.rstrip("/")
    for e in entries(apt_dir):
        if e.enabled and "deb" in e.types and any(s in DEBIAN_SUITES for s in e.suites):
            for uri in e.uris:
                if "security" not in uri:
                    return uri.rstrip("/")
    return None


def deb_src_enabled(apt_dir: Path = APT_DIR) -> bool:
    return any(e.enabled and "deb-src" in e.types and e.is_debian for e in entries(apt_dir))


def enable_deb_src(apt_dir: Path = APT_DIR) -> bool:
    """Add deb-src to the host's Debian entries; returns True if a file changed.

    deb822 files get `deb-src` added to the `Types:` line of each Debian stanza (the rest of
    the file is kept byte for byte); a one-line sources.list gets a deb-src twin of each
    Debian line."""
    deb822, lists = _source_files(apt_dir)
    changed = False
    for f in deb822:
        text = f.read_text()
        out = []
        for stanza in re.split(r"(\n\s*\n)", text):
            m = re.search(r"^Types:\s*(.*)$", stanza, re.M)
            if m and "/debian" in stanza and "deb-src" not in m.group(1).split():
                stanza = stanza[: m.start(1)] + m.group(1).strip() + " deb-src" + stanza[m.end(1):]
            out.append(stanza)
        if "".join(out) != text:
            f.write_text("".join(out))
            changed = True
    if not changed:
        for f in lists:
            lines = f.read_text().splitlines()
            extra = [re.sub(r"^deb(\s)", r"deb-src\1", ln) for ln in lines
                     if re.match(r"^deb\s", ln) and "/debian" in ln]
            if extra:
                f.write_text("\n".join(lines + extra) + "\n")
                changed = True
                break
    return changed
