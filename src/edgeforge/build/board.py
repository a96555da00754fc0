"""A board's build steps: sysroot -> toolchain -> smoke -> deps -> app -> manifest.

Each step declares what it depends on and what it writes (see core/steps.py); `BoardBuild`
holds one method per step's action and lists the steps in order. The plan composer
(pipeline.py) puts them in a Plan with the release and device steps after them.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeforge import __version__
from edgeforge.config import App, Target, version_tuple
from edgeforge.context import Context
from edgeforge.core import (
    Execution,
    Runner,
    StateFileError,
    Step,
    code_of,
    publish,
    rmtree,
    staged,
    tree_digest,
    write_json,
)
from edgeforge.deps import (
    DepsResult,
    build_deps,
    conan_env,
    deps_fingerprint,
    root_requires,
)
from edgeforge.elf import debuginfo, elfinfo, find_in_tree, lib_dirs
from edgeforge.host import binfmt_ok
from edgeforge.toolchain import (
    TEMPLATE_DIR,
    TEMPLATES,
    ToolchainFiles,
    ToolchainInputs,
    Toolset,
    pathnames,
    present_overlays,
    probe,
    stdcxx_compat,
    write_toolchain,
)
from edgeforge.toolchain import sysroot as sysroots
from edgeforge.verify import abi

from .app import AppBuild, build_app, git_revision
from .cmakebuild import build_project
from .manifest import (
    FAMILIES,
    AbiRecord,
    Artifact,
    CompilerRecord,
    DependenciesRecord,
    Manifest,
    PackageRecord,
    SysrootRecord,
    artifact_entry,
    write_manifest,
)
from .projectapp import build_project_app

SMOKE_APP = "apps/smoke"


@dataclass(frozen=True)
class Prepared:
    target: Target
    sysroot: sysroots.SysrootInfo
    toolset: Toolset
    toolchain: ToolchainFiles


def host_gcc_version(runner: Runner) -> str:
    out = runner.capture(["gcc", "-dumpversion"], what="host gcc -dumpversion").output.strip()
    return out.split(".")[0]


def host_compilers() -> dict[str, str]:
    return {"c": shutil.which("gcc") or "gcc", "cpp": shutil.which("g++") or "g++"}


def prepare(ctx: Context, target: Target, info: sysroots.SysrootInfo, runner: Runner) -> Prepared:
    """Compiler probe and generated toolchain files for a board (its sysroot is ready)."""
    with ctx.reporter.step(f"probing {target.compiler.name} for {target.name}"):
        toolset = probe(ctx, target, runner)
        ctx.reporter.info(f"{toolset.family.value} {toolset.version} -> {toolset.triple}: "
                          f"{toolset.cxx}")
    if info.glibc and version_tuple(info.glibc) > version_tuple(target.abi.glibc):
        ctx.reporter.info(
            f"note: sysroot {target.sysroot.name} has glibc {info.glibc}, newer than "
            f"{target.name}'s ceiling {target.abi.glibc}; the ABI gate holds binaries to "
            "the ceiling")
    compat_dir = ctx.board_cache_dir(target.name)
    inputs = ToolchainInputs(
        target=target,
        toolset=toolset,
        sysroot=info.path,
        sysroot_glibc=info.glibc,
        out_dir=ctx.layout(target.name).toolchain,
        qemu=shutil.which(target.arch.qemu) or target.arch.qemu,
        host_pkg_config=shutil.which("pkg-config") or "/usr/bin/pkg-config",
        host_gcc_version=host_gcc_version(runner),
        host_compilers=host_compilers(),
        can_run=binfmt_ok(target.arch),
        conan_packages_dir=ctx.conan_home / "p",
        path_names=pathnames.folder_names(project_root=ctx.project_root, build_root=ctx.build_root,
                                          cache_dir=ctx.cache_dir, conan_packages=ctx.conan_home / "p"),
        debug_info=target.debug_info,
        sysroot_identity=f"{target.sysroot.name}-{sysroots.sysroot_key(target.sysroot.spec)}",
        overlays=present_overlays(target),
        compat_dir=compat_dir,
        stdcxx_shim=stdcxx_shim(ctx, target, info, toolset, runner, compat_dir / "stdcxx-compat"),
    )
    return Prepared(target, info, toolset, write_toolchain(inputs))


def stdcxx_shim(ctx: Context, target: Target, info: sysroots.SysrootInfo, toolset: Toolset,
                runner: Runner, out_dir: Path) -> Path | None:
    """Build the board's libstdc++ shim when its GLIBCXX ceiling is below the sysroot's."""
    members = stdcxx_compat.needed(target.abi.strategy, target.abi.glibcxx, info.glibcxx)
    if not members:
        return None
    libstdcxx = find_in_tree(info.path, "libstdc++.so.6", lib_dirs(info.path, target.arch))
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


def gate_tree(ctx: Context, target: Target, sysroot_path: Path, what: str):
    """A `publish` check: every ELF file in a staged folder passes the board's ABI gate."""
    def check(staging: Path) -> None:
        with ctx.reporter.step(f"ABI gate over {what}"):
            report = abi.gate(abi.elf_files_under(staging),
                              gate_policy(ctx, target, sysroot_path, (staging / "lib",)))
            report.raise_for_violations()
            ctx.reporter.info(report.summary())
    return check


# ---- the steps' inputs (pure) -----------------------------------------------------------------
def toolchain_inputs(ctx: Context, target: Target) -> dict[str, Any]:
    tpl_dir = TEMPLATE_DIR
    return {
        "edgeforge": __version__,
        "target": target.fingerprint(),
        "templates": {n: (tpl_dir / t).read_text() for n, t in sorted(TEMPLATES.items())},
        "stdcxx_shim": [m.instantiation for m in stdcxx_compat.MEMBERS],
        "can_run": binfmt_ok(target.arch),
        "cache_dir": str(ctx.cache_dir),
    }


def app_inputs(ctx: Context, app: App, variant: str = "") -> dict[str, Any]:
    return {"tree": tree_digest(app.folder),
            "code": code_of("build.app", "build.cmakebuild", "build.projectapp",
                            "elf.debuginfo"),
            "revision": git_revision(ctx.project_root, ctx.probe_runner(), app),
            "variant": variant}


# ---- the builders -------------------------------------------------------------------------------
class GraphBuild:
    """What every build with a Conan graph shares: the source mirror and the graph's steps."""

    def __init__(self, ctx: Context, subject: str, deps_tests: bool = False):
        self.ctx = ctx
        self.subject = subject
        self.layout = ctx.layout(subject)
        self.deps_tests = deps_tests
        self.runner = ctx.runner(subject)

    def profiles(self, ex: Execution) -> tuple[Path, Path, Callable | None]:
        """Host profile, build profile and the ABI gate's policy (None: no ceiling)."""
        raise NotImplementedError

    def deps(self, ex: Execution) -> DepsResult:
        host, build, policy_for = self.profiles(ex)
        result = build_deps(self.ctx, self.subject, host, build, self.runner, policy_for,
                            self.deps_tests)
        write_json(self.layout.deps_record, result.to_json())
        return result

    def some_deps(self, ex: Execution, only: frozenset[str]) -> DepsResult:
        """The named packages of the graph only (deps.json records just them; not stamped)."""
        host, build, policy_for = self.profiles(ex)
        result = build_deps(self.ctx, self.subject, host, build, self.runner, policy_for,
                            self.deps_tests, only=only)
        write_json(self.layout.deps_record, result.to_json())
        return result

    def load_deps(self, ex: Execution) -> DepsResult:
        try:
            recorded = DepsResult.read(self.layout.deps_record)
        except StateFileError as exc:  # data, never trusted: the step runs again
            ex.reporter.warn(f"{exc.message.split(';')[0]}: resolving the dependencies again")
            recorded = None
        return recorded or self.deps(ex)


class BoardBuild(GraphBuild):
    """The build steps of one board and app; each method is one step's action."""

    def __init__(self, ctx: Context, target: Target, app: App | None, *,
                 with_deps: bool = True, deps_tests: bool = False):
        """`app` None: the board alone (sysroot, toolchain, smoke), as for a project without
        apps or `invoke build --smoke-only`."""
        super().__init__(ctx, target.name, deps_tests)
        self.t = target
        self.application = app
        self.with_deps = with_deps and app is not None
        if app is not None:  # the app's own records (symbols, manifest, release) apart
            self.layout = self.layout.for_app(app.name)

    @property
    def uses_graph(self) -> bool:
        """Whether the plan holds the Conan graph's step: a conan app builds against it."""
        app = self.application
        return self.with_deps and app is not None and app.spec.build.kind == "conan"

    def profiles(self, ex: Execution) -> tuple[Path, Path, Callable | None]:
        prepared: Prepared = ex["toolchain"]
        files = prepared.toolchain
        return (files.host_profile, files.build_profile,
                lambda own: gate_policy(self.ctx, self.t, prepared.sysroot.path, own))

    def sysroot(self, ex: Execution) -> sysroots.SysrootInfo:
        return sysroots.ensure_sysroot(self.ctx, self.t.sysroot, self.t.name)

    def toolchain(self, ex: Execution) -> Prepared:
        return prepare(self.ctx, self.t, ex["sysroot"], self.runner)

    def smoke(self, ex: Execution) -> Path:
        prepared: Prepared = ex["toolchain"]
        lay = self.layout
        rmtree(lay.work_for("smoke"))  # a fresh tree: no object built another way
        with staged(lay.smoke) as staging:
            build_project(
                self.runner, name="smoke", board=self.t.name,
                source=self.ctx.project_root / SMOKE_APP, build=lay.work_for("smoke"),
                toolchain=prepared.toolchain.cmake, build_type=self.t.build_type,
                prefix=staging, ccache_dir=self.ctx.ccache_dir,
            )
            return publish(staging, lay.smoke, gate_tree(self.ctx, self.t, prepared.sysroot.path,
                                                         "the smoke program"))

    def app(self, ex: Execution) -> Path:
        prepared: Prepared = ex["toolchain"]
        files = prepared.toolchain
        app = self.application
        assert app is not None  # the app step exists only with an app
        built: AppBuild
        if app.spec.build.kind == "conan":
            deps: DepsResult = ex["deps"]
            built = build_app(self.ctx, app, self.t.name, files.host_profile,
                              files.build_profile, deps.lockfile, self.runner,
                              conan_env(self.ctx))
        else:
            built = build_project_app(self.ctx, app, self.t, files.cmake, files.meson,
                                      self.runner)
        # what ships is stripped; its debug information goes to build/<board>/symbols/
        symbols_final = self.layout.symbols
        with staged(symbols_final) as symbols:
            with self.ctx.reporter.step(f"splitting debug information of {app.name} "
                                        f"into {symbols_final}"):
                split = debuginfo.split_tree(built.staging, symbols,
                                             prepared.toolset.tools.get("objcopy", ""),
                                             self.runner)
                self.ctx.reporter.info(
                    f"{sum(1 for f in split if f.debug_file)} of {len(split)} ELF files carried "
                    f"debug information ({self.t.debug_info})")
            gate_tree(self.ctx, self.t, prepared.sysroot.path, app.name)(built.staging)
            publish(symbols, symbols_final)
        return publish(built.staging, self.layout.app(app.name))

    def manifest(self, ex: Execution) -> Path:
        prepared: Prepared = ex["toolchain"]
        info = prepared.sysroot
        t = self.t
        bdir = self.layout.root
        artifacts = [artifact_entry(p, bdir, "smoke") for p in abi.elf_files_under(ex["smoke"])]
        deps = ex["deps"] if self.uses_graph else None
        if self.with_deps:
            artifacts += [artifact_entry(p, bdir, "app")
                          for p in abi.elf_files_under(ex["app"])]
        artifacts += [artifact_entry(p, bdir, "toolchain")
                      for p in sorted(prepared.toolchain.files.values())]
        return write_manifest(self.layout, Manifest(
            board=t.name, arch=t.arch.value, triple=t.triple,
            compiler=CompilerRecord(name=t.compiler.name, family=t.family.value,
                                    version=prepared.toolset.version),
            sysroot=SysrootRecord(name=t.sysroot.name, key=info.key, glibc=info.glibc,
                                  glibcxx=info.glibcxx),
            abi=AbiRecord(glibc=t.abi.glibc, glibcxx=t.abi.glibcxx, cxxabi=t.abi.cxxabi,
                          strategy=t.abi.strategy.value, max_needed=max_needed(artifacts)),
            artifacts=tuple(artifacts),
            dependencies=deps_manifest(deps) if deps else None,
        ))

    def steps(self) -> list[Step]:
        """sysroot -> toolchain -> smoke [-> deps -> app] -> manifest."""
        ctx, t, lay, app = self.ctx, self.t, self.layout, self.application
        sysroot_path = sysroots.sysroot_dir(ctx, t.sysroot)
        steps: list[Step] = []
        steps += [
            Step("sysroot", f"{t.sysroot.name} ({t.sysroot.spec.kind}, {t.arch.value}) at "
                 f"{sysroot_path}", self.sysroot,
                 inputs={"key": sysroots.project_key(ctx, t.sysroot), "path": str(sysroot_path)},
                 outputs=(sysroot_path / sysroots.STAMP,), load=self.sysroot),
            Step("toolchain", f"probe {t.compiler.name} ({t.family.value} -> {t.triple}), check "
                 f"cpu flags {' '.join(t.cpu_flags)}; write Conan profiles, CMake toolchain, "
                 f"pkg-config wrapper, Meson cross file into {lay.toolchain}",
                 self.toolchain, inputs=toolchain_inputs(ctx, t), needs=("sysroot",),
                 outputs=(lay.toolchain,)),
            Step("smoke", f"cross-build {SMOKE_APP}, ABI gate (GLIBC_{t.abi.glibc} / "
                 f"GLIBCXX_{t.abi.glibcxx}, {t.abi.strategy.value}), install into {lay.smoke}",
                 self.smoke, inputs={"tree": tree_digest(ctx.project_root / SMOKE_APP),
                                     "code": code_of("build.cmakebuild")},
                 needs=("toolchain",), outputs=(lay.smoke,), load=lambda ex: lay.smoke),
        ]
        if self.with_deps and app is not None:
            app_dir = lay.app(app.name)
            app_needs: tuple[str, ...] = ("toolchain",)
            if self.uses_graph:
                steps.append(
                    Step("deps", f"Conan graph {', '.join(root_requires(ctx.project_root))} "
                         "from pinned sources; test_packages under qemu; ABI gate", self.deps,
                         inputs=deps_fingerprint(ctx.project_root), needs=("toolchain",),
                         outputs=(lay.lockfile, lay.deps_record), load=self.load_deps))
                app_needs = ("deps", "toolchain")
                how = "against the locked graph"
            else:
                how = f"({app.spec.build.kind}) with the board's toolchain files"
            steps.append(
                Step("app", f"build {app.rel} {how}; ABI gate; install into {app_dir}",
                     self.app, inputs=app_inputs(ctx, app), needs=app_needs,
                     outputs=(app_dir, lay.symbols), load=lambda ex: app_dir, scope=app.name))
        needs = tuple(s.name for s in steps)
        steps.append(Step("manifest", f"record everything in {lay.manifest}",
                          self.manifest, needs=needs, outputs=(lay.manifest,),
                          load=lambda ex: lay.manifest,
                          scope=app.name if self.with_deps and app is not None else ""))
        return steps


def max_needed(artifacts: list[Artifact]) -> dict[str, str]:
    tags = [f"{fam}_{v}" for a in artifacts for fam, v in a.max_versions.items()]
    return elfinfo.max_versions(tags, FAMILIES)


def deps_manifest(deps: DepsResult) -> DependenciesRecord:
    packages = []
    for node in deps.nodes:
        folder = deps.package_dirs.get(node.name) if node.context == "host" else None
        libs = tuple(artifact_entry(p, folder, node.name)
                     for p in abi.elf_files_under(folder)) if folder else ()
        packages.append(PackageRecord(ref=node.ref, package_id=node.package_id,
                                      context=node.context,
                                      package_folder=str(folder) if folder else None,
                                      libraries=libs))
    return DependenciesRecord(lockfile=str(deps.lockfile), packages=tuple(packages),
                              built_this_run=deps.built)
