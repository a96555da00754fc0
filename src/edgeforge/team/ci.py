"""`invoke ci`: the project's CI pipeline, as GitLab's .gitlab-ci.yml or a GitHub Actions
workflow, generated from the boards (toolchains/boards/) and the dependency graph.

Each board gets a chain of jobs, one per level of its Conan build order, then the app:

    <board>-deps-1 -> ... -> <board>-deps-N -> <board>-app -> <board>-release (tags only)

- `<board>-deps-K` builds the packages of level K (`./edgeforge deps --board B --only a,b`)
  and pushes the binaries to the team's Conan remote (`./edgeforge cache push --board B`).
  The remote is how binaries reach the next job: CI caches are a speed-up that may miss (a
  GitHub cache key, once saved, is never overwritten; GitLab's cache may be per runner).
- `<board>-app` builds the app (`./edgeforge build`), runs its tests under qemu-user
  (`./edgeforge test`) and pushes what it built.
- `<board>-release`, on a tag only, runs `./edgeforge release` and keeps dist/ as artifacts
  (with `--push REPO`, also pushes the board's image to "$EDGEFORGE_REGISTRY/REPO/<board>":
  a single-board release pushes one image tagged with the version, so boards sharing one
  repository would overwrite each other's tag).

Every job adds the team's remote (`./edgeforge remote add "$EDGEFORGE_CONAN_REMOTE_NAME"
"$EDGEFORGE_CONAN_REMOTE_URL"`) and logs in (`./edgeforge remote login`) with Conan's own
CONAN_LOGIN_USERNAME_<REMOTE> / CONAN_PASSWORD_<REMOTE>, which the file maps from the CI's
secret variables EDGEFORGE_CONAN_USER / EDGEFORGE_CONAN_PASSWORD: no credential, URL or
registry host is ever written into the file. EDGEFORGE_CACHE points at .edgeforge-cache/ in
the checkout, cached per board (GitLab `cache:` keyed by board; GitHub `actions/cache` keyed
by board and a hash of recipes/ and toolchains/).

Where the levels come from (`--levels`):
- conan (the default, a few seconds, all local): the very commands `invoke deps` runs
  (deps.py's `conan export`, `conan lock create`, `conan graph build-order`) in a throwaway
  Conan home holding only the project's exported recipes (no remote, no sources). The host
  profile is the board's Conan settings (arch, compiler family and the version its compiler
  descriptor names, cppstd, build_type) without the toolchain's confs: those need the board's
  sysroot and a probed compiler (minutes of mmdebstrap, the compilers installed) and only
  change package IDs, not which packages the graph holds nor their order. The build profile
  is Debian 12's gcc 12 on x86_64 (the CI image). Boards with equal settings share one graph.
- recipes (milliseconds, no Conan): the recipes' own requirement calls (`self.requires(...)`,
  `tool_requires`, ... in recipes/*/conanfile.py, read without running them) from
  roots (the apps' build.requires). A conditional requirement counts as always present (FFmpeg's
  optional zlib), so levels may be deeper than Conan's: the order is never wrong, only less
  parallel.

The output is deterministic: boards, levels and packages are sorted, keys come in a fixed
order and nothing depends on the time or the machine, so the same inputs give the same bytes.
"""

from __future__ import annotations

import json
import re
import shlex
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from edgeforge.config import Target, deps_list, dump_pipeline, recipe_requirement_calls
from edgeforge.context import Context, usable_dir
from edgeforge.core import DescriptorError, Runner, UsageError, check_destination, write_atomic
from edgeforge.deps import (
    build_order_argv,
    conan_env,
    export_argv,
    lock_argv,
    recipe_names,
    recipe_version,
    root_requires,
)

PROVIDERS = ("github", "gitlab")
DEFAULT_OUT = {"gitlab": ".gitlab-ci.yml", "github": ".github/workflows/edgeforge.yml"}
LEVEL_SOURCES = ("conan", "recipes")
CACHE_FOLDER = ".edgeforge-cache"
#: what the runner's cache keeps of it: heavy state only, never the Conan home's login tokens
#: (conan2/.conan.db) or its remotes
CACHE_PATHS = tuple(f"{CACHE_FOLDER}/{p}/" for p in
                    ("conan2/p", "sysroots", "sources", "ccache", "probes", "toolchains"))
#: the CI image: a Debian 12 image, as the project's machines run (a CI variable overrides it)
DEFAULT_IMAGE = "debian:12"
#: the build machine of the graph's build context: Debian 12's gcc
BUILD_GCC = "12"
#: the methods whose first argument is a requirement of the recipe
REQUIREMENT_METHODS = ("requires", "tool_requires", "build_requires", "test_requires")
#: the registry login `invoke release --push` reads (secret variables of the CI)
REGISTRY_SECRETS = ("EDGEFORGE_REGISTRY_USER", "EDGEFORGE_REGISTRY_PASSWORD")
#: job time limits in minutes (a level can hold OpenCV: hours on a 2-core runner)
TIMEOUTS = {"deps": 360, "app": 120, "release": 120}
_REMOTE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_REPO = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")

Levels = tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class BoardLevels:
    """A board and its dependency levels: recipe names, level 1 first."""

    board: str
    levels: Levels


@dataclass(frozen=True)
class CiApp:
    """An app of the project, as the pipeline sees it: its name, and whether it builds against
    the board's Conan graph (its job then waits for the graph's levels)."""

    name: str
    graph: bool = True
    image: bool = True   # it has a container image (`--push` pushes it)


@dataclass(frozen=True)
class CiOptions:
    remote: str = "team"  # the Conan remote's name in CI (it names Conan's login variables)
    push: str | None = None  # on tags, push each image to $EDGEFORGE_REGISTRY/<push>/<board>
    levels_from: str = "conan"

    @property
    def remote_env(self) -> str:
        """The suffix of Conan's CONAN_LOGIN_USERNAME_<REMOTE> for this remote name."""
        return self.remote.replace("-", "_").upper()


@dataclass(frozen=True)
class Job:
    id: str
    board: str
    kind: str  # deps | app | release
    stage: str
    title: str
    needs: tuple[str, ...]
    commands: tuple[str, ...]

    @property
    def tag_only(self) -> bool:
        return self.kind == "release"


# ---- checks (pure) -----------------------------------------------------------------------------
def check_provider(provider: str | None) -> str:
    if provider not in PROVIDERS:
        given = f"--provider {provider!r}: unknown" if provider else "no --provider given"
        raise UsageError(f"{given}; expected one of {', '.join(PROVIDERS)} "
                         "(e.g. invoke ci --provider gitlab)")
    return provider


def check_options(opts: CiOptions) -> CiOptions:
    if opts.levels_from not in LEVEL_SOURCES:
        raise UsageError(f"--levels {opts.levels_from!r}: expected one of "
                         f"{', '.join(LEVEL_SOURCES)}")
    if not _REMOTE.match(opts.remote):
        raise UsageError(f"--remote {opts.remote!r}: a remote name starts with a letter and "
                         "holds letters, digits, '_' and '-' only (it names CI variables)")
    if opts.push is not None and (not _REPO.match(opts.push) or "." in opts.push.split("/")[0]):
        raise UsageError(f"--push {opts.push!r}: expected a repository path such as "
                         "team/<app> (the registry itself comes from $EDGEFORGE_REGISTRY)")
    return opts


def job_base(board: str) -> str:
    """The board's part of job ids: letters, digits, '_' and '-' (GitHub's rule for ids)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", board)


def image_name(board: str) -> str:
    """The board's part of an image repository path (lower-case letters, digits, '.', '_', '-')."""
    return re.sub(r"[^a-z0-9._-]+", "-", board.lower()).strip("._-") or "board"


# ---- levels (pure) -----------------------------------------------------------------------------
def levels_from_build_order(text: str) -> Levels:
    """Recipe names per level from `conan graph build-order --format=json` ("order" is a list of
    levels); a package in both contexts (protobuf for the board and the build machine) once."""
    data = json.loads(text)
    out: list[tuple[str, ...]] = []
    seen: set[str] = set()
    for level in data.get("order", []):
        names = sorted({r["ref"].split("/", 1)[0] for r in level} - seen)
        seen.update(names)
        if names:
            out.append(tuple(names))
    return tuple(out)


def levels_from_requirements(roots: Iterable[str], requires: dict[str, Sequence[str]],
                             where: str = "recipes") -> Levels:
    """Levels of the graph reachable from `roots`, given each recipe's requirement names:
    a recipe sits one level above the deepest of its requirements."""
    depth: dict[str, int] = {}

    def visit(name: str, path: tuple[str, ...]) -> int:
        if name in path:
            cycle = " -> ".join((*path[path.index(name):], name))
            raise DescriptorError(f"the recipes in {where}/ require each other in a cycle: {cycle}; "
                                  "remove one of these requirements")
        if name not in depth:
            if name not in requires:
                by = f"recipe {path[-1]} requires" if path else "an app's build.requires names"
                raise DescriptorError(f"{by} {name!r}, but there is no {where}/{name}/conanfile.py; "
                                      f"add the recipe or remove the requirement")
            deps = requires[name]
            depth[name] = 1 + max((visit(d, (*path, name)) for d in deps), default=-1)
        return depth[name]

    for root in roots:
        visit(root, ())
    levels: dict[int, list[str]] = {}
    for name, d in depth.items():
        levels.setdefault(d, []).append(name)
    return tuple(tuple(sorted(levels[d])) for d in sorted(levels))


def recipe_levels(project_root: Path) -> Levels:
    """`--levels recipes`: the recipes' own requirement calls, read without running them."""
    recipes = project_root / "recipes"
    requires = {}
    for name in recipe_names(project_root):
        refs = [r for m in REQUIREMENT_METHODS for r in recipe_requirement_calls(recipes / name, m)]
        requires[name] = sorted({r.split("/", 1)[0] for r in refs})
    return levels_from_requirements(deps_list(project_root).requires, requires)


@dataclass(frozen=True, order=True)
class GraphSettings:
    """The Conan settings that decide a board's graph (see the module's docstring)."""

    arch: str
    compiler: str
    version: str
    cppstd: str
    build_type: str


def graph_settings(t: Target, catalog_rel: str) -> GraphSettings:
    version = t.compiler.spec.version
    if not version:
        raise DescriptorError(
            f"board {t.name}: compiler {t.compiler.name} ({catalog_rel}) names no 'version' (a "
            "build probes it), but `invoke ci` computes the graph without compilers; add "
            "version: \"NN\" (the major version) to it, or use `invoke ci --levels recipes`")
    return GraphSettings(t.arch.conan_arch, t.family.value, str(version), t.cppstd, t.build_type)


def graph_profile(s: GraphSettings, *, build_machine: bool = False) -> str:
    arch, compiler, version = ("x86_64", "gcc", BUILD_GCC) if build_machine else (
        s.arch, s.compiler, s.version)
    return "\n".join([
        "[settings]", "os=Linux", f"arch={arch}", f"compiler={compiler}",
        f"compiler.version={version}", "compiler.libcxx=libstdc++11",
        f"compiler.cppstd={s.cppstd}", f"build_type={s.build_type}", ""])


# ---- jobs (pure) -------------------------------------------------------------------------------
def _sh(word: str) -> str:
    return shlex.quote(word)


def remote_commands() -> tuple[str, ...]:
    return (
        ': "${EDGEFORGE_CONAN_REMOTE_URL:?set the CI variable EDGEFORGE_CONAN_REMOTE_URL to the '
        'URL of the team Conan remote}"',
        './edgeforge remote add "$EDGEFORGE_CONAN_REMOTE_NAME" "$EDGEFORGE_CONAN_REMOTE_URL"',
        './edgeforge remote login "$EDGEFORGE_CONAN_REMOTE_NAME"',
    )


def plan_jobs(boards: Iterable[BoardLevels], opts: CiOptions,
              apps: Sequence[CiApp] = ()) -> tuple[Job, ...]:
    """Every board's chain of jobs, boards in name order, each chain in dependency order. A
    project with several `apps` gets an app job and a release job per app (<board>-app-<app>,
    <board>-release-<app>), each command with --app; an app that takes no Conan package does
    not wait for the graph's levels. One app (or none known): <board>-app, <board>-release."""
    jobs: list[Job] = []
    ids: dict[str, str] = {}
    for bl in sorted(boards, key=lambda b: b.board):
        base = job_base(bl.board)
        if base in ids:
            raise UsageError(f"boards {ids[base]} and {bl.board} give the same CI job names "
                             f"({base}-...); rename one of their descriptor files")
        ids[base] = bl.board
        b = _sh(bl.board)
        prev: tuple[str, ...] = ()
        n = len(bl.levels)
        for k, names in enumerate(bl.levels, 1):
            job = Job(f"{base}-deps-{k}", bl.board, "deps", f"deps-{k}",
                      f"{bl.board}: dependencies {k}/{n} ({', '.join(names)})", prev,
                      (f"./edgeforge deps --board {b} --only {_sh(','.join(sorted(names)))}",
                       f"./edgeforge cache push --board {b}"))
            jobs.append(job)
            prev = (job.id,)
        graph_done = prev
        named = sorted(apps, key=lambda a: a.name) if len(apps) > 1 else [None]
        slugs: dict[str, str] = {}
        for a in named:
            if a is not None and slugs.setdefault(job_base(a.name), a.name) != a.name:
                raise UsageError(f"apps {slugs[job_base(a.name)]} and {a.name} give the same CI "
                                 f"job names ({base}-app-{job_base(a.name)}); rename one")
            suffix = f"-{job_base(a.name)}" if a else ""
            flag = f" --app {_sh(a.name)}" if a else ""
            what = f"{a.name}" if a else "the app"
            graph = a is None or a.graph
            # an app without the Conan graph has no binaries for the team's remote
            app = Job(f"{base}-app{suffix}", bl.board, "app", "app",
                      f"{bl.board}: build {what}, test it under qemu"
                      + (", push the binaries" if graph else ""),
                      graph_done if graph else (),
                      (f"./edgeforge build --board {b}{flag}",
                       f"./edgeforge test --board {b}{flag}",
                       *([f"./edgeforge cache push --board {b}"] if graph else [])))
            release = f"./edgeforge release --board {b}{flag}"
            if opts.push and (a is None or a.image):  # a repository per board (and app)
                repo = "/".join([opts.push, *([image_name(a.name)] if a else []),
                                 image_name(bl.board)])
                release += f' --push "$EDGEFORGE_REGISTRY/{repo}"'
            jobs += [app, Job(f"{base}-release{suffix}", bl.board, "release", "release",
                              f"{bl.board}: release {what} (tags only)", (app.id,), (release,))]
    return tuple(jobs)


def artifact_name(job: Job) -> str:
    """release-<board>[-<app>]: a release job's artifacts (unique in a pipeline run)."""
    base = job_base(job.board)
    return f"release-{base}" + job.id.removeprefix(f"{base}-release")


def stages(jobs: Sequence[Job]) -> list[str]:
    depth = max((int(j.stage.split("-")[1]) for j in jobs if j.kind == "deps"), default=0)
    return [*(f"deps-{k}" for k in range(1, depth + 1)), "app", "release"]


def header(provider: str, boards: Sequence[BoardLevels], opts: CiOptions) -> str:
    src = {"conan": "`conan graph build-order` on each board's settings",
           "recipes": "the recipes' own requirement calls"}[opts.levels_from]
    lines = [
        f"Generated by edgeforge: `invoke ci --provider {provider}` (regenerate it, do not edit).",
        f"Per board: one job per dependency level (from {src}), then the app; tags: release.",
        "CI variables to set: EDGEFORGE_CONAN_REMOTE_URL"
        + (", EDGEFORGE_REGISTRY" if opts.push else "") + "; secrets EDGEFORGE_CONAN_USER,",
        "EDGEFORGE_CONAN_PASSWORD"
        + ("".join(f", {v}" for v in REGISTRY_SECRETS) if opts.push else "") + ".",
        "Jobs run as root in a Debian 12 image (EDGEFORGE_CI_IMAGE) that may register binfmt and",
        "start dockerd: a privileged container or a machine of its own.",
        "Levels:",
    ]
    for bl in sorted(boards, key=lambda b: b.board):
        lines.append(f"  {bl.board}: " + " | ".join(", ".join(lv) for lv in bl.levels))
    return "".join(f"# {ln}\n" for ln in lines)


PREREQUISITES = ("command -v git >/dev/null || { apt-get update -qq && "
                 "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq git ca-certificates; }")


def gitlab_document(jobs: Sequence[Job], opts: CiOptions) -> dict:
    doc: dict = {
        "stages": stages(jobs),
        "variables": {
            "EDGEFORGE_CI_IMAGE": DEFAULT_IMAGE,
            "EDGEFORGE_CACHE": f"$CI_PROJECT_DIR/{CACHE_FOLDER}",
            "EDGEFORGE_CONAN_REMOTE_NAME": opts.remote,
            f"CONAN_LOGIN_USERNAME_{opts.remote_env}": "$EDGEFORGE_CONAN_USER",
            f"CONAN_PASSWORD_{opts.remote_env}": "$EDGEFORGE_CONAN_PASSWORD",
        },
        "default": {
            "image": "$EDGEFORGE_CI_IMAGE",
            "before_script": [PREREQUISITES, *remote_commands()],
        },
    }
    for j in jobs:
        entry: dict = {"stage": j.stage, "needs": list(j.needs), "script": list(j.commands),
                       "cache": {"key": f"edgeforge-{job_base(j.board)}",
                                 "paths": list(CACHE_PATHS),
                                 "policy": "pull" if j.tag_only else "pull-push"},
                       "timeout": f"{TIMEOUTS[j.kind] // 60}h"}
        if j.tag_only:
            entry["rules"] = [{"if": "$CI_COMMIT_TAG"}]
            entry["artifacts"] = {"name": f"{artifact_name(j)}-$CI_COMMIT_TAG",
                                  "paths": ["dist/"], "expire_in": "never"}
        doc[j.id] = entry
    return doc


def _gh(expr: str) -> str:
    return "${{ " + expr + " }}"


def github_document(jobs: Sequence[Job], opts: CiOptions) -> dict:
    env = {
        "EDGEFORGE_CONAN_REMOTE_NAME": opts.remote,
        "EDGEFORGE_CONAN_REMOTE_URL": _gh("vars.EDGEFORGE_CONAN_REMOTE_URL"),
    }
    # the secrets reach only the login step (Conan keeps the token for the job's later steps)
    login_env = {
        f"CONAN_LOGIN_USERNAME_{opts.remote_env}": _gh("secrets.EDGEFORGE_CONAN_USER"),
        f"CONAN_PASSWORD_{opts.remote_env}": _gh("secrets.EDGEFORGE_CONAN_PASSWORD"),
    }
    if opts.push:
        env["EDGEFORGE_REGISTRY"] = _gh("vars.EDGEFORGE_REGISTRY")
    registry_login = {v: _gh(f"secrets.{v}") for v in REGISTRY_SECRETS}
    doc: dict = {
        "name": "edgeforge",
        "on": {"push": {"branches": ["**"], "tags": ["**"]}, "workflow_dispatch": None},
        "permissions": {"contents": "read"},
        "env": env,
        "defaults": {"run": {"shell": "bash"}},
        "jobs": {},
    }
    hash_inputs = _gh("hashFiles('recipes/**', 'toolchains/**')")
    for j in jobs:
        base = job_base(j.board)
        steps: list[dict] = [
            {"name": "host prerequisites", "run": PREREQUISITES},
            {"uses": "actions/checkout@v4", **({"with": {"fetch-depth": 0}} if j.tag_only else {})},
            {"name": "edgeforge cache folder",
             "run": f'echo "EDGEFORGE_CACHE=$GITHUB_WORKSPACE/{CACHE_FOLDER}" >> "$GITHUB_ENV"'},
            {"uses": "actions/cache@v4",
             "with": {"path": "\n".join(CACHE_PATHS), "key": f"edgeforge-{base}-{hash_inputs}",
                      "restore-keys": f"edgeforge-{base}-"}},
            {"name": "team Conan remote", "env": login_env,
             "run": "\n".join(remote_commands())},
            *({"run": c} for c in j.commands),
        ]
        if j.tag_only:
            steps.append({"uses": "actions/upload-artifact@v4",
                          "with": {"name": artifact_name(j), "path": "dist/",
                                   "if-no-files-found": "error"}})
        entry: dict = {
            "name": j.title,
            "runs-on": _gh("vars.EDGEFORGE_RUNNER || 'ubuntu-latest'"),
            "container": {"image": _gh(f"vars.EDGEFORGE_CI_IMAGE || '{DEFAULT_IMAGE}'"),
                          "options": "--privileged"},
        }
        if j.needs:
            entry["needs"] = list(j.needs)
        if j.tag_only:
            entry["if"] = "startsWith(github.ref, 'refs/tags/')"
            if opts.push:
                entry["env"] = registry_login
        entry["timeout-minutes"] = TIMEOUTS[j.kind]
        entry["steps"] = steps
        doc["jobs"][j.id] = entry
    return doc


def render(provider: str, boards: Sequence[BoardLevels], opts: CiOptions,
           apps: Sequence[CiApp] = ()) -> str:
    """The pipeline file's text: the same inputs give the same bytes."""
    check_provider(provider)
    check_options(opts)
    jobs = plan_jobs(boards, opts, apps)
    doc = (gitlab_document if provider == "gitlab" else github_document)(jobs, opts)
    return header(provider, boards, opts) + dump_pipeline(doc)


# ---- computing the levels (thin) ---------------------------------------------------------------
def conan_levels(ctx: Context, settings: Sequence[GraphSettings], runner: Runner
                 ) -> dict[GraphSettings, Levels]:
    """`--levels conan`: deps.py's own commands in a throwaway Conan home (see the docstring)."""
    root = ctx.project_root
    requires = root_requires(root)
    out: dict[GraphSettings, Levels] = {}
    with tempfile.TemporaryDirectory(prefix="edgeforge-ci-graph-") as tmp:
        home = Path(tmp) / "conan2"
        (home / "profiles").mkdir(parents=True)
        (home / "global.conf").write_text("core:non_interactive=True\n")
        (home / "remotes.json").write_text(json.dumps({"remotes": []}) + "\n")
        env = {**conan_env(ctx), "CONAN_HOME": str(home)}
        for name in recipe_names(root):
            version = recipe_version(root / "recipes", name)
            runner.run(export_argv(root / "recipes" / name, version), env=env, echo=False,
                       what=f"export recipe {name}/{version} (throwaway Conan home)", timeout=300)
        for i, s in enumerate(sorted(set(settings))):
            host, build = Path(tmp) / f"host-{i}.profile", Path(tmp) / f"build-{i}.profile"
            host.write_text(graph_profile(s))
            build.write_text(graph_profile(s, build_machine=True))
            lock, order = Path(tmp) / f"{i}.lock", Path(tmp) / f"order-{i}.json"
            what = f"{s.arch} {s.compiler} {s.version}"
            runner.run(lock_argv(requires, host, build, lock), env=env, echo=False,
                       what=f"lock the graph for {what}", timeout=300)
            runner.run(build_order_argv(requires, host, build, lock, order), env=env, echo=False,
                       what=f"compute the build order for {what}", timeout=300)
            out[s] = levels_from_build_order(order.read_text())
    return out


def board_levels(ctx: Context, boards: Sequence[str] | None, levels_from: str) -> list[BoardLevels]:
    cat = ctx.catalog
    known = cat.names("boards")
    problems = cat.problems("boards")
    if boards:
        unknown = sorted(set(boards) - set(known))
        if unknown:
            raise UsageError(f"unknown board {', '.join(unknown)}; boards: {', '.join(known)}")
        names = sorted(set(boards))
    else:
        if problems:  # a pipeline that silently leaves a board out would be worse than none
            raise DescriptorError("\n".join(problems))
        names = known
    if not names:
        raise DescriptorError("no boards in toolchains/boards/: nothing to build in CI")
    targets = [cat.resolve(n, env={}) for n in names]  # the descriptors only, never the shell's
    if levels_from == "recipes":
        levels = recipe_levels(ctx.project_root)
        return [BoardLevels(t.name, levels) for t in targets]
    settings = {t.name: graph_settings(t, cat.rel(t.compiler.path)) for t in targets}
    with ctx.reporter.step(f"Conan build order for {len(set(settings.values()))} distinct "
                           f"board settings ({len(targets)} boards)"):
        by_settings = conan_levels(ctx, list(settings.values()), ctx.probe_runner())
    return [BoardLevels(t.name, by_settings[settings[t.name]]) for t in targets]


def write(ctx: Context, provider: str | None, out: str | Path | None = None,
          boards: Sequence[str] | None = None, opts: CiOptions | None = None) -> Path:
    """Compute the levels, render the pipeline and write it (aside, then renamed into place)."""
    provider = check_provider(provider)
    opts = check_options(opts or CiOptions())
    path = Path(out).expanduser().absolute() if out else ctx.project_root / DEFAULT_OUT[provider]
    origin = f"--out {out}" if out else "the default output file"
    fix = "give --out a file in a folder edgeforge can write"
    if path.is_dir():
        raise UsageError(f"--out {out}: is a folder; give the file to write")
    check_destination(path, "--out" if out else "the pipeline file")  # no FIFO, no device
    usable_dir(path.parent, "the folder", origin, fix, error=UsageError)  # before any work
    found = board_levels(ctx, boards, opts.levels_from)
    apps = [CiApp(a.name, a.spec.build.kind == "conan", a.spec.deliver.container_image is not None)
            for a in ctx.apps()]
    text = render(provider, found, opts, apps)
    try:
        write_atomic(path, text)
    except OSError as exc:  # what the check cannot see: a read-only mount, a full disk
        raise UsageError(f"cannot write {path} (from {origin}): {exc.strerror or exc}; "
                         f"fix: {fix}") from None
    for bl in found:
        ctx.reporter.info(f"  {bl.board}: {len(bl.levels)} dependency levels: "
                          + " | ".join(", ".join(lv) for lv in bl.levels))
    return path

