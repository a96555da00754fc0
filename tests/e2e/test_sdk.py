"""Issue 15: outside projects cross-built with nothing but edgeforge's generated files.

Real projects from Debian's source archive (pinned in outside/projects.yml, fetched into the
source mirror), built the way their own documentation says, on a clang board (jetson-nx:
clang 14, bullseye) and a gcc board (rpi4: gcc 12, bookworm): CMake with an assembly file,
Meson, autotools with libtool, a plain Makefile. Each configures and builds with the generated
files only, runs its own tests under qemu-user, passes the ABI gate, and its dependency files
prove that no header came from the build machine's folders.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from edgeforge.context import Context
from edgeforge.deps import fill, mirror_path
from edgeforge.elf import elfinfo
from tests.conftest import BUILD, DIST, INVOKE, PROJECT, require_tools, run_invoke
from tests.e2e.conftest import sysroot_of
from tests.pins import load_pin_file

pytestmark = pytest.mark.e2e
OUTSIDE = Path(__file__).parent / "outside"
BOARDS = ("jetson-nx", "rpi4")  # clang 14 + bullseye, gcc 12 + bookworm
#: header folders of the build machine: nothing built for a board may include from them
HOST_HEADERS = re.compile(r"^(/usr/include/|/usr/local/|.*x86_64-linux-gnu)")


@dataclass(frozen=True)
class Board:
    name: str
    toolchain: Path
    sysroot: Path

    @property
    def env_script(self) -> Path:
        return self.toolchain / "environment-setup"


@pytest.fixture(scope="module")
def archives() -> dict[str, Path]:
    """The pinned outside projects, in the source mirror (fetched once, then offline)."""
    ctx = Context.create(project_root=PROJECT, build_root=BUILD)
    pins = load_pin_file(OUTSIDE / "projects.yml")
    fill(ctx, pins)
    return {p.recipe: mirror_path(ctx, p) for p in pins}


@pytest.fixture(scope="module", params=BOARDS)
def board(request) -> Board:
    require_tools("cmake", "ninja", "meson", "make", "qemu-aarch64", "clang-14",
                  "aarch64-linux-gnu-gcc")
    r = run_invoke("toolchain", "--board", request.param)
    assert r.returncode == 0, r.stdout + r.stderr
    return Board(request.param, BUILD / request.param / "toolchain", sysroot_of(request.param))


def unpack(archive: Path, dest: Path) -> Path:
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    (top,) = [p for p in dest.iterdir() if p.is_dir()]
    return top


def user_env(**extra: str) -> dict[str, str]:
    """A user's shell: none of the test runner's variables (CC, CFLAGS, PKG_CONFIG_PATH ...)."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"),
            "LANG": "C.UTF-8", **extra}


def sh(script: str, cwd: Path, log: Path, env: dict[str, str] | None = None,
       board: Board | None = None, timeout: float = 900) -> None:
    """Run a shell command line (after sourcing the board's environment-setup, if given);
    its output goes to `log`; a failure shows the log's tail."""
    if board is not None:
        script = f'. "{board.env_script}" && {script}'
    with open(log, "a") as fh:
        fh.write(f"$ {script}\n")
        fh.flush()
        r = subprocess.run(["sh", "-ec", script], cwd=cwd, env=env or user_env(), stdout=fh,
                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=timeout)
    if r.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        pytest.fail(f"`{script}` failed in {cwd} (exit {r.returncode}):\n{tail}")


def gate(board: Board, *paths: Path, extra: tuple[str, ...] = ()) -> str:
    r = run_invoke("gate", "--board", board.name, *extra, "--", *map(str, paths))
    assert r.returncode == 0, r.stdout + r.stderr
    assert ": ok" in r.stdout
    return r.stdout


def machine(path: Path) -> str | None:
    info = elfinfo.inspect(path)
    return info.machine if info else None


def headers_from_ninja(build: Path) -> dict[Path, list[str]]:
    """object -> headers it was compiled from (ninja's own record of the compiler's -MD)."""
    out = subprocess.run(["ninja", "-C", str(build), "-t", "deps"], capture_output=True,
                         text=True, check=True).stdout
    deps: dict[Path, list[str]] = {}
    current = None
    for line in out.splitlines():
        if line and not line.startswith(" "):
            current = build / line.split(":", 1)[0]
            deps[current] = []
        elif line.strip() and current is not None:
            deps[current].append(os.path.normpath(build / line.strip()))
    return deps


def headers_from_depfiles(tree: Path) -> dict[Path, list[str]]:
    """object -> headers, from automake's .deps/*.Plo / *.Po files (gcc -MD output)."""
    deps: dict[Path, list[str]] = {}
    for f in tree.rglob(".deps/*.P*o"):
        text = f.read_text(errors="replace").replace("\\\n", " ")
        for rule in text.split("\n"):
            if ":" not in rule or rule.startswith("#"):
                continue
            target, _, prereqs = rule.partition(":")
            if not target.strip().endswith(".o") and not target.strip().endswith(".lo"):
                continue
            deps[f.parent.parent / target.strip()] = prereqs.split()
    return deps


def assert_no_host_headers(deps: dict[Path, list[str]], board: Board) -> int:
    """Every object built for the board was compiled from the sysroot's headers (plus the
    project's own and the compiler's builtin ones); build-machine objects are skipped."""
    checked = 0
    for obj, headers in deps.items():
        obj_file = obj if obj.is_file() else obj.with_suffix(".o")
        if obj_file.is_file() and machine(obj_file) not in (None, "EM_AARCH64"):
            continue  # a build-machine tool (Meson's native: true, CC_FOR_BUILD)
        bad = [h for h in headers if HOST_HEADERS.match(h) and not h.startswith(str(board.sysroot))]
        if board.name == "rpi4":  # gcc's own libc (documented: the cross compiler's libc)
            bad = [h for h in bad if not h.startswith("/usr/aarch64-linux-gnu/")]
        assert not bad, f"{obj} includes the build machine's headers: {bad[:5]}"
        checked += 1
    assert checked, "no dependency information found"
    return checked


def assert_no_host_link_paths(log: Path) -> None:
    text = log.read_text(errors="replace")
    for bad in ("-L/usr/lib/x86_64-linux-gnu", "-L/usr/local/lib", "-I/usr/include ",
                "-I/usr/local/include"):
        assert bad not in text, f"{bad} in {log}"


# ---- CMake, with an assembly file; tests by target, by path and by script -----------------
def test_cmake_project_with_assembly(board: Board, archives, tmp_path: Path):
    src = unpack(archives["zstd"], tmp_path)
    build, stage, log = tmp_path / "b", tmp_path / "stage", tmp_path / "build.log"
    # a test that runs the built program by path from a shell script, as zstd's playTests.sh
    # does (playTests itself takes 95 s under qemu: measured, too long for the suite), added
    # through CMake's project-include hook so zstd's own files stay as they are
    by_path = tmp_path / "by-path.cmake"
    by_path.write_text(
        "enable_testing()\n"
        'add_test(NAME by-path COMMAND sh -c "echo edgeforge | \\"$ZSTD_BIN\\" -c | '
        '\\"$ZSTD_BIN\\" -dc | grep -qx edgeforge")\n'
        'set_property(TEST by-path APPEND PROPERTY ENVIRONMENT "ZSTD_BIN=$<TARGET_FILE:zstd>")\n')
    # the toolchain file alone: no environment script, no compiler flags; the test options are
    # zstd's own (fullbench's iterations)
    sh(f'cmake -S build/cmake -B "{build}" -G Ninja -DZSTD_BUILD_TESTS=ON '
       f'-DCMAKE_BUILD_TYPE=Release -DCMAKE_TOOLCHAIN_FILE="{board.toolchain}/toolchain.cmake" '
       f'-DZSTD_FULLBENCH_FLAGS=-i0 -DCMAKE_PROJECT_zstd_INCLUDE="{by_path}"', src, log)
    sh(f'cmake --build "{build}" -v', src, log)
    asm = next(build.rglob("huf_decompress_amd64.S.o"))
    assert machine(asm) == "EM_AARCH64", "the .S file was assembled for another machine"
    assert machine(build / "programs/zstd") == "EM_AARCH64"
    # fullbench runs by target (CMAKE_CROSSCOMPILING_EMULATOR); by-path runs $ZSTD_BIN by path
    # from a script, through binfmt_misc, with QEMU_LD_PREFIX from the toolchain's ctest file
    sh(f'ctest --test-dir "{build}" --output-on-failure -R "fullbench|by-path"', src, log,
       timeout=1200)
    text = log.read_text()
    assert "100% tests passed, 0 tests failed out of 2" in text, text[-2000:]
    sh(f'DESTDIR="{stage}" cmake --install "{build}" --prefix /usr', src, log)
    gate(board, stage)
    assert_no_host_headers(headers_from_ninja(build), board)
    assert_no_host_link_paths(log)


# ---- Meson; tests run the built program by path -------------------------------------------
def test_meson_project_keeps_the_target_with_user_c_args(board: Board, archives,
                                                          tmp_path: Path):
    src = unpack(archives["fribidi"], tmp_path)
    build, stage, log = tmp_path / "b", tmp_path / "stage", tmp_path / "build.log"
    # a user's -Dc_args replaces the optional flags only: target, sysroot and CPU stay
    sh(f'meson setup "{build}" --cross-file "$MESON_CROSS_FILE" --prefix=/usr -Ddocs=false '
       "-Dc_args=-DEDGEFORGE_USER_FLAG=1", src, log, board=board)
    sh(f'ninja -C "{build}" -v', src, log, board=board)
    fribidi = build / "bin" / "fribidi"
    assert machine(fribidi) == "EM_AARCH64"
    commands = log.read_text()
    assert "-DEDGEFORGE_USER_FLAG=1" in commands
    assert f"{board.toolchain}/bin/aarch64-linux-gnu-" in commands  # the target's compiler
    # test-runner.py (a build-machine script) runs the fribidi program by path
    sh(f'meson test -C "{build}" --print-errorlogs', src, log, board=board)
    sh(f'DESTDIR="{stage}" meson install -C "{build}"', src, log, board=board)
    gate(board, stage)
    # the build tree holds build-machine tools (gen.tab's generators, Meson's sanity check):
    # listed apart, not counted, with --build-tree
    out = gate(board, build, extra=("--build-tree",))
    assert "build-machine (EM_X86_64)" in out and "not checked:" in out
    assert_no_host_headers(headers_from_ninja(build), board)


# ---- autotools with libtool; `make check` through libtool's wrapper scripts ---------------
def test_autotools_libtool_project_keeps_the_target_with_user_cflags(board: Board, archives,
                                                                     tmp_path: Path):
    src = unpack(archives["fribidi"], tmp_path)
    stage, log = tmp_path / "stage", tmp_path / "build.log"
    sh('./configure $CONFIGURE_FLAGS --prefix=/usr CFLAGS="-O1 -DEDGEFORGE_USER_FLAG=1"',
       src, log, board=board)
    sh("make V=1 -j2", src, log, board=board)
    lib = next((src / "lib/.libs").glob("libfribidi.so.0.*"))
    assert machine(lib) == "EM_AARCH64"
    sh("make check", src, log, board=board)  # libtool wrappers run bin/fribidi by path
    sh(f'make install DESTDIR="{stage}"', src, log, board=board)
    gate(board, stage)
    assert_no_host_headers(headers_from_depfiles(src), board)
    assert_no_host_link_paths(log)


# ---- a plain Makefile ----------------------------------------------------------------------
def test_plain_makefile_project(board: Board, archives, tmp_path: Path):
    src = unpack(archives["xxhash"], tmp_path)
    stage, log = tmp_path / "stage", tmp_path / "build.log"
    sh("make -j2 lib xxhsum", src, log, board=board)  # CC, CFLAGS, AR ... from the script
    assert machine(src / "xxhsum") == "EM_AARCH64"
    assert machine(src / "libxxhash.so.0.8.1") == "EM_AARCH64"
    sh("make check", src, log, board=board)  # runs ./xxhsum by path, through binfmt_misc
    sh(f'make install DESTDIR="{stage}" PREFIX=/usr', src, log, board=board)
    gate(board, stage)
    assert_no_host_link_paths(log)
    # `invoke run` in a pipeline: stdin, stdout and the exit code are the program's
    data = (src / "xxhash.c").read_bytes()
    invoke_env = {**os.environ, "EDGEFORGE_BUILD_DIR": str(BUILD)}
    invoke = [str(INVOKE), "--search-root", str(PROJECT), "run", "--board", board.name, "--"]
    r = subprocess.run([*invoke, str(src / "xxhsum"), "-H1"], input=data, capture_output=True,
                       env=invoke_env)
    assert r.returncode == 0, r.stderr
    digest = r.stdout.decode().split()
    assert len(digest) == 2 and digest[1] == "stdin" and re.fullmatch(r"[0-9a-f]{16}", digest[0])
    r2 = subprocess.run([*invoke, str(src / "xxhsum"), "-H1", str(src / "xxhash.c")],
                        capture_output=True, env=invoke_env)
    assert r2.stdout.decode().split()[0] == digest[0]  # the same bytes were read from stdin
    r = subprocess.run([*invoke, str(src / "xxhsum"), "-H9", str(src / "xxhash.c")],
                       capture_output=True, env=invoke_env)
    assert r.returncode == 1 and r.stdout == b""  # the program's exit code and stdout
    r = subprocess.run([*invoke[:-1], "--verbose", "--", str(src / "xxhsum"), "-V"],
                       capture_output=True, env=invoke_env)
    assert r.returncode == 0 and b"qemu-aarch64" not in r.stdout and b"$ " in r.stderr


# ---- the pkg-config wrapper never answers from the build machine ---------------------------
def test_pkg_config_ignores_host_paths_in_pkg_config_path(board: Board, tmp_path: Path):
    assert Path("/usr/lib/x86_64-linux-gnu/pkgconfig/yaml-0.1.pc").is_file()  # setup installs it
    r = subprocess.run(
        ["sh", "-c", f'. "{board.env_script}" && PKG_CONFIG_PATH=/usr/lib/x86_64-linux-gnu/'
         'pkgconfig:/usr/share/pkgconfig "$PKG_CONFIG" --cflags yaml-0.1 zlib'],
        capture_output=True, text=True, env=user_env(), cwd=tmp_path)
    assert r.returncode != 0 and "yaml-0.1" in r.stderr
    assert "ignoring PKG_CONFIG_PATH entry /usr/lib/x86_64-linux-gnu/pkgconfig" in r.stderr
    r = subprocess.run(["sh", "-c", f'. "{board.env_script}" && "$PKG_CONFIG" --libs zlib'],
                       capture_output=True, text=True, env=user_env(), cwd=tmp_path)
    assert r.stdout.split() == ["-lz"]


# ---- a Conan package built with AutotoolsToolchain and libtool through the profile --------
def test_conan_autotools_libtool_package_through_the_generated_profile(archives,
                                                                       tmp_path: Path):
    board = "jetson-nx"  # clang: libtool drops --target from the flags when it links
    r = run_invoke("toolchain", "--board", board)
    assert r.returncode == 0, r.stdout + r.stderr
    toolchain = BUILD / board / "toolchain"
    ctx = Context.create(project_root=PROJECT, build_root=BUILD)
    recipe = tmp_path / "recipe"
    shutil.copytree(OUTSIDE / "conan-fribidi", recipe)
    (recipe / "source.json").write_text(json.dumps({"archive": str(archives["fribidi"])}))
    env = {**os.environ, "CONAN_HOME": str(ctx.conan_home)}
    conan = str(Path(sys.executable).with_name("conan"))
    # built through the profile on every run: no package an earlier run left in edgeforge's
    # Conan home can stand in for it (removed first, and its build forced)
    rm = subprocess.run([conan, "remove", "edgeforge-outside-fribidi/*", "--confirm"],
                        capture_output=True, text=True, env=env, timeout=300)
    assert rm.returncode == 0, rm.stderr[-4000:]
    r = subprocess.run([conan, "create", str(recipe), "--format=json",
                        "-pr:h", str(toolchain / "conan-host.profile"),
                        "-pr:b", str(toolchain / "conan-build.profile"),
                        "--build=edgeforge-outside-fribidi/*"],
                       capture_output=True, text=True, env=env, timeout=1200)
    assert r.returncode == 0, r.stderr[-4000:]
    graph = json.loads(r.stdout)
    node = next(n for n in graph["graph"]["nodes"].values()
                if n["ref"].startswith("edgeforge-outside-fribidi/"))
    assert node["binary"] == "Build", node["binary"]  # built now, not found in the cache
    package = Path(node["package_folder"])
    lib = next((package / "lib").glob("libfribidi.so.0.*"))
    assert machine(lib) == "EM_AARCH64"
    gate(Board(board, toolchain, sysroot_of(board)), package)
    out = subprocess.run([str(INVOKE), "--search-root",
                          str(PROJECT), "run", "--board", board, "--",
                          str(package / "bin" / "fribidi"), "--charset", "CapRTL"],
                         input="abc DEF\n", capture_output=True, text=True,
                         env={**os.environ, "EDGEFORGE_BUILD_DIR": str(BUILD)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("FED abc") or "FED" in out.stdout


# ---- invoke sdk: the archive a team member without edgeforge builds with ------------------
def test_sdk_archive_is_reproducible_relocatable_and_builds_an_outside_project(archives,
                                                                               tmp_path: Path):
    board = "jetson-nx"
    r = run_invoke("sdk", "--board", board, env={"SOURCE_DATE_EPOCH": "1700000000"})
    assert r.returncode == 0, r.stdout + r.stderr
    archive = DIST / board / f"edgeforge-sdk-{board}.tar.gz"
    first = archive.read_bytes()
    r = run_invoke("sdk", "--board", board, env={"SOURCE_DATE_EPOCH": "1700000000"})
    assert r.returncode == 0 and archive.read_bytes() == first  # the same bytes again
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        info = tar.getmember(f"edgeforge-sdk-{board}/README.md")
        assert info.mtime == 1700000000 and info.uid == 0 and info.gid == 0
        tar.extractall(tmp_path / "unpacked", filter="tar")
    assert names[0] == f"edgeforge-sdk-{board}" and f"edgeforge-sdk-{board}/sysroot" in names
    sdk = tmp_path / "unpacked" / f"edgeforge-sdk-{board}"
    subprocess.run([str(sdk / "relocate-sdk.sh")], check=True, capture_output=True)
    members = json.loads((sdk / "share/edgeforge/members.json").read_text())
    assert any(m["path"].endswith("toolchain/toolchain.cmake") for m in members)
    # the SDK alone (no edgeforge, no build folder): a plain Makefile project builds, its
    # tests run under qemu through binfmt_misc, the program runs
    src = unpack(archives["xxhash"], tmp_path / "src")
    log = tmp_path / "build.log"
    sdk_board = Board(board, sdk / "toolchain", sdk / "sysroot")
    sh("make -j2 xxhsum && make check", src, log, board=sdk_board)
    assert machine(src / "xxhsum") == "EM_AARCH64"
    for name in ("toolchain/toolchain.cmake", "toolchain/environment-setup",
                 "toolchain/bin/aarch64-linux-gnu-clang"):
        text = (sdk / name).read_text()
        assert str(BUILD) not in text and "/opt/edgeforge-sdk" not in text, name
        assert str(sdk / "sysroot") in text, name
    # a project written the way OpenCV's own samples are: find_package(OpenCV), ${OpenCV_LIBS},
    # no build type; configured with the SDK's toolchain file only, run under qemu by path
    proj = tmp_path / "ocv"
    proj.mkdir()
    (proj / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.16)\nproject(ocvprobe CXX)\n"
        "find_package(OpenCV REQUIRED)\nadd_executable(ocvprobe main.cpp)\n"
        "target_include_directories(ocvprobe PRIVATE ${OpenCV_INCLUDE_DIRS})\n"
        "target_link_libraries(ocvprobe ${OpenCV_LIBS})\n")
    (proj / "main.cpp").write_text(
        "#include <opencv2/core.hpp>\n#include <opencv2/imgproc.hpp>\n#include <cstdio>\n"
        "int main() { cv::Mat m(4, 4, CV_8UC1, cv::Scalar(7)); cv::Mat o;\n"
        "  cv::threshold(m, o, 5, 200, cv::THRESH_BINARY);\n"
        "  std::printf(\"opencv %s sum %d\\n\", CV_VERSION, (int)cv::sum(o)[0]); }\n")
    ocv_log = tmp_path / "ocv.log"
    sh('cmake -G Ninja -S . -B b -DCMAKE_TOOLCHAIN_FILE="$CMAKE_TOOLCHAIN_FILE" && '
       "cmake --build b && ./b/ocvprobe > out.txt", proj, ocv_log, board=sdk_board)
    assert (proj / "out.txt").read_text().strip() == "opencv 4.6.0 sum 3200"
    assert machine(proj / "b" / "ocvprobe") == "EM_AARCH64"
    cache_text = (proj / "b" / "CMakeCache.txt").read_text()
    assert str(BUILD) not in cache_text and "conan2/p/" not in cache_text


def test_rpi4_sdk_archive_is_reproducible_and_builds_alone(archives, tmp_path: Path):
    """The gcc board's SDK (rpi4: gcc 12, bookworm): written twice, the same bytes; unpacked
    elsewhere and relocated, its own environment script builds xxhash (Debian's cross gcc
    and the SDK's sysroot), whose `make check` runs the program under qemu-user; no path of
    the build folder is left in the SDK's toolchain files."""
    from tests.e2e.conftest import build_board

    board = "rpi4"
    build_board(board, smoke_only=False)
    archive = DIST / board / f"edgeforge-sdk-{board}.tar.gz"
    r = run_invoke("sdk", "--board", board, env={"SOURCE_DATE_EPOCH": "1700000000"})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    first = archive.read_bytes()
    r = run_invoke("sdk", "--board", board, env={"SOURCE_DATE_EPOCH": "1700000000"})
    assert r.returncode == 0 and archive.read_bytes() == first, r.stderr[-3000:]
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "unpacked", filter="tar")
    sdk = tmp_path / "unpacked" / f"edgeforge-sdk-{board}"
    subprocess.run([str(sdk / "relocate-sdk.sh")], check=True, capture_output=True)
    for name in ("toolchain/toolchain.cmake", "toolchain/environment-setup",
                 "toolchain/bin/aarch64-linux-gnu-gcc"):
        text = (sdk / name).read_text()
        assert str(BUILD) not in text and str(sdk / "sysroot") in text, name
    src = unpack(archives["xxhash"], tmp_path / "src")
    sh("make -j2 xxhsum && make check", src, tmp_path / "build.log",
       board=Board(board, sdk / "toolchain", sdk / "sysroot"))
    assert machine(src / "xxhsum") == "EM_AARCH64"
