"""Build state: where things go. Configuration (descriptors) stays in frozen objects.

Heavy state (sysroots, source mirror, Conan home, ccache, probe results) lives in one cache
directory outside the checkout, EDGEFORGE_CACHE (default: $XDG_CACHE_HOME/edgeforge or
~/.cache/edgeforge), so a fresh clone reuses it. Produced artifacts go to build/<board>/
(EDGEFORGE_BUILD_DIR; `ctx.layout(board)`, a `BoardLayout`, names every path in it), releases
to dist/<board>/<version>/ (EDGEFORGE_DIST_DIR). All are
checked when the context is created: each must be a directory
edgeforge can write, or creatable; a message names the variable the path came from.
"""

from __future__ import annotations

import difflib
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from edgeforge.config import APP_FILE, APPS_DIR, App, Catalog, load_apps
from edgeforge.core import (
    DescriptorError,
    EdgeforgeError,
    HostSetupError,
    Reporter,
    Runner,
    UsageError,
)


def _cache_dir_and_origin() -> tuple[Path, str]:
    if os.environ.get("EDGEFORGE_CACHE"):
        return Path(os.environ["EDGEFORGE_CACHE"]).expanduser(), "environment variable EDGEFORGE_CACHE"
    if os.environ.get("XDG_CACHE_HOME"):
        return (Path(os.environ["XDG_CACHE_HOME"]) / "edgeforge",
                "environment variable XDG_CACHE_HOME")
    return Path.home() / ".cache" / "edgeforge", "the default (~/.cache/edgeforge)"


def default_cache_dir() -> Path:
    return _cache_dir_and_origin()[0].resolve()


def usable_dir(path: Path, what: str, origin: str, fix: str,
               error: type[EdgeforgeError] = HostSetupError) -> Path:
    """`path`, resolved, if it is a directory edgeforge can write or can create; else a
    HostSetupError (or `error`: UsageError for a folder an option names) naming what the
    directory is for and where the path came from."""
    def refuse(problem: str) -> EdgeforgeError:
        return error(f"{what} {path} (from {origin}) {problem}; fix: {fix}")

    try:
        path = Path(path).resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise refuse(f"cannot be resolved ({exc})") from None
    if path.exists():
        if not path.is_dir():
            raise refuse("is a file, not a directory")
        if not os.access(path, os.W_OK | os.X_OK):
            raise refuse("is not writable")
        return path
    existing = next(p for p in path.parents if os.path.lexists(p))
    if not existing.is_dir():
        raise refuse(f"cannot be created: {existing} is a file, not a directory")
    try:  # create and remove a probe: write permission alone says nothing for root or /proc
        os.rmdir(tempfile.mkdtemp(prefix=".edgeforge-probe-", dir=existing))
    except OSError as exc:
        raise refuse(f"cannot be created in {existing}: {exc.strerror}") from None
    return path


def find_project_root(start: Path | None = None) -> Path:
    here = (start or Path.cwd()).resolve()
    for cand in (here, *here.parents):
        if (cand / "toolchains" / "defaults.yaml").is_file() and (cand / "pyproject.toml").is_file():
            return cand
    # the package's own checkout (editable installs)
    pkg = Path(__file__).resolve().parents[2]
    return pkg


#: the app a command works on when --app is not given (as EDGEFORGE_BOARD is for --board)
APP_VAR = "EDGEFORGE_APP"

ROOTFS_TREE = "tree"  # the root file system's folder in release/rootfs/ (`rootfs_tree`)


@dataclass(frozen=True)
class BoardLayout:
    """Every path of a board's build folder, named once (like mkosi's context): build steps,
    release steps, device steps, the debugger and the CLI ask it, never spell a path.

    A layout `for_app(name)` names the folders of one app's own records too (its split debug
    files, manifest, smoke run, release steps and debugger files) under apps/<app>/: two apps
    of one board never write into each other's."""

    root: Path   # build/<board>/
    scope: str = ""  # the app whose records this layout names ("": the board alone)

    def for_app(self, name: str) -> BoardLayout:
        """The same board's layout, with the records of app `name`."""
        return replace(self, scope=name)

    @property
    def records(self) -> Path:
        """apps/<app>/ for an app's layout; the board's folder for the board alone."""
        return self.root / "apps" / self.scope if self.scope else self.root

    # ---- what the build steps write -------------------------------------------------------
    @property
    def stamps(self) -> Path:
        """The plan's step stamps (an app's steps keep theirs in .stamps/<app>/: Step.scope)."""
        return self.root / ".stamps"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def toolchain(self) -> Path:
        """Generated toolchain files: Conan profiles, CMake toolchain, pkg-config, Meson."""
        return self.root / "toolchain"

    @property
    def native_profile(self) -> Path:
        """build/host/toolchain/conan-host.profile: the build machine's Conan profile."""
        return self.toolchain / "conan-host.profile"

    @property
    def smoke(self) -> Path:
        """The installed smoke program."""
        return self.root / "smoke"

    @property
    def work(self) -> Path:
        """Build trees (never shipped)."""
        return self.root / "work"

    def work_for(self, name: str) -> Path:
        """work/<name>/: the build tree of one project (smoke, the app, a variant of it)."""
        return self.work / name

    @property
    def conan_download(self) -> Path:
        return self.work / "conan-download"

    def app(self, name: str) -> Path:
        """<name>/: the installed, gated app (bin/, lib/, share/)."""
        return self.root / name

    def app_build(self, name: str) -> Path:
        """work/<name>/build/: the app's build tree (its ctest or meson test suite)."""
        return self.work_for(name) / "build"

    def generators(self, name: str) -> Path:
        """Conan's generated files (CMakeDeps' find_package() files) of the app's build."""
        return self.app_build(name) / "generators"

    @property
    def symbols(self) -> Path:
        """The app's split debug files (a .build-id/ tree), beside the stripped app."""
        return self.records / "symbols"

    @property
    def lockfile(self) -> Path:
        return self.root / "conan.lock"

    @property
    def build_order(self) -> Path:
        return self.root / "conan-build-order.json"

    @property
    def deps_record(self) -> Path:
        """deps.json: the graph a build used (DepsResult)."""
        return self.root / "deps.json"

    @property
    def manifest(self) -> Path:
        """manifest.json: what the build produced (the board's own steps and, in an app's
        layout, that app)."""
        return self.records / "manifest.json"

    @property
    def smoke_run(self) -> Path:
        """The JSON Lines of the last smoke run of the app (`invoke test`)."""
        return self.records / "smoke-run.jsonl"

    # ---- what the release and device steps write ------------------------------------------
    @property
    def release(self) -> Path:
        return self.records / "release"

    def release_step(self, name: str) -> Path:
        """release/<step>/: what one release step wrote (image, deb, sbom, rootfs, twin ...)."""
        return self.release / name

    @property
    def rootfs_tree(self) -> Path:
        """release/rootfs/tree/: the device's root file system."""
        return self.release_step("rootfs") / ROOTFS_TREE

    # ---- the device side and the debugger --------------------------------------------------
    @property
    def vm(self) -> Path:
        """The virtual twin's state: overlay, pid, ports, serial log, known_hosts."""
        return self.root / "vm"

    @property
    def debug(self) -> Path:
        """What gdb and VSCode need: gdbinit, launch and tasks entries (one debug session per
        board at a time, whichever app it debugs)."""
        return self.root / "debug"


@dataclass
class Context:
    project_root: Path
    cache_dir: Path
    build_root: Path
    reporter: Reporter
    catalog: Catalog
    dist_root: Path
    _apps: tuple[App, ...] | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def create(
        cls,
        project_root: Path | None = None,
        cache_dir: Path | None = None,
        build_root: Path | None = None,
        reporter: Reporter | None = None,
        dist_root: Path | None = None,
    ) -> Context:
        root = Path(project_root).resolve() if project_root else find_project_root()
        if build_root:
            build, build_origin = Path(build_root), "the build_root argument"
        elif os.environ.get("EDGEFORGE_BUILD_DIR"):
            build = Path(os.environ["EDGEFORGE_BUILD_DIR"]).expanduser()
            build_origin = "environment variable EDGEFORGE_BUILD_DIR"
        else:
            build, build_origin = root / "build", "the default (build/ in the project)"
        if dist_root:
            dist, dist_origin = Path(dist_root), "the dist_root argument"
        elif os.environ.get("EDGEFORGE_DIST_DIR"):
            dist = Path(os.environ["EDGEFORGE_DIST_DIR"]).expanduser()
            dist_origin = "environment variable EDGEFORGE_DIST_DIR"
        else:
            dist, dist_origin = root / "dist", "the default (dist/ in the project)"
        if cache_dir:
            cache, cache_origin = Path(cache_dir), "the cache_dir argument"
        else:
            cache, cache_origin = _cache_dir_and_origin()
        return cls(
            project_root=root,
            cache_dir=usable_dir(cache, "cache directory", cache_origin,
                                 "point EDGEFORGE_CACHE at a writable directory (or unset it)"),
            build_root=usable_dir(build, "build directory", build_origin,
                                  "point EDGEFORGE_BUILD_DIR at a writable directory "
                                  "(or unset it to use build/ in the project)"),
            reporter=reporter or Reporter(),
            catalog=Catalog(root / "toolchains", root),
            dist_root=usable_dir(dist, "release directory", dist_origin,
                                 "point EDGEFORGE_DIST_DIR at a writable directory "
                                 "(or unset it to use dist/ in the project)"),
        )

    # ---- the project's apps -------------------------------------------------------------------
    def apps(self) -> tuple[App, ...]:
        """Every app of the project (apps/*/app.yaml), sorted by name; read once."""
        if self._apps is None:
            self._apps = tuple(load_apps(self.project_root))
        return self._apps

    def chosen_apps(self, name: str | None = None, *,
                    env: Mapping[str, str] | None = None) -> tuple[App, ...]:
        """The apps a command that works on several (build, test, release) works on: the one
        `name` (--app) or EDGEFORGE_APP names, else every app of the project (none in a
        project without apps)."""
        env = os.environ if env is None else env
        if name is not None or env.get(APP_VAR):
            return (self.app(name, env=env),)
        return self.apps()

    def app(self, name: str | None = None, *, env: Mapping[str, str] | None = None,
            origin: str = "command line --app") -> App:
        """The app a command works on: `name` (--app), else EDGEFORGE_APP, else the project's
        only app (as --board, EDGEFORGE_BOARD and the default board are for a board); `origin`
        says where an explicit `name` came from, for messages."""
        env = os.environ if env is None else env
        apps = self.apps()
        names = [a.name for a in apps]
        if not apps:
            raise DescriptorError(
                f"the project {self.project_root} has no app: no {APPS_DIR}/*/{APP_FILE}; add "
                f"{APPS_DIR}/<name>/{APP_FILE} describing your app (see README.md)")
        if name is not None and not name.strip():
            raise UsageError(f"{origin}: the app's name is empty; give one of "
                             f"{', '.join(names)} (or leave the option out)")
        if not name and env.get(APP_VAR):
            name, origin = env[APP_VAR], f"environment variable {APP_VAR}"
        if not name:
            if len(apps) > 1:
                raise UsageError(f"the project has {len(apps)} apps ({', '.join(names)}): "
                                 "name the one you mean with --app NAME")
            return apps[0]
        for a in apps:
            if a.name == name:
                return a
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ";"
        unset = f" (or unset {APP_VAR})" if APP_VAR in origin else ""
        raise DescriptorError(f"{origin}: no app named {name!r} (no {APPS_DIR}/{name}/{APP_FILE})"
                              f"{hint} known apps: {', '.join(names)}; give one of them with "
                              f"--app NAME{unset}")

    # ---- cache layout -----------------------------------------------------------------------
    @property
    def sysroots_dir(self) -> Path:
        return self.cache_dir / "sysroots"

    @property
    def downloads_dir(self) -> Path:
        return self.cache_dir / "downloads"

    @property
    def probes_dir(self) -> Path:
        return self.cache_dir / "probes"

    @property
    def conan_home(self) -> Path:
        return self.cache_dir / "conan2"

    @property
    def ccache_dir(self) -> Path:
        return self.cache_dir / "ccache"

    @property
    def test_package_dir(self) -> Path:
        return self.cache_dir / "test_package"

    @property
    def mirror_dir(self) -> Path:
        return self.cache_dir / "sources"

    @property
    def samples_dir(self) -> Path:
        return self.cache_dir / "samples"

    @property
    def host_logs_dir(self) -> Path:
        return self.cache_dir / "logs"

    @property
    def reproducible_root(self) -> Path:
        """<build>/.reproducible/: the second build of `--check-reproducible`."""
        return self.build_root / ".reproducible"

    def board_cache_dir(self, board: str) -> Path:
        """Generated files shared by every checkout (glibc compat header, libstdc++ shim)."""
        return self.cache_dir / "toolchains" / board

    # ---- build layout -----------------------------------------------------------------------
    def layout(self, board: str, app: str = "") -> BoardLayout:
        """Every path of build/<board>/ (with the records of `app`, when named)."""
        return BoardLayout(self.build_root / board, app)

    def dist_dir(self, board: str) -> Path:
        """dist/<board>/: the board's releases (<version>/) and its SDK archive."""
        return self.dist_root / board

    def logs_dir(self, board: str | None = None) -> Path:
        return self.layout(board).logs if board else self.build_root / "logs"

    def runner(self, board: str | None = None) -> Runner:
        return Runner(self.reporter, self.logs_dir(board))

    def probe_runner(self) -> Runner:
        """For questions asked while planning: logs in the cache, so a dry run writes nothing
        into the build folder."""
        return Runner(self.reporter, self.host_logs_dir)
