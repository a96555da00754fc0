"""Finding and loading the project's apps: apps/<name>/app.yaml, checked against the project.

After the model (config/app.py) has read the file, every name and path it gives is checked: the
name is the folder's, the folder holds the build kind's file, each recipe exists under
recipes/, each file exists inside the project, and the version can be read. All problems of one
file come in one DescriptorError, a sentence each naming the file, the key and a fix:

    key 'build.requires' in apps/<app>/app.yaml: no recipe 'opencvv' (no
    recipes/opencvv/conanfile.py); did you mean 'opencv'? known recipes: ffmpeg, ...
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from edgeforge.core import DescriptorError

from .app import (
    APP_FILE,
    APP_NAME_PATTERN,
    APPS_DIR,
    BUILD_FILES,
    VERSION_FILES,
    VERSION_PATTERN,
    AppDef,
    parse_app,
)
from .deviceimage import DEVICE_FILE, IMAGES_DIR
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
                problems += _missing(root, folder, value, f"data.{i}.{key}", rel, app_rel)
    for i, s in enumerate(spec.services):
        for key in ("unit_template", "config_template"):
            value = getattr(s, key)
            if value is not None:
                problems += _missing(root, root, value, f"services.{i}.{key}", rel, "the project")
    for key in ("container_image", "installer_info"):
        value = getattr(spec.deliver, key)
        if value is not None:
            problems += _missing(root, root, value, f"deliver.{key}", rel, "the project")
    return problems


def _recipe_names(root: Path) -> list[str]:
    try:
        return sorted(e.name for e in os.scandir(root / "recipes")
                      if (root / "recipes" / e.name / "conanfile.py").is_file())
    except OSError:
        return []


def _missing(root: Path, base: Path, value: str, key: str, rel: str, where: str) -> list[str]:
    """[a sentence] when `value` (relative to `base`) is not a file inside the project."""
    path = base / value
    shown = f"{where}/{value}" if where != "the project" else value
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        return [f"key {key!r} in {rel}: {shown} {what}; add the file or fix the path"]
    if not path.resolve().is_relative_to(root.resolve()):
        return [f"key {key!r} in {rel}: {shown} is a link that leads out of the project; put "
                "the file itself inside the project"]
    return []


# ---- the version -------------------------------------------------------------------------
def app_version(folder: Path, spec: AppDef, rel: str) -> str:
    """The app's version: its `version.value`, or read from the project() call of its
    CMakeLists.txt or meson.build; a file without one is a DescriptorError."""
    if spec.version.value is not None:
        return spec.version.value
    source = spec.version.source or "cmake"
    file = VERSION_FILES[source]
    shown = f"{APPS_DIR}/{folder.name}/{file}"
    fix = 'or give the version itself: version: {value: "1.2.3"}'
    try:
        text = (folder / file).read_text(encoding="utf-8", errors="replace")
    except OSError:
        raise DescriptorError(f"key 'version.from' in {rel}: {shown} does not exist; add it "
                              f"{fix}") from None
    found = cmake_project_version(text) if source == "cmake" else meson_project_version(text)
    if found is None:
        example = ("project(<name> VERSION 1.2.3)" if source == "cmake"
                   else "project('<name>', 'cpp', version: '1.2.3')")
        raise DescriptorError(f"key 'version.from' in {rel}: {shown} has no literal version in "
                              f"its project() call; write it as {example} {fix}")
    return found


def _strip_comments(text: str, quote: str) -> str:
    """`text` without '#' comments (outside `quote`-quoted strings)."""
    out = []
    for line in text.splitlines():
        inside = False
        for i, ch in enumerate(line):
            if ch == quote:
                inside = not inside
            elif ch == "#" and not inside:
                line = line[:i]
                break
        out.append(line)
    return "\n".join(out)


def _project_args(text: str, quote: str) -> str | None:
    """The argument text of the first project(...) call, or None."""
    text = _strip_comments(text, quote)
    m = re.search(r"(?<![\w.])project\s*\(", text, re.IGNORECASE)
    if not m:
        return None
    depth, inside = 1, False
    for i in range(m.end(), len(text)):
        ch = text[i]
        if ch == quote:
            inside = not inside
        elif not inside and ch == "(":
            depth += 1
        elif not inside and ch == ")":
            depth -= 1
            if depth == 0:
                return text[m.end():i]
    return None


def cmake_project_version(text: str) -> str | None:
    """The VERSION of a CMakeLists.txt's project() call."""
    args = _project_args(text, '"')
    m = re.search(r"\bVERSION\s+\"?([0-9]+(?:\.[0-9]+){0,3})\"?(?=[\s)]|$)", args or "")
    return m.group(1) if m else None


def meson_project_version(text: str) -> str | None:
    """The `version:` of a meson.build's project() call, when it is a literal string."""
    args = _project_args(text, "'")
    m = re.search(r"\bversion\s*:\s*'([^'\\\n]+)'", args or "")
    return m.group(1) if m and re.fullmatch(VERSION_PATTERN, m.group(1)) else None
