"""What every task shares: errors turned into a message and an exit code (never a traceback),
option parsing, and the context and board a task works on."""

from __future__ import annotations

import functools
import os
import re
import shlex
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from invoke import Exit

from edgeforge.config import Target
from edgeforge.context import Context
from edgeforge.core import EXIT_BUG, EXIT_INTERRUPTED, EdgeforgeError, UsageError, redact

#: --app of every task that works on one app (Context.app reads EDGEFORGE_APP)
APP_HELP = "the app, apps/NAME/ (default: EDGEFORGE_APP, else the project's only app)"
#: for the commands that work on several apps in turn (build, test, release)
APPS_HELP = "only this app, apps/NAME/ (default: EDGEFORGE_APP, else every app of the project)"

#: the running task's context (a bug report names the step it was in and logs beside it)
STATE: dict[str, Context] = {}


def terminated(signum, frame):
    """SIGTERM's handler while a task runs: the task ends as Ctrl-C ends it."""
    raise KeyboardInterrupt


def handled(fn: Callable | None = None, *, name: str | None = None):
    """Turn library errors into a message and an exit code, never a traceback.

    An unexpected exception is a bug: the user sees what was being done, where the traceback
    was logged and that it is a bug (exit 70); the traceback itself goes to the log only.
    Whatever the message repeats of the user's input is redacted: no password or token in a
    URL, --target or --push is ever shown or logged. `name`: the task's name in a bug report
    (default: the function's; `remote.add` for a task of a sub-collection)."""
    if fn is None:
        return functools.partial(handled, name=name)
    shown = name or fn.__name__

    @functools.wraps(fn)
    def wrapper(c, *args, **kwargs):
        # a cancelled CI job or `kill` ends the task like Ctrl-C: children stopped, outputs
        # written aside never renamed into place
        signal.signal(signal.SIGTERM, terminated)
        try:
            return fn(c, *args, **kwargs)
        except EdgeforgeError as exc:
            raise Exit(f"error: {redact(exc.message)}", code=exc.exit_code) from None
        except KeyboardInterrupt:
            raise Exit("interrupted", code=EXIT_INTERRUPTED) from None
        except Exit:
            raise
        except Exception as exc:  # the last resort: a bug, reported without a traceback
            raise Exit(bug_report(shown, exc), code=EXIT_BUG) from None

    return wrapper


def bug_report(task_name: str, exc: BaseException) -> str:
    """Log the traceback; return the paragraph the user sees (both redacted)."""
    ctx = STATE.get("ctx")
    doing = (ctx.reporter.failed_step or ctx.reporter.current()) if ctx else ""
    log_dir = ctx.host_logs_dir if ctx else Path(tempfile.gettempdir())
    text = "".join(traceback.format_exception(exc))
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f"bug-{task_name}-", suffix=".log", dir=log_dir)
        with os.fdopen(fd, "w") as fh:
            fh.write(redact(f"invoke {task_name}: {shlex.join(sys.argv)}\n{text}"))
        where = f"the traceback is in {name}"
    except OSError:
        where = "the traceback could not be written to a log"
    during = f" while {doing}" if doing else ""
    # redacted whole, then cut: a cut first could leave half a URL the redaction misses
    said = redact(str(exc))[:300]
    return redact(f"error: unexpected {type(exc).__name__} in `invoke {task_name}`{during}: "
                  f"{said}\nthis is a bug in edgeforge; {where} (please attach it to a bug "
                  "report)")


def remainder(c) -> list[str]:
    """What follows `--` on the command line (a program and its arguments, files)."""
    if "--" in sys.argv:
        return sys.argv[sys.argv.index("--") + 1:]
    return shlex.split(getattr(c, "remainder", "") or "")


def number(option: str, value: str | None, default: float | None = None, *,
           seconds: bool = False, high: int | None = None) -> float | None:
    """A number option's value (`default` when not given): a whole number from 1 (to `high`),
    or with `seconds` any number above 0. Number options are declared with a None default, so
    invoke hands their text over unparsed (a typed default makes invoke's parser convert it,
    and a bad value ends in its traceback); a bad one is a usage error naming the option."""
    if value is None:
        return default
    text = str(value).strip()
    if seconds:
        found = float(text) if re.fullmatch(r"[0-9]+(\.[0-9]*)?|\.[0-9]+", text) else 0.0
        ok, expected = found > 0, "a number of seconds above 0 (e.g. 30 or 2.5)"
    else:
        found = int(text) if re.fullmatch(r"[0-9]{1,18}", text) else 0
        ok = 1 <= found <= (high or found)
        expected = f"a whole number from 1 to {high}" if high else "a whole number from 1"
    if not ok:
        raise UsageError(f"--{option} {text[:40]!r}: expected {expected}")
    return found


def user_path(value: str | None) -> Path | None:
    """A file or folder option (~ expanded), None when not given."""
    return Path(value).expanduser() if value else None


def new_context() -> Context:
    """The task's context (remembered for a bug report)."""
    ctx = Context.create()
    STATE["ctx"] = ctx
    return ctx


def resolve_target(ctx: Context, board: str | None, compiler: str | None = None,
                   sysroot: str | None = None, build_type: str | None = None) -> Target:
    """The board as --board, --compiler, --sysroot and --build-type make it."""
    return ctx.catalog.resolve(board, cli={"compiler": compiler, "sysroot": sysroot,
                                           "build_type": build_type})


def team_wing() -> ModuleType:
    """The team wing (CI pipelines, Conan remotes, registries, the suite), imported when a task
    first needs it rather than at start-up: it is 18 ms of every task's start-up (`python -X
    importtime -c "import edgeforge.cli"`: team.registry 9, team.ci 6, team.remotes 3), and
    only the team's own tasks, `deps --only` and `release --push` use it."""
    # imported here, not at the top, for every other task's start-up time (see above)
    import edgeforge.team

    return edgeforge.team
