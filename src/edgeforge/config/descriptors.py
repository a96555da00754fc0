"""The one place that reads descriptor YAML, validates it and resolves a board.

Resolution order is fixed: defaults, compiler, sysroot, board, environment, command line.
Every error names the file, the key, what was expected and a likely fix, and where a bad value
came from (a file, an environment variable, the command line).

Descriptors are small, plain YAML. The loader refuses what they never need and what YAML gets
silently wrong: files over 1 MiB or not UTF-8, anchors and aliases (descriptors compose by
naming other descriptors, so `&x`/`*x` have no use; refusing them at the first event also rules
out alias bombs), nesting deeper than 32 levels, and duplicate keys (YAML keeps the last).
Messages quote values and key lists cut to a readable length.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shlex
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from edgeforge.core import DescriptorError

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
from .yamlfile import (
    MAX_BYTES,
    Document,
    cut,
    did_you_mean,
    format_validation_error,
    load_yaml,
    shorten,
)

_NAME = re.compile(r"^[a-z0-9][a-z0-9.+-]*$")
_SYSROOT_ADAPTER: TypeAdapter = TypeAdapter(SysrootDescriptor)
ENV_PREFIX = "EDGEFORGE_"
#: settings the environment and command line may override, and their environment names
OVERRIDABLE = ("compiler", "sysroot", "build_type", "cppstd", "debug_info")
#: single-valued settings (later layers win); flag lists accumulate instead
SCALARS = ("build_type", "cppstd", "debug_info")
#: scalars a project need not set, and what they are then
SCALAR_DEFAULTS = {"debug_info": "full"}
@dataclass(frozen=True)
class Loaded:
    """A validated descriptor with where it came from."""

    name: str
    path: Path
    spec: Any


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

    def _folder(self, kind: str) -> Path:
        """toolchains/<kind>/, which must be a folder that can be listed."""
        folder = self.root / kind
        rel = self.rel(folder)
        if folder.is_dir():
            return folder
        if folder.is_symlink():
            raise DescriptorError(
                f"{rel} is a symbolic link to {os.readlink(folder)} that cannot be followed "
                f"({_stat_error(folder)}); point it at the folder of {kind[:-1]} descriptors"
            )
        if folder.exists():
            raise DescriptorError(
                f"{rel} is a file, not a folder; {kind[:-1]} descriptors go in {rel}/<name>.yaml: "
                "move the file aside and create the folder"
            )
        raise DescriptorError(f"no folder {rel}/: create it with the {kind[:-1]} descriptors")

    def _scan(self, kind: str) -> tuple[list[str], dict[str, str]]:
        """Valid descriptor names in toolchains/<kind>/, and what is wrong with other entries."""
        folder = self._folder(kind)
        try:
            entries = sorted(e.name for e in os.scandir(folder))
        except OSError as exc:
            raise DescriptorError(f"cannot list {self.rel(folder)}/: {exc.strerror}") from None
        good, bad = [], {}
        for entry in entries:
            problem = self._entry_problem(folder / entry)
            if problem:
                bad[entry] = problem
            elif entry.endswith(".yaml"):
                good.append(entry[:-len(".yaml")])
        return good, bad

    def _entry_problem(self, path: Path) -> str | None:
        """What keeps a folder entry from being a descriptor (None: fine, or not meant as one)."""
        entry, rel = path.name, self.rel(path)
        stem, dot, suffix = entry.rpartition(".")
        if entry.startswith(".") or not dot or suffix.lower() not in ("yaml", "yml"):
            return None  # hidden, editor and other files are not descriptors
        if not os.path.lexists(path):
            return None
        try:
            mode = path.stat().st_mode
        except OSError:
            return (f"{rel} is a symbolic link to {os.readlink(path)} that cannot be followed "
                    f"({_stat_error(path)}); fix the link or remove it")
        if stat.S_ISDIR(mode):
            return (f"{rel} is a folder, not a descriptor file; move it out of "
                    f"{self.rel(path.parent)}/")
        if not stat.S_ISREG(mode):
            return f"{rel} is not a regular file; replace it with a descriptor file or remove it"
        wanted = stem if _NAME.match(stem) else (
            re.sub(r"[^a-z0-9.+-]+", "-", stem.lower()).strip(".+-") or "name")
        taken = (f" ({wanted}.yaml exists already: merge the two or pick another name)"
                 if wanted != stem and (path.parent / f"{wanted}.yaml").exists() else "")
        if suffix != "yaml":
            return f"{rel}: descriptor files end in .yaml; rename it to {wanted}.yaml{taken}"
        if wanted != stem:
            return (f"{rel}: descriptor names use lower-case letters, digits, '.', '+' and '-' "
                    f"only and start with a letter or digit; rename it to {wanted}.yaml{taken}")
        return None

    def names(self, kind: str) -> list[str]:
        """Names of the well-formed descriptor files of a kind (see `problems` for the rest)."""
        return sorted(self._scan(kind)[0])

    def problems(self, kind: str) -> list[str]:
        """One message per entry of toolchains/<kind>/ that looks meant as a descriptor but
        cannot be one (wrong suffix or name, a folder, a broken link)."""
        return list(self._scan(kind)[1].values())

    def _read(self, path: Path) -> Document:
        rel = self.rel(path)
        try:
            with path.open("rb") as fh:
                raw = fh.read(MAX_BYTES + 1)
        except OSError as exc:
            raise DescriptorError(f"cannot read {rel}: {exc.strerror}") from None
        if len(raw) > MAX_BYTES:
            raise DescriptorError(
                f"{rel}: larger than {MAX_BYTES // 1024} KiB, far too large for a descriptor "
                "(they are a few hundred bytes); check that this is the file you meant"
            )
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            column = exc.start - raw.rfind(b"\n", 0, exc.start)
            raise DescriptorError(
                f"{rel}:{line}:{column}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); "
                "descriptors are UTF-8: save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
            ) from None
        return load_yaml(text, rel)

    def _validate(self, model: Any, doc: Document, path: Path) -> Any:
        rel = self.rel(path)
        try:
            if isinstance(model, TypeAdapter):
                return model.validate_python(doc.data)
            return model.model_validate(doc.data)
        except ValidationError as exc:
            base = model if not isinstance(model, TypeAdapter) else None
            raise DescriptorError(
                format_validation_error(exc, rel, base, doc.data, doc.scalars)
            ) from None

    def _load(self, kind: str, name: str, model: Any, what: str, origin: str | None = None) -> Loaded:
        """Load toolchains/<kind>/<name>.yaml; `origin` (where the name came from) prefixes a
        message that no such descriptor exists."""
        if (kind, name) in self._cache:
            return self._cache[(kind, name)]
        path = self.root / kind / f"{name}.yaml"
        good, bad = self._scan(kind)
        if name not in good:
            prefix = f"{origin}: " if origin else ""
            for candidate in (f"{name}.yaml", f"{name}.yml"):
                if candidate in bad:
                    raise DescriptorError(prefix + bad[candidate])
            raise DescriptorError(
                f"{prefix}no {what} named {shorten(name)} (looked for {cut(self.rel(path))})"
                f"{did_you_mean(name, good) or ';'} known {what}s: {', '.join(sorted(good)) or 'none'}"
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

    def compiler(self, name: str, origin: str | None = None) -> Loaded:
        return self._load("compilers", name, CompilerDescriptor, "compiler", origin)

    def sysroot(self, name: str, origin: str | None = None) -> Loaded:
        return self._load("sysroots", name, _SYSROOT_ADAPTER, "sysroot", origin)

    def board(self, name: str, origin: str | None = None) -> Loaded:
        return self._load("boards", name, BoardDescriptor, "board", origin)

    # ---- resolution --------------------------------------------------------------------------
    def resolve(
        self,
        board: str | None = None,
        env: Mapping[str, str] | None = None,
        cli: Mapping[str, str | None] | None = None,
        board_origin: str = "command line --board",
    ) -> Target:
        """Resolve a board (`board`, else EDGEFORGE_BOARD, else the default board);
        `board_origin` says where an explicit `board` came from, for messages."""
        env = os.environ if env is None else env
        cli = {k: v for k, v in (cli or {}).items() if v not in (None, "")}
        unknown = sorted(set(cli) - set(OVERRIDABLE))
        if unknown:
            raise DescriptorError(
                f"cannot override {', '.join(unknown)} from the command line; "
                f"overridable: {', '.join(OVERRIDABLE)}"
            )
        defaults = self.defaults()
        if board:
            board_name, origin = board, board_origin
        elif env.get(ENV_PREFIX + "BOARD"):
            board_name, origin = env[ENV_PREFIX + "BOARD"], f"environment variable {ENV_PREFIX}BOARD"
        else:
            board_name = defaults.spec.default_board
            origin = f"key 'default_board' in {self.rel(defaults.path)}"
        b = self.board(board_name, origin)
        prov: list[tuple[str, str, str]] = []

        choice = {"compiler": (b.spec.compiler, f"board {self.rel(b.path)}"),
                  "sysroot": (b.spec.sysroot, f"board {self.rel(b.path)}")}
        for key in ("compiler", "sysroot"):
            ev = env.get(ENV_PREFIX + key.upper())
            if ev:
                choice[key] = (ev, f"environment variable {ENV_PREFIX}{key.upper()}")
            if key in cli:
                choice[key] = (str(cli[key]), f"command line --{key.replace('_', '-')}")
        comp = self.compiler(choice["compiler"][0], _origin_of("compiler", choice["compiler"][1]))
        sysr = self.sysroot(choice["sysroot"][0], _origin_of("sysroot", choice["sysroot"][1]))
        prov.append(("compiler", comp.name, choice["compiler"][1]))
        prov.append(("sysroot", sysr.name, choice["sysroot"][1]))

        layers: list[tuple[str, Settings]] = [
            (f"defaults {self.rel(defaults.path)}", defaults.spec.settings),
            (f"compiler {self.rel(comp.path)}", comp.spec.settings),
            (f"sysroot {self.rel(sysr.path)}", sysr.spec.settings),
            (f"board {self.rel(b.path)}", b.spec.settings),
        ]
        env_settings: dict[str, Any] = {}
        for key in (*SCALARS, "cflags", "cxxflags", "ldflags"):
            var = ENV_PREFIX + key.upper()
            ev = env.get(var)
            if not ev:
                continue
            if key.endswith("flags"):
                env_settings[key] = split_flags(ev, f"environment variable {var}")
            else:
                self._settings_from({key: ev}, f"environment variable {var}")
                env_settings[key] = ev
        if env_settings:
            layers.append(("environment", self._settings_from(env_settings, "environment")))
        for key in SCALARS:
            if key in cli:
                self._settings_from({key: cli[key]}, f"command line --{key.replace('_', '-')}")
        cli_settings = {k: cli[k] for k in SCALARS if k in cli}
        if cli_settings:
            layers.append(("command line", self._settings_from(cli_settings, "command line")))

        scalars: dict[str, tuple[str, str]] = {}
        flags: dict[str, list[str]] = {"cflags": [], "cxxflags": [], "ldflags": []}
        flag_src: dict[str, list[str]] = {"cflags": [], "cxxflags": [], "ldflags": []}
        for origin, s in layers:
            for key in SCALARS:
                val = getattr(s, key)
                if val is not None:
                    scalars[key] = (val, origin)
            for key in flags:
                vals = getattr(s, key)
                if vals:
                    flags[key].extend(vals)
                    flag_src[key].append(origin)
        for key, value in SCALAR_DEFAULTS.items():
            scalars.setdefault(key, (value, "edgeforge's default"))
        for key in SCALARS:
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
            debug_info=scalars["debug_info"][0],
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
                format_validation_error(exc, origin, Settings, data).replace(
                    f" in {origin}", f" from {origin}")
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
    #: none | lines | full (Settings.debug_info)
    debug_info: str = "full"
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
            # what the board delivers (installers) does not change what gets built
            "board": self.board.spec.model_dump(mode="json", exclude={"installers"}),
            "compiler": self.compiler.spec.model_dump(mode="json"),
            "sysroot": _SYSROOT_ADAPTER.dump_python(self.sysroot.spec, mode="json"),
            "build_type": self.build_type,
            "cppstd": self.cppstd,
            "debug_info": self.debug_info,
            "flags": [self.cpu_flags, self.extra_cflags, self.extra_cxxflags, self.extra_ldflags],
        }


def _origin_of(key: str, origin: str) -> str:
    """Where a compiler or sysroot name came from, for a message that it does not exist."""
    return f"{origin}, key {key!r}" if origin.startswith("board ") else origin


def split_flags(text: str, origin: str) -> tuple[str, ...]:
    """Split a flags variable the way a shell does: quotes keep `-DGREETING="hello world"`
    one argument."""
    try:
        return tuple(shlex.split(text))
    except ValueError as exc:
        raise DescriptorError(
            f"{origin}: cannot split {shorten(text)} into flags ({str(exc).lower()}); quote as "
            "in a shell, e.g. '-DGREETING=\"hello world\" -O2', or close the open quote"
        ) from None


def _stat_error(path: Path) -> str:
    try:
        path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a loop of symbolic links"
        if exc.errno == errno.ENOENT:
            return "its target does not exist"
        return exc.strerror or str(exc)
    return "unknown reason"


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
