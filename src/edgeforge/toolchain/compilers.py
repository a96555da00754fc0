"""Find a descriptor's compiler and ask it what it is.

The tools are located (on PATH or in the descriptor's tree), the compiler must say it targets
the declared triple (`-dumpmachine`), its version is read (`-dumpversion`), and the board's
CPU flags must compile an empty file. Answers are cached by the tool's path, size and mtime.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edgeforge.config import CompilerFamily, Target, expand_path
from edgeforge.context import Context
from edgeforge.core import (
    DescriptorError,
    HostSetupError,
    Runner,
    ToolMissingError,
    base_env,
    canonical_hash,
    jsonfile,
    write_json,
)


@dataclass(frozen=True)
class Toolset:
    """A located compiler: absolute tool paths plus what the compiler said about itself."""

    family: CompilerFamily
    triple: str
    version: str
    tools: dict[str, str]
    linker: str | None

    @property
    def cc(self) -> str:
        return self.tools["cc"]

    @property
    def cxx(self) -> str:
        return self.tools["cxx"]

    @property
    def target_flags(self) -> tuple[str, ...]:
        return target_flags(self.family, self.triple)


def target_flags(family: CompilerFamily, triple: str) -> tuple[str, ...]:
    """What the compiler command needs to target the board: clang is a cross compiler for
    every target and needs --target; a gcc cross compiler has its target built in."""
    return (f"--target={triple}",) if family is CompilerFamily.CLANG else ()


def normalize_triple(triple: str) -> tuple[str, ...]:
    parts = triple.strip().split("-")
    if len(parts) == 4:  # arch-vendor-os-env: the vendor does not change the ABI
        parts = [parts[0], parts[2], parts[3]]
    if parts and parts[0] == "arm64":
        parts[0] = "aarch64"
    if parts and parts[0].startswith("armv7"):
        parts[0] = "arm"
    return tuple(parts)


def locate_tools(target: Target) -> dict[str, str]:
    spec = target.compiler.spec
    rel = target.compiler.path
    names = spec.tool_names()
    found: dict[str, str] = {}
    if spec.path:
        root = expand_path(spec.path)
        bindir = root / "bin"
        if "$" in str(root) or not root.is_dir():
            raise DescriptorError(
                f"key 'path' in {_rel(target, rel)}: toolchain tree {root} does not exist; "
                "unpack the toolchain there (the folder that holds bin/), or fix 'path' "
                "(environment variables in it must be set)"
            )
        for role, name in names.items():
            p = bindir / name
            if os.access(p, os.X_OK) and p.is_file():
                found[role] = str(p)
            elif role in ("cc", "cxx", "ar", "strip"):
                raise DescriptorError(
                    f"key 'prefix' in {_rel(target, rel)}: {p} does not exist; the tree's bin/ "
                    f"holds {', '.join(sorted(x.name for x in bindir.glob('*gcc*'))[:4]) or 'no gcc'}"
                    " - set 'prefix' to match"
                )
        return found
    for role, name in names.items():
        p = shutil.which(name)
        if p:
            found[role] = p
        elif role in ("cc", "cxx", "ar", "strip"):
            if os.sep in name:  # a path written in the descriptor: no package puts it there
                key = f"tools.{role}" if role in spec.tools else "prefix"
                raise ToolMissingError(
                    f"{name} does not exist or is not executable (compiler "
                    f"{target.compiler.name}, key {key!r} in {_rel(target, rel)}); fix: install "
                    f"the toolchain at that path, or correct {key!r}"
                )
            fix = f"apt-get install {' '.join(spec.apt)}" if spec.apt else "install it"
            raise ToolMissingError(
                f"{name} not found on PATH (compiler {target.compiler.name}, "
                f"{_rel(target, rel)}); fix: {fix} (or `invoke setup`)"
            )
    return found


def _rel(target: Target, path: Path) -> str:
    for parent in path.parents:
        if (parent / "toolchains").is_dir() and (parent / "pyproject.toml").is_file():
            return str(path.relative_to(parent))
    return str(path)


def _cache_key(tool: str, extra: object) -> str:
    st = os.stat(tool)
    return canonical_hash([tool, st.st_size, st.st_mtime_ns, extra])


@dataclass(frozen=True)
class _Probe:
    """A probe cache file: what the compiler said."""

    machine: str
    version: str


def _cached_probe(ctx: Context, cache_file: Path) -> dict[str, str] | None:
    """The cached answers of a compiler (None: none yet, or a damaged cache file, which is
    said in one warning: the compiler is asked again)."""
    if not os.path.lexists(cache_file):
        return None
    try:
        facts = jsonfile.read_typed(cache_file, _Probe, f"the compiler probe cache {cache_file}",
                                    HostSetupError, limit=64 << 10)
    except HostSetupError as exc:
        ctx.reporter.warn(f"{exc.message}: asking the compiler again")
        return None
    return {"machine": facts.machine, "version": facts.version}


def probe(ctx: Context, target: Target, runner: Runner | None = None) -> Toolset:
    """Locate and question the compiler; validate the board's CPU flags with it."""
    runner = runner or ctx.runner(target.name)
    spec = target.compiler.spec
    crel = _rel(target, target.compiler.path)
    tools = locate_tools(target)
    cc = tools["cc"]
    tflags = list(target_flags(spec.family, spec.triple))
    key = _cache_key(cc, [tflags, "v1"])
    cache_file = ctx.probes_dir / f"{key}.json"
    env = base_env()
    facts = _cached_probe(ctx, cache_file)
    if facts is None:
        machine = runner.capture([cc, *tflags, "-dumpmachine"], what=f"{cc} -dumpmachine",
                                 env=env).output.strip()
        version = runner.capture([cc, *tflags, "-dumpversion"], what=f"{cc} -dumpversion",
                                 env=env).output.strip()
        facts = {"machine": machine, "version": version}
        write_json(cache_file, facts)
    if normalize_triple(facts["machine"]) != normalize_triple(spec.triple):
        raise DescriptorError(
            f"key 'triple' in {crel}: declared {spec.triple} but {cc} -dumpmachine says "
            f"{facts['machine']}; fix the triple or point the descriptor at the right compiler"
        )
    major = facts["version"].split(".")[0]
    if spec.version and spec.version != major:
        raise DescriptorError(
            f"key 'version' in {crel}: declared {spec.version} but {cc} is version "
            f"{facts['version']}; set version: \"{major}\""
        )
    check_cpu_flags(ctx, target, tools, runner)
    return Toolset(spec.family, spec.triple, major, tools, spec.effective_linker)


def check_cpu_flags(ctx: Context, target: Target, tools: dict[str, str], runner: Runner) -> None:
    spec = target.compiler.spec
    flags = list(target.cpu_flags)
    if not flags:
        return
    tflags = list(target_flags(spec.family, spec.triple))
    key = _cache_key(tools["cxx"], [tflags, flags, "flags-v1"])
    ok_file = ctx.probes_dir / f"{key}.ok"
    if ok_file.is_file():
        return
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "empty.cpp"
        src.write_text("int edgeforge_probe(int x) { return x * 3; }\n")
        r = runner.capture(
            [tools["cxx"], *tflags, *flags, "-c", str(src), "-o", str(Path(tmp) / "o.o")],
            what=f"check CPU flags of {target.name}", env=base_env(), check=False,
        )
    if r.returncode != 0:
        err = next((ln for ln in r.output.splitlines() if "error" in ln), r.output.strip())
        brel = _rel(target, target.board.path)
        raise DescriptorError(
            f"key 'cpu.{spec.family.value}' in {brel}: {Path(tools['cxx']).name} rejects "
            f"{' '.join(flags)}: {err.strip()}; fix: use flags this compiler knows (list them "
            f"with `{Path(tools['cc']).name} {' '.join(tflags)} -mcpu=help` or `--help=target`)"
        )
    ctx.probes_dir.mkdir(parents=True, exist_ok=True)
    ok_file.write_text("ok\n")
