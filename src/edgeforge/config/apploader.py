"""Finding and loading the project's apps: apps/<name>/app.yaml, checked against the project.

After the model (config/app.py) has read the file, every name and path it gives is checked: the
name is the folder's, the folder holds the build kind's file, each recipe exists under
recipes/, each file is a regular file inside the project (the app's own files inside its
folder), the files of deliver read through their own models with the same install prefix, and
the version can be read. All problems of one file come in one DescriptorError, a sentence each
naming the file, the key and a fix:

    key 'build.requires' in apps/<app>/app.yaml: no recipe 'opencvv' (no
    recipes/opencvv/conanfile.py); did you mean 'opencv'? known recipes: ffmpeg, ...
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from edgeforge.core import DescriptorError

from . import containerimage
from .app import (
    APP_FILE,
    APP_NAME_PATTERN,
    APPS_DIR,
    BUILD_FILES,
    AppDef,
    parse_app,
)
from .appversion import app_version
from .deviceimage import DEVICE_FILE, IMAGES_DIR
from .installers import parse_installers
from .yamlfile import cut, did_you_mean, read_descriptor, shorten


@dataclass(frozen=True)
class App:
    """A loaded app: its descriptor, its folder and its version."""

    spec: AppDef
    folder: Path
    version: str

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def descriptor(self) -> Path:
        return self.folder / APP_FILE

    @property
    def rel(self) -> str:
        """apps/<name>: the app's folder as a path from the project's root."""
        return f"{APPS_DIR}/{self.name}"

    @property
    def program(self) -> str:
        """Its main program: the first of install.programs, a path under the prefix
        (bin/<program>)."""
        return self.spec.install.programs[0]

    @property
    def program_name(self) -> str:
        """The main program's file name."""
        return PurePosixPath(self.program).name

    @property
    def device_image(self) -> str:
        """images/<name>/device.yaml: the definition of the device image that holds the app,
        as a path from the project's root (for now one per app, in the folder named after it)."""
        return f"{IMAGES_DIR}/{self.name}/{DEVICE_FILE}"


#: names an app cannot have: its installed build goes to build/<board>/<app>/, beside these
RESERVED = frozenset({"apps", "smoke", "toolchain", "work", "logs", "symbols", "release", "vm",
                      "debug", "host"})


def app_names(project_root: Path) -> list[str]:
    """Names of the project's apps: the folders of apps/ that hold an app.yaml, sorted."""
    folder = Path(project_root) / APPS_DIR
    try:
        entries = sorted(e.name for e in os.scandir(folder) if not e.name.startswith("."))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise DescriptorError(f"cannot list {APPS_DIR}/: {exc.strerror}") from None
    # anything named app.yaml makes an app: a folder, a dangling link or a pipe there is then
    # refused by the reader with its reason, never skipped without a word
    return [e for e in entries if os.path.lexists(folder / e / APP_FILE)]


def load_app(project_root: Path, name: str, origin: str | None = None) -> App:
    """Read and check apps/<name>/app.yaml; `origin` (where the name came from) prefixes a
    message that no such app exists."""
    root = Path(project_root)
    known = app_names(root)
    if name not in known:
        prefix = f"{origin}: " if origin else ""
        raise DescriptorError(
            f"{prefix}no app named {shorten(name)} (looked for "
            f"{cut(f'{APPS_DIR}/{name}/{APP_FILE}')}){did_you_mean(name, known) or ';'} "
            f"known apps: {', '.join(known) or 'none'}")
    folder = root / APPS_DIR / name
    rel = f"{APPS_DIR}/{name}/{APP_FILE}"
    text = read_descriptor(folder / APP_FILE, rel, "it describes the app", "an app descriptor")
    spec = parse_app(text, rel)
    problems = reference_problems(root, spec, folder, rel)
    version = ""
    try:
        version = app_version(folder, spec, rel)
    except DescriptorError as exc:
        problems.append(str(exc))
    if problems:
        raise DescriptorError("\n".join(problems))
    return App(spec, folder, version)


def load_apps(project_root: Path) -> list[App]:
    """Every app of the project (apps/*/app.yaml), sorted by name."""
    return [load_app(project_root, name) for name in app_names(project_root)]


@dataclass(frozen=True)
class DepsList:
    """What every board's Conan graph holds: the union of the requires and test_requires of
    the project's apps built with Conan, in the apps' name order and each app's own order,
    each recipe once (the graph is locked once per board, for all its apps)."""

    requires: tuple[str, ...]


def deps_list(project_root: Path) -> DepsList:
    roots: dict[str, None] = {}
    for app in load_apps(project_root):
        if app.spec.build.kind == "conan":
            roots.update(dict.fromkeys((*app.spec.build.requires, *app.spec.build.test_requires)))
    return DepsList(tuple(roots))


def reference_problems(root: Path, spec: AppDef, folder: Path, rel: str) -> list[str]:
    """A sentence for each name or path of the descriptor that is not in the project (the
    name must be the folder's, recipes must exist under recipes/, files inside the project)."""
    problems: list[str] = []
    if spec.name != folder.name and not re.fullmatch(APP_NAME_PATTERN, folder.name):
        problems.append(f"{APPS_DIR}/{folder.name}/: the folder's name is not an app name "
                        "(lower-case letters, digits, '.', '+' and '-', starting with a letter "
                        f"or digit); rename the folder to {spec.name}")
    elif spec.name != folder.name:
        problems.append(f"key 'name' in {rel}: {spec.name!r} differs from the app's folder "
                        f"{folder.name!r}; write name: {folder.name} (or rename the folder)")
    if spec.build.kind == "autotools":
        problems.append(f"key 'build.kind' in {rel}: autotools apps are not built yet; build "
                        "the project with CMake or Meson (kind: cmake, meson), or use the SDK "
                        "(`invoke sdk`) and its environment script for ./configure")
    if folder.name in RESERVED:
        problems.append(f"{APPS_DIR}/{folder.name}/: the name {folder.name!r} is one of the "
                        "board's own build folders (build/<board>/<name>/); rename the app")
    marks = BUILD_FILES[spec.build.kind]
    if not any((folder / m).is_file() for m in marks):
        problems.append(f"key 'build.kind' in {rel}: a {spec.build.kind} build needs "
                        f"{' or '.join(f'{APPS_DIR}/{folder.name}/{m}' for m in marks)}; add it "
                        "or name the kind the app's folder holds")
    recipes = _recipe_names(root)
    for key in ("requires", "test_requires"):
        for name in getattr(spec.build, key):
            if name not in recipes:
                problems.append(
                    f"key 'build.{key}' in {rel}: no recipe {name!r} (no recipes/{name}/"
                    f"conanfile.py){did_you_mean(name, recipes) or ';'} known recipes: "
                    f"{', '.join(recipes) or 'none'}")
    app_rel = f"{APPS_DIR}/{folder.name}"
    for i, d in enumerate(spec.data):
        for key in ("source", "card"):
            value = getattr(d, key)
            if value is not None:
                problems += _not_a_file(root, folder, value, f"data.{i}.{key}", rel, app_rel)
    for i, s in enumerate(spec.services):
        for key in ("unit_template", "config_template"):
            value = getattr(s, key)
            if value is not None:
                problems += _not_a_file(root, root, value, f"services.{i}.{key}", rel)
    unreadable = set()
    for key in ("container_image", "installer_info"):
        value = getattr(spec.deliver, key)
        if value is not None and (missing := _not_a_file(root, root, value, f"deliver.{key}",
                                                         rel)):
            problems += missing
            unreadable.add(key)
    return problems + deliver_problems(root, spec, rel, skip=unreadable)


def deliver_problems(root: Path, spec: AppDef, rel: str,
                     skip: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """The files of deliver (installer_info, container_image) read through their own models,
    so that their mistakes show when the app is loaded (by `invoke build --dry-run` too), not
    only at release time; and their prefixes compared with install.prefix. `skip`: keys whose
    file is already known to be missing."""
    problems: list[str] = []
    prefix = spec.install.prefix
    readers = {
        "installer_info": lambda path, shown: parse_installers(read_descriptor(
            path, shown, f"it describes the {spec.name} installers", "an installer file"), shown),
        "container_image": lambda path, shown: containerimage.load_file(path, shown),
    }
    for key, read in readers.items():
        shown = getattr(spec.deliver, key)
        if shown is None or key in skip:
            continue
        try:
            other = read(root / shown, shown).prefix
        except DescriptorError as exc:
            problems.append(str(exc))
            continue
        if other != prefix:
            problems.append(
                f"key 'prefix' in {shown}: {other} differs from key 'install.prefix' in {rel} "
                f"({prefix}); the app is installed in one place: write prefix: {prefix} in "
                f"{shown} (or change install.prefix)")
    return problems


def _recipe_names(root: Path) -> list[str]:
    try:
        return sorted(e.name for e in os.scandir(root / "recipes")
                      if (root / "recipes" / e.name / "conanfile.py").is_file())
    except OSError:
        return []


#: what a path is when it is not a regular file, by stat's file type
_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
          (stat.S_ISSOCK, "a socket"))


def _not_a_file(root: Path, base: Path, value: str, key: str, rel: str,
                app_rel: str | None = None) -> list[str]:
    """[a sentence] when `value` (relative to `base`) is not a regular file inside the project,
    or, for a file of the app (`app_rel`: apps/<name>, `base` its folder), inside the app's
    folder: a link leading out of it is refused even when it stays in the project."""
    path = base / value
    shown = f"{app_rel}/{value}" if app_rel else value
    where = f"{key!r} in {rel}: {shown}"
    link = f" (a link to {_shown_target(root, path)})" if path.is_symlink() else ""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        if link:
            return [f"key {where} is a link to {_shown_target(root, path)}, which does not exist; "
                    "fix the link or put the file itself there"]
        return [f"key {where} does not exist; add the file or fix the path"]
    except OSError as exc:  # a loop of links, a path through a file, no permission
        return [f"key {where} cannot be read ({exc.strerror}); fix the path or the file"]
    if not stat.S_ISREG(mode):
        what = next((name for test, name in _KINDS if test(mode)), "a special file")
        return [f"key {where} is {what}{link}, not a file; give the path of a regular file"]
    inside = base if app_rel else root
    if not path.resolve().is_relative_to(inside.resolve()):
        if app_rel:
            return [f"key {where} is a link that leads out of the app's folder {app_rel}/ (to "
                    f"{_shown_target(root, path)}); the app's own files live in its folder: put "
                    "the file itself there"]
        return [f"key {where} is a link that leads out of the project (to "
                f"{_shown_target(root, path)}); put the file itself inside the project"]
    return []


def _shown_target(root: Path, path: Path) -> str:
    """Where a link leads, for a message: from the project's root when it stays inside, else
    the absolute path."""
    target = Path(os.path.realpath(path))
    real_root = Path(os.path.realpath(root))
    return str(target.relative_to(real_root)) if target.is_relative_to(real_root) \
        else str(target)
