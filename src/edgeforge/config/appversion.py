"""An app's version: its descriptor's `version.value`, or the literal version of the project()
call in its CMakeLists.txt (`VERSION`) or meson.build (`version:`).

The files are read as their languages define them, not searched with a pattern: comments
(`# ...`, CMake's `#[[...]]`), quoted strings and CMake's bracket arguments (`[[...]]`) are
skipped, so `set(D "project(x VERSION 6.6.6)")` or `# project(x VERSION 9.9)` is never taken for
the real call. Only a literal is read: `VERSION ${V}` or `version: run_command(...)` is no
version, and the descriptor then says to write one.
"""

from __future__ import annotations

import re
from pathlib import Path

from edgeforge.core import DescriptorError

from .app import APPS_DIR, VERSION_FILES, VERSION_PATTERN, AppDef

#: what a CMake project() VERSION may be: up to four numbers
_CMAKE_VERSION = r"[0-9]+(?:\.[0-9]+){0,3}"
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPEN, _CLOSE = ("(", "[", "{"), (")", "]", "}")
_BRACKET_OPEN = re.compile(r"\[(=*)\[")


def app_version(folder: Path, spec: AppDef, rel: str) -> str:
    """The app's version: its `version.value`, or read from the project() call of its
    CMakeLists.txt or meson.build; a file without one is a DescriptorError."""
    if spec.version.value is not None:
        return spec.version.value
    source = spec.version.source or "cmake"
    file = VERSION_FILES[source]
    shown = f"{APPS_DIR}/{folder.name}/{file}"
    fix = 'or give the version itself: version: {value: "1.2.3"}'
    try:
        text = (folder / file).read_text(encoding="utf-8", errors="replace")
    except OSError:
        raise DescriptorError(f"key 'version.from' in {rel}: {shown} does not exist; add it "
                              f"{fix}") from None
    found = cmake_project_version(text) if source == "cmake" else meson_project_version(text)
    if found is None:
        example = ("project(<name> VERSION 1.2.3)" if source == "cmake"
                   else "project('<name>', 'cpp', version: '1.2.3')")
        raise DescriptorError(f"key 'version.from' in {rel}: {shown} has no literal version in "
                              f"its project() call; write it as {example} {fix}")
    return found


# ---- CMake -------------------------------------------------------------------------------
def _bracket_end(text: str, i: int) -> tuple[int, int] | None:
    """(index after the opening, its '=' count) when a bracket `[==[` opens at `i`."""
    m = _BRACKET_OPEN.match(text, i)
    return (m.end(), len(m.group(1))) if m else None


def _skip_bracket(text: str, start: int, level: int) -> int:
    """The index after the `]==]` closing a bracket opened with `level` '=' (or the end)."""
    end = text.find("]" + "=" * level + "]", start)
    return len(text) if end < 0 else end + level + 2


def _skip_quoted(text: str, i: int) -> int:
    """The index after the '"'-quoted argument opening at `i` (backslash escapes)."""
    i += 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
        elif text[i] == '"':
            return i + 1
        else:
            i += 1
    return len(text)


def _cmake_tokens(text: str) -> list[tuple[str, str]]:
    """(kind, text) of a CMake file's tokens: '(' and ')', and arguments of kind 'unquoted',
    'quoted' (text without the quotes) or 'bracket'; comments are left out."""
    out: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch == "#":
            opened = _bracket_end(text, i + 1)
            if opened:  # a bracket comment #[[ ... ]]
                i = _skip_bracket(text, *opened)
            else:
                end = text.find("\n", i)
                i = n if end < 0 else end
        elif ch in "()":
            out.append((ch, ch))
            i += 1
        elif ch == '"':
            end = _skip_quoted(text, i)
            out.append(("quoted", text[i + 1:end - 1]))
            i = end
        elif (opened := _bracket_end(text, i)) is not None:
            end = _skip_bracket(text, *opened)
            out.append(("bracket", text[opened[0]:end - opened[1] - 2]))
            i = end
        else:  # unquoted, with escapes and legacy "quoted" parts (-DA="b c")
            start = i
            while i < n and not text[i].isspace() and text[i] not in "()#":
                i = _skip_quoted(text, i) if text[i] == '"' else i + (2 if text[i] == "\\" else 1)
            out.append(("unquoted", text[start:i]))
    return out


def _commands(tokens: list[tuple[str, str]]):
    """(name, arguments) of each top-level command invocation `name(...)`."""
    i = 0
    while i < len(tokens):
        kind, word = tokens[i]
        if kind == "unquoted" and _IDENT.fullmatch(word) and i + 1 < len(tokens) \
                and tokens[i + 1][0] == "(":
            depth, j, args = 1, i + 2, []
            while j < len(tokens) and depth:
                k = tokens[j][0]
                depth += (k == "(") - (k == ")")
                if depth:
                    args.append(tokens[j])
                j += 1
            if not depth:  # an unclosed call is no call
                yield word, args
            i = j
        else:
            i += 1


def cmake_project_version(text: str) -> str | None:
    """The literal VERSION of a CMakeLists.txt's project() call."""
    for name, args in _commands(_cmake_tokens(text)):
        if name.lower() != "project":
            continue
        for (kind, word), value in zip(args[1:], args[2:], strict=False):
            if kind in ("unquoted", "quoted") and word == "VERSION":
                literal = value[0] in ("unquoted", "quoted", "bracket")
                return value[1] if literal and re.fullmatch(_CMAKE_VERSION, value[1]) else None
        return None
    return None


# ---- Meson -------------------------------------------------------------------------------
_MESON_STRING = re.compile(r"(f?)('''.*?'''|'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\")", re.S)


def _meson_tokens(text: str) -> list[tuple[str, str]]:
    """(kind, text) of a meson.build's tokens: 'ident', 'string' (a plain literal, its text),
    'fstring', and single characters as themselves; comments are left out."""
    out: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif (m := _MESON_STRING.match(text, i)) is not None:
            body = m.group(2)
            body = body[3:-3] if body.startswith("'''") else body[1:-1]
            out.append(("fstring" if m.group(1) else "string", body))
            i = m.end()
        elif ch in "'\"":  # an unclosed string: the rest of the file is in it
            break
        elif (m := _IDENT.match(text, i)) is not None:
            out.append(("ident", m.group()))
            i = m.end()
        else:
            out.append((ch, ch))
            i += 1
    return out


def meson_project_version(text: str) -> str | None:
    """The `version:` of a meson.build's project() call, when it is a literal string."""
    tokens = _meson_tokens(text)
    depth = 0
    for i, (kind, word) in enumerate(tokens):
        if kind in _OPEN:
            depth += 1
        elif kind in _CLOSE:
            depth -= 1
        elif (kind == "ident" and word == "project" and depth == 0 and i + 1 < len(tokens)
              and tokens[i + 1][0] == "(" and (i == 0 or tokens[i - 1][0] != ".")):
            return _meson_version_argument(tokens[i + 2:])
    return None


def _meson_version_argument(args: list[tuple[str, str]]) -> str | None:
    """The literal `version: '...'` among a call's arguments (the tokens after its '(')."""
    depth = 1
    for i, (kind, word) in enumerate(args):
        depth += (kind in _OPEN) - (kind in _CLOSE)
        if depth == 0:
            return None
        if depth == 1 and kind == "ident" and word == "version" and args[i + 1:i + 2] == [
                (":", ":")]:
            value, after = args[i + 2:i + 3], args[i + 3:i + 4]
            if value and value[0][0] == "string" and after and after[0][0] in (",", ")") \
                    and re.fullmatch(VERSION_PATTERN, value[0][1]):
                return value[0][1]
            return None
    return None
