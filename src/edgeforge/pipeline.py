"""`invoke build`: a plan first (printable, testable without compilers), then its execution.

When the plan's inputs hash to what the last successful build recorded and its artifacts are
intact, nothing runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__, abi, stdcxx_compat
from . import app as edge_app
from . import sysroot as sysroots
from .cmakebuild import build_project
from .compilers import Toolset, probe
from .context import Context
from .deps import (
    DepsResult,
    build_deps,
    conan_env,
    deps_fingerprint,
    prepare_sources,
    root_requires,
)
from .descriptors import Target
from .fsutil import canonical_hash, rmtree, write_atomic, write_json
from .hostsetup import binfmt_ok
from .manifest import artifact_entry, artifacts_intact, read_manifest, write_manifest
from .runner import Runner
from .toolchain import (
    TEMPLATES,
    ToolchainFiles,
    ToolchainInputs,
    native_profile,
    present_overlays,
    write_toolchain,
)

PLAN_STAMP = ".edgeforge-plan.json"
SMOKE_APP = "apps/smoke"


def tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        for f in sorted(files):
            p = Path(dirpath) / f
            h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


@dataclass(frozen=True)
class PlanStep:
    name: str
    description: str
    state: str  # "cached", "to do"


@dataclass(frozen=True)
class BuildPlan:
    target: Target
    steps: tuple[PlanStep, ...]
    inputs_hash: str
    up_to_date: bool

    def render(self) -> str:
        lines = [f"plan for {self.target.name} (inputs {self.inputs_hash[:12]}):"]
        if self.up_to_date:
            lines.append("  everything is up to date; nothing to do")
        for i, s in enumerate(self.steps, 1):
            lines.append(f"  {i}. [{s.state}] {s.name}: {s.description}")
        return "\n".join(lines)


def plan_inputs(ctx: Context, target: Target, with_deps: bool = True) -> dict[str, Any]:
    tpl_dir = Path(__file__).parent / "templates"
    return {
        "edgeforge": __version__,
        "target": target.fingerprint(),
        "sysroot_key": sysroots.sysroot_key(target.sysroot.spec),
        "templates": {n: (tpl_dir / t).read_text() for n, t in sorted(TEMPLATES.items())},
        "stdcxx_shim": [m.instantiation for m in stdcxx_compat.MEMBERS],
        "smoke": tree_hash(ctx.project_root / SMOKE_APP),
        "deps": deps_fingerprint(ctx.project_root) if with_deps else None,
        "app": {"tree": tree_hash(ctx.project_root / edge_app.APP_DIR),
                "revision": edge_app.git_revision(ctx.project_root)} if with_deps else None,
        "can_run": binfmt_ok(target.arch),
        "cache_dir": str(ctx.cache_dir),
    }


def make_plan(ctx: Context, target: Target, with_deps: bool = True) -> BuildPlan:
    inputs_hash = canonical_hash(plan_inputs(ctx, target, with_deps))
    bdir = ctx.board_dir(target.name)
    sysroot_path = sysroots.sysroot_dir(ctx, target.sysroot)
    sysroot_cached = sysroots.load_info(sysroot_path) is not None
    stamp = bdir / PLAN_STAMP
    recorded = json.loads(stamp.read_text()).get("inputs") if stamp.is_file() else None
    manifest = read_manifest(bdir)
    up_to_date = (
        sysroot_cached and recorded == inputs_hash and manifest is not None
        and artifacts_intact(bdir, manifest)
    )
    state = "cached" if up_to_date else "to do"
    steps = (
        PlanStep("sysroot", f"{target.sysroot.name} ({target.sysroot.spec.kind}, "
                 f"{target.arch.value}) at {sysroot_path}",
                 "cached" if sysroot_cached else "to do"),
        PlanStep("compiler", f"probe {target.compiler.name} ({target.family.value} -> "
                 f"{target.triple}) and check cpu flags {' '.join(target.cpu_flags)}", state),
        PlanStep("toolchain", f"render Conan profiles, CMake toolchain, pkg-config wrapper, "
                 f"Meson cross file into {bdir / 'toolchain'}", state),
        PlanStep("smoke", f"cross-build {SMOKE_APP} into {bdir / 'smoke'}", state),
        PlanStep("abi-gate", f"check every ELF file against GLIBC_{target.abi.glibc} / "
                 f"GLIBCXX_{target.abi.glibcxx} ({target.abi.strategy.value})", state),
        PlanStep("deps", f"Conan graph {', '.join(root_requires(ctx.project_root))} from "
                 f"pinned sources; test_packages under qemu; ABI gate",
                 state if with_deps else "skipped (--smoke-only)"),
        PlanStep("app", f"build {edge_app.APP_DIR} against the locked dependency graph; ABI gate; "
                 f"install into {bdir / edge_app.APP_NAME}",
                 state if with_deps else "skipped (--smoke-only)"),
        PlanStep("manifest", f"write {bdir / 'manifest.json'}", state),
    )
    return BuildPlan(target, steps, inputs_hash, up_to_date)


@dataclass(frozen=True)
class Prepared:
    target: Target
    sysroot: sysroots.SysrootInfo
    toolset: Toolset
    toolchain: ToolchainFiles


def host_gcc_version(runner: Runner) -> str:
    out = runner.capture(["gcc", "-dumpversion"], what="host gcc -dumpversion").output.strip()
    return out.split(".")[0]


def prepare(ctx: Context, target: Target, runner: Runner | None = None) -> Prepared:
    """Sysroot, compiler probe and generated toolchain files for a board."""
    runner = runner or ctx.runner(target.name)
    info = sysroots.ensure_sysroot(ctx, target.sysroot, target.name)
    with ctx.reporter.step(f"probing {target.compiler.name} for {target.name}"):
        toolset = probe(ctx, target, runner)
        ctx.reporter.info(f"{toolset.family.value} {toolset.version} -> {toolset.triple}: "
                          f"{toolset.cxx}")
    if info.glibc and info.glibc.count(".") == 1:
        from .model import version_tuple

        if version_tuple(info.glibc) > version_tuple(target.abi.glibc):
            ctx.reporter.info(
                f"note: sysroot {target.sysroot.name} has glibc {info.glibc}, newer than "
                f"{target.name}'s ceiling {target.abi.glibc}; the ABI gate holds binaries to "
                "the ceiling"
            )
    compat_dir = ctx.cache_dir / "toolchains" / target.name  # the same for every checkout
    inputs = ToolchainInputs(
        target=target,
        toolset=toolset,
        sysroot=info.path,
        sysroot_glibc=info.glibc,
        out_dir=ctx.board_dir(target.name) / "toolchain",
        qemu=shutil.which(target.arch.qemu) or target.arch.qemu,
        host_pkg_config=shutil.which("pkg-config") or "/usr/bin/pkg-config",
        host_gcc_version=host_gcc_version(runner),
        host_compilers={"c": shutil.which("gcc") or "gcc", "cpp": shutil.which("g++") or "g++"},
        can_run=binfmt_ok(target.arch),
        conan_packages_dir=ctx.conan_home / "p",
        overlays=present_overlays(target),
        compat_dir=compat_dir,
        stdcxx_shim=stdcxx_shim(ctx, target, info, toolset, runner, compat_dir / "stdcxx-compat"),
    )
    files = write_toolchain(inputs)
    return Prepared(target, info, toolset, files)


def stdcxx_shim(ctx: Context, target: Target, info: sysroots.SysrootInfo, toolset: Toolset,
                runner: Runner, out_dir: Path) -> Path | None:
    """Build the board's libstdc++ shim when its GLIBCXX ceiling is below the sysroot's."""
    members = stdcxx_compat.needed(target.abi.strategy, target.abi.glibcxx, info.glibcxx)
    if not members:
        return None
    libstdcxx = sysroots.find_in_tree(info.path, "libstdc++.so.6",
                                      sysroots.lib_dirs(info.path, target.arch))
    if libstdcxx is None:
        return None
    req = stdcxx_compat.ShimRequest(
        members=members, cxx=toolset.cxx, compiler_version=toolset.version,
        ar=toolset.tools["ar"],
        compile_flags=(*toolset.target_flags, *target.cpu_flags, "-O2", "-fPIC",
                       f"-std=c++{target.cppstd}"),
        sysroot=info.path, libstdcxx=libstdcxx, out_dir=out_dir)
    out = stdcxx_compat.ensure_shim(req, runner)
    ctx.reporter.info(
        f"libstdc++ shim: {len(members)} template members newer than {target.name}'s ceiling "
        f"GLIBCXX_{target.abi.glibcxx} (sysroot has {info.glibcxx}) are linked from {out}")
    return out


def gate_policy(ctx: Context, t: Target, sysroot_path: Path,
                own_lib_dirs: tuple[Path, ...]) -> abi.Policy:
    return abi.Policy(
        board=t.name,
        arch=t.arch,
        ceiling=t.abi,
        sysroot=sysroot_path,
        own_lib_dirs=own_lib_dirs,
        forbidden_prefixes=(ctx.build_root, ctx.cache_dir, ctx.project_root, Path("/tmp"),
                            Path.home()),
    )


def run_deps(ctx: Context, target: Target, prepared: Prepared, runner: Runner,
             run_tests: bool = False) -> DepsResult:
    files = prepared.toolchain
    return build_deps(
        ctx, target.name, files.host_profile, files.build_profile, runner,
        lambda own: gate_policy(ctx, target, prepared.sysroot.path, own), run_tests,
    )


def build_app_for(ctx: Context, target: Target, prepared: Prepared, deps: DepsResult,
                  runner: Runner) -> Path:
    """Build, gate and install the app for a board; returns its final folder."""
    files = prepared.toolchain
    built = edge_app.build_app(ctx, target.name, files.host_profile, files.build_profile,
                               deps.lockfile, runner, conan_env(ctx))
    with ctx.reporter.step(f"ABI gate over {edge_app.APP_NAME}"):
        report = abi.gate(abi.elf_files_under(built.staging),
                          gate_policy(ctx, target, prepared.sysroot.path, (built.staging / "lib",)))
        report.raise_for_violations()
        ctx.reporter.info(report.summary())
    final = ctx.board_dir(target.name) / edge_app.APP_NAME
    rmtree(final)
    os.rename(built.staging, final)
    return final


def build_native(ctx: Context, runner: Runner, *, sanitize: str | None = None) -> Path:
    """Build the dependency graph and the app for this machine (x86_64); returns the app folder."""
    native = edge_app.NATIVE
    profile = ctx.board_dir(native) / "toolchain" / "conan-host.profile"
    cppstd = ctx.catalog.resolve(None).cppstd  # the project's C++ standard
    write_atomic(profile, native_profile(host_gcc_version(runner), {
        "c": shutil.which("gcc") or "gcc", "cpp": shutil.which("g++") or "g++"}, cppstd))
    prepare_sources(ctx, runner)
    deps = build_deps(ctx, native, profile, profile, runner, None)
    built = edge_app.build_app(ctx, native, profile, profile, deps.lockfile, runner,
                               conan_env(ctx), sanitize=sanitize,
                               variant="asan" if sanitize else "")
    final = ctx.board_dir(native) / built.name
    rmtree(final)
    os.rename(built.staging, final)
    ctx.reporter.info(f"native app: {final / 'bin' / edge_app.APP_NAME}")
    return final


def deps_manifest(deps: DepsResult) -> dict[str, Any]:
    packages = []
    for node in deps.nodes:
        entry: dict[str, Any] = {"ref": node.ref, "package_id": node.package_id,
                                 "context": node.context}
        folder = deps.package_dirs.get(node.name) if node.context == "host" else None
        if folder is not None:
            entry["package_folder"] = str(folder)
            entry["libraries"] = [artifact_entry(p, folder, node.name)
                                  for p in abi.elf_files_under(folder)]
        packages.append(entry)
    return {"lockfile": str(deps.lockfile), "packages": packages,
            "built_this_run": list(deps.built)}


def build(ctx: Context, target: Target, force: bool = False, with_deps: bool = True) -> Path:
    """Run the plan; returns the manifest path."""
    ctx.reporter.info(target.describe_resolution())
    plan = make_plan(ctx, target, with_deps)
    ctx.reporter.info(plan.render())
    bdir = ctx.board_dir(target.name)
    if plan.up_to_date and not force:
        ctx.reporter.info(f"outputs: {bdir} (manifest: {bdir / 'manifest.json'})")
        return bdir / "manifest.json"
    runner = ctx.runner(target.name)
    with ctx.reporter.step(f"building for {target.name}"):
        if with_deps:
            prepare_sources(ctx, runner)  # a bad archive stops everything before any build
        prepared = prepare(ctx, target, runner)
        staging = bdir / ".smoke.new"
        rmtree(staging)
        with ctx.reporter.step(f"cross-building smoke program for {target.name}"):
            build_project(
                runner, name="smoke", board=target.name,
                source=ctx.project_root / SMOKE_APP, build=bdir / "work" / "smoke",
                toolchain=prepared.toolchain.cmake, build_type=target.build_type,
                prefix=staging, ccache_dir=ctx.ccache_dir,
            )
        with ctx.reporter.step("ABI gate"):
            report = abi.gate(abi.elf_files_under(staging),
                              gate_policy(ctx, target, prepared.sysroot.path,
                                          (staging / "lib",)))
            report.raise_for_violations()
            ctx.reporter.info(report.summary())
        final = bdir / "smoke"
        rmtree(final)
        os.rename(staging, final)
        deps = run_deps(ctx, target, prepared, runner) if with_deps else None
        app_dir = build_app_for(ctx, target, prepared, deps, runner) if deps else None
        artifacts = [artifact_entry(p, bdir, "smoke") for p in abi.elf_files_under(final)]
        if app_dir:
            artifacts += [artifact_entry(p, bdir, "app") for p in abi.elf_files_under(app_dir)]
        artifacts += [artifact_entry(p, bdir, "toolchain")
                      for p in sorted(prepared.toolchain.files.values())]
        manifest = write_manifest(bdir, {
            "board": target.name,
            "arch": target.arch.value,
            "triple": target.triple,
            "compiler": {"name": target.compiler.name, "family": target.family.value,
                         "version": prepared.toolset.version},
            "sysroot": {"name": target.sysroot.name, "key": prepared.sysroot.key,
                        "glibc": prepared.sysroot.glibc, "glibcxx": prepared.sysroot.glibcxx},
            "abi": {"glibc": target.abi.glibc, "glibcxx": target.abi.glibcxx,
                    "cxxabi": target.abi.cxxabi, "strategy": target.abi.strategy.value,
                    "max_needed": report.max_versions()},
            "artifacts": artifacts,
            "dependencies": deps_manifest(deps) if deps else None,
        })
        write_json(bdir / PLAN_STAMP, {"inputs": plan.inputs_hash})
    if with_deps:
        ctx.reporter.info(f"app: {bdir / edge_app.APP_NAME / 'bin' / edge_app.APP_NAME} "
                          f"(libraries in {bdir / edge_app.APP_NAME / 'lib'}, model in "
                          f"{bdir / edge_app.APP_NAME / 'share' / edge_app.APP_NAME})")
    ctx.reporter.info(f"outputs: {bdir}\n  smoke program: {final / 'bin' / 'smoke'}\n"
                      f"  toolchain files: {prepared.toolchain.out_dir}\n  manifest: {manifest}")
    return manifest
