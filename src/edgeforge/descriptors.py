"""The one place that reads descriptor YAML, validates it and resolves a board.

Resolution order is fixed: defaults, compiler, sysroot, board, environment, command line.
Every error names the file, the key, what was expected and a likely fix.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from .errors import DescriptorError
from .model import (
    AbiStrategy,
    Arch,
    BoardDescriptor,
    CompilerDescriptor,
    CompilerFamily,
    Defaults,
    Settings,
    SysrootDescriptor,
)

_NAME = re.compile(r"^[a-z0-9][a-z0-9.+-]*$")
_SYSROOT_ADAPTER: TypeAdapter = TypeAdapter(SysrootDescriptor)
ENV_PREFIX = "EDGEFORGE_"
#: settings the environment and command line may override, and their environment names
OVERRIDABLE = ("compiler", "sysroot", "build_type", "cppstd")


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


@dataclass(frozen=True)
class Loaded:
    """A validated descriptor with where it came from."""

    name: str
    path: Path
    spec: Any


def _model_fields(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def _fields_at(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> list[str]:
    """Known keys of the (sub)model at a location, for did-you-mean on unknown keys."""
    import typing

    cur: Any = model
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        if not (isinstance(cur, type) and issubclass(cur, BaseModel)):
            return []
        f = cur.model_fields.get(str(part))
        if f is None:
            return []
        ann = f.annotation
        if typing.get_origin(ann) is dict:
            if parts:
                parts.pop(0)  # the dict's own key (e.g. an overlay name)
            ann = typing.get_args(ann)[1]
        subs = [a for a in (typing.get_args(ann) or (ann,))
                if isinstance(a, type) and issubclass(a, BaseModel)]
        cur = subs[-1] if subs else None
    if isinstance(cur, type) and issubclass(cur, BaseModel):
        return _model_fields(cur)
    return []


def format_validation_error(
    exc: ValidationError, rel: str, model: type[BaseModel] | None, raw: Mapping[str, Any]
) -> str:
    msgs = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        etype = err["type"]
        # a discriminated union puts the tag into loc: ('debian', 'suite') -> model of that kind
        if model is None and loc and isinstance(raw, Mapping) and loc[0] == raw.get("kind"):
            sub = {
                "debian": "DebianSysroot",
                "tarball": "TarballSysroot",
                "directory": "DirectorySysroot",
            }
            from . import model as m

            submodel = getattr(m, sub.get(str(loc[0]), ""), None)
            loc = loc[1:]
        else:
            submodel = model
        key = ".".join(str(p) for p in loc) or "(top level)"
        if etype == "extra_forbidden":
            known = _fields_at(submodel, loc[:-1])
            msgs.append(
                f"unknown key {str(loc[-1])!r} in {rel}{did_you_mean(str(loc[-1]), known)}"
                + ("" if did_you_mean(str(loc[-1]), known) else f" (known keys: {', '.join(known)})")
            )
        elif etype == "missing":
            desc = ""
            if submodel is not None and len(loc) == 1:
                f = submodel.model_fields.get(str(loc[0]))
                if f is not None and f.description:
                    desc = f" ({f.description})"
            msgs.append(f"missing key {key!r} in {rel}: add it{desc}")
        elif etype == "union_tag_invalid":
            tags = ["debian", "tarball", "directory"]
            got = err.get("input", {}).get("kind") if isinstance(err.get("input"), dict) else None
            msgs.append(
                f"key 'kind' in {rel}: expected one of {', '.join(tags)}, got {got!r}"
                f"{did_you_mean(str(got), tags)}"
            )
        elif etype == "union_tag_not_found":
            msgs.append(f"missing key 'kind' in {rel}: add one of debian, tarball, directory")
        elif etype == "enum" or etype == "literal_error":
            expected = err.get("ctx", {}).get("expected", "")
            choices = re.findall(r"'([^']+)'", expected)
            msgs.append(
                f"key {key!r} in {rel}: expected {expected}, got {err.get('input')!r}"
                f"{did_you_mean(str(err.get('input')), choices)}"
            )
        elif etype == "string_pattern_mismatch":
            msgs.append(
                f"key {key!r} in {rel}: {err.get('input')!r} is not of the expected form "
                f"(pattern {err.get('ctx', {}).get('pattern')}); "
                + _pattern_hint(str(loc[-1]) if loc else "")
            )
        elif etype == "string_type" and isinstance(err.get("input"), (int, float)):
            msgs.append(
                f"key {key!r} in {rel}: YAML read {err.get('input')!r} as a number; "
                f"write it quoted: \"{err.get('input')}\""
            )
        else:
            expected = err["msg"]
            msgs.append(f"key {key!r} in {rel}: {expected}; got {err.get('input')!r}")
    return "\n".join(msgs)


def _pattern_hint(key: str) -> str:
    return {
        "glibc": "write it like \"2.31\" (quoted)",
        "glibcxx": "write it like \"3.4.28\" (quoted)",
        "cxxabi": "write it like \"1.3.12\" (quoted)",
        "sha256": "give the 64 lower-case hex digits printed by sha256sum",
        "triple": "write it like aarch64-linux-gnu",
        "version": "give the major version only, e.g. \"12\"",
        "suite": "give a Debian suite name such as bullseye",
    }.get(key, "check the documented form in the JSON schema")


class Catalog:
    """All descriptors under one toolchains/ folder, loaded on demand."""

    def __init__(self, root: Path, project_root: Path | None = None):
        self.root = Path(root)
        self.project_root = Path(project_root) if project_root else self.root.parent
        if not self.root.is_dir():
            raise DescriptorError(f"no descriptor folder at {self.root}")
        self._cache: dict[tuple[str, str], Loaded] = {}

    # ---- files ---------------------------------------------------------------------------
    def rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.project_root))
        except ValueError:
            return str(path)

    def names(self, kind: str) -> list[str]:
        folder = self.root / kind
        if not folder.is_dir():
            return []
        return sorted(p.stem for p in folder.glob("*.yaml"))

    def _read(self, path: Path) -> dict[str, Any]:
        rel = self.rel(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise DescriptorError(f"cannot read {rel}: {exc.strerror}") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{rel}:{mark.line + 1}:{mark.column + 1}" if mark else rel
            problem = getattr(exc, "problem", None) or str(exc)
            raise DescriptorError(
                f"{where}: not valid YAML ({problem}); fix the syntax at that line"
            ) from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise DescriptorError(
                f"{rel}: expected a mapping of keys to values at the top level, "
                f"got {type(data).__name__}"
            )
        return data

    def _validate(self, model: Any, data: dict[str, Any], path: Path) -> Any:
        rel = self.rel(path)
        try:
            if isinstance(model, TypeAdapter):
                return model.validate_python(data)
            return model.model_validate(data)
        except ValidationError as exc:
            base = model if not isinstance(model, TypeAdapter) else None
            raise DescriptorError(format_validation_error(exc, rel, base, data)) from None

    def _load(self, kind: str, name: str, model: Any, what: str) -> Loaded:
        if (kind, name) in self._cache:
            return self._cache[(kind, name)]
        path = self.root / kind / f"{name}.yaml"
        if not _NAME.match(name) or not path.is_file():
            known = self.names(kind)
            raise DescriptorError(
                f"no {what} named {name!r} (looked for {self.rel(path)})"
                f"{did_you_mean(name, known)} known {what}s: {', '.join(known) or 'none'}"
            )
        spec = self._validate(model, self._read(path), path)
        loaded = Loaded(name, path, spec)
        self._cache[(kind, name)] = loaded
        return loaded

    def defaults(self) -> Loaded:
        path = self.root / "defaults.yaml"
        if ("", "defaults") in self._cache:
            return self._cache[("", "defaults")]
        if not path.is_file():
            raise DescriptorError(f"missing {self.rel(path)}: it names the default board")
        loaded = Loaded("defaults", path, self._validate(Defaults, self._read(path), path))
        self._cache[("", "defaults")] = loaded
        return loaded

    def compiler(self, name: str) -> Loaded:
        return self._load("compilers", name, CompilerDescriptor, "compiler")

    def sysroot(self, name: str) -> Loaded:
        return self._load("sysroots", name, _SYSROOT_ADAPTER, "sysroot")

    def board(self, name: str) -> Loaded:
        return self._load("boards", name, BoardDescriptor, "board")

    # ---- resolution --------------------------------------------------------------------------
    def resolve(
        self,
        board: str | None = None,
        env: Mapping[str, str] | None = None,
        cli: Mapping[str, str | None] | None = None,
    ) -> Target:
        env = os.environ if env is None else env
        cli = {k: v for k, v in (cli or {}).items() if v not in (None, "")}
        unknown = sorted(set(cli) - set(OVERRIDABLE))
        if unknown:
            raise DescriptorError(
                f"cannot override {', '.join(unknown)} from the command line; "
                f"overridable: {', '.join(OVERRIDABLE)}"
            )
        defaults = self.defaults()
        board_name = board or env.get(ENV_PREFIX + "BOARD") or defaults.spec.default_board
        b = self.board(board_name)
        prov: list[tuple[str, str, str]] = []

        choice = {"compiler": (b.spec.compiler, f"board {self.rel(b.path)}"),
                  "sysroot": (b.spec.sysroot, f"board {self.rel(b.path)}")}
        for key in ("compiler", "sysroot"):
            ev = env.get(ENV_PREFIX + key.upper())
            if ev:
                choice[key] = (ev, f"environment {ENV_PREFIX}{key.upper()}")
            if key in cli:
                choice[key] = (str(cli[key]), f"command line --{key.replace('_', '-')}")
        try:
            comp = self.compiler(choice["compiler"][0])
        except DescriptorError as exc:
            raise DescriptorError(f"{choice['compiler'][1]}, key 'compiler': {exc}") from None
        try:
            sysr = self.sysroot(choice["sysroot"][0])
        except DescriptorError as exc:
            raise DescriptorError(f"{choice['sysroot'][1]}, key 'sysroot': {exc}") from None
        prov.append(("compiler", comp.name, choice["compiler"][1]))
        prov.append(("sysroot", sysr.name, choice["sysroot"][1]))

        layers: list[tuple[str, Settings]] = [
            (f"defaults {self.rel(defaults.path)}", defaults.spec.settings),
            (f"compiler {self.rel(comp.path)}", comp.spec.settings),
            (f"sysroot {self.rel(sysr.path)}", sysr.spec.settings),
            (f"board {self.rel(b.path)}", b.spec.settings),
        ]
        env_settings = {}
        for key in ("build_type", "cppstd"):
            ev = env.get(ENV_PREFIX + key.upper())
            if ev:
                env_settings[key] = ev
        for key in ("cflags", "cxxflags", "ldflags"):
            ev = env.get(ENV_PREFIX + key.upper())
            if ev:
                env_settings[key] = tuple(ev.split())
        if env_settings:
            layers.append(("environment", self._settings_from(env_settings, "environment")))
        cli_settings = {k: cli[k] for k in ("build_type", "cppstd") if k in cli}
        if cli_settings:
            layers.append(("command line", self._settings_from(cli_settings, "command line")))

        scalars: dict[str, tuple[str, str]] = {}
        flags: dict[str, list[str]] = {"cflags": [], "cxxflags": [], "ldflags": []}
        flag_src: dict[str, list[str]] = {"cflags": [], "cxxflags": [], "ldflags": []}
        for origin, s in layers:
            for key in ("build_type", "cppstd"):
                val = getattr(s, key)
                if val is not None:
                    scalars[key] = (val, origin)
            for key in flags:
                vals = getattr(s, key)
                if vals:
                    flags[key].extend(vals)
                    flag_src[key].append(origin)
        for key in ("build_type", "cppstd"):
            if key not in scalars:
                raise DescriptorError(
                    f"no layer sets {key!r}; add it under 'settings:' in {self.rel(defaults.path)}"
                )
            prov.append((key, scalars[key][0], scalars[key][1]))

        cspec: CompilerDescriptor = comp.spec
        cpu = b.spec.cpu.for_family(cspec.family)
        prov.append((f"cpu.{cspec.family.value}", " ".join(cpu) or "(generic)", f"board {self.rel(b.path)}"))
        for key, vals in flags.items():
            if vals:
                prov.append((key, " ".join(vals), ", ".join(flag_src[key])))

        target = Target(
            board=b,
            compiler=comp,
            sysroot=sysr,
            build_type=scalars["build_type"][0],
            cppstd=scalars["cppstd"][0],
            cpu_flags=tuple(cpu),
            extra_cflags=tuple(flags["cflags"]),
            extra_cxxflags=tuple(flags["cxxflags"]),
            extra_ldflags=tuple(flags["ldflags"]),
            provenance=tuple(prov),
        )
        self._check_consistency(target)
        return target

    def _settings_from(self, data: dict[str, Any], origin: str) -> Settings:
        try:
            return Settings.model_validate(data)
        except ValidationError as exc:
            raise DescriptorError(
                format_validation_error(exc, origin, Settings, data).replace(" in ", " from ")
            ) from None

    def _check_consistency(self, t: Target) -> None:
        brel = self.rel(t.board.path)
        crel = self.rel(t.compiler.path)
        srel = self.rel(t.sysroot.path)
        c: CompilerDescriptor = t.compiler.spec
        carch = Arch.from_triple(c.triple)
        if carch is None:
            raise DescriptorError(
                f"key 'triple' in {crel}: {c.triple!r} is not an arm64 or armhf triple; "
                "use aarch64-linux-gnu or arm-linux-gnueabihf"
            )
        if carch is not t.sysroot.spec.arch:
            raise DescriptorError(
                f"board {t.name} ({brel}): compiler {t.compiler.name!r} targets {carch.value} "
                f"({c.triple}) but sysroot {t.sysroot.name!r} ({srel}) is {t.sysroot.spec.arch.value}; "
                "pick a compiler and a sysroot of the same architecture"
            )
        strategy = t.board.spec.abi.strategy
        if strategy is AbiStrategy.SYSROOT_LIBSTDCXX and c.family is not CompilerFamily.CLANG:
            raise DescriptorError(
                f"key 'abi.strategy' in {brel}: 'sysroot-libstdcxx' needs a clang compiler "
                f"(gcc always links its own libstdc++), but {t.compiler.name!r} is {c.family.value}; "
                "use a clang compiler or the strategy 'static-libstdcxx'/'compiler-runtime'"
            )


@dataclass(frozen=True)
class Target:
    """A fully resolved board: what to build with, for what, within which ceilings."""

    board: Loaded
    compiler: Loaded
    sysroot: Loaded
    build_type: str
    cppstd: str
    cpu_flags: tuple[str, ...]
    extra_cflags: tuple[str, ...] = ()
    extra_cxxflags: tuple[str, ...] = ()
    extra_ldflags: tuple[str, ...] = ()
    provenance: tuple[tuple[str, str, str], ...] = field(default=())

    @property
    def name(self) -> str:
        return self.board.name

    @property
    def arch(self) -> Arch:
        return self.sysroot.spec.arch

    @property
    def triple(self) -> str:
        return self.compiler.spec.triple

    @property
    def family(self) -> CompilerFamily:
        return self.compiler.spec.family

    @property
    def abi(self):
        return self.board.spec.abi

    def describe_resolution(self) -> str:
        width = max(len(k) for k, _, _ in self.provenance)
        vwidth = min(40, max(len(v) for _, v, _ in self.provenance))
        lines = [f"resolved board {self.name} (order: defaults, compiler, sysroot, board, "
                 "environment, command line; later wins)"]
        for key, val, origin in self.provenance:
            lines.append(f"  {key:<{width}}  {val:<{vwidth}}  from {origin}")
        return "\n".join(lines)

    def fingerprint(self) -> dict[str, Any]:
        """Everything about the target that changes what gets built (for plan hashing)."""
        return {
            "board": self.board.spec.model_dump(mode="json"),
            "compiler": self.compiler.spec.model_dump(mode="json"),
            "sysroot": _SYSROOT_ADAPTER.dump_python(self.sysroot.spec, mode="json"),
            "build_type": self.build_type,
            "cppstd": self.cppstd,
            "flags": [self.cpu_flags, self.extra_cflags, self.extra_cxxflags, self.extra_ldflags],
        }


def sysroot_json(spec: Any) -> dict[str, Any]:
    return _SYSROOT_ADAPTER.dump_python(spec, mode="json")


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON schemas for editors, generated from the models."""
    out = {
        "defaults": Defaults.model_json_schema(),
        "compiler": CompilerDescriptor.model_json_schema(),
        "sysroot": _SYSROOT_ADAPTER.json_schema(),
        "board": BoardDescriptor.model_json_schema(),
    }
    for name, schema in out.items():
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema.setdefault("title", f"edgeforge {name} descriptor")
    return out


def write_schemas(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in json_schemas().items():
        path = folder / f"{name}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written


def expand_path(text: str) -> Path:
    return Path(os.path.expandvars(os.path.expanduser(text)))
