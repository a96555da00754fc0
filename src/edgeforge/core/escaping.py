"""Text that descriptors or the environment put into generated files, escaped for each file's
language: CMake, Conan profiles, Meson machine files and POSIX shell.

Each language gets a pure function that either returns text that reads back as the value, or
raises `Unsafe` with the reason; the caller (toolchain.template_vars) turns that into a
DescriptorError naming the descriptor key or environment variable the value came from.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable

#: everything Python's str.splitlines() (and so most line-based parsers) treats as a line end
LINE_BREAK = re.compile(r"[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


class Unsafe(ValueError):
    """A value that cannot be written into a file of some language; the message says why."""


def no_line_breaks(value: str) -> str:
    if LINE_BREAK.search(value):
        raise Unsafe("contains a line break")
    return value


def one_line(text: str) -> str:
    """For comments: line breaks (and runs of white space) become one space."""
    return " ".join(str(text).split())


# ---- shell ---------------------------------------------------------------------------------
def sh(value: str) -> str:
    """One POSIX shell word that expands to exactly `value` (line breaks are fine in quotes)."""
    return shlex.quote(str(value))


def sh_words(args: Iterable[str]) -> str:
    """A command-line fragment, as CFLAGS/LDFLAGS hold it: make and configure (through eval)
    split it with the shell's rules, so each flag is quoted to come back as one argument."""
    return " ".join(shlex.quote(no_line_breaks(str(a))) for a in args)


# ---- CMake ---------------------------------------------------------------------------------
def cmake_quoted(value: str) -> str:
    """The inside of a CMake quoted argument ("...") that evaluates to `value`."""
    out = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return out.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")


def cmake_path(value: str) -> str:
    """A path (or program) as a CMake quoted argument: ';' would make it a list."""
    value = no_line_breaks(str(value))
    if ";" in value:
        raise Unsafe("contains ';', which CMake reads as a list separator")
    return cmake_quoted(value)


def cmake_flags(flags: Iterable[str]) -> str:
    """CMAKE_<LANG>_FLAGS text: CMake pastes it into the build tool's command lines, which the
    shell splits (each flag shell-quoted) after make/ninja expand '$' (written '$$')."""
    return cmake_quoted(sh_words(flags).replace("$", "$$"))


def cmake_list(values: Iterable[str]) -> str:
    return ";".join(cmake_path(v) for v in values)


# ---- Meson ---------------------------------------------------------------------------------
def meson_string(value: str) -> str:
    value = no_line_breaks(str(value))
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def meson_literal(value) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(meson_string(v) for v in value) + "]"
    return meson_string(value)


# ---- Conan profiles ------------------------------------------------------------------------
# A profile is rendered by Jinja2 first (so '{{', '{%' and '{#' anywhere are template syntax),
# then each line is split at the first of these operators, so a value must not contain them.
_CONAN_OPS = ("+=", "=+", "=!", "=~", "*=")
_JINJA_OPEN = re.compile(r"\{(?=[{%#])")


def conan_value(value: str) -> str:
    """A raw profile value (a path, a triple, a [buildenv] value): refused if Conan would read
    it differently; there is no quoting for them."""
    value = no_line_breaks(str(value))
    if value != value.strip():
        raise Unsafe("starts or ends with white space, which Conan strips")
    for op in _CONAN_OPS:
        if op in value:
            raise Unsafe(f"contains '{op}', which Conan reads as an operator")
    if _JINJA_OPEN.search(value):
        raise Unsafe("contains '{{', '{%' or '{#', which Conan renders as a Jinja2 template")
    if value.startswith("("):
        raise Unsafe("starts with '(', which Conan reads as (path) or (sep=)")
    return value


def conan_json(value) -> str:
    """A list or dict conf (Conan evaluates it as a Python literal): JSON escapes line breaks
    and quotes; characters Conan or Jinja2 would misread are written as \\u escapes, which only
    occur inside strings (JSON's own syntax never has '=', '+', '{{' ...)."""
    text = json.dumps(value, sort_keys=True)
    text = re.sub(r"(?<=[+*])=|=(?=[+!~])", r"\\u003d", text)
    return _JINJA_OPEN.sub(r"\\u007b", text)


def conan_comment(text: str) -> str:
    """One line; Jinja2 openers written so that Conan's rendering gives them back."""
    return _JINJA_OPEN.sub("{{ '{' }}", one_line(text))
