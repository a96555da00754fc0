"""The fixed names edgeforge's folders get inside what it compiles, and that gdb maps back.

No path of this machine reaches an object file, a build-information string or a package ID:
the compiler wrappers and CMake builds map each folder to a fixed name (-ffile-prefix-map),
the recipes replace them the same way (conf ``user.edgeforge:path_names``), and a debug
session maps the names back to this machine's folders (gdb's ``set substitute-path``). A
package is then the same bytes whichever checkout, cache or Conan folder built it.

(The app's conanfile, which cannot import edgeforge, spells PROJECT and BUILD itself.)
"""

from __future__ import annotations

from pathlib import Path

PROJECT = "/edgeforge-project"   # the checkout
BUILD = "/edgeforge-build"       # the build folder (EDGEFORGE_BUILD_DIR, default build/)
CACHE = "/edgeforge-cache"       # edgeforge's cache (EDGEFORGE_CACHE)
CONAN = "/conan"                 # Conan's package folders (<Conan home>/p)
SOURCE = "/edgeforge-src"        # a CMake project's source folder (the samples)
SYSROOT = "/edgeforge-sysroot"   # a sysroot, as package IDs see it


def folder_names(*, project_root: Path, build_root: Path, cache_dir: Path,
                 conan_packages: Path) -> tuple[tuple[Path, str], ...]:
    """This machine's folders and their fixed names (ToolchainInputs.path_names)."""
    return ((cache_dir, CACHE), (build_root, BUILD), (conan_packages, CONAN),
            (project_root, PROJECT))


def mapped_back(project_root: Path, build_root: Path, cache_dir: Path) -> list[tuple[str, str]]:
    """Fixed name -> this machine's folder, for a debugger. Conan's packages are mapped one
    by one (`conan_package`): each was built in a folder of its own."""
    return [(PROJECT, str(project_root)), (BUILD, str(build_root)), (CACHE, str(cache_dir))]


def conan_package(prefix: str) -> str:
    """The name of a Conan build folder: /conan/<its first five letters> (the wrappers drop
    the 13 characters of hash that end the folder's name)."""
    return f"{CONAN}/{prefix}"


def project_source(name: str) -> str:
    """The name of a CMake project's source folder (cmakebuild.project_path_maps)."""
    return f"{SOURCE}/{name}"


def project_build(name: str) -> str:
    """The name of a project's build folder (a CMake project, or the app's own)."""
    return f"{BUILD}/{name}"


def sysroot_name(identity: str) -> str:
    """A sysroot's name in package IDs (ToolchainInputs.sysroot_id: its descriptor's name and
    key, not where the cache is)."""
    return f"{SYSROOT}/{identity}"
