"""The entry script's way into invoke: `./edgeforge ARGS` is `invoke --search-root ROOT ARGS`,
with the spellings the entry script has always taken mapped to today's tasks first.

- `test` alone is the whole suite (`suite`); `test --board X` stays `invoke test`.
- `remote ACTION NAME [URL] ...` is `remote.ACTION NAME [URL] ...` when the words the action
  needs are there; otherwise NAME and URL become --name and --url of `invoke remote ACTION`,
  the older spelling, which says what is missing (exit 2).
- `cache ACTION ...` is `cache.ACTION ...`.
Anything else goes to invoke as it is."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from invoke.main import program

#: remote action -> how many words (NAME, URL) `invoke remote.ACTION` takes
REMOTE_ACTIONS = {"add": 2, "login": 1, "remove": 1, "enable": 1, "disable": 1, "list": 0}
CACHE_ACTIONS = ("push", "status")


def _words(args: Sequence[str], most: int) -> int:
    """How many of `args` (at most `most`) come before the first option."""
    n = 0
    while n < min(most, len(args)) and not args[n].startswith("-"):
        n += 1
    return n


def translate(args: Sequence[str]) -> list[str]:
    """The task arguments as invoke takes them (`args`: what follows the entry script)."""
    args = list(args)
    if args == ["test"]:
        return ["suite"]
    if len(args) >= 2 and args[0] == "cache" and args[1] in CACHE_ACTIONS:
        return [f"cache.{args[1]}", *args[2:]]
    if len(args) >= 2 and args[0] == "remote":
        action, rest = args[1], args[2:]
        need = REMOTE_ACTIONS.get(action)
        if need is not None and _words(rest, need) == need and all(rest[:need]):
            return [f"remote.{action}", *rest]
        n = _words(rest, 2)
        flags = [w for opt, word in zip(("--name", "--url"), rest[:n], strict=False) for w in (opt, word)]
        return ["remote", action, *flags, *rest[n:]]
    return args


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m edgeforge.cli [--search-root ROOT] ARGS...`: invoke's own program on the
    translated arguments (it exits with the task's code)."""
    args = list(sys.argv[1:] if argv is None else argv)
    core = args[:2] if args[:1] == ["--search-root"] else []
    program.run(["invoke", *core, *translate(args[len(core):])])
