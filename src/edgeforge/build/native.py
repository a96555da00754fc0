"""The build machine (x86_64): the dependency graph and the app for parity and sanitizer
builds, as steps like a board's: profile -> deps -> app[-<variant>]."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edgeforge import __version__
from edgeforge.config import App
from edgeforge.context import Context
from edgeforge.core import Execution, Step, publish, write_atomic
from edgeforge.deps import DepsResult, conan_env, deps_fingerprint, root_requires
from edgeforge.toolchain import native_profile

from .app import NATIVE, build_app
from .board import GraphBuild, app_inputs, host_compilers, host_gcc_version


def project_cppstd(ctx: Context) -> str:
    """The project's C++ standard (toolchains/defaults.yaml), whichever board is the default."""
    return ctx.catalog.defaults().spec.settings.cppstd or "17"


class NativeBuild(GraphBuild):
    """The dependency graph and the app for this machine, as steps like a board's."""

    def __init__(self, ctx: Context, app: App, sanitize: str | None = None):
        super().__init__(ctx, NATIVE)
        self.application = app
        self.sanitize = sanitize
        self.variant = "asan" if sanitize else ""
        self.name = app.name + (f"-{self.variant}" if self.variant else "")
        self.profile = self.layout.native_profile

    @property
    def title(self) -> str:
        """The plan's name: host (<app>-asan)."""
        return f"{NATIVE} ({self.name})"

    def profiles(self, ex: Execution) -> tuple[Path, Path, Callable | None]:
        return ex["profile"], ex["profile"], None  # the build machine has no board ceiling

    def write_profile(self, ex: Execution) -> Path:
        cppstd = project_cppstd(self.ctx)
        write_atomic(self.profile, native_profile(host_gcc_version(self.runner), host_compilers(),
                                                  cppstd))
        return self.profile

    def app(self, ex: Execution) -> Path:
        deps: DepsResult = ex["deps"]
        built = build_app(self.ctx, self.application, NATIVE, ex["profile"], ex["profile"],
                          deps.lockfile, self.runner, conan_env(self.ctx),
                          sanitize=self.sanitize, variant=self.variant)
        return publish(built.staging, self.layout.app(built.name))

    def steps(self) -> list[Step]:
        ctx, lay = self.ctx, self.layout
        gcc = Path(host_compilers()["c"])
        host = {"gcc": str(gcc), "size": gcc.stat().st_size if gcc.is_file() else None,
                "cppstd": project_cppstd(ctx), "edgeforge": __version__}
        final = lay.app(self.name)
        app_step = "app-" + self.variant if self.variant else "app"
        return [
            Step("profile", f"Conan profile for this machine ({self.profile})", self.write_profile,
                 inputs=host, outputs=(self.profile,), load=lambda ex: self.profile),
            Step("deps", f"Conan graph {', '.join(root_requires(ctx.project_root))} for this "
                 "machine", self.deps, inputs=deps_fingerprint(ctx.project_root),
                 needs=("profile",), outputs=(lay.lockfile, lay.deps_record),
                 load=self.load_deps),
            Step(app_step, f"build {self.name} ({self.sanitize or 'no sanitizer'}) into {final}",
                 self.app, inputs={**app_inputs(ctx, self.application, self.variant),
                                   "sanitize": self.sanitize},
                 needs=("deps",), outputs=(final,), load=lambda ex: final),
        ]
