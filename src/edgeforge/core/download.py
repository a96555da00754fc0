"""Downloads: one function, written aside and renamed into place only once complete.

Callers verify the result against its pinned sha256 before any use.

A team's shared folders (the source mirror, packed sysroots) are served by any static file
server and named by a base URL in an environment variable; `base_url_from_env` reads and checks
it, `join_url` builds the URL of one file under it."""

from __future__ import annotations

import http.client
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from .errors import SourceError, UsageError
from .redact import redact_url

TIMEOUT = 60
SCHEMES = ("http://", "https://", "file://")
#: answers that mean "the server works but has no such file": the caller may look elsewhere
MISSING = (404, 410)


def download(url: str, dest: Path, what: str, missing_ok: bool = False) -> Path | None:
    """Fetch `url` into `dest` (a half download never stays at `dest`); SourceError naming
    `what` on any failure. With `missing_ok`, a server that answers 404 (or a file:// path
    that does not exist) gives None instead: the file is not there, nothing else is wrong."""
    if not url.startswith(SCHEMES):
        raise SourceError(f"cannot download {url} ({what}): only http, https and file URLs")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part-{os.getpid()}")
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as resp, open(tmp, "wb") as out:
            shutil.copyfileobj(resp, out)
        os.replace(tmp, dest)
    except urllib.error.HTTPError as exc:
        if missing_ok and exc.code in MISSING:
            return None
        raise SourceError(f"cannot download {url} ({what}): the server answered HTTP "
                          f"{exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        if missing_ok and isinstance(exc.reason, FileNotFoundError):
            return None
        raise SourceError(f"cannot download {url} ({what}): {describe_url_error(exc)}") from None
    except (OSError, ValueError, http.client.HTTPException) as exc:
        # HTTPException: something that is not an HTTP server, or a connection cut short
        raise SourceError(f"cannot download {url} ({what}): {type(exc).__name__} "
                          f"{exc}".rstrip()) from None
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def describe_url_error(exc: urllib.error.URLError) -> str:
    """'connection refused', 'timed out', ...: the reason without urllib's wrapping."""
    reason = exc.reason
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror[:1].lower() + reason.strerror[1:]
    return str(reason)


def check_base_url(value: str, var: str, layout: str) -> str:
    """The base URL of a team's shared folder, from environment variable `var`, without a
    trailing '/'; UsageError when it is not an http(s):// or file:// URL of a folder.
    `layout` says what the folder holds (for the message)."""
    url = value.strip().rstrip("/")
    try:
        parts = urllib.parse.urlsplit(url)
        parts.hostname  # noqa: B018 -- raises for an IPv6 address without its ']'
    except ValueError:
        parts, url = urllib.parse.urlsplit(""), ""
    problem = None
    if not url:
        problem = "is not a URL (an IPv6 address goes in brackets: http://[::1]:8080/x)"
    elif not url.startswith(SCHEMES):
        problem = "is not an http://, https:// or file:// URL"
    elif parts.scheme != "file" and not parts.hostname:
        problem = "names no server"
    elif parts.username or parts.password:
        problem = "carries a user name or password (not supported: serve the folder read-only)"
    elif parts.query or parts.fragment:
        problem = "has a '?' query or a '#' fragment"
    if problem:
        shown = value
        if parts.username or parts.password:  # never echo a secret (a token may be the user)
            shown = value.replace(f"{parts.netloc.rsplit('@', 1)[0]}@", "***@", 1)
        shown = redact_url(shown)  # nor a signed query's values (?X-Amz-Signature=, ?token=)
        raise UsageError(f"{var}={shown!r} {problem}; fix: set it to the URL of the folder that "
                         f"holds {layout} (e.g. http://fileserver:8080/edgeforge), or "
                         "unset it")
    return url


def base_url_from_env(var: str, layout: str) -> str | None:
    """The checked base URL in `var`, or None when it is unset or empty."""
    value = os.environ.get(var, "")
    return check_base_url(value, var, layout) if value.strip() else None


def join_url(base: str, *parts: str) -> str:
    """`base`/part/part, each part quoted (a '/' inside one is not a separator)."""
    return "/".join([base.rstrip("/"), *(urllib.parse.quote(p, safe="") for p in parts)])
