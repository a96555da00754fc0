"""apps/<name>/app.yaml: an app of the project, read into a frozen model.

The file says what the app is (name, summary, licence, where its version comes from), how it
builds (a Conan consumer of the board's locked graph, or a CMake, Meson or autotools project
built with the board's generated toolchain files), the recipes and system libraries it needs,
the runtime data it ships with their provenance, its tests, what it installs, its services and
the deliverables it gets. Boards, compilers and versions of the recipes come from elsewhere
(toolchains/ and each recipe's conandata.yml), never from here.

The YAML goes through the descriptors' loader and error formatter (unknown keys with
did-you-mean, bad types); config/apploader.py then checks every name and path it gives against
the project.

Paths in the file are relative: files of the app (data, model cards) to the app's folder, other
files of the project (image definitions, unit templates) to the project's root.
"""

from __future__ import annotations

import difflib
import posixpath
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from .installers import USER_PATTERN
from .spdx import PATTERN as SPDX_PATTERN
from .spdx import check_licence
from .yamlfile import (
    cut,
    did_you_mean,
    model_schema,
    parse_model,
    shorten,
    write_model_schema,
)

APPS_DIR = "apps"
APP_FILE = "app.yaml"
SCHEMA_FILE = "app.schema.json"
SCHEMA_TITLE = "edgeforge app descriptor"

APP_NAME_PATTERN = r"^[a-z0-9][a-z0-9.+-]*$"
_RECIPE = r"^[a-z0-9][a-z0-9_.+-]*$"
_PACKAGE = r"^[a-z0-9][a-z0-9.+-]+$"
_USER = USER_PATTERN
VERSION_PATTERN = r"^[0-9][0-9A-Za-z.+~-]*$"
_SAMPLE = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
_UNIT = r"^[a-z0-9][a-z0-9_.-]*$"
#: placeholders a smoke command's arguments may use, and what they stand for
SMOKE_PLACEHOLDERS = {
    "prefix": "the folder the app is installed in (on the build machine, the build's install)",
    "sample": "the sample file",
    "frames": "how many frames to run (invoke test --frames, default 16)",
    "output": "a file the run writes its results to",
}
#: deliverables that need the installer texts (images/<app>/installers.yaml)
NEEDS_INSTALLER_INFO = ("deb", "rpm", "run", "dbg")
#: what marks a folder as a project of each build kind
BUILD_FILES = {"conan": ("conanfile.py",), "cmake": ("CMakeLists.txt",),
               "meson": ("meson.build",), "autotools": ("configure", "configure.ac")}
#: the test suite (a TestsSpec key) each build kind runs under qemu-user
SUITES = {"conan": "ctest", "cmake": "ctest", "meson": "meson_test"}
#: where `version.from` reads the version
VERSION_FILES = {"cmake": "CMakeLists.txt", "meson": "meson.build"}


def relative_path(value: str, base: str) -> str:
    """`value` as a path relative to `base` (words for messages) that stays inside it."""
    if not value or "\0" in value or "\n" in value or "\\" in value:
        raise ValueError(f"{shorten(value)} is not a path; give one relative to {base}, with '/'")
    if value.startswith("/"):
        raise ValueError(f"{shorten(value)} is absolute; give a path relative to {base} "
                         f"(e.g. {value.lstrip('/').split('/')[-1] or 'file'})")
    if ".." in value.split("/"):
        raise ValueError(f"{shorten(value)} leads out of {base} with '..'; keep the file inside "
                         "it and give its path from there")
    if posixpath.normpath(value) == ".":
        raise ValueError(f"{shorten(value)} is the folder itself; give the path of a file in "
                         f"{base}")
    if posixpath.normpath(value) != value:
        raise ValueError(f"{shorten(value)} is not a normal path; write it as "
                         f"{posixpath.normpath(value)!r}")
    return value


def _unique(values: tuple[str, ...], what: str) -> tuple[str, ...]:
    dup = sorted({v for v in values if values.count(v) > 1})
    if dup:
        raise ValueError(f"{what} {', '.join(dup)} given more than once; remove the repeats")
    return values


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VersionSpec(_Frozen):
    """Where the app's version comes from: exactly one of `from` and `value`."""

    source: Literal["cmake", "meson"] | None = Field(
        None, alias="from", description="cmake: the VERSION of project() in the app's "
        "CMakeLists.txt; meson: the version: of project() in its meson.build")
    value: str | None = Field(None, pattern=VERSION_PATTERN, max_length=64,
                              description="the version itself, quoted, e.g. \"1.2.3\"")

    @model_validator(mode="after")
    def _one(self) -> VersionSpec:
        if (self.source is None) == (self.value is None):
            raise ValueError("give exactly one of {from: cmake}, {from: meson} and "
                             "{value: \"1.2.3\"}")
        return self


class BuildSpec(_Frozen):
    """How the app builds and the Conan recipes it needs."""

    kind: Literal["conan", "cmake", "meson", "autotools"] = Field(
        description="conan: a Conan consumer of the board's locked graph (conanfile.py in the "
        "app's folder); cmake, meson, autotools: a project built with the board's generated "
        "toolchain files")
    requires: tuple[str, ...] = Field(
        (), description="Conan recipes (folders under recipes/) the app links; versions come "
        "from each recipe's conandata.yml")
    test_requires: tuple[str, ...] = Field(
        (), description="Conan recipes only its tests need (e.g. googletest)")
    configure_args: tuple[str, ...] = Field(
        (), description="extra arguments of the configure step (cmake -D..., meson setup "
        "-D..., ./configure --...); not for kind conan")

    @field_validator("requires", "test_requires")
    @classmethod
    def _recipes(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for name in v:
            if not re.fullmatch(_RECIPE, name):
                raise ValueError(f"{shorten(name)} is not a recipe name; give the folder name "
                                 "under recipes/ without a version (e.g. opencv)")
        return _unique(v, "recipe")

    @field_validator("configure_args")
    @classmethod
    def _words(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for word in v:
            if "\0" in word or "\n" in word:
                raise ValueError(f"{shorten(word)} must be one line")
        return v

    @field_validator("requires", "test_requires")
    @classmethod
    def _conan_only(cls, v: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        kind = info.data.get("kind")
        if v and kind is not None and kind != "conan":
            raise ValueError(f"Conan recipes are for kind conan; a {kind} build takes its "
                             "libraries from the board's sysroot: name their Debian packages "
                             "under system_libraries (e.g. libmosquitto-dev) and remove "
                             f"{info.field_name}")
        return v

    @field_validator("test_requires")
    @classmethod
    def _apart(cls, v: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        both = sorted(set(info.data.get("requires", ())) & set(v))
        if both:
            raise ValueError(f"{', '.join(both)} in both requires and test_requires; keep "
                             "each recipe in one of them")
        return v

    @field_validator("configure_args")
    @classmethod
    def _not_for_conan(cls, v: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if v and info.data.get("kind") == "conan":
            raise ValueError("configure_args is for kinds cmake, meson and autotools; a conan "
                             "build configures in its conanfile.py: remove configure_args")
        return v


class DataSpec(_Frozen):
    """A runtime data file shipped with the app (a model, a configuration), with provenance."""

    source: str = Field(description="the file, as a path in the app's folder")
    install: str = Field(description="where it goes, as a path under the install prefix "
                         "(e.g. share/<app>/<file>)")
    kind: Literal["model", "data"] = Field(
        "data", description="model: a machine-learning model; data: any other file (the "
        "SBOM's component type)")
    description: str = Field(min_length=10, max_length=300, description="what it is, in a "
                             "sentence")
    made_by: str = Field(min_length=10, max_length=500, description="how it was made (trained "
                         "by which script on which data, written by hand, from which vendor)")
    origin: str | None = Field(
        None, min_length=3, max_length=80, description="where it comes from, in a few words, for "
        "the origin column of the release's legal/manifest.csv (e.g. trained here, from "
        "<vendor>); null: this repository alone")
    card: str | None = Field(None, description="its card (data or model card: how to "
                             "regenerate it, its quality, its licence), as a path in the app's "
                             "folder")
    license: str = Field(json_schema_extra={"pattern": SPDX_PATTERN},
                         description="SPDX licence expression of the file (e.g. Apache-2.0; "
                         "LicenseRef-<name> for a licence of your own)")

    @field_validator("license")
    @classmethod
    def _licence(cls, v: str) -> str:
        return check_licence(v)

    @field_validator("source", "card")
    @classmethod
    def _in_app(cls, v: str | None) -> str | None:
        return v if v is None else relative_path(v, "the app's folder")

    @field_validator("install")
    @classmethod
    def _under_prefix(cls, v: str) -> str:
        return relative_path(v, "the install prefix")

    @field_validator("description", "made_by", "origin")
    @classmethod
    def _one_line(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if "\n" in v.strip() or "\r" in v:
            raise ValueError("must be one line")
        return v.strip()


class SmokeSpec(_Frozen):
    """A short run of an installed program on a sample, under qemu-user."""

    program: str = Field(description="the program to run, one of install.programs")
    sample: str = Field(pattern=_SAMPLE, description="a sample file edgeforge fetches "
                        "(e.g. vtest.avi)")
    args: tuple[str, ...] = Field(
        (), description="the program's arguments; {prefix}, {sample}, {frames} and {output} "
        "stand for the install folder, the sample file, the frame count and a results file")

    @field_validator("args")
    @classmethod
    def _placeholders(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for word in v:
            if "\0" in word or "\n" in word:
                raise ValueError(f"{shorten(word)} must be one line")
            known = ", ".join(f"{{{p}}}" for p in SMOKE_PLACEHOLDERS)
            unbalanced = _unbalanced(word)
            if unbalanced:
                raise ValueError(f"{shorten(word)}: {unbalanced}; placeholders: {known}")
            for name in re.findall(r"\{([^{}]*)\}", word):
                if name not in SMOKE_PLACEHOLDERS:
                    raise ValueError(
                        f"{shorten(word)}: unknown placeholder {{{cut(name, 40)}}}"
                        f"{did_you_mean(name, list(SMOKE_PLACEHOLDERS)) or ';'} placeholders: "
                        + known)
        return v


def _unbalanced(word: str) -> str | None:
    """What is wrong with the braces of a smoke argument (a '{' never closed, a '}' never
    opened), with the placeholder it likely meant; None when they pair up."""
    opened: list[int] = []
    for i, ch in enumerate(word):
        if ch == "{":
            opened.append(i)
        elif ch == "}" and not opened:
            before = re.search(r"(\w*)$", word[:i]).group(1)
            return f"a '}}' without its '{{'{_meant(before)}"
        elif ch == "}":
            opened.pop()
    if opened:
        after = re.match(r"\w*", word[opened[-1] + 1:]).group()
        return f"a '{{' is not closed{_meant(after)}"
    return None


def _meant(name: str) -> str:
    close = [p for p in SMOKE_PLACEHOLDERS if p == name] or difflib.get_close_matches(
        name, list(SMOKE_PLACEHOLDERS), n=1, cutoff=0.6)
    return f"; write the placeholder whole: {{{close[0]}}}" if close else ""


class TestsSpec(_Frozen):
    """The app's tests, run for a board under qemu-user by `invoke test`."""

    # not a test class (pytest collects classes whose names start with Test)
    __test__ = False

    ctest: bool = Field(False, description="run the build's ctest suite under qemu-user "
                        "(build kinds conan and cmake)")
    meson_test: bool = Field(False, description="run the build's `meson test` suite under "
                             "qemu-user, Meson's exe_wrapper (build kind meson)")
    smoke: SmokeSpec | None = Field(None, description="a smoke run on a sample (null: none)")


class InstallSpec(_Frozen):
    """What the app installs, and where."""

    prefix: str = Field(pattern=r"^/opt/[a-z0-9][a-z0-9.+-]*$",
                        description="where its bin/, lib/ and share/ go on the device "
                        "(/opt/<app>)")
    programs: tuple[str, ...] = Field(min_length=1, description="its programs, as paths under "
                                      "the prefix (e.g. bin/<app>)")

    @field_validator("programs")
    @classmethod
    def _paths(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return _unique(tuple(relative_path(p, "the install prefix") for p in v), "program")


class ServiceSpec(_Frozen):
    """A systemd template unit <name>@.service: one instance per configuration file."""

    name: str = Field(json_schema_extra={"pattern": _UNIT}, description="the unit's name, "
                      "without .service: the template unit is <name>@.service, its instances "
                      "<name>@<instance>.service")
    unit_template: str = Field(description="the unit's Jinja2 template, as a path in the "
                               "project (e.g. images/<app>/systemd/instance.service.j2)")
    config: str = Field(description="an instance's configuration file (a conffile), with "
                        "{instance} for the instance's name, e.g. /etc/<app>/{instance}.conf")
    config_template: str | None = Field(
        None, description="the Jinja2 template of the configuration file the packages ship "
        "for the default instance, as a path in the project (null: none shipped)")
    user: str = Field(pattern=_USER, description="the system user it runs as (not root)")
    args_variable: str = Field(
        "ARGS", pattern=r"^[A-Z][A-Z0-9_]{0,63}$", description="the variable of an instance's "
        "configuration file that holds the program's arguments (its unit passes it on, e.g. "
        "ExecStart=... $<APP>_ARGS); the device image writes each instance's args into it")

    @field_validator("name")
    @classmethod
    def _unit_name(cls, v: str) -> str:
        if v.endswith(".service") or "@" in v:
            bare = v.removesuffix(".service").split("@")[0]
            raise ValueError(
                f"{shorten(v)}: give the name without '.service' and '@' (name: "
                f"{bare if re.fullmatch(_UNIT, bare) else '<name>'}); the template unit is "
                "<name>@.service and its instances <name>@<instance>.service")
        if not re.fullmatch(_UNIT, v):
            raise ValueError(f"{shorten(v)}: a unit's name uses lower-case letters, digits, '_', "
                             "'.' and '-' and starts with a letter or digit")
        return v

    @field_validator("unit_template", "config_template")
    @classmethod
    def _in_project(cls, v: str | None) -> str | None:
        return v if v is None else relative_path(v, "the project's root")

    @field_validator("config")
    @classmethod
    def _config(cls, v: str) -> str:
        if (not v.startswith("/etc/") or posixpath.normpath(v) != v or v.count("{instance}") != 1
                or re.sub(r"\{instance\}", "", v).count("{") or not re.fullmatch(r"[^\s\0]+", v)):
            raise ValueError(f"{shorten(v)}: give a normal path under /etc/ holding {{instance}} "
                             "once, e.g. /etc/<app>/{instance}.conf")
        return v

    @field_validator("user")
    @classmethod
    def _not_root(cls, v: str) -> str:
        if v == "root":
            raise ValueError("a service does not run as root; name a system user of its own")
        return v


class DeliverSpec(_Frozen):
    """The deliverables `invoke release` writes for the app."""

    container_image: str | None = Field(
        None, description="its container image definition, as a path in the project (e.g. "
        "images/<app>/image.yaml); null: no container image")
    installer_info: str | None = Field(
        None, description="what its installers say (package name, maintainer, service "
        "settings), as a path in the project (e.g. images/<app>/installers.yaml); needed by "
        "deb, rpm, run and dbg")
    formats: tuple[Literal["deb", "rpm", "run", "dbg", "sdk"], ...] = Field(
        (), description="deb, rpm, run: installers (each only for boards that list it under "
        "installers); dbg: the split debug files; sdk: the board's SDK with the app's recipes")

    @field_validator("container_image", "installer_info")
    @classmethod
    def _in_project(cls, v: str | None) -> str | None:
        return v if v is None else relative_path(v, "the project's root")

    @field_validator("formats")
    @classmethod
    def _formats(cls, v: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        needing = [f for f in v if f in NEEDS_INSTALLER_INFO]
        if needing and info.data.get("installer_info") is None and "installer_info" in info.data:
            raise ValueError(f"{', '.join(needing)} need deliver.installer_info: add "
                             "installer_info: images/<app>/installers.yaml or drop them")
        return _unique(v, "format")


class AppDef(_Frozen):
    """apps/<name>/app.yaml"""

    name: str = Field(json_schema_extra={"pattern": APP_NAME_PATTERN},
                      description="the app's name, the same as its folder's (apps/<name>/)")
    summary: str = Field(min_length=10, max_length=79, description="what it does, in one line")
    license: str = Field(json_schema_extra={"pattern": SPDX_PATTERN},
                         description="SPDX licence expression of the app's own code (e.g. "
                         "Apache-2.0, MIT OR Apache-2.0; LicenseRef-Proprietary for closed code)")
    version: VersionSpec
    build: BuildSpec
    system_libraries: tuple[str, ...] = Field(
        (), description="Debian packages (e.g. libmosquitto-dev) the app takes from the board's "
        "sysroot instead of from Conan")
    install: InstallSpec
    data: tuple[DataSpec, ...] = Field((), description="runtime data files shipped with it")
    tests: TestsSpec = TestsSpec()
    services: tuple[ServiceSpec, ...] = Field((), description="its systemd template units")
    deliver: DeliverSpec = DeliverSpec()

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.fullmatch(APP_NAME_PATTERN, v):
            raise ValueError(f"{shorten(v)}: an app's name uses lower-case letters, digits, "
                             "'.', '+' and '-' and starts with a letter or digit")
        return v

    @field_validator("license")
    @classmethod
    def _licence(cls, v: str) -> str:
        return check_licence(v)

    @field_validator("summary")
    @classmethod
    def _line(cls, v: str) -> str:
        if "\n" in v or "\r" in v or "%" in v:
            raise ValueError("must be one line without '%'")
        return v

    @field_validator("system_libraries")
    @classmethod
    def _packages(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for name in v:
            if not re.fullmatch(_PACKAGE, name):
                raise ValueError(f"{shorten(name)} is not a Debian package name (e.g. "
                                 "libmosquitto-dev)")
        return _unique(v, "package")

    @field_validator("data")
    @classmethod
    def _data(cls, v: tuple[DataSpec, ...], info: ValidationInfo) -> tuple[DataSpec, ...]:
        installs = tuple(d.install for d in v)
        _unique(installs, "install path")
        install = info.data.get("install")
        clash = sorted(set(installs) & set(install.programs if install else ()))
        if clash:
            raise ValueError(f"{', '.join(clash)} would be installed over a program of "
                             "install.programs; pick another install path")
        return v

    @field_validator("tests")
    @classmethod
    def _smoke_program(cls, v: TestsSpec, info: ValidationInfo) -> TestsSpec:
        build = info.data.get("build")
        if build is not None:
            suite = SUITES.get(build.kind)
            wrong = [k for k in ("ctest", "meson_test") if getattr(v, k) and k != suite]
            if wrong:
                raise ValueError(f"{wrong[0]}: a {build.kind} build has "
                                 + (f"a {suite} suite: write {suite}: true instead"
                                    if suite else "no test suite edgeforge runs; remove it"))
        install = info.data.get("install")
        if v.smoke and install and v.smoke.program not in install.programs:
            raise ValueError(f"smoke.program {v.smoke.program!r} is not one of "
                             f"install.programs ({', '.join(install.programs)}); name one of them")
        return v

    @field_validator("services")
    @classmethod
    def _service_names(cls, v: tuple[ServiceSpec, ...]) -> tuple[ServiceSpec, ...]:
        _unique(tuple(s.name for s in v), "service")
        return v


# ---- schema ------------------------------------------------------------------------------
def app_schema() -> dict:
    return model_schema(AppDef, SCHEMA_TITLE)


def write_app_schema(apps_dir: Path) -> Path:
    """apps/app.schema.json, for editors (yaml-language-server)."""
    return write_model_schema(apps_dir / SCHEMA_FILE, AppDef, SCHEMA_TITLE)


def parse_app(text: str, rel: str) -> AppDef:
    """app.yaml text validated into an AppDef (names and paths not yet checked)."""
    return parse_model(text, rel, AppDef)
