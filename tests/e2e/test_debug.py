"""Debug information end to end for jetson-nx: the app and its OpenCV/FFmpeg libraries are
built with debug information, ship stripped with a debuglink, and the release's -dbg artifacts
hold the split files; `invoke debug --emulate` runs the app under qemu-user's gdb stub and real
gdb-multiarch, started with the command launch.json names, breaks in the app and in
FFmpeg/OpenCV with file:line, prints locals, steps, finishes and runs to the normal exit.
(The virtual twin's modes are tested in test_device.py, beside the booted twin.)"""

from __future__ import annotations

import json
import shlex
import subprocess
import tarfile
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from edgeforge.build import sample
from edgeforge.context import Context
from edgeforge.elf import debuginfo
from tests.conftest import BUILD, PROJECT, app_records, release_dir, require_tools, run_invoke
from tests.e2e.conftest import build_board

pytestmark = pytest.mark.e2e
BOARD = "jetson-nx"
APP = BUILD / BOARD / "edge-infer"
SYMBOLS = app_records(BOARD) / "symbols"
VERSION = "1.0.0"
EPOCH = "1700000000"


def sections(path: Path) -> set[str]:
    with open(path, "rb") as fh:
        return {s.name for s in ELFFile(fh).iter_sections()}


@pytest.fixture(scope="module")
def built() -> Path:
    build_board(BOARD, smoke_only=False)
    return APP


@pytest.fixture(scope="module")
def vtest() -> Path:
    """OpenCV's vtest.avi, from the pinned source archive (extracted once into the cache)."""
    return sample(Context.create(project_root=PROJECT, build_root=BUILD), "vtest.avi")


def test_what_ships_is_stripped_and_names_its_debug_file(built: Path):
    index = {f.path: f for f in debuginfo.read_index(SYMBOLS)}
    elves = debuginfo.elf_files(built)
    assert len(elves) >= 10
    for f in elves:
        rel = str(f.relative_to(built))
        names = sections(f)
        assert ".debug_info" not in names and ".symtab" not in names, rel
        assert ".gnu_debuglink" in names, rel
        bid = debuginfo.build_id(f)
        assert bid and index[rel].build_id == bid, rel
        debug = SYMBOLS / debuginfo.debug_file_for(bid)
        assert ".debug_info" in sections(debug), rel
        assert debuginfo.build_id(debug) == bid
    # the libraries of both recipes carry full debug information (variables, lines)
    for lib in ("libavformat.so.59", "libopencv_core.so.4.6.0"):
        path = next(p for p in elves if p.name.startswith(lib))
        debug = SYMBOLS / debuginfo.debug_file_for(debuginfo.build_id(path))
        text = subprocess.run(["readelf", "--debug-dump=info", str(debug)], capture_output=True,
                              text=True, check=True).stdout
        assert "DW_TAG_variable" in text and "DW_AT_decl_line" in text, lib


@pytest.fixture(scope="module")
def released(built: Path) -> Path:
    r = run_invoke("release", "--board", BOARD, "--version", VERSION,
                   env={"SOURCE_DATE_EPOCH": EPOCH}, timeout=3600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    return release_dir(BOARD, VERSION)


def test_the_release_ships_dbg_artifacts_that_gdb_reads(released: Path, tmp_path: Path):
    require_tools("gdb-multiarch", "dpkg-deb")
    deb = released / f"edge-infer-dbg_{VERSION}_arm64.deb"
    tarball = released / f"edge-infer-dbg-{VERSION}-{BOARD}.tar.xz"
    assert deb.is_file() and tarball.is_file()
    fields = subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True, text=True,
                            check=True).stdout
    assert f"Depends: edge-infer (= {VERSION})" in fields and "Section: debug" in fields
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True,
                             check=True).stdout
    # every ELF the .deb ships has its debug file in the -dbg package, by build-id
    app = tmp_path / "app"
    subprocess.run(["dpkg-deb", "-x", str(released / f"edge-infer_{VERSION}_arm64.deb"),
                    str(app)], check=True)
    shipped = debuginfo.elf_files(app / "opt/edge-infer")
    assert len(shipped) >= 10
    for f in shipped:
        bid = debuginfo.build_id(f)
        assert f"./usr/lib/debug/{debuginfo.debug_file_for(bid)}" in listing, f.name
    with tarfile.open(tarball) as tar:
        members = {m.name for m in tar.getmembers()}
        tar.extractall(tmp_path / "dbg", filter="data")
    assert {str(debuginfo.debug_file_for(debuginfo.build_id(f))) for f in shipped} <= members
    # gdb finds the installed program's lines through the tarball's build-id tree
    program = app / "opt/edge-infer/bin/edge-infer"
    r = subprocess.run(["gdb-multiarch", "-q", "-batch", "-iex",
                        f"set debug-file-directory {tmp_path / 'dbg'}", "-ex", "info line main",
                        str(program)], capture_output=True, text=True, timeout=120)
    assert "main.cpp" in r.stdout and "Line " in r.stdout, r.stdout + r.stderr
    sbom = json.loads((released / "sbom.cdx.json").read_text())
    names = json.dumps(sbom)
    assert deb.name in names and tarball.name in names
    assert f"  {deb.name}" in (released / "SHA256SUMS").read_text()


GDB_SCRIPT = [
    "set breakpoint pending on",
    "break avformat_open_input",
    "break imgproc/src/resize.cpp:4089",
    "continue",
    "bt",
    "finish",
    "next",
    "info locals",
    "continue",
    "bt 3",
    "list app.cpp:66,67",
    "delete",
    "continue",
]


def gdb_batch(argv: list[str], script: list[str], timeout: float = 600) -> str:
    """Run the session's gdb command in batch mode with a script; returns its output."""
    cmd = [argv[0], "-batch", *argv[1:-1]]
    for line in script:
        cmd += ["-ex", line]
    r = subprocess.run([*cmd, argv[-1]], capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    return r.stdout + r.stderr


def launch_argv(vscode: Path, name: str) -> list[str]:
    """The gdb command line launch.json describes (what VSCode's cppdbg runs)."""
    launch = json.loads((vscode / "launch.json").read_text())
    conf = next(c for c in launch["configurations"] if c["name"] == name)
    return [conf["miDebuggerPath"], *shlex.split(conf["miDebuggerArgs"]),
            "-ex", f"target remote {conf['miDebuggerServerAddress']}", conf["program"]]


def test_emulated_session_breaks_in_the_app_ffmpeg_and_opencv(built: Path, vtest: Path,
                                                              tmp_path: Path):
    require_tools("gdb-multiarch", "qemu-aarch64")
    vscode = tmp_path / ".vscode"
    model = built / "share/edge-infer/pedestrian-grid.onnx"
    out = tmp_path / "out.jsonl"
    r = run_invoke("debug", "--board", BOARD, "--emulate", "--detach", "--vscode", str(vscode),
                   "--", "--model", str(model), "--max-frames", "2", "--output", str(out),
                   str(vtest), timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    session = json.loads((BUILD / BOARD / "debug/session.json").read_text())
    try:
        printed = next(ln.split("gdb: ", 1)[1] for ln in r.stdout.splitlines() if "gdb: " in ln)
        argv = launch_argv(vscode, f"edgeforge: {BOARD} (emulate)")
        assert shlex.split(printed)[1:] == argv[1:]          # what it prints is launch.json's
        conf = json.loads((vscode / "launch.json").read_text())["configurations"][0]
        assert conf["type"] == "cppdbg" and conf["request"] == "launch"
        assert conf["miDebuggerPath"] == "/usr/bin/gdb-multiarch"
        assert conf["program"] == str(built / "bin/edge-infer")
        assert conf["miDebuggerServerAddress"] == session["socket"]
        tasks = json.loads((vscode / "tasks.json").read_text())["tasks"]
        pre = next(t for t in tasks if t["label"] == conf["preLaunchTask"])
        assert pre["args"][:3] == ["debug", "--board", BOARD] and "--emulate" in pre["args"]
        gdbinit = (BUILD / BOARD / "debug/gdbinit").read_text()
        assert f"set solib-search-path {built / 'lib'}" in gdbinit
        # no TCP port: the stub is a Unix socket
        assert Path(session["socket"]).is_socket()
        text = gdb_batch(argv, GDB_SCRIPT)
    finally:
        run_invoke("debug", "--board", BOARD, "--stop")
    # the first stop: FFmpeg's avformat_open_input, called from the app, with file:line
    assert "Breakpoint 1, avformat_open_input (" in text, text[-4000:]
    assert "libavformat/demux.c:" in text, text[-4000:]
    assert "edge_infer::VideoSource::VideoSource (" in text, text[-4000:]
    assert "apps/edge-infer/src/video_source.cpp:177" in text, text[-4000:]
    assert "in edge_infer::run (" in text and " in main (" in text, text[-4000:]
    assert "Value returned is $1 = 0" in text, text[-4000:]          # finish
    assert "opts = " in text, text[-4000:]                      # a local of the app's frame
    # the second: OpenCV's cv::resize inside the app's letterbox()
    assert "Breakpoint 2, cv::resize (" in text and "imgproc/src/resize.cpp:4089" in text, \
        text[-4000:]
    assert "letterbox (" in text, text[-4000:]
    assert "apps/edge-infer/src/preprocess.cpp:" in text, text[-4000:]
    assert "    auto detector = make_detector(o);" in text   # `list`: the app's own source
    assert "exited normally" in text, text[-4000:]
    assert len(out.read_text().splitlines()) == 2              # the program did its work


def test_debug_without_gdb_multiarch_or_a_twin_says_what_to_do(tmp_path: Path):
    import shutil
    bare = tmp_path / "bin"          # a PATH with the basics and no gdb-multiarch
    bare.mkdir()
    for tool in ("git", "sh", "env"):
        (bare / tool).symlink_to(shutil.which(tool))
    vscode = ["--vscode", str(tmp_path / ".vscode")]   # never the checkout's
    r = run_invoke("debug", "--board", BOARD, "--emulate", *vscode, env={"PATH": str(bare)})
    assert r.returncode == 3 and "Traceback" not in r.stderr          # a missing host tool
    assert "gdb-multiarch is not installed" in r.stderr and "./edgeforge setup" in r.stderr
    r = run_invoke("debug", "--board", BOARD, "--vm", "--attach", "12", *vscode)
    assert r.returncode == 2 and "Traceback" not in r.stderr          # start the twin first
    assert "twin of jetson-nx is not running" in r.stderr
    assert not (tmp_path / ".vscode").exists()          # a refused session writes nothing


def test_gdb_flag_starts_gdb_multiarch_here_and_the_server_ends_with_it(built: Path,
                                                                       tmp_path: Path):
    """`--gdb` (here with --emulate): gdb-multiarch starts in the terminal, connected to the
    app stopped at its first instruction under qemu-user; with no terminal input it quits,
    and the debug server (qemu-user) is gone with it."""
    require_tools("gdb-multiarch", "qemu-aarch64")
    from edgeforge import debug as debugging
    folder = BUILD / BOARD / "debug"
    r = run_invoke("debug", "--board", BOARD, "--emulate", "--gdb", "--vscode",
                   str(tmp_path / ".vscode"), "--", "--version", timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert f"Remote debugging using {folder / 'gdb.sock'}" in r.stdout, r.stdout[-3000:]
    assert "_start" in r.stdout and "ld-linux-aarch64.so.1" in r.stdout, r.stdout[-3000:]
    assert "Traceback" not in r.stdout + r.stderr
    assert debugging.session_pid(folder) is None
