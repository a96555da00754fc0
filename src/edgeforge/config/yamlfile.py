"""Reading descriptor-like YAML safely, and saying what is wrong with it.

Descriptors are small, plain YAML. The loader refuses what they never need and what YAML gets
silently wrong: anchors and aliases (descriptors compose by naming other descriptors, so
`&x`/`*x` have no use; refusing them at the first event also rules out alias bombs), nesting
deeper than 32 levels, and duplicate keys (YAML keeps the last). Validation errors from the
pydantic models become sentences naming the file, the key, what was expected and a fix, with
values and key lists cut to a readable length. Used for toolchains/ and recipe data.

The one module that imports yaml: it also writes the CI pipelines (`dump_pipeline`), block
style and deterministic.
"""

from __future__ import annotations

import difflib
import json
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from edgeforge.core import DescriptorError

from . import model as m

#: descriptors are a few hundred bytes; a file larger than this is not one
MAX_BYTES = 1 << 20
#: PyYAML composes recursively; deeper nesting is refused before it can overflow the stack
MAX_DEPTH = 32
#: values quoted in messages are cut to this many characters
MAX_VALUE_CHARS = 80
#: unknown keys named one by one in a message; the rest are counted
MAX_KEYS = 5
#: problems listed in one message; the rest are counted
MAX_PROBLEMS = 8


def cut(text: str, limit: int = MAX_VALUE_CHARS) -> str:
    """Text for a message, cut to about `limit` characters."""
    if len(text) <= limit:
        return text
    return f"{text[:limit - 3]}... ({len(text)} characters)"


def shorten(value: Any, limit: int = MAX_VALUE_CHARS) -> str:
    """repr() of a value for a message, cut to about `limit` characters."""
    return cut(repr(value), limit)


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    word = str(word)
    if len(word) > MAX_VALUE_CHARS:
        return ""
    by_lower = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return f"; did you mean {by_lower[close[0]]!r}?" if close else ""


class _Refused(yaml.MarkedYAMLError):
    """A YAML construct descriptors do not allow."""


class DescriptorLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors and aliases, deep nesting and duplicate keys."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise _Refused(
                problem="YAML anchors and aliases (&name, *name) are not allowed in "
                "descriptors; write the value out in full",
                problem_mark=event.start_mark,
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(
                    problem=f"nested more than {MAX_DEPTH} levels deep; descriptors need a "
                    "few levels at most: flatten it",
                    problem_mark=event.start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)
        first: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                earlier = first.setdefault(key, key_node)
            except TypeError:  # unhashable: SafeConstructor says so with its own message
                continue
            if earlier is not key_node:
                raise _Refused(
                    problem=f"duplicate key {shorten(key)} (first at line "
                    f"{earlier.start_mark.line + 1}); YAML would silently keep the last one: "
                    "remove one of them",
                    problem_mark=key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)


@dataclass(frozen=True)
class Document:
    """A descriptor file's data and, by key path, the scalar nodes it came from."""

    data: dict[str, Any]
    scalars: Mapping[tuple[Any, ...], yaml.ScalarNode]


def _scalar_nodes(node: yaml.Node | None, path: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], Any]:
    out: dict[tuple[Any, ...], Any] = {}
    if isinstance(node, yaml.ScalarNode):
        out[path] = node
    elif isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                out.update(_scalar_nodes(value_node, (*path, key_node.value)))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out.update(_scalar_nodes(item, (*path, i)))
    return out


def load_yaml(text: str, rel: str) -> Document:
    """Parse descriptor text with DescriptorLoader; YAML problems become DescriptorErrors."""
    loader = None
    try:
        loader = DescriptorLoader(text)  # the reader checks the characters here already
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.reader.ReaderError as exc:
        line = text[:exc.position].count("\n") + 1
        raise DescriptorError(
            f"{rel}:{line}: contains the character #x{exc.character:04x}, which YAML does not "
            "allow in a file; remove it"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{rel}:{mark.line + 1}:{mark.column + 1}" if mark else rel
        problem = getattr(exc, "problem", None) or str(exc)
        if isinstance(exc, _Refused):
            raise DescriptorError(f"{where}: {problem}") from None
        raise DescriptorError(
            f"{where}: not valid YAML ({cut(problem, 200)}); fix the syntax at that line"
        ) from None
    finally:
        if loader is not None:
            loader.dispose()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise DescriptorError(
            f"{rel}: expected a mapping of keys to values at the top level, "
            f"got {type(data).__name__}"
        )
    return Document(data, _scalar_nodes(node))


def _model_fields(model: type[BaseModel]) -> list[str]:
    """The keys a model reads, as written in YAML (a field's alias, e.g. `from`, else its name)."""
    return [f.alias or name for name, f in model.model_fields.items()]


def _field(model: type[BaseModel], key: str) -> Any:
    """A model's field by the key written in YAML (its alias or its name)."""
    for name, f in model.model_fields.items():
        if key in (name, f.alias):
            return f
    return None


def _fields_at(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> list[str]:
    """Known keys of the (sub)model at a location, for did-you-mean on unknown keys."""
    sub = _model_at(model, loc)
    return _model_fields(sub) if sub is not None else []


def _model_at(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The (sub)model read at a location, or None (a plain value, or not known)."""
    cur: Any = model
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        if not (isinstance(cur, type) and issubclass(cur, BaseModel)):
            return []
        f = _field(cur, str(part))
        if f is None:
            return []
        ann = f.annotation
        if typing.get_origin(ann) is dict:
            if parts:
                parts.pop(0)  # the dict's own key (e.g. an overlay name)
            ann = typing.get_args(ann)[1]
        if typing.get_origin(ann) in (tuple, list):
            if parts and isinstance(parts[0], int):
                parts.pop(0)  # the item's index
            ann = typing.get_args(ann)[0]
        subs = [a for a in (typing.get_args(ann) or (ann,))
                if isinstance(a, type) and issubclass(a, BaseModel)]
        cur = subs[-1] if subs else None
    return cur if isinstance(cur, type) and issubclass(cur, BaseModel) else None


def _mapping_expected(err: Mapping[str, Any], loc: tuple[Any, ...], model: type[BaseModel] | None,
                      written: str | None) -> tuple[str, str]:
    """(what, fix) for a sub-model given something else than a mapping (`tests: null`,
    `version: 1.2.3`, a list item written as a word): its keys, and the mapping to write when
    one key of it takes the value as it is."""
    sub = _model_at(model, loc)
    if sub is None:
        return "a mapping of keys to values", "write one 'key: value' per line"
    keys = _model_fields(sub)
    what = f"a mapping of its keys ({', '.join(keys)})"
    value = err.get("input")
    name = f"{loc[-1]}: " if loc and isinstance(loc[-1], str) else ""
    if isinstance(value, (str, int, float)) and not isinstance(value, bool) and not any(
            f.is_required() for f in sub.model_fields.values()):
        shown = written if written is not None else str(value)
        for key, prop in sub.model_json_schema().get("properties", {}).items():
            for alt in prop.get("anyOf", [prop]):
                if shown in alt.get("enum", ()) or alt.get("const") == shown:
                    return what, f"write {name}{{{key}: {shown}}}"
                if alt.get("type") == "string" and re.fullmatch(alt.get("pattern", "^$"), shown):
                    return what, f"write {name}{{{key}: \"{shown}\"}}"
    parent = _model_at(model, loc[:-1]) if loc and isinstance(loc[-1], str) else None
    f = _field(parent, str(loc[-1])) if parent is not None else None
    if value is None and f is not None and not f.is_required():
        return what, f"give them, or leave {loc[-1]!r} out for its default"
    item = "- " if loc and isinstance(loc[-1], int) else ""
    return what, f"write them one 'key: value' per line (e.g. {item}{keys[0]}: ...)"


def _as_written(err: Mapping[str, Any], loc: tuple[Any, ...],
                scalars: Mapping[tuple[Any, ...], Any]) -> str | None:
    """The source text of a plain scalar YAML did not read as a string (2.30, 17, yes)."""
    value = err.get("input")
    if isinstance(value, str) or not isinstance(value, (int, float)):
        return None
    node = scalars.get(tuple(loc))
    if node is not None and node.style is None:
        return str(node.value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def format_validation_error(
    exc: ValidationError,
    rel: str,
    model: type[BaseModel] | None,
    raw: Mapping[str, Any],
    scalars: Mapping[tuple[Any, ...], Any] | None = None,
) -> str:
    scalars = scalars or {}
    msgs: list[str | tuple[Any, ...]] = []  # a tuple stands for the unknown keys at that loc
    unknown: dict[tuple[Any, ...], tuple[list[str], list[str]]] = {}
    for err in exc.errors():
        loc = tuple(err["loc"])
        etype = err["type"]
        got = shorten(err.get("input"))
        # a discriminated union puts the tag into loc: ('debian', 'suite') -> model of that kind
        if model is None and loc and isinstance(raw, Mapping) and loc[0] == raw.get("kind"):
            sub = {
                "debian": "DebianSysroot",
                "tarball": "TarballSysroot",
                "directory": "DirectorySysroot",
            }
            submodel = getattr(m, sub.get(str(loc[0]), ""), None)
            loc = loc[1:]
        else:
            submodel = model
        key = cut(".".join(str(p) for p in loc) or "(top level)")
        written = _as_written(err, loc, scalars)
        if etype == "extra_forbidden":
            keys, known = unknown.setdefault(loc[:-1], ([], _fields_at(submodel, loc[:-1])))
            if not keys:
                msgs.append(loc[:-1])
            keys.append(str(loc[-1]))
        elif etype == "missing":
            desc = ""
            if submodel is not None and len(loc) == 1:
                f = _field(submodel, str(loc[0]))
                if f is not None and f.description:
                    desc = f" ({f.description})"
            msgs.append(f"missing key {key!r} in {rel}: add it{desc}")
        elif etype == "union_tag_invalid":
            tags = ["debian", "tarball", "directory"]
            kind = err.get("input", {}).get("kind") if isinstance(err.get("input"), dict) else None
            msgs.append(
                f"key 'kind' in {rel}: expected one of {', '.join(tags)}, got {shorten(kind)}"
                f"{did_you_mean(str(kind), tags)}"
            )
        elif etype == "union_tag_not_found":
            msgs.append(f"missing key 'kind' in {rel}: add one of debian, tarball, directory")
        elif etype == "enum" or etype == "literal_error":
            expected = err.get("ctx", {}).get("expected", "")
            choices = re.findall(r"'([^']+)'", expected)
            if written is not None and written in choices:
                msgs.append(f"key {key!r} in {rel}: YAML read {written} as a number; "
                            f"write it quoted: \"{written}\"")
            else:
                msgs.append(f"key {key!r} in {rel}: expected {expected}, got {got}"
                            f"{did_you_mean(str(err.get('input')), choices)}")
        elif etype == "string_pattern_mismatch":
            msgs.append(
                f"key {key!r} in {rel}: {got} is not of the expected form "
                f"(pattern {err.get('ctx', {}).get('pattern')}); "
                + _pattern_hint(str(loc[-1]) if loc else "")
            )
        elif etype == "string_type" and written is not None:
            what = "a number" if not isinstance(err.get("input"), bool) else "a boolean"
            msgs.append(
                f"key {key!r} in {rel}: YAML read {cut(written)} as {what}; "
                f"write it quoted: \"{cut(written)}\""
            )
        elif etype == "value_error":  # a validator's sentence: the value only where it adds
            text = str(err["msg"]).removeprefix("Value error, ")
            value = err.get("input")
            said = isinstance(value, (dict, list, tuple)) or shorten(value) in text
            msgs.append(f"key {key!r} in {rel}: {text}" + ("" if said else f"; got {got}"))
        elif etype == "model_type":
            what, fix = _mapping_expected(err, loc, submodel, written)
            msgs.append(f"key {key!r} in {rel}: expected {what}, got {got}; {fix}")
        elif etype == "dict_type":
            msgs.append(f"key {key!r} in {rel}: expected a mapping of keys to values, got {got}; "
                        "write one 'key: value' per line")
        elif etype in ("bool_type", "bool_parsing"):
            msgs.append(f"key {key!r} in {rel}: expected a boolean, got {got}; write true or "
                        "false")
        elif etype == "too_short" and isinstance(err.get("input"), (list, tuple, dict)):
            least = err.get("ctx", {}).get("min_length", 1)
            msgs.append(f"key {key!r} in {rel}: expected at least {least} item"
                        f"{'s' if least != 1 else ''}, got {got}; give at least "
                        f"{'one item' if least == 1 else f'{least} items'}")
        elif etype in ("tuple_type", "list_type"):
            msgs.append(f"key {key!r} in {rel}: {err['msg']}; got {got}; write a list: "
                        "[a, b] or one '- item' per line")
        else:
            msgs.append(f"key {key!r} in {rel}: {err['msg']}; got {got}")
    def unknown_keys(where: tuple[Any, ...]) -> str:
        # a nested key by its whole path (services.0.description), as the other messages name
        # locations: a bare 'description' would look valid elsewhere in the file
        keys, known = unknown[where]
        prefix = "".join(f"{p}." for p in where)
        hints = [did_you_mean(k, known) for k in keys[:MAX_KEYS]]
        lines = [f"unknown key {shorten(prefix + k)} in {rel}{hint}"
                 for k, hint in zip(keys, hints, strict=False)]
        if len(keys) > MAX_KEYS:
            under = f" under {shorten(prefix[:-1])}" if prefix else ""
            lines.append(f"and {len(keys) - MAX_KEYS} more unknown keys{under} in {rel}")
        if len(keys) > MAX_KEYS or not all(hints):
            lines[-1] += f" (known keys: {', '.join(known)})"
        return "\n".join(lines)

    text = [unknown_keys(m) if isinstance(m, tuple) else m for m in msgs]
    if len(text) > MAX_PROBLEMS:
        text = [*text[:MAX_PROBLEMS], f"and {len(text) - MAX_PROBLEMS} more problems in {rel}"]
    return "\n".join(text)


def _pattern_hint(key: str) -> str:
    return {
        "glibc": "write it like \"2.31\" (quoted)",
        "glibcxx": "write it like \"3.4.28\" (quoted)",
        "cxxabi": "write it like \"1.3.12\" (quoted)",
        "sha256": "give the 64 lower-case hex digits printed by sha256sum",
        "triple": "write it like aarch64-linux-gnu",
        "version": "give the major version only, e.g. \"12\"",
        "suite": "give a Debian suite name such as bullseye",
        "license": "give an SPDX licence id such as Apache-2.0",
        "prefix": "write it like /opt/<app>",
        "user": "give a user name: lower-case letters, digits, '_' and '-'",
    }.get(key, "check the documented form in the JSON schema")


M = TypeVar("M", bound=BaseModel)


def read_descriptor(path: Path, rel: str, missing: str, what: str) -> str:
    """A descriptor file's text: size-capped, UTF-8, with one sentence for each way it can be
    unreadable. `missing` says what the file is for (shown when it does not exist); `what`
    names its kind (shown when it is too large)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DescriptorError(f"missing {rel}: {missing}") from None
    except OSError as exc:
        raise DescriptorError(f"cannot read {rel}: {exc.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise DescriptorError(f"{rel}: larger than {MAX_BYTES // 1024} KiB; not {what}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DescriptorError(f"{rel}: not UTF-8 text; save it as UTF-8") from None


def parse_model(text: str, rel: str, model: type[M]) -> M:
    """YAML text validated into `model`; problems become one DescriptorError."""
    doc = load_yaml(text, rel)
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        raise DescriptorError(format_validation_error(exc, rel, model, doc.data,
                                                      doc.scalars)) from None


def model_schema(model: type[BaseModel], title: str) -> dict:
    """A descriptor model's JSON schema, for editors (yaml-language-server)."""
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = title
    return schema


def write_model_schema(path: Path, model: type[BaseModel], title: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(model_schema(model, title), indent=2, sort_keys=True) + "\n",
                    encoding="utf-8")
    return path


# ---- writing: CI pipeline files ---------------------------------------------------------------
class _PipelineDumper(yaml.SafeDumper):
    """Block style throughout; a multi-line script as a literal block (`|`); no anchors."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None)


_PipelineDumper.add_representer(str, _str)


def dump_pipeline(doc: dict) -> str:
    """A CI pipeline document as YAML: keys in the order given, block style, multi-line
    scripts as literal blocks, no anchors, ASCII only; the same document gives the same bytes."""
    return yaml.dump(doc, Dumper=_PipelineDumper, sort_keys=False, default_flow_style=False,
                     width=1000, allow_unicode=False)
