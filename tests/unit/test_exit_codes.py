"""The README's exit-code table and the error classes say the same: every class's code is in
the table, every code of the table (but 0, 70 and 130, which are not classes') has a class."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import edgeforge
from edgeforge.core import errors
from tests.conftest import run_invoke

README = Path(__file__).resolve().parents[2] / "README.md"
PARSER = 1  # invoke's own: its parser refused the command line


def table() -> dict[int, str]:
    text = README.read_text()
    start = text.index("Exit codes (every task")
    rows = re.findall(r"^\| (\d+) \| (.+) \|$", text[start:start + 4000], re.M)
    return {int(code): meaning for code, meaning in rows}


def error_classes() -> dict[type, int]:
    for mod in pkgutil.iter_modules(edgeforge.__path__):
        importlib.import_module(f"edgeforge.{mod.name}")
    found: dict[type, int] = {}
    todo = [errors.EdgeforgeError]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub.__module__.startswith("edgeforge."):
                found[sub] = sub.exit_code
            todo.append(sub)
    return found


def test_every_error_class_has_a_code_of_the_table():
    codes = table()
    assert {0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 70, 130} <= set(codes)
    classes = error_classes()
    assert len(classes) >= 12
    stray = {f"{c.__module__}.{c.__name__}": code for c, code in classes.items() if code not in codes}
    assert not stray, f"exit codes missing from README's table: {stray}"
    assert errors.EXIT_BUG in codes and errors.EXIT_INTERRUPTED in codes


def test_every_code_of_the_table_is_some_class_s_own():
    used = set(error_classes().values()) | {0, PARSER, errors.EXIT_BUG, errors.EXIT_INTERRUPTED}
    assert set(table()) <= used, set(table()) - used


def test_every_code_of_the_table_is_asserted_by_some_test():
    """Each code README promises is checked exactly somewhere: a process's `returncode == N`
    or an Exit's `code == N` (9: --check-reproducible, 70: a bug, 130: Ctrl-C and SIGTERM)."""
    tests = README.parent / "tests"
    asserted = {int(n) for p in tests.rglob("test_*.py") for n in re.findall(
        r"\b(?:returncode|code)\s*==\s*(?:[A-Z_]+\s*==\s*)?(\d+)\b", p.read_text())}
    missing = sorted(set(table()) - asserted)
    assert not missing, f"exit codes of README's table that no test asserts: {missing}"


def test_no_code_outside_the_table_is_raised_directly():
    """The base class (exit 1) is never raised as it is: 1 is not in the table."""
    src = Path(edgeforge.__file__).parent
    direct = [f"{p.name}:{i}" for p in sorted(src.glob("**/*.py"))
              for i, line in enumerate(p.read_text().splitlines(), 1)
              if re.search(r"raise (errors\.)?EdgeforgeError\(", line)]
    assert not direct, direct


def test_debug_and_device_errors_have_their_own_code():
    from edgeforge.debug import DebugError
    assert DebugError.exit_code == errors.DeviceError.exit_code == 11
    assert errors.SourceError.exit_code == 6 and DebugError.exit_code != 6


@pytest.mark.parametrize("argv, says", [
    (["build", "--bogus"], "No idea what '--bogus' is"),
    (["no-such-task"], "No idea what 'no-such-task' is"),
    (["build", "--board"], "needed value and was not given one"),
])
def test_invokes_parser_refusals_exit_1_without_a_traceback(argv, says, tmp_path):
    r = run_invoke(*argv, env={"EDGEFORGE_CACHE": str(tmp_path / "cache"),
                               "EDGEFORGE_BUILD_DIR": str(tmp_path / "build")}, timeout=60)
    assert r.returncode == PARSER, r.stderr
    assert says in r.stderr and "Traceback" not in r.stderr
    assert table()[PARSER].startswith("invoke's own parser")
