"""`invoke sdk`: the board's SDK as one relocatable, reproducible archive, for a team member
without edgeforge (but with the same compilers from apt: clang-14/lld-14 or the aarch64 cross
gcc, qemu-user-static, pkg-config).

    edgeforge-sdk-<board>/
      sysroot/            the board's sysroot; the built dependency packages (OpenCV, FFmpeg,
                          ...) installed into its /usr/local, with CMake package files in
                          /usr/local/lib/cmake/<Name>/, so find_package(OpenCV) works
      toolchain/          toolchain.cmake, meson-cross.ini, conan-*.profile, pkg-config,
                          environment-setup, bin/ (compiler wrappers), pkgconfig/
      relocate-sdk.sh     rewrites the recorded location after unpacking (Buildroot's way)
      README.md
      share/edgeforge/    sdk.json (board, compiler, packages), relocate-files, relocate/

The generated files name their folders as if the SDK were at SDK_PREFIX/<board>; after
unpacking anywhere else, `./relocate-sdk.sh` makes the files listed in
share/edgeforge/relocate-files again from their templates in share/edgeforge/relocate/, the
new folder quoted for each file's language, never run (sdkrelocate; the sysroot's symlinks are
already relative).

`sdk_contents` is the pure "what goes in" part (testable without tools); `write_sdk` stages
it and writes the archive: members sorted, owner 0:0, one fixed mtime (SOURCE_DATE_EPOCH), GNU
tar headers (no pax time stamps), gzip with mtime 0: the same inputs give the same bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import stat
import tarfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from edgeforge.build import Manifest, read_manifest
from edgeforge.config import App, Target
from edgeforge.context import Context
from edgeforge.core import Runner, rmtree, sh, source_date_epoch, write_atomic
from edgeforge.toolchain import (
    COMPAT_HEADER,
    ToolchainInputs,
    relocate_pc,
    render,
    sysroot_pc_files,
)

from . import sdkrelocate
from .scan import scan_tree

SDK_PREFIX = Path("/opt/edgeforge-sdk")
#: what a package folder holds that belongs in the sysroot (licenses go to share/licenses)
PACKAGE_DIRS = ("include", "lib", "share", "bin")


@dataclass(frozen=True)
class SdkPackage:
    ref: str            # e.g. opencv/4.6.0
    folder: Path        # its Conan package folder

    @property
    def name(self) -> str:
        return self.ref.split("/", 1)[0]


@dataclass(frozen=True)
class SdkContents:
    """Everything that goes into the archive, as data."""

    board: str
    top: str                                    # edgeforge-sdk-<board>
    location: Path                              # where the files say they are
    sysroot: Path                               # the board's sysroot on this machine
    packages: tuple[SdkPackage, ...]
    files: dict[str, tuple[str, int]] = field(default_factory=dict)  # rel path -> (text, mode)
    copies: dict[str, Path] = field(default_factory=dict)            # rel path -> file here

    @property
    def archive_name(self) -> str:
        return f"{self.top}.tar.gz"

    def text_files(self) -> list[str]:
        """Files that name the SDK's location (made again by relocate-sdk.sh from their
        templates; its own records under share/edgeforge/ are not among them)."""
        loc = str(self.location)
        return sorted(p for p, (text, _mode) in self.files.items()
                      if loc in text and not p.startswith("share/edgeforge/"))


def sdk_location(board: str) -> Path:
    return SDK_PREFIX / board


def sdk_toolchain_inputs(inp: ToolchainInputs) -> ToolchainInputs:
    """The board's toolchain inputs, moved into the SDK's layout."""
    loc = sdk_location(inp.target.name)
    shim = loc / "toolchain" / "stdcxx-compat" if inp.stdcxx_shim else None
    return replace(inp, sysroot=loc / "sysroot", out_dir=loc / "toolchain",
                   compat_dir=loc / "toolchain", stdcxx_shim=shim, conan_packages_dir=None, path_names=(),
                   overlays={}, qemu=Path(inp.qemu).name, host_pkg_config="pkg-config")


def packages_from_manifest(manifest: Manifest | None) -> tuple[SdkPackage, ...]:
    if manifest is None or manifest.dependencies is None:
        return ()
    out = [SdkPackage(p.ref.split("#", 1)[0], Path(p.package_folder))
           for p in manifest.dependencies.packages
           if p.context == "host" and p.package_folder]
    return tuple(sorted(out, key=lambda p: p.ref))


def readme(contents: SdkContents, inp: ToolchainInputs) -> str:
    t, ts = inp.target, inp.toolset
    pkgs = "\n".join(f"- `{p.ref}`" for p in contents.packages) or "- (none built yet)"
    apt = " ".join(t.compiler.spec.apt) or ts.cc
    return f"""# {contents.top}: build for {t.name} without edgeforge

{t.board.spec.description}. Compiler: {ts.family.value} {ts.version} ({Path(ts.cc).name}),
target {ts.triple}; sysroot {t.sysroot.name}; the device runs glibc {t.abi.glibc} and
libstdc++ GLIBCXX_{t.abi.glibcxx} at most (check what you build with the device, or with
`invoke gate` where edgeforge is installed).

## Set up (once)

    apt-get install {apt} qemu-user-static pkg-config cmake ninja-build
    tar xf {contents.archive_name}
    cd {contents.top} && ./relocate-sdk.sh      # writes this folder's path into the files

## Use

    . {contents.top}/toolchain/environment-setup

then, in that shell:

    cmake -S . -B build && cmake --build build && ctest --test-dir build
    meson setup --cross-file "$MESON_CROSS_FILE" build && meson test -C build
    ./configure $CONFIGURE_FLAGS && make && make check
    make                       # plain Makefiles: CC, CFLAGS, LDFLAGS, AR ... are set

Programs built for the board run here through qemu-user (binfmt_misc): QEMU_LD_PREFIX points
at the sysroot. Libraries of the packages below are in `sysroot/usr/local`
(`find_package(OpenCV)`, pkg-config); run programs that use them with
`QEMU_SET_ENV=LD_LIBRARY_PATH=/usr/local/lib` (set by the environment script).
Conan users: `conan install . -pr:h toolchain/conan-host.profile -pr:b toolchain/conan-build.profile`.

## Packages installed into the sysroot

{pkgs}
"""


RELOCATE = sdkrelocate.SCRIPT


def sdk_contents(inp: ToolchainInputs, manifest: Manifest | None,
                 pc_files: dict[str, str] | None = None) -> SdkContents:
    """What goes in (pure): the toolchain files rendered for the SDK's layout, the README,
    the relocation script and its file list, the sysroot and the packages to install.

    `pc_files` (name -> text) are the .pc files of the sysroot-with-packages, read by
    write_sdk; they are relocated into the SDK's sysroot here."""
    sdk_inp = sdk_toolchain_inputs(inp)
    loc = sdk_location(inp.target.name)
    top = f"edgeforge-sdk-{inp.target.name}"
    contents = SdkContents(board=inp.target.name, top=top, location=loc, sysroot=inp.sysroot,
                           packages=packages_from_manifest(manifest))
    files: dict[str, tuple[str, int]] = {}
    executable = {"pkg-config", "environment-setup"}
    for name, text in render(sdk_inp).items():
        mode = 0o755 if name in executable or (name.startswith("bin/")
                                                and not name.endswith(".cfg")) else 0o644
        files[f"toolchain/{name}"] = (text, mode)
    cmake_text, cmake_mode = files["toolchain/toolchain.cmake"]
    files["toolchain/toolchain.cmake"] = (cmake_text + SDK_BUILD_TYPE, cmake_mode)
    # the SDK's environment also finds the packages' libraries when programs run under qemu
    env_text, env_mode = files["toolchain/environment-setup"]
    files["toolchain/environment-setup"] = (env_text.replace(
        "\nunset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR\n",
        "\nQEMU_SET_ENV=LD_LIBRARY_PATH=/usr/local/lib\nexport QEMU_SET_ENV\n"
        "unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR\n").replace(
        "unset EDGEFORGE_BOARD ", "unset QEMU_SET_ENV EDGEFORGE_BOARD "), env_mode)
    for name, text in sorted((pc_files or {}).items()):
        files[f"toolchain/pkgconfig/{name}"] = (relocate_pc(text, str(loc / "sysroot")), 0o644)
    files["README.md"] = (readme(contents, inp), 0o644)
    files["relocate-sdk.sh"] = (RELOCATE, 0o755)
    files["share/edgeforge/location"] = (f"{loc}\n", 0o644)
    files["share/edgeforge/sdk.json"] = (json.dumps({
        "board": inp.target.name, "triple": inp.toolset.triple,
        "compiler": {"family": inp.toolset.family.value, "version": inp.toolset.version,
                     "cc": Path(inp.toolset.cc).name, "cxx": Path(inp.toolset.cxx).name},
        "sysroot": inp.target.sysroot.name, "glibc": inp.sysroot_glibc,
        "ceiling": {"glibc": inp.target.abi.glibc, "glibcxx": inp.target.abi.glibcxx},
        "packages": [p.ref for p in contents.packages],
    }, indent=2, sort_keys=True) + "\n", 0o644)
    copies: dict[str, Path] = {}
    if inp.stdcxx_shim:
        for f in sorted(inp.stdcxx_shim.iterdir()):
            if f.is_file():
                copies[f"toolchain/stdcxx-compat/{f.name}"] = f
    if COMPAT_HEADER in render(sdk_inp):
        files[f"toolchain/{COMPAT_HEADER}"] = (render(sdk_inp)[COMPAT_HEADER], 0o644)
    # each file naming the location is shipped with its template: relocate-sdk.sh makes it
    # again from that, with the new folder quoted for the file's language (sdkrelocate)
    reloc = replace(contents, files=files).text_files()
    for rel in reloc:
        text, mode = files[rel]
        tpl = sdkrelocate.template(rel, text, str(loc))
        files[rel] = (sdkrelocate.fill(tpl, str(loc)), mode)
        files[f"{sdkrelocate.TEMPLATES}/{rel}"] = (tpl, 0o644)
    files["share/edgeforge/relocate-files"] = ("".join(f"{rel}\n" for rel in reloc), 0o644)
    return replace(contents, files=files, copies=copies)


# ---- CMake package files -----------------------------------------------------------------
_DATA_FILE = re.compile(r"^(?P<file>.+)-(?:release|debug|relwithdebinfo|minsizerel)-[^-]+-data\.cmake$")
_PACKAGE_FOLDER = re.compile(r'set\((?P<name>[^\s)]+)_PACKAGE_FOLDER_[A-Z]+ "(?P<folder>[^"]*)"\)')
_GLOBAL_TARGET = re.compile(r"add_library\((\S+::\S+) INTERFACE IMPORTED\)")
#: where a package's CMake files sit in the SDK, relative to /usr/local (CMake's own search
#: path <prefix>/lib/cmake/<name>*/ under CMAKE_FIND_ROOT_PATH finds them)
CMAKE_DIR = "lib/cmake"
FOLDER_FROM_CMAKE_DIR = "${CMAKE_CURRENT_LIST_DIR}/../../.."


def cmake_package_files(generators: Path, packages: tuple[SdkPackage, ...]) -> dict[str, str]:
    """The find_package() files Conan's CMakeDeps wrote for the app's build (the recipes drop
    the packages' own), made relocatable for the SDK: each package's files go to
    lib/cmake/<Name>/ (relative to /usr/local) with its Conan package folder replaced by the
    folder three levels up, where the package is installed. Returns {relative path: text}."""
    folders = {str(p.folder): p for p in packages}
    out: dict[str, str] = {}
    if not generators.is_dir():
        return out
    macros = generators / "cmakedeps_macros.cmake"
    for data in sorted(generators.glob("*-data.cmake")):
        m = _DATA_FILE.match(data.name)
        found = _PACKAGE_FOLDER.search(data.read_text(errors="replace"))
        if not m or not found or found["folder"] not in folders:
            continue
        name = m["file"]
        folder = found["folder"]
        wanted = [f for f in sorted(generators.glob("*.cmake"))
                  if f.name.startswith((f"{name}Config", f"{name}Targets", f"{name}-",
                                        f"{name.lower()}-config", f"Find{name}."))]
        if macros.is_file():
            wanted.append(macros)
        for f in wanted:
            text = f.read_text(errors="replace").replace(folder, FOLDER_FROM_CMAKE_DIR)
            out[f"{CMAKE_DIR}/{name}/{f.name}"] = text
        # projects written against a package's own config file (OpenCV's) use <Name>_LIBS
        config = f"{CMAKE_DIR}/{name}/{name}Config.cmake"
        target = _GLOBAL_TARGET.search(out.get(f"{CMAKE_DIR}/{name}/{name}Targets.cmake", ""))
        if config in out and target:
            out[config] += (f"\n# edgeforge SDK: the variable {name}'s own config file sets\n"
                            f"if(NOT DEFINED {name}_LIBS)\n  set({name}_LIBS {target[1]})\n"
                            "endif()\n")
    return out


#: appended to the SDK's toolchain.cmake: the packages are Release builds, and CMakeDeps'
#: targets carry their settings for that configuration only
SDK_BUILD_TYPE = """
# The SDK's packages (find_package(OpenCV) ...) are Release builds: a build that names no
# type gets Release, so their targets' settings apply.
if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
  set(CMAKE_BUILD_TYPE Release CACHE STRING "build type (the SDK's packages are Release)" FORCE)
endif()
set(CMAKE_MAP_IMPORTED_CONFIG_DEBUG Release)
set(CMAKE_MAP_IMPORTED_CONFIG_RELWITHDEBINFO Release)
set(CMAKE_MAP_IMPORTED_CONFIG_MINSIZEREL Release)
"""


# ---- writing -------------------------------------------------------------------------------
_PC_PREFIX = re.compile(r"^prefix=.*$", re.M)


def install_packages(packages: tuple[SdkPackage, ...], usr_local: Path) -> None:
    """Copy each package's include/lib/share/bin into the staged sysroot's /usr/local; its
    .pc files get prefix=/usr/local (relocated into the sysroot like the system's)."""
    for pkg in packages:
        for d in PACKAGE_DIRS:
            src = pkg.folder / d
            if src.is_dir():
                shutil.copytree(src, usr_local / d, symlinks=True, dirs_exist_ok=True)
        lic = pkg.folder / "licenses"
        if lic.is_dir():
            shutil.copytree(lic, usr_local / "share" / "licenses" / pkg.name, dirs_exist_ok=True)
    for pc in sorted((usr_local / "lib" / "pkgconfig").glob("*.pc")):
        text = pc.read_text(errors="replace")
        for pkg in packages:
            text = text.replace(str(pkg.folder), "/usr/local")
        pc.write_text(_PC_PREFIX.sub("prefix=/usr/local", text))


def _special_files(folder: str, names: list[str]) -> list[str]:
    """Device nodes, FIFOs and sockets (a sysroot's /dev) stay out of the SDK."""
    out = []
    for n in names:
        mode = os.lstat(os.path.join(folder, n)).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
            out.append(n)
    return out


def stage_sdk(contents: SdkContents, staging: Path) -> Path:
    """The SDK as a folder (sysroot copied, packages installed, files written)."""
    root = staging / contents.top
    rmtree(staging)
    root.mkdir(parents=True)
    shutil.copytree(contents.sysroot, root / "sysroot", symlinks=True, ignore=_special_files)
    # the sysroot's own bookkeeping is not part of what a compiler reads
    for stamp in (root / "sysroot").glob(".edgeforge*"):
        stamp.unlink() if stamp.is_file() else rmtree(stamp)
    install_packages(contents.packages, root / "sysroot" / "usr" / "local")
    for rel, (text, mode) in contents.files.items():
        write_atomic(root / rel, text, mode=mode)
    for rel, src in contents.copies.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, root / rel)
    return root


def package_pc_files(staged_sysroot: Path, inp: ToolchainInputs) -> dict[str, str]:
    """The .pc files the SDK's pkg-config sees: the system's, then the packages' (/usr/local)."""
    out = {f.name: f.read_text(errors="replace")
           for f in sysroot_pc_files(staged_sysroot, inp.target.arch)}
    for d in ("usr/local/lib/pkgconfig", "usr/local/share/pkgconfig"):
        for f in sorted((staged_sysroot / d).glob("*.pc")):
            out.setdefault(f.name, f.read_text(errors="replace"))
    return out


def _tarinfo(path: Path, arcname: str, mtime: int) -> tarfile.TarInfo:
    st = path.lstat()
    info = tarfile.TarInfo(arcname)
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    if stat.S_ISLNK(st.st_mode):
        info.type = tarfile.SYMTYPE
        info.linkname = os.readlink(path)
        info.mode = 0o777
    elif stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
    else:
        info.type = tarfile.REGTYPE
        info.size = st.st_size
        info.mode = 0o755 if st.st_mode & 0o111 else 0o644
    return info


def archive_members(root: Path) -> list[Path]:
    """Every path under root (root included), in a fixed order; only files, folders and
    symlinks (a sysroot's device nodes were dropped when it was made)."""
    out = [root]
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        here = Path(dirpath)
        for name in sorted([*dirs, *files]):
            p = here / name
            if p.is_symlink() or p.is_dir() or p.is_file():
                out.append(p)
    return out


def write_archive(root: Path, dest: Path, mtime: int) -> Path:
    """root/ as dest (.tar.gz): the same tree gives the same bytes."""
    tmp = dest.with_name(f".{dest.name}.partial")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp, "wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for p in archive_members(root):
            info = _tarinfo(p, str(Path(root.name) / p.relative_to(root)), mtime)
            if info.isreg():
                with open(p, "rb") as fh:
                    tar.addfile(info, fh)
            else:
                tar.addfile(info)
    os.replace(tmp, dest)
    return dest


def member_list(root: Path) -> list[dict[str, object]]:
    """The archive's contents for the release SBOM: path, size, sha256 of every file."""
    out = []
    for p in archive_members(root):
        if p.is_file() and not p.is_symlink():
            out.append({"path": str(Path(root.name) / p.relative_to(root)),
                        "size": p.stat().st_size,
                        "sha256": hashlib.sha256(p.read_bytes()).hexdigest()})
    return out


def write_sdk(inp: ToolchainInputs, manifest: Manifest | None, dist_dir: Path,
              work_dir: Path, mtime: int, cmake_generators: Path | None = None) -> Path:
    """Stage the SDK and write dist_dir/<archive>; returns the archive's path.
    `cmake_generators`: the app build's Conan generators folder (CMakeDeps' files)."""
    first = sdk_contents(inp, manifest)
    staging = work_dir / "sdk-staging"
    root = stage_sdk(first, staging)
    if cmake_generators is not None:
        usr_local = root / "sysroot" / "usr" / "local"
        for rel, text in cmake_package_files(cmake_generators, first.packages).items():
            write_atomic(usr_local / rel, text)
    contents = sdk_contents(inp, manifest, package_pc_files(root / "sysroot", inp))
    for rel, (text, mode) in contents.files.items():  # now with the packages' .pc files
        write_atomic(root / rel, text, mode=mode)
    (root / "share/edgeforge/members.json").write_text(
        json.dumps(member_list(root), indent=1) + "\n")
    scan_tree(root, f"the SDK {contents.archive_name}", inp.target.name)
    archive = write_archive(root, dist_dir / contents.archive_name, mtime)
    rmtree(staging)
    return archive


def sdk_summary(archive: Path) -> str:
    return f"SDK: {archive} ({archive.stat().st_size / 1e6:.1f} MB); unpack it, run " \
           f"relocate-sdk.sh, then `. {sh(archive.name.replace('.tar.gz', ''))}/toolchain/" \
           "environment-setup`"




def sdk_epoch(project_root: Path, runner: Runner) -> int:
    """The SDK archive's time (core's one SOURCE_DATE_EPOCH rule): the environment's
    SOURCE_DATE_EPOCH, else the last commit's time, else 0 (a checkout without history)."""
    return source_date_epoch(project_root, runner, default=0)


def write_board_sdk(ctx: Context, t: Target, app: App, inp: ToolchainInputs,
                    runner: Runner) -> Path:
    """`invoke sdk`: the board's SDK archive in dist/<board>/, from its toolchain files (as
    rendered from `inp`), the dependency packages its last build recorded and the find_package()
    files of `app`'s build; without a built graph, a warning and the system's libraries only.
    Returns the archive."""
    board = t.name
    layout = ctx.layout(board)
    manifest = read_manifest(layout.root, app.name)
    if manifest is None or manifest.dependencies is None:
        ctx.reporter.warn(f"no dependency graph built for {board} yet (`invoke build --board "
                          f"{board}`): the SDK's sysroot has the system's libraries only")
    mtime = sdk_epoch(ctx.project_root, runner)
    with ctx.reporter.step(f"writing the SDK for {board}"):
        archive = write_sdk(inp, manifest, ctx.dist_dir(board), layout.work, mtime,
                            cmake_generators=layout.generators(app.name))
    ctx.reporter.info(sdk_summary(archive))
    return archive
