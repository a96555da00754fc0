"""Downloads: one function, written aside and renamed into place only once complete.

Callers verify the result against its pinned sha256 before any use."""

from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from .errors import SourceError

TIMEOUT = 60


def download(url: str, dest: Path, what: str) -> Path:
    """Fetch `url` into `dest` (a half download never stays at `dest`); SourceError naming
    `what` on any failure."""
    if not url.startswith(("http://", "https://", "file://")):
        raise SourceError(f"cannot download {url} ({what}): only http, https and file URLs")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part-{os.getpid()}")
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as resp, open(tmp, "wb") as out:
            shutil.copyfileobj(resp, out)
        os.replace(tmp, dest)
    except (OSError, urllib.error.URLError, ValueError) as exc:
        raise SourceError(f"cannot download {url} ({what}): {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return dest
