"""`invoke build`: a board's plan of steps (see steps.py), printable without compilers.

    sources -> sysroot -> toolchain -> smoke -> deps -> app -> manifest

Each step declares what it depends on and what it writes; `invoke build` runs the steps that
are not up to date, `--dry-run` prints the same plan with each step's state, and the tasks
that do part of the job (`invoke sysroot`, `toolchain`, `deps`) run the plan up to their step.
Release, image and debug work are further steps of the same plan.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeforge import __version__
from edgeforge.build import (
    FAMILIES,
    AbiRecord,
    Artifact,
    CompilerRecord,
    DependenciesRecord,
    Manifest,
    PackageRecord,
    SysrootRecord,
    artifact_entry,
    build_project,
    write_manifest,
)
from edgeforge.build import app as edge_app
from edgeforge.config import Target, version_tuple
from edgeforge.context import Context
from edgeforge.core import (
    Execution,
    Plan,
    ReproducibilityError,
    Runner,
    StateFileError,
    Step,
    code_of,
    publish,
    rmtree,
    staged,
    tree_digest,
    write_atomic,
    write_json,
)
from edgeforge.deliver import ReleaseOptions, ReleaseSteps
from edgeforge.deliver.oci import image as container
from edgeforge.deps import (
    DEPS_RECORD,
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
    native_profile,
    present_overlays,
    probe,
    stdcxx_compat,
    write_toolchain,
)
from edgeforge.toolchain import sysroot as sysroots
from edgeforge.verify import abi

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


def project_cppstd(ctx: Context) -> str:
    """The project's C++ standard (toolchains/defaults.yaml), whichever board is the default."""
    return ctx.catalog.defaults().spec.settings.cppstd or "17"


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
        out_dir=ctx.board_dir(target.name) / "toolchain",
        qemu=shutil.which(target.arch.qemu) or target.arch.qemu,
        host_pkg_config=shutil.which("pkg-config") or "/usr/bin/pkg-config",
        host_gcc_version=host_gcc_version(runner),
        host_compilers=host_compilers(),
        can_run=binfmt_ok(target.arch),
        conan_packages_dir=ctx.conan_home / "p",
        path_names=((ctx.cache_dir, "/edgeforge-cache"), (ctx.build_root, "/edgeforge-build"),
                    (ctx.conan_home / "p", "/conan"), (ctx.project_root, "/edgeforge-project")),
        debug_info=target.debug_info,
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


def app_inputs(ctx: Context, variant: str = "") -> dict[str, Any]:
    return {"tree": tree_digest(ctx.project_root / edge_app.APP_DIR),
            "code": code_of("build.app", "build.cmakebuild", "elf.debuginfo"),
            "revision": edge_app.git_revision(ctx.project_root, ctx.probe_runner()),
            "variant": variant}


# ---- the plans ---------------------------------------------------------------------------------
class GraphBuild:
    """What every plan with a Conan graph shares: the source mirror and the graph's steps."""

    def __init__(self, ctx: Context, subject: str, deps_tests: bool = False):
        self.ctx = ctx
        self.subject = subject
        self.bdir = ctx.board_dir(subject)
        self.deps_tests = deps_tests
        self.runner = ctx.runner(subject)

    def profiles(self, ex: Execution) -> tuple[Path, Path, Callable | None]:
        """Host profile, build profile and the ABI gate's policy (None: no ceiling)."""
        raise NotImplementedError

    def deps(self, ex: Execution) -> DepsResult:
        host, build, policy_for = self.profiles(ex)
        result = build_deps(self.ctx, self.subject, host, build, self.runner, policy_for,
                            self.deps_tests)
        write_json(self.bdir / DEPS_RECORD, result.to_json())
        return result

    def load_deps(self, ex: Execution) -> DepsResult:
        try:
            recorded = DepsResult.read(self.bdir / DEPS_RECORD)
        except StateFileError as exc:  # data, never trusted: the step runs again
            ex.reporter.warn(f"{exc.message.split(';')[0]}: resolving the dependencies again")
            recorded = None
        return recorded or self.deps(ex)


class BoardBuild(GraphBuild):
    """The steps of one board's build; each method is one step's action."""

    def __init__(self, ctx: Context, target: Target, *, with_deps: bool = True,
                 deps_tests: bool = False, release: ReleaseOptions | None = None):
        super().__init__(ctx, target.name, deps_tests)
        self.t = target
        self.with_deps = with_deps
        self.release = release

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
        final = self.bdir / "smoke"
        rmtree(self.bdir / "work" / "smoke")  # a fresh tree: no object built another way
        with staged(final) as staging:
            build_project(
                self.runner, name="smoke", board=self.t.name,
                source=self.ctx.project_root / SMOKE_APP, build=self.bdir / "work" / "smoke",
                toolchain=prepared.toolchain.cmake, build_type=self.t.build_type,
                prefix=staging, ccache_dir=self.ctx.ccache_dir,
            )
            return publish(staging, final, gate_tree(self.ctx, self.t, prepared.sysroot.path,
                                                     "the smoke program"))

    def app(self, ex: Execution) -> Path:
        prepared: Prepared = ex["toolchain"]
        deps: DepsResult = ex["deps"]
        files = prepared.toolchain
        built = edge_app.build_app(self.ctx, self.t.name, files.host_profile, files.build_profile,
                                   deps.lockfile, self.runner, conan_env(self.ctx))
        # what ships is stripped; its debug information goes to build/<board>/symbols/
        symbols_final = self.bdir / debuginfo.SYMBOLS_DIR
        with staged(symbols_final) as symbols:
            with self.ctx.reporter.step(f"splitting debug information of {edge_app.APP_NAME} "
                                        f"into {symbols_final}"):
                split = debuginfo.split_tree(built.staging, symbols,
                                             prepared.toolset.tools.get("objcopy", ""),
                                             self.runner)
                self.ctx.reporter.info(
                    f"{sum(1 for f in split if f.debug_file)} of {len(split)} ELF files carried "
                    f"debug information ({self.t.debug_info})")
            gate_tree(self.ctx, self.t, prepared.sysroot.path, edge_app.APP_NAME)(built.staging)
            publish(symbols, symbols_final)
        return publish(built.staging, self.bdir / edge_app.APP_NAME)

    def manifest(self, ex: Execution) -> Path:
        prepared: Prepared = ex["toolchain"]
        info = prepared.sysroot
        t = self.t
        artifacts = [artifact_entry(p, self.bdir, "smoke") for p in abi.elf_files_under(ex["smoke"])]
        deps = ex["deps"] if self.with_deps else None
        if self.with_deps:
            artifacts += [artifact_entry(p, self.bdir, "app")
                          for p in abi.elf_files_under(ex["app"])]
        artifacts += [artifact_entry(p, self.bdir, "toolchain")
                      for p in sorted(prepared.toolchain.files.values())]
        return write_manifest(self.bdir, Manifest(
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

    def plan(self) -> Plan:
        ctx, t, bdir = self.ctx, self.t, self.bdir
        sysroot_path = sysroots.sysroot_dir(ctx, t.sysroot)
        steps: list[Step] = []
        steps += [
            Step("sysroot", f"{t.sysroot.name} ({t.sysroot.spec.kind}, {t.arch.value}) at "
                 f"{sysroot_path}", self.sysroot,
                 inputs={"key": sysroots.sysroot_key(t.sysroot.spec), "path": str(sysroot_path)},
                 outputs=(sysroot_path / sysroots.STAMP,), load=self.sysroot),
            Step("toolchain", f"probe {t.compiler.name} ({t.family.value} -> {t.triple}), check "
                 f"cpu flags {' '.join(t.cpu_flags)}; write Conan profiles, CMake toolchain, "
                 f"pkg-config wrapper, Meson cross file into {bdir / 'toolchain'}",
                 self.toolchain, inputs=toolchain_inputs(ctx, t), needs=("sysroot",),
                 outputs=(bdir / "toolchain",)),
            Step("smoke", f"cross-build {SMOKE_APP}, ABI gate (GLIBC_{t.abi.glibc} / "
                 f"GLIBCXX_{t.abi.glibcxx}, {t.abi.strategy.value}), install into {bdir / 'smoke'}",
                 self.smoke, inputs={"tree": tree_digest(ctx.project_root / SMOKE_APP),
                                     "code": code_of("build.cmakebuild")},
                 needs=("toolchain",), outputs=(bdir / "smoke",), load=lambda ex: bdir / "smoke"),
        ]
        if self.with_deps:
            steps += [
                Step("deps", f"Conan graph {', '.join(root_requires(ctx.project_root))} from "
                     "pinned sources; test_packages under qemu; ABI gate", self.deps,
                     inputs=deps_fingerprint(ctx.project_root), needs=("toolchain",),
                     outputs=(bdir / "conan.lock", bdir / DEPS_RECORD), load=self.load_deps),
                Step("app", f"build {edge_app.APP_DIR} against the locked graph; ABI gate; "
                     f"install into {bdir / edge_app.APP_NAME}", self.app,
                     inputs=app_inputs(ctx), needs=("deps", "toolchain"),
                     outputs=(bdir / edge_app.APP_NAME, bdir / debuginfo.SYMBOLS_DIR),
                     load=lambda ex: bdir / edge_app.APP_NAME),
            ]
        needs = tuple(s.name for s in steps)
        steps.append(Step("manifest", f"record everything in {bdir / 'manifest.json'}",
                          self.manifest, needs=needs, outputs=(bdir / "manifest.json",),
                          load=lambda ex: bdir / "manifest.json"))
        if self.release is not None:
            steps += ReleaseSteps(self, self.release).steps()
        return Plan(t.name, steps, bdir / ".stamps")


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


def board_plan(ctx: Context, target: Target, with_deps: bool = True,
               release: ReleaseOptions | None = None) -> Plan:
    return BoardBuild(ctx, target, with_deps=with_deps, release=release).plan()


def release(ctx: Context, target: Target, opts: ReleaseOptions) -> Path:
    """Build what is not up to date, then the board's release; returns its folder."""
    ctx.reporter.info(target.describe_resolution())
    plan = board_plan(ctx, target, release=opts)
    ctx.reporter.info(plan.render())
    return plan.execute(ctx.reporter)["release"]


def build(ctx: Context, target: Target, force: bool = False, with_deps: bool = True) -> Path:
    """Run the board's plan; returns the manifest path."""
    ctx.reporter.info(target.describe_resolution())
    plan = board_plan(ctx, target, with_deps)
    ctx.reporter.info(plan.render())
    bdir = ctx.board_dir(target.name)
    ex = plan.execute(ctx.reporter, force=force)
    manifest = ex["manifest"]
    if with_deps:
        app = ex["app"]
        ctx.reporter.info(f"app: {app / 'bin' / edge_app.APP_NAME} (libraries in {app / 'lib'}, "
                          f"model in {app / 'share' / edge_app.APP_NAME})")
    ctx.reporter.info(f"outputs: {bdir}\n  smoke program: {bdir / 'smoke' / 'bin' / 'smoke'}\n"
                      f"  toolchain files: {bdir / 'toolchain'}\n  manifest: {manifest}")
    return manifest


def run_until(ctx: Context, target: Target, step: str, *, rerun: tuple[str, ...] = (),
              deps_tests: bool = False) -> Execution:
    """Run the board's plan up to one step (and what it needs); returns the results."""
    bb = BoardBuild(ctx, target, deps_tests=deps_tests)
    return bb.plan().execute(ctx.reporter, upto=step, rerun=rerun)


def build_some_deps(ctx: Context, target: Target, only: frozenset[str], *,
                    deps_tests: bool = False) -> DepsResult:
    """`invoke deps --only`: the named packages of the board's graph (one level of a CI
    pipeline). deps.json records just them (what `invoke cache push` uploads next); the deps
    step is not stamped, and its changed output makes the next build check the whole graph."""
    bb = BoardBuild(ctx, target, deps_tests=deps_tests)
    ex = bb.plan().execute(ctx.reporter, upto="toolchain")
    host, build, policy_for = bb.profiles(ex)
    result = build_deps(ctx, target.name, host, build, bb.runner, policy_for, deps_tests,
                        only=only)
    write_json(bb.bdir / DEPS_RECORD, result.to_json())
    return result


# ---- the build machine (x86_64): parity and sanitizer builds ------------------------------------
class NativeBuild(GraphBuild):
    """The dependency graph and the app for this machine, as a plan like a board's."""

    def __init__(self, ctx: Context, sanitize: str | None = None):
        super().__init__(ctx, edge_app.NATIVE)
        self.sanitize = sanitize
        self.variant = "asan" if sanitize else ""
        self.name = edge_app.APP_NAME + (f"-{self.variant}" if self.variant else "")
        self.profile = self.bdir / "toolchain" / "conan-host.profile"

    def profiles(self, ex: Execution) -> tuple[Path, Path, Callable | None]:
        return ex["profile"], ex["profile"], None  # the build machine has no board ceiling

    def write_profile(self, ex: Execution) -> Path:
        cppstd = project_cppstd(self.ctx)
        write_atomic(self.profile, native_profile(host_gcc_version(self.runner), host_compilers(),
                                                  cppstd))
        return self.profile

    def app(self, ex: Execution) -> Path:
        deps: DepsResult = ex["deps"]
        built = edge_app.build_app(self.ctx, edge_app.NATIVE, ex["profile"], ex["profile"],
                                   deps.lockfile, self.runner, conan_env(self.ctx),
                                   sanitize=self.sanitize, variant=self.variant)
        return publish(built.staging, self.bdir / built.name)

    def plan(self) -> Plan:
        ctx = self.ctx
        gcc = Path(host_compilers()["c"])
        host = {"gcc": str(gcc), "size": gcc.stat().st_size if gcc.is_file() else None,
                "cppstd": project_cppstd(ctx), "edgeforge": __version__}
        final = self.bdir / self.name
        app_step = "app-" + self.variant if self.variant else "app"
        steps = [
            Step("profile", f"Conan profile for this machine ({self.profile})", self.write_profile,
                 inputs=host, outputs=(self.profile,), load=lambda ex: self.profile),
            Step("deps", f"Conan graph {', '.join(root_requires(ctx.project_root))} for this "
                 "machine", self.deps, inputs=deps_fingerprint(ctx.project_root),
                 needs=("profile",), outputs=(self.bdir / "conan.lock",
                                                        self.bdir / DEPS_RECORD),
                 load=self.load_deps),
            Step(app_step, f"build {self.name} ({self.sanitize or 'no sanitizer'}) into {final}",
                 self.app, inputs={**app_inputs(ctx, self.variant), "sanitize": self.sanitize},
                 needs=("deps",), outputs=(final,), load=lambda ex: final),
        ]
        return Plan(f"{edge_app.NATIVE} ({self.name})", steps, self.bdir / ".stamps")


def build_native(ctx: Context, *, sanitize: str | None = None) -> Path:
    """Build the dependency graph and the app for this machine (x86_64); returns the app folder."""
    nb = NativeBuild(ctx, sanitize)
    plan = nb.plan()
    ctx.reporter.info(plan.render())
    ex = plan.execute(ctx.reporter)
    final = ex[plan.steps[-1].name]
    ctx.reporter.info(f"native app: {final / 'bin' / edge_app.APP_NAME}")
    return final


def release_index(ctx: Context, folders: list[Path]) -> Path:
    """One OCI image layout holding every released board's image (an image index by platform),
    written beside the boards' releases: dist/index/<version>/."""
    results = [container.read_result(f) for f in folders]
    final = ctx.dist_root / "index" / results[0].version
    with staged(final) as out:
        out.mkdir(parents=True)
        container.write_index(results, out)
        return publish(out, final)


# ---- reproducibility ------------------------------------------------------------------------------
def differing_files(a: Path, b: Path) -> list[str]:
    """Relative paths that differ between two trees (missing on one side, or other bytes)."""
    def files(root: Path) -> dict[str, Path]:
        return {str(p.relative_to(root)): p for p in root.rglob("*") if p.is_file()}

    fa, fb = files(a), files(b)
    out = sorted(set(fa) ^ set(fb))
    out += sorted(rel for rel in set(fa) & set(fb)
                  if fa[rel].stat().st_size != fb[rel].stat().st_size
                  or fa[rel].read_bytes() != fb[rel].read_bytes())
    return sorted(out)


def check_reproducible(ctx: Context, target: Target, opts: ReleaseOptions, folder: Path) -> Path:
    """Build the same release again in another build folder (so build paths differ) and
    compare it with `folder` byte for byte; on a mismatch name the files (and let diffoscope
    explain the first ones when it is installed)."""
    second_root = ctx.build_root / ".reproducible"
    second = Context.create(project_root=ctx.project_root, cache_dir=ctx.cache_dir,
                            build_root=second_root, dist_root=second_root / "dist",
                            reporter=ctx.reporter)
    with ctx.reporter.step(f"rebuilding the {target.name} release in {second_root} to compare"):
        other = release(second, target, opts)
    diffs = differing_files(folder, other)
    if not diffs:
        ctx.reporter.info(f"reproducible: {folder} and {other} are byte-identical")
        return other
    runner = ctx.runner(target.name)
    explained = []
    for rel in diffs[:3]:
        if shutil.which("diffoscope") and (folder / rel).is_file() and (other / rel).is_file():
            r = runner.run(["diffoscope", str(folder / rel), str(other / rel)],
                           what=f"diffoscope {rel}", check=False, timeout=600)
            explained.append(f"{rel}: {r.log_path}")
    raise ReproducibilityError(
        f"the {target.name} release is not reproducible: {len(diffs)} files differ between "
        f"{folder} and {other}: {', '.join(diffs[:10])}"
        + (f"; diffoscope reports: {'; '.join(explained)}" if explained else ""))
