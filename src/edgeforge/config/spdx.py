"""Licence fields as SPDX licence expressions: `MIT`, `Apache-2.0 OR MIT`, `(MIT OR Apache-2.0)
AND BSD-3-Clause`, `GPL-2.0-only WITH Classpath-exception-2.0`, `LicenseRef-<name>` for a
licence of one's own (`LicenseRef-Proprietary` for closed code).

The expression's grammar (SPDX 2.3, annex D) is read here; the ids and exceptions come from
the SPDX list the `license-expression` package ships (the same one the SBOM's writer uses), so
`apache2` gets "did you mean Apache-2.0?" and a deprecated or wrongly cased id (`GPL-2.0+`,
`mit`) is to be written in its current form. The release writes these fields into packages
and the SBOM as they are, so they are refused rather than rewritten.
"""

from __future__ import annotations

import difflib
import functools
import re

from .yamlfile import shorten

#: the ids most apps use; did-you-mean looks here first
COMMON_IDS = ("Apache-2.0", "MIT", "BSD-2-Clause", "BSD-3-Clause", "GPL-2.0-only",
              "GPL-2.0-or-later", "GPL-3.0-only", "GPL-3.0-or-later", "LGPL-2.1-only",
              "LGPL-2.1-or-later", "LGPL-3.0-only", "LGPL-3.0-or-later", "MPL-2.0", "EPL-2.0",
              "BSL-1.0", "ISC", "Zlib", "CC0-1.0", "CC-BY-4.0", "LicenseRef-Proprietary")
#: a pattern of the form, for editors (the JSON schema); the validator reads the grammar
PATTERN = r"^[A-Za-z0-9.+:()-]+( (AND|OR|WITH) [A-Za-z0-9.+:()-]+)*$"
_OWN = re.compile(r"(DocumentRef-[A-Za-z0-9.-]+:)?LicenseRef-[A-Za-z0-9.-]+")
_TOKEN = re.compile(r"\s*(?:([()])|([A-Za-z0-9.+:-]+)|(\S))")
_OPERATORS = ("AND", "OR", "WITH")
_FORM = ("write an SPDX expression such as Apache-2.0 or MIT OR Apache-2.0 "
         "(LicenseRef-<name> for a licence of your own)")


@functools.cache
def _spdx_list() -> tuple[dict[str, str], dict[str, str], frozenset[str]]:
    """(id by lower-case id or alias, the current id of each alias, the exceptions' ids)."""
    # start-up: the SPDX list costs ~30 ms to load; only reading an app descriptor needs it
    from license_expression import get_spdx_licensing  # start-up: as above

    by_lower: dict[str, str] = {}
    renamed: dict[str, str] = {}
    exceptions = set()
    for symbol in set(get_spdx_licensing().known_symbols.values()):
        if symbol.key.startswith("LicenseRef-"):
            continue
        by_lower[symbol.key.lower()] = symbol.key
        if symbol.is_exception:
            exceptions.add(symbol.key)
        for alias in symbol.aliases:
            if not alias.startswith("LicenseRef-"):
                renamed[alias] = symbol.key
                by_lower.setdefault(alias.lower(), symbol.key)
    return by_lower, renamed, frozenset(exceptions)


def _squash(word: str) -> str:
    return re.sub(r"[^a-z0-9]", "", word.lower())


def _suggest(word: str, exception: bool) -> str:
    """'; did you mean <id>?' for an unknown id (the common ids first), or ''."""
    lower = word.lower()
    if "proprietary" in lower or lower in ("closed", "commercial"):
        return "; did you mean LicenseRef-Proprietary?"
    if lower == "bsd":
        return "; did you mean BSD-3-Clause or BSD-2-Clause?"
    gnu = re.fullmatch(r"(a|l)?gpl-?v?([1-3])?(?:\.([01]))?(\+)?", lower)
    if gnu and not exception:
        family, major, minor = (gnu.group(1) or "").upper() + "GPL", gnu.group(2), gnu.group(3)
        version = (f"{major}.{minor or ('1' if (family, major) == ('LGPL', '2') else '0')}"
                   if major else "2.1" if family == "LGPL" else "3.0")
        first, second = f"{family}-{version}-only", f"{family}-{version}-or-later"
        if gnu.group(4):
            first, second = second, first
        return f"; did you mean {first} or {second}?"
    by_lower, _renamed, exceptions = _spdx_list()
    pools = ((sorted(exceptions), 0.75),) if exception else (
        (COMMON_IDS, 0.6), (sorted(set(by_lower.values()) - exceptions), 0.75))
    for pool, cutoff in pools:
        squashed = {_squash(known): known for known in reversed(pool)}
        close = difflib.get_close_matches(_squash(word), list(squashed), n=1, cutoff=cutoff)
        if close:
            return f"; did you mean {squashed[close[0]]}?"
    return ""


def _id_problem(word: str, exception: bool) -> str | None:
    """A sentence when `word` is no SPDX id (or exception id, after WITH)."""
    if not exception and _OWN.fullmatch(word):
        return None
    by_lower, renamed, exceptions = _spdx_list()
    what = "licence exception" if exception else "licence"
    # a bare GNU family name is an alias of its oldest version there: ask for the version
    current = None if re.fullmatch(r"[al]?gpl", word.lower()) else (
        renamed.get(word) or by_lower.get(word.lower()))
    if current == word and (current in exceptions) == exception:
        return None
    if current is not None and (current in exceptions) == exception:
        return f"{word!r} is written {current} in the SPDX list; write {current}"
    if current is not None:
        return (f"{word!r} is a licence exception, used only after WITH (e.g. GPL-2.0-only WITH "
                f"{current})" if not exception else
                f"{word!r} is a licence, not an exception; join licences with AND or OR")
    return (f"{word!r} is no SPDX {what} id" + (_suggest(word, exception) or
            "; give one from https://spdx.org/licenses/ (LicenseRef-<name> for a licence of "
            "your own)"))


def licence_problem(text: str) -> str | None:
    """Why `text` is not an SPDX licence expression, in a sentence with a fix; None when it is."""
    tokens: list[str] = []
    for m in _TOKEN.finditer(text.strip()):
        if m.group(3):
            return (f"{shorten(text)}: {m.group(3)!r} is not part of an SPDX expression; "
                    + _FORM)
        tokens.append(m.group(1) or m.group(2))
    if not tokens:
        return f"empty; {_FORM}"
    for t in tokens:
        if t.upper() in _OPERATORS and t != t.upper():
            return f"{shorten(text)}: write the operator {t} in capitals: {t.upper()}"
    pos = 0
    ids: list[tuple[str, bool]] = []  # (id, after WITH)

    def expect_id(exception: bool) -> str | None:
        nonlocal pos
        if pos >= len(tokens) or tokens[pos] in (*_OPERATORS, "(", ")"):
            found = tokens[pos] if pos < len(tokens) else "the end"
            return (f"{shorten(text)}: expected a licence{' exception' if exception else ''} "
                    f"id, found {found}; {_FORM}")
        ids.append((tokens[pos], exception))
        pos += 1
        return None

    def operand() -> str | None:
        nonlocal pos
        if pos < len(tokens) and tokens[pos] == "(":
            pos += 1
            problem = expression()
            if problem:
                return problem
            if pos >= len(tokens) or tokens[pos] != ")":
                return f"{shorten(text)}: a '(' is not closed; close it with ')'"
            pos += 1
            return None
        problem = expect_id(False)
        if problem is None and pos < len(tokens) and tokens[pos] == "WITH":
            pos += 1
            problem = expect_id(True)
        return problem

    def expression() -> str | None:
        nonlocal pos
        problem = operand()
        while problem is None and pos < len(tokens) and tokens[pos] in ("AND", "OR"):
            pos += 1
            problem = operand()
        return problem

    problem = expression()
    if problem is None and pos < len(tokens):
        if tokens[pos] == ")":
            return f"{shorten(text)}: a ')' without its '('; remove it or open it with '('"
        return (f"{shorten(text)}: ids are joined with AND or OR (a name with spaces is no SPDX "
                f"id){_suggest(text, False) or '; ' + _FORM}")
    if problem is None:
        problem = next((p for word, exception in ids if (p := _id_problem(word, exception))),
                       None)
    return problem


def check_licence(value: str) -> str:
    """A pydantic validator's body: `value` when it is an SPDX expression, else ValueError."""
    problem = licence_problem(value)
    if problem:
        raise ValueError(problem)
    return value
