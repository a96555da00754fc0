"""Build the dependency graph (FFmpeg, OpenCV and what they need) with Conan, per board.

Steps: fill and verify the source mirror; prepare edgeforge's own Conan home (no remotes, the
mirror as download cache); export the recipes in recipes/; lock the graph (one lockfile per
board); ask Conan for the build order; `conan create` each package whose binary is missing,
one visible step per package (test_package runs under qemu where binfmt is registered); then
the ABI gate over every shared library of the graph.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from edgeforge.config import deps_list
from edgeforge.context import BoardLayout, Context
from edgeforge.core import (
    CommandFailedError,
    Runner,
    UsageError,
    statefile,
    tree_digest,
)
from edgeforge.verify import abi

from .home import conan_env, conan_lock, ensure_conan_home, run_conan
from .sources import fill as fill_mirror
from .sources import load_pins, recipe_version
from .sources import verify as verify_mirror


@dataclass(frozen=True)
class PackageNode:
    ref: str  # name/version#rrev
    package_id: str
    binary: str  # Cache, Build, Missing, Skip ...
    context: str  # host or build

    @property
    def name(self) -> str:
        return self.ref.split("/", 1)[0]

    @property
    def version(self) -> str:
        return self.ref.split("/", 1)[1].split("#", 1)[0]

    @property
    def needs_build(self) -> bool:
        return self.binary in ("Build", "Missing")


def root_requires(project_root: Path) -> list[str]:
    """`name/version` of each package `invoke deps` builds for every board."""
    recipes_dir = project_root / "recipes"
    return [f"{n}/{recipe_version(recipes_dir, n)}" for n in deps_list(project_root).requires]


def recipe_names(project_root: Path) -> list[str]:
    return sorted(p.parent.name for p in (project_root / "recipes").glob("*/conanfile.py"))


# ---- argv (pure) ------------------------------------------------------------------------------
def profile_args(host: Path, build: Path) -> list[str]:
    return ["-pr:h", str(host), "-pr:b", str(build)]


def export_argv(recipe_dir: Path, version: str) -> list[str]:
    return ["conan", "export", str(recipe_dir), "--version", version]


def lock_argv(requires: list[str], host: Path, build: Path, lockfile: Path) -> list[str]:
    req = [a for r in requires for a in ("--requires", r)]
    return ["conan", "lock", "create", *req, *profile_args(host, build),
            "--lockfile-out", str(lockfile)]


def build_order_argv(requires: list[str], host: Path, build: Path, lockfile: Path,
                     out_file: Path) -> list[str]:
    req = [a for r in requires for a in ("--requires", r)]
    return ["conan", "graph", "build-order", *req, *profile_args(host, build),
            "--lockfile", str(lockfile), "--order-by=recipe", "--build=missing",
            "--format=json", "--out-file", str(out_file)]


def create_argv(recipe_dir: Path, node: PackageNode, host: Path, build: Path, lockfile: Path,
                test_folder: Path) -> list[str]:
    argv = ["conan", "create", str(recipe_dir), "--version", node.version,
            *profile_args(host, build), "--lockfile", str(lockfile),
            # test_packages may add tool_requires (protoc) that the board's graph lacks
            "--lockfile-partial",
            f"--build=missing:{node.name}/*",
            "-c", f"tools.cmake.cmake_layout:test_folder={test_folder}"]
    if node.context == "build":
        argv.append("--build-require")
    return argv


def conan_test_argv(recipe_dir: Path, node: PackageNode, host: Path, build: Path, lockfile: Path,
              test_folder: Path) -> list[str]:
    return ["conan", "test", str(recipe_dir / "test_package"), f"{node.name}/{node.version}",
            *profile_args(host, build), "--lockfile", str(lockfile), "--lockfile-partial",
            "-c", f"tools.cmake.cmake_layout:test_folder={test_folder}"]


def program_output(conan_output: str) -> list[str]:
    """The test program's own lines from `conan test`/`conan create` output."""
    marker = "Running test()"
    if marker not in conan_output:
        return []
    tail = conan_output.split(marker, 1)[1].splitlines()[1:]
    return [ln for ln in tail if ln.strip() and not ln.startswith(("RUN:", "WARN:"))]


def download_argv(requires: list[str], host: Path, build: Path, lockfile: Path,
                  out_dir: Path, skipped_too: bool = False) -> list[str]:
    """Fetch the binaries of the locked graph that the cache lacks from the remotes (all of
    them exist by now: downloaded or just built). `skipped_too`: also those Conan would skip
    (static libraries already inside others), when the build order listed one as needed here."""
    req = [a for r in requires for a in ("--requires", r)]
    # --output-folder: the environment scripts Conan writes go to the board's build folder,
    # never into the current directory (a checkout)
    argv = ["conan", "install", *req, *profile_args(host, build), "--lockfile", str(lockfile),
            "--build=never", "--output-folder", str(out_dir)]
    return argv + (["-c", "tools.graph:skip_binaries=False"] if skipped_too else [])


def only_nodes(nodes: list[PackageNode], only: frozenset[str]) -> list[PackageNode]:
    """What an `--only` run is about: the named packages, less those the team's remote has or
    nothing needs here (building what is missing is the run's job; a later build downloads
    the rest)."""
    return [n for n in nodes if n.name in only and n.binary not in ("Download", "Skip")]


def parse_only(text: str, known: Sequence[str]) -> frozenset[str]:
    """`invoke deps --only a,b`: recipe names, each one of the project's recipes."""
    names = {n.strip() for n in str(text).split(",") if n.strip()}
    unknown = sorted(names - set(known))
    if not names or unknown:
        what = f"unknown recipe {', '.join(unknown)}" if unknown else "no recipe named"
        raise UsageError(f"--only {text!r}: {what}; recipes: {', '.join(known)} "
                         "(comma-separated, e.g. --only zlib,libpng)")
    return frozenset(names)


def present_dirs(runner: Runner, env: dict, nodes: list[PackageNode]) -> dict[str, Path]:
    """Package folders of the graph's host packages that the cache already holds (an --only
    run links against what earlier runs built)."""
    out: dict[str, Path] = {}
    for node in nodes:
        if node.context != "host":
            continue
        r = runner.capture(["conan", "cache", "path", f"{node.ref}:{node.package_id}"], env=env,
                           what=f"package folder of {node.name}", check=False)
        folder = Path(r.output.strip().splitlines()[-1]) if r.returncode == 0 and r.output.strip() \
            else None
        if folder and folder.is_dir():
            out[node.name] = folder
    return out


def remove_argv(node: PackageNode) -> list[str]:
    return ["conan", "remove", f"{node.name}/{node.version}:{node.package_id}", "-c"]


def parse_build_order(text: str) -> list[PackageNode]:
    data = json.loads(text)
    nodes = []
    for level in data.get("order", []):
        for recipe in level:
            for group in recipe.get("packages", []):
                for pkg in group:
                    nodes.append(PackageNode(recipe["ref"], pkg["package_id"], pkg["binary"],
                                             pkg.get("context", "host")))
    return nodes


# ---- running -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class DepsResult:
    lockfile: Path
    nodes: tuple[PackageNode, ...]
    built: tuple[str, ...]
    package_dirs: dict[str, Path]

    def to_json(self) -> dict:
        return {"lockfile": str(self.lockfile), "built": list(self.built),
                "nodes": [dataclasses.asdict(n) for n in self.nodes],
                "package_dirs": {k: str(v) for k, v in sorted(self.package_dirs.items())}}

    @classmethod
    def from_json(cls, data: dict) -> DepsResult:
        return cls(Path(data["lockfile"]), tuple(PackageNode(**n) for n in data["nodes"]),
                   tuple(data["built"]),
                   {k: Path(v) for k, v in data["package_dirs"].items()})

    @classmethod
    def read(cls, path: Path) -> DepsResult | None:
        """build/<board>/deps.json (None: none), checked: what a build wrote for this folder
        (its own conan.lock, Conan references and package IDs, absolute folders), or
        StateFileError. Its lockfile is uploaded and its folders read: never on a forged word."""
        fix = (f"Delete it (rm {path}) and build the board again: invoke build --board "
               f"{path.parent.name}")
        rec = statefile.load(path, _DepsRecord, fix)
        if rec is None:
            return None
        lockfile = BoardLayout(path.parent).lockfile
        if rec.lockfile != str(lockfile):
            raise statefile.refused(path, f"lockfile: not this board's {lockfile}", fix)
        return cls.from_json(rec.model_dump())


#: a Conan reference: name/version[@user/channel][#revision]
_REF = (r"^[a-z0-9_][a-z0-9_+.-]{0,100}/[A-Za-z0-9_+.-]{1,100}"
        r"(@[A-Za-z0-9_+.-]+/[A-Za-z0-9_+.-]+)?(#[0-9a-f]{1,64})?$")


class _NodeRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    ref: str = Field(pattern=_REF)
    package_id: str = Field(pattern=r"^[0-9a-f]{1,64}$")
    binary: str = Field(pattern=r"^[A-Za-z]{1,32}$")
    context: Literal["host", "build"]


class _DepsRecord(BaseModel):
    """deps.json as DepsResult.to_json writes it."""

    model_config = ConfigDict(extra="forbid", strict=True)
    lockfile: str
    built: list[Annotated[str, Field(pattern=_REF)]]
    nodes: list[_NodeRecord]
    package_dirs: dict[Annotated[str, Field(pattern=r"^[a-z0-9_][a-z0-9_+.-]{0,100}$")],
                       Annotated[str, Field(pattern=r"^/[^\n\r\x00]*$")]]


def prepare_sources(ctx: Context, runner: Runner, recipes: list[str] | None = None) -> None:
    pins = load_pins(ctx.project_root / "recipes", recipes)
    with ctx.reporter.step(f"source mirror ({len(pins)} archives)"):
        for line in fill_mirror(ctx, pins, runner):
            ctx.reporter.info(f"fetched {line}")
        verify_mirror(ctx, pins)


def build_deps(ctx: Context, board: str, host: Path, build: Path, runner: Runner,
               policy_for: Callable | None, run_tests: bool = False,
               only: frozenset[str] | None = None) -> DepsResult:
    """Download or build every package of the graph for the board; gate what it contains.
    With `only` (`invoke deps --only`, a level of a CI pipeline): build just those packages."""
    with conan_lock(ctx):
        return _build_deps(ctx, board, host, build, runner, policy_for, run_tests, only)


def graph_order(ctx: Context, board: str, host: Path, build: Path, runner: Runner,
                out_dir: Path | None = None) -> tuple[list[str], Path, list[PackageNode]]:
    """Export the recipes, lock the graph, ask Conan what is cached, downloadable or to build.
    The lockfile and the order go to `out_dir` (default: the board's build folder). The
    caller holds conan_lock()."""
    root = ctx.project_root
    requires = root_requires(root)
    ensure_conan_home(ctx, build)
    env = conan_env(ctx)
    layout = BoardLayout(out_dir) if out_dir else ctx.layout(board)
    lockfile = layout.lockfile
    for name in recipe_names(root):
        version = recipe_version(root / "recipes", name)
        runner.run(export_argv(root / "recipes" / name, version), env=env,
                   what=f"export recipe {name}/{version}", echo=False)
    run_conan(runner, lock_argv(requires, host, build, lockfile), env,
              f"lock the graph for {board}")
    order_file = layout.build_order
    run_conan(runner, build_order_argv(requires, host, build, lockfile, order_file), env,
              f"compute build order for {board}", echo=False)
    return requires, lockfile, parse_build_order(order_file.read_text())


def _build_deps(ctx: Context, board: str, host: Path, build: Path, runner: Runner,
                policy_for: Callable | None, run_tests: bool,
                only: frozenset[str] | None = None) -> DepsResult:
    root = ctx.project_root
    env = conan_env(ctx)
    with ctx.reporter.step(f"Conan graph for {board}: {', '.join(root_requires(root))}"):
        requires, lockfile, nodes = graph_order(ctx, board, host, build, runner)
        graph = nodes
        if only is not None:
            nodes = only_nodes(nodes, only)
        todo = [n for n in nodes if n.needs_build]
        # Skip: not needed to build anything here, yet its folder is read below (gate, app)
        fetch = [n for n in nodes if n.binary in ("Download", "Skip")]
        ctx.reporter.info(f"{len(nodes)} packages: {len(fetch)} to download from the team's "
                          f"remotes, {len(todo)} to build"
                          + (": " + ", ".join(f"{n.name} ({n.context})" for n in todo) if todo else ""))
    if todo:  # sources only for what is built here
        prepare_sources(ctx, runner, sorted({n.name for n in todo}))
    built = []
    for i, node in enumerate(todo, 1):
        where = "the build machine" if node.context == "build" else board
        with ctx.reporter.step(f"[{i}/{len(todo)}] building {node.name}/{node.version} for "
                               f"{where} (and its test_package)"):
            try:
                result = runner.run(
                    create_argv(root / "recipes" / node.name, node, host, build, lockfile,
                                ctx.test_package_dir / board / node.name),
                    env=env, what=f"build {node.name} for {where}",
                    log_name=f"conan-create-{node.name}-{node.context}", timeout=3 * 3600)
            except CommandFailedError:
                # a package whose test_package failed must not count as built next time
                runner.run(remove_argv(node), env=env, what=f"discard {node.name} binary",
                           check=False, echo=False)
                raise
            built.append(node.ref)
            for line in program_output(result.output):
                ctx.reporter.info(f"test_package: {line}")
    if fetch:
        with ctx.reporter.step(f"downloading {len(fetch)} binaries for {board}: "
                               + ", ".join(f"{n.name} ({n.context})" for n in fetch)):
            run_conan(runner, download_argv(requires, host, build, lockfile,
                                            ctx.layout(board).conan_download,
                                            any(n.binary == "Skip" for n in fetch)), env,
                      f"download {board}'s binaries", log_name="conan-download")
    if run_tests:
        for node in nodes:
            recipe = root / "recipes" / node.name
            if node.ref in built or node.context != "host" or not (recipe / "test_package").is_dir():
                continue
            with ctx.reporter.step(f"test_package of {node.name}/{node.version} on {board}"):
                result = runner.run(
                    conan_test_argv(recipe, node, host, build, lockfile,
                                    ctx.test_package_dir / board / node.name),
                    env=env, what=f"test {node.name} for {board}",
                    log_name=f"conan-test-{node.name}")
                for line in program_output(result.output):
                    ctx.reporter.info(f"test_package: {line}")
    package_dirs: dict[str, Path] = {}
    for node in nodes:
        if node.context != "host":
            continue
        out = runner.capture(["conan", "cache", "path", f"{node.ref}:{node.package_id}"],
                             env=env, what=f"package folder of {node.name}").output
        package_dirs[node.name] = Path(out.strip().splitlines()[-1])
    result = DepsResult(lockfile, tuple(nodes), tuple(built), package_dirs)
    if policy_for is None:  # the native (build machine) graph has no board ceiling
        return result
    with ctx.reporter.step(f"ABI gate over the dependencies for {board}"):
        libs = []
        for d in package_dirs.values():
            libs += abi.elf_files_under(d / "lib") if (d / "lib").is_dir() else []
        # an --only run's packages link against the graph's others, from earlier runs
        found = package_dirs if only is None else {**present_dirs(runner, env, graph), **package_dirs}
        own = tuple(d / "lib" for d in found.values())
        report = abi.gate(libs, policy_for(own))
        report.raise_for_violations()
        ctx.reporter.info(report.summary())
    return result


def deps_fingerprint(project_root: Path) -> dict[str, str]:
    """What the dependency build depends on: the graph's roots (the apps' requirements) and
    every recipe's tree."""
    out = {"roots": " ".join(deps_list(project_root).requires)}
    for name in recipe_names(project_root):
        out[name] = tree_digest(project_root / "recipes" / name)
    return out

