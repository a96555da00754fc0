"""The build as a plan of steps, the way BitBake, Buildroot and mkosi do it.

A step declares its inputs (JSON-able data: descriptor facts, file digests), the steps it needs
and the outputs it produces. Its signature is the hash of its inputs and of the signatures of
the steps it needs; after a successful run the signature and a record of every output file
(size, mtime, sha256) go into a stamp. A step whose signature matches its stamp and whose
outputs are intact is skipped; otherwise it runs. `--dry-run` prints the same list with each
step's state and the reason.

A step that runs may need the result of a step that was skipped: the skipped step's `load`
gives it cheaply (or, without one, its action runs again: every action is idempotent and backed
by its own cache: sysroots, the Conan cache, ccache).

Every produced folder or file is written aside, checked, then renamed into place by `publish`:
a failed step leaves the last good output where it was.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import jsonfile
from .errors import EdgeforgeError, HostSetupError
from .fsutil import canonical_hash, rmtree, sha256_file, write_json
from .report import Reporter, fmt_seconds


# ---- fingerprints ---------------------------------------------------------------------------
def tree_digest(root: Path) -> str:
    """Digest of a source folder: relative names, link targets and file contents, sorted."""
    h = hashlib.sha256()
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        for f in sorted(files):
            p = Path(dirpath) / f
            rel = str(p.relative_to(root)).encode()
            if p.is_symlink():
                body = os.readlink(p).encode()
            elif p.is_file():
                body = p.read_bytes()
            else:  # a device node or FIFO: never opened (reading one can block for ever)
                body = _special(p.lstat()).encode()
            h.update(rel + b"\0" + body + b"\0")
    return h.hexdigest()


# ---- stamps (typed) -------------------------------------------------------------------------
class FileRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    size: int = Field(ge=0)
    mtime_ns: int
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")  # None: a link or a
    link: str | None = None                                               # special file
    special: str | None = Field(default=None, pattern=r"^[0-7]+:[0-9]+$")  # a device node, FIFO
    #                             or socket (a root file system's /dev): its type and device
    #                             number, never its content


class Stamp(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    step: str
    signature: str = Field(pattern=r"^[0-9a-f]{64}$")
    files: dict[str, FileRecord]  # absolute path -> record


def _files_of(out: Path) -> list[Path]:
    if out.is_symlink() or out.is_file():
        return [out]
    if out.is_dir():
        found = []
        for dirpath, dirs, files in os.walk(out):
            dirs.sort()
            found += [Path(dirpath) / f for f in sorted(files)]
            found += [Path(dirpath) / d for d in dirs if (Path(dirpath) / d).is_symlink()]
        return found
    return []


def _special(st: os.stat_result) -> str:
    return f"{stat.S_IFMT(st.st_mode):o}:{st.st_rdev}"


def record_outputs(outputs: Sequence[Path]) -> dict[str, FileRecord]:
    records: dict[str, FileRecord] = {}
    for out in outputs:
        for p in _files_of(out):
            st = p.lstat()
            if p.is_symlink():
                records[str(p)] = FileRecord(size=0, mtime_ns=0, link=os.readlink(p))
            elif not stat.S_ISREG(st.st_mode):
                records[str(p)] = FileRecord(size=0, mtime_ns=0, special=_special(st))
            else:
                records[str(p)] = FileRecord(size=st.st_size, mtime_ns=st.st_mtime_ns,
                                             sha256=sha256_file(p))
    return records


def damaged_output(outputs: Sequence[Path], recorded: Mapping[str, FileRecord]) -> str | None:
    """The first output that is missing or differs from its record (None: all intact).

    Size and mtime unchanged count as intact (like make and ninja); otherwise the content is
    hashed again, so a file merely touched is still intact."""
    for out in outputs:  # a declared output that is not there at all (one added since)
        if not out.exists() and not out.is_symlink():
            return f"{out} is missing"
    present = {str(p) for out in outputs for p in _files_of(out)}
    for path in sorted(set(recorded) ^ present):
        return f"{path} {'is missing' if path in recorded else 'is new'}"
    for path, rec in recorded.items():
        p = Path(path)
        if rec.link is not None:
            if not p.is_symlink() or os.readlink(p) != rec.link:
                return f"{path} changed"
            continue
        st = p.lstat()
        if rec.special is not None:
            if stat.S_ISREG(st.st_mode) or _special(st) != rec.special:
                return f"{path} changed"
            continue
        if not stat.S_ISREG(st.st_mode):
            return f"{path} changed"
        if st.st_size == rec.size and st.st_mtime_ns == rec.mtime_ns:
            continue
        if st.st_size != rec.size or sha256_file(p) != rec.sha256:
            return f"{path} changed"
    return None


# ---- atomic outputs --------------------------------------------------------------------------
def staging_for(final: Path) -> Path:
    """A clean folder beside `final` to build into."""
    staging = final.with_name(f".{final.name}.new")
    rmtree(staging)
    return staging


def publish(staging: Path, final: Path, check: Callable[[Path], None] | None = None) -> Path:
    """Check what was written aside, then move it into place in one rename.

    The previous output is moved aside first and deleted only once the new one is in place,
    so an interruption leaves either the old or the new output, never half of one."""
    if check is not None:
        try:
            check(staging)
        except BaseException:
            rmtree(staging)
            raise
    old = final.with_name(f".{final.name}.old")
    rmtree(old)
    if final.exists() or final.is_symlink():
        os.rename(final, old)
    os.rename(staging, final)
    rmtree(old)
    return final


# ---- steps and plans -------------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    name: str
    description: str
    action: Callable[[Execution], Any]
    inputs: Mapping[str, Any] = field(default_factory=dict)
    outputs: tuple[Path, ...] = ()
    needs: tuple[str, ...] = ()
    #: the result of an up-to-date step without doing its work (None: run the action again)
    load: Callable[[Execution], Any] | None = None
    #: whose step it is within the subject: "" for the board's own steps, an app's name for
    #: the steps of one app (its build, release and device steps); each scope keeps its own
    #: stamps, so two apps' plans of one board never take each other's stamps
    scope: str = ""


@dataclass(frozen=True)
class StepState:
    step: Step
    signature: str
    up_to_date: bool
    reason: str


class Plan:
    """An ordered list of steps for one subject (a board), with stamps in `stamp_dir`."""

    def __init__(self, subject: str, steps: Sequence[Step], stamp_dir: Path):
        names = [s.name for s in steps]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate step names in {names}")
        for s in steps:
            missing = [n for n in s.needs if n not in names[: names.index(s.name)]]
            if missing:
                raise ValueError(f"step {s.name} needs {missing}, which do not come before it")
        self.subject = subject
        self.steps = tuple(steps)
        self.stamp_dir = stamp_dir

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    def stamp_path(self, step: Step) -> Path:
        return self.stamp_dir / step.scope / f"{step.name}.json"

    def read_stamp(self, step: Step) -> Stamp | None:
        return self.check_stamp(step)[0]

    def check_stamp(self, step: Step) -> tuple[Stamp | None, str | None]:
        """The step's stamp, or None and why it is not trusted (None: there is none). A stamp
        is only data: one edgeforge would not have written for this step (another step's, a
        record of files outside the step's outputs, wrong types) makes the step run again."""
        path = self.stamp_path(step)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None, None
        except OSError as exc:
            return None, f"its stamp {path} cannot be read ({exc.strerror}): it runs again"

        def untrusted(why: str) -> tuple[None, str]:
            return None, f"its stamp {path} is not one edgeforge wrote ({why}): it runs again"

        try:
            stamp = Stamp.model_validate_json(raw, strict=True)
        except ValidationError as exc:
            err = exc.errors()[0]
            return untrusted(f"{'.'.join(map(str, err['loc'])) or 'the top'}: {err['msg']}")
        if stamp.step != step.name:
            return untrusted(f"it is the stamp of step {stamp.step[:60]!r}")
        outs = [str(o) for o in step.outputs]
        for name in stamp.files:
            if not any(name == o or name.startswith(o.rstrip("/") + "/") for o in outs):
                return untrusted(f"it records {name[:200]!r}, which is not an output of "
                                 f"{step.name}")
        return stamp, None

    def states(self, upto: str | None = None) -> list[StepState]:
        """Each step's signature and whether it would run, without running anything."""
        out: list[StepState] = []
        sigs: dict[str, str] = {}
        rerun: set[str] = set()
        for s in self._selected(upto):
            sig = canonical_hash({"step": s.name, "inputs": s.inputs,
                                  "needs": {n: sigs[n] for n in s.needs}})
            sigs[s.name] = sig
            stamp, untrusted = self.check_stamp(s)
            if stamp is None:
                reason = untrusted or "never built"
            elif stamp.signature != sig:
                changed = [n for n in s.needs if n in rerun]
                reason = (f"{', '.join(changed)} changed" if changed else "its inputs changed")
            elif again := [n for n in s.needs if n in rerun]:
                reason = f"{', '.join(again)} runs again"
            else:
                reason = damaged_output(s.outputs, stamp.files) or ""
            if reason:
                rerun.add(s.name)
            out.append(StepState(s, sig, not reason, reason or "up to date"))
        return out

    def _selected(self, upto: str | None) -> list[Step]:
        if upto is None:
            return list(self.steps)
        wanted = {upto}
        for s in reversed(self.steps):
            if s.name in wanted:
                wanted.update(s.needs)
        return [s for s in self.steps if s.name in wanted]

    def render(self, upto: str | None = None) -> str:
        states = self.states(upto)
        sig = canonical_hash([st.signature for st in states])
        lines = [f"plan for {self.subject} (signature {sig[:12]}):"]
        if all(st.up_to_date for st in states):
            lines.append("  everything is up to date; nothing to do")
        for i, st in enumerate(states, 1):
            tag = "up to date" if st.up_to_date else "to do"
            why = "" if st.up_to_date else f" ({st.reason})"
            lines.append(f"  {i}. [{tag}] {st.step.name}: {st.step.description}{why}")
        return "\n".join(lines)

    def execute(self, reporter: Reporter, *, force: bool = False, upto: str | None = None,
                rerun: Sequence[str] = ()) -> Execution:
        """Run every step that is not up to date (all of them with force; `rerun` names
        steps to run even when up to date), in order; returns the results."""
        ex = Execution(self, reporter)
        t0 = time.monotonic()
        for st in self.states(upto):
            if st.up_to_date and not force and st.step.name not in rerun:
                reporter.info(f"skip {st.step.name}: up to date")
                ex.skipped[st.step.name] = st
                continue
            with reporter.step(f"{st.step.name}: {st.step.description}"):
                self.stamp_path(st.step).unlink(missing_ok=True)
                ex.results[st.step.name] = st.step.action(ex)
                write_json(self.stamp_path(st.step), Stamp(
                    step=st.step.name, signature=st.signature,
                    files=record_outputs(st.step.outputs)).model_dump(mode="json"))
            ex.ran.append(st.step.name)
        ex.elapsed = time.monotonic() - t0
        reporter.info(f"{self.subject}: {len(ex.ran)} steps ran, {len(ex.skipped)} up to date "
                      f"({fmt_seconds(ex.elapsed)})")
        return ex


class Execution:
    """Results of one walk through a plan; a skipped step's result is made on demand."""

    def __init__(self, plan: Plan, reporter: Reporter):
        self.plan = plan
        self.reporter = reporter
        self.results: dict[str, Any] = {}
        self.skipped: dict[str, StepState] = {}
        self.ran: list[str] = []
        self.elapsed = 0.0

    def __getitem__(self, name: str) -> Any:
        if name not in self.results:
            step = self.plan.step(name)
            if step.load is not None:
                self.results[name] = step.load(self)
            else:
                with self.reporter.step(f"{name} (up to date; its result is needed)"):
                    self.results[name] = step.action(self)
        return self.results[name]


@contextmanager
def staged(final: Path) -> Iterator[Path]:
    """A clean folder beside `final` to build into; removed again if the work fails."""
    staging = staging_for(final)
    try:
        yield staging
    except BaseException:
        rmtree(staging)
        raise


def load_json(path: Path, reporter: Reporter | None = None) -> Any:
    """A record edgeforge wrote, read as a hint: None when there is none, or when it is damaged
    (unreadable, truncated, too large or too deep; with `reporter`, one warning names it)."""
    if not os.path.lexists(path):
        return None
    try:
        return jsonfile.read(path, f"the record {path}", HostSetupError)
    except EdgeforgeError as exc:
        if reporter is not None:
            reporter.warn(f"{exc.message}: ignored")
        return None
