"""JSON that a user or a server supplied (a base image's manifests, a registry auth file, a
sysroot server's stamp, VSCode's launch.json, a state file): size-capped, depth-capped, and
every way it can be wrong one EdgeforgeError naming the file, never a RecursionError, a
MemoryError or a bare ValueError that would end as "a bug in edgeforge".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from .errors import DescriptorError, EdgeforgeError
from .fsutil import read_limited

#: larger than any JSON edgeforge reads (OCI manifests, auth files, stamps, launch.json)
MAX_BYTES = 4 << 20
#: deeper than any of them needs; deeper ones would only exhaust Python's recursion limit
MAX_DEPTH = 100


def _too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else \
            item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def parse(data: bytes | str, what: str, error: type[EdgeforgeError] = DescriptorError, *,
          fix: str = "", comments: bool = False) -> Any:
    """JSON text (or JSON with comments and trailing commas, like VSCode's files, when
    `comments`) parsed; a problem is `error` naming `what`, with `fix`."""
    tail = f"; {fix}" if fix else ""
    nested = (f"{what}: nested more than {MAX_DEPTH} levels deep (what edgeforge reads needs a "
              f"few){tail}")
    try:
        if comments:
            import json5  # start-up: 10 ms, and only the VSCode files have comments

            text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
            value = json5.loads(text)
        else:
            value = json.loads(data)
    except RecursionError:
        raise error(nested) from None
    except ValueError as exc:  # UnicodeDecodeError too
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        kind = "valid JSON (with comments)" if comments else "valid JSON"
        raise error(f"{what} is not {kind}: {reason}{tail}") from None
    if _too_deep(value):
        raise error(nested)
    return value


def read(path: Path, what: str | None = None, error: type[EdgeforgeError] = DescriptorError,
         *, fix: str = "", limit: int = MAX_BYTES, comments: bool = False) -> Any:
    """A JSON file read (a regular file, at most `limit` bytes) and parsed; a problem is
    `error` naming `what` (default: the path), with `fix`."""
    what = what or str(path)
    return parse(read_limited(path, what, limit=limit, error=error, fix=fix), what, error,
                 fix=fix, comments=comments)


def read_typed(path: Path, shape: Any, what: str | None = None,
               error: type[EdgeforgeError] = DescriptorError, *, fix: str = "",
               limit: int = MAX_BYTES) -> Any:
    """`read`, then checked against `shape` (a pydantic model, a dataclass, a list of them) the
    way edgeforge wrote it: strictly (no "5" for 5, no list for an object); a missing or
    wrong-typed key is `error` naming `what` and the key, with `fix`."""
    what = what or str(path)
    raw = read_limited(path, what, limit=limit, error=error, fix=fix)
    parse(raw, what, error, fix=fix)  # not JSON, or too deep: said as for every JSON file
    try:
        return TypeAdapter(shape).validate_json(raw, strict=True)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(k) for k in err.get("loc", ()))
        where = f"key '{key}'" if key else "its top level"
        tail = f"; {fix}" if fix else ""
        raise error(f"{what}: {where}: {err.get('msg', 'not what edgeforge writes')}{tail}") \
            from None
