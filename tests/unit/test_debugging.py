"""Debug sessions, pure parts: gdbinit, gdb and server command lines, VSCode merging, split
debug argv, core dump module lists, the -dbg package's control text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeforge import debug as dbg
from edgeforge.core import Reporter, Runner, UsageError
from edgeforge.debug import DebugOptions, servers
from edgeforge.deliver.packages import dbg as dbgpkg
from edgeforge.elf import debuginfo


def setup(tmp_path: Path) -> dbg.GdbSetup:
    return dbg.GdbSetup(
        board="jetson-nx", sysroot=tmp_path / "sysroot", app_dir=tmp_path / "app",
        symbols=tmp_path / "symbols", program_path="bin/edge-infer",
        substitutions=dbg.substitutions(Path("/src/proj"), Path("/src/proj/build"),
                                        Path("/c"), {"openc": Path("/c/conan2/p/b/openc123")}),
        source_dirs=(Path("/src/proj/apps/edge-infer"),))


def test_gdbinit_names_sysroot_libraries_debug_files_and_source_maps(tmp_path):
    text = dbg.gdbinit_text(setup(tmp_path))
    lines = text.splitlines()
    assert f"set sysroot {tmp_path / 'sysroot'}" in lines
    assert f"set solib-search-path {tmp_path / 'app/lib'}" in lines
    assert (f"set debug-file-directory {tmp_path / 'symbols'}:"
            f"{tmp_path / 'sysroot/usr/lib/debug'}") in lines
    subs = [ln for ln in lines if ln.startswith("set substitute-path")]
    # specific rules first: gdb takes the first that matches
    assert subs == ["set substitute-path /conan/openc /c/conan2/p/b/openc123",
                    "set substitute-path /edgeforge-project /src/proj",
                    "set substitute-path /edgeforge-build /src/proj/build",
                    "set substitute-path /edgeforge-cache /c"]
    assert "directory /src/proj/apps/edge-infer" in lines
    assert setup(tmp_path).program == tmp_path / "app/bin/edge-infer"  # the app's program


def test_gdb_argv_reads_the_gdbinit_before_the_program():
    argv = dbg.gdb_argv(Path("/b/gdbinit"), Path("/b/app/bin/edge-infer"), address="/b/gdb.sock")
    assert argv == ["gdb-multiarch", "-q", "-ix", "/b/gdbinit", "-ex", "target remote /b/gdb.sock",
                    "/b/app/bin/edge-infer"]
    core = dbg.gdb_argv(Path("/g"), Path("/p"), core=Path("/tmp/core"))
    assert core[-2:] == ["/p", "/tmp/core"] and "target remote" not in " ".join(core)


def test_emulated_stub_listens_on_a_unix_socket_not_a_port():
    argv = dbg.emulate_argv("qemu-aarch64", Path("/s"), Path("/b/gdb.sock"), Path("/p"), ["-x"])
    assert argv == ["qemu-aarch64", "-g", "/b/gdb.sock", "-L", "/s", "/p", "-x"]


def test_gdbserver_talks_over_its_stdio_never_a_port():
    cmd = dbg.gdbserver_command("/tmp/p.pid", "/opt/x/bin/edge-infer", ["a b"])
    assert cmd == "echo $$ > /tmp/p.pid; exec gdbserver - /opt/x/bin/edge-infer 'a b'"
    att = dbg.gdbserver_command("/tmp/p", None, [], attach=42, sudo=True)
    assert att.endswith("exec sudo -n gdbserver --attach - 42")


def test_the_relay_listens_on_a_private_socket_and_runs_ssh(tmp_path):
    argv = dbg.relay_argv("a,b.sock", "./remote.sh")
    assert argv == ["socat", "UNIX-LISTEN:a\\,b.sock,unlink-early,mode=600", "EXEC:./remote.sh"]
    script = dbg.relay_script(["ssh", "-p", "2222", "dev@127.0.0.1"], "echo $$ > /tmp/p; x")
    assert script.splitlines()[1] == "exec ssh -p 2222 dev@127.0.0.1 'echo $$ > /tmp/p; x'"


def entry(tmp_path: Path) -> dbg.VscodeEntry:
    return dbg.VscodeEntry(mode="emulate", board="jetson-nx", program=tmp_path / "edge-infer",
                           gdbinit=tmp_path / "gdbinit", address=str(tmp_path / "gdb.sock"),
                           server_command=["/p/edgeforge", "debug", "--emulate", "--detach"],
                           stop_command=["/p/edgeforge", "debug", "--stop"], cwd=Path("/p"))


def test_vscode_files_keep_the_users_entries_and_replace_ours(tmp_path):
    vs = tmp_path / ".vscode"
    vs.mkdir()
    (vs / "launch.json").write_text(
        '{\n  // my own\n  "version": "0.2.0",\n  "configurations": [\n'
        '    {"name": "mine", "type": "cppdbg", "request": "launch", "program": "a"},\n'
        '    {"name": "edgeforge: jetson-nx (emulate)", "program": "old"},\n  ],\n}\n')
    dbg.write_vscode(vs, entry(tmp_path))
    dbg.write_vscode(vs, entry(tmp_path))  # twice: still one entry of ours
    launch = json.loads((vs / "launch.json").read_text())
    names = [c["name"] for c in launch["configurations"]]
    assert names == ["mine", "edgeforge: jetson-nx (emulate)"]
    ours = launch["configurations"][1]
    assert ours["miDebuggerPath"] == "/usr/bin/gdb-multiarch"
    assert ours["miDebuggerArgs"] == f"-q -ix {tmp_path / 'gdbinit'}"
    assert ours["miDebuggerServerAddress"] == str(tmp_path / "gdb.sock")
    assert ours["preLaunchTask"] == "edgeforge: start debug server jetson-nx (emulate)"
    tasks = json.loads((vs / "tasks.json").read_text())
    assert [t["label"] for t in tasks["tasks"]] == [
        "edgeforge: start debug server jetson-nx (emulate)", "edgeforge: stop debug server jetson-nx"]
    assert "// my own" in (vs / "launch.json.bak").read_text()


def test_a_broken_launch_json_is_a_clear_error_and_stays(tmp_path):
    vs = tmp_path / ".vscode"
    vs.mkdir()
    (vs / "launch.json").write_text("{ not json")
    with pytest.raises(UsageError, match="launch.json is not valid JSON"):
        dbg.write_vscode(vs, entry(tmp_path))
    assert (vs / "launch.json").read_text() == "{ not json"


def test_eu_unstrip_lines_give_modules_and_the_program():
    text = ("0xaaaab0000000+0x21000 9aa44ad48460a9d3@0xaaaab0000238 . - /opt/edge-infer/bin/edge-infer\n"
            "0xffff8000+0x1a000 5f42@0xffff8000238 - - /opt/edge-infer/lib/libavformat.so.59\n"
            "0xffff9000+0x1000 -@0 - - linux-vdso.so.1\n")
    mods = dbg.parse_unstrip(text)
    assert [m.build_id for m in mods] == ["9aa44ad48460a9d3", "5f42", ""]
    assert dbg.core_program(mods, "bin/edge-infer").path == "/opt/edge-infer/bin/edge-infer"
    assert dbg.core_program(mods, "bin/other") is None


def test_build_id_mismatch_names_both_ids(tmp_path):
    (tmp_path / debuginfo.INDEX).write_text(json.dumps([
        {"path": "bin/edge-infer", "build_id": "aa11", "debug_file": ".build-id/aa/11.debug"}]))
    dbg.check_build_id("aa11", tmp_path, "x", "bin/edge-infer")
    with pytest.raises(dbg.DebugError, match=r"has build-id bb22.*build-id aa11 \(bin/edge-infer\)"):
        dbg.check_build_id("bb22", tmp_path, "process 7", "bin/edge-infer")


def test_sha256sum_output_is_read_relative_to_the_install_prefix():
    out = dbg.parse_sha256sum("ab  /opt/edge-infer/bin/edge-infer\ncd  /opt/edge-infer/lib/a.so\n",
                              "/opt/edge-infer")
    assert out == {"bin/edge-infer": "ab", "lib/a.so": "cd"}


@pytest.mark.parametrize("opts, message", [
    (DebugOptions(), "where should the app run"),
    (DebugOptions(emulate=True, vm=True), "choose one"),
    (DebugOptions(emulate=True, attach=3), "attach on a device"),
    (DebugOptions(vm=True, attach=3, service="x"), "not both"),
    (DebugOptions(vm=True, attach=3, args=("a",)), "attach to one that runs"),
    (DebugOptions(core=Path("c"), emulate=True), "opens a core dump"),
])
def test_debug_options_refuse_what_cannot_work(opts, message):
    with pytest.raises(UsageError, match=message):
        opts.check()


def test_split_and_strip_argv_keep_the_build_id():
    keep = debuginfo.keep_debug_argv("objcopy", Path("/a/lib/x.so"), Path("/s/.build-id/ab/c.debug"))
    assert keep == ["objcopy", "--only-keep-debug", "--compress-debug-sections=zlib",
                    "/a/lib/x.so", "/s/.build-id/ab/c.debug"]
    strip = debuginfo.strip_argv("objcopy", Path("/a/lib/x.so"), Path("/s/d.debug"), shared=True)
    assert strip == ["objcopy", "--strip-unneeded", "--remove-section=.comment",
                     "--remove-section=.note", "--add-gnu-debuglink=/s/d.debug", "/a/lib/x.so"]
    assert "--strip-all" in debuginfo.strip_argv("objcopy", Path("/a/bin/p"), None, shared=False)
    assert debuginfo.debug_file_for("9aa44ad4") == Path(".build-id/9a/a44ad4.debug")


def test_dbg_control_depends_on_exactly_this_version():
    from edgeforge.deliver.packages import parse_installers

    spec = parse_installers((Path(__file__).resolve().parents[2] / "images/edge-infer/installers.yaml")
                            .read_text(), "installers.yaml")
    text = dbgpkg.dbg_control_text(spec, "1.0.0", "arm64", 9000)
    assert "Package: edge-infer-dbg\n" in text
    assert "Depends: edge-infer (= 1.0.0)\n" in text
    assert "Section: debug\n" in text and "Architecture: arm64\n" in text
    assert dbgpkg.tarball_name(spec, "v1.0.0", "jetson-nx") == "edge-infer-dbg-1.0.0-jetson-nx.tar.xz"


def test_remote_stop_kills_only_the_sessions_gdbserver(tmp_path):
    import subprocess
    cmd = dbg.remote_stop_command(str(tmp_path / "p.pid"), sudo=False)
    other = subprocess.Popen(["sleep", "30"])
    try:
        (tmp_path / "p.pid").write_text(f"{other.pid}\n")     # a PID reused by another program
        subprocess.run(["sh", "-c", cmd], check=False)
        assert other.poll() is None and not (tmp_path / "p.pid").exists()
    finally:
        other.kill()
        other.wait()


# ---- session.json: facts, never commands ----------------------------------------------------
def quiet_runner(tmp_path: Path) -> Runner:
    return Runner(Reporter(quiet=True), tmp_path / "logs", echo=False)


def session_folder(tmp_path: Path, board: str = "jetson-nx") -> Path:
    folder = tmp_path / "build" / board / dbg.DEBUG_DIR
    folder.mkdir(parents=True)
    return folder


def remote_session(folder: Path, pid: int, **login) -> dict:
    from edgeforge.core import proc_start_time
    return {"mode": "remote", "board": folder.parent.name, "pid": pid,
            "started": proc_start_time(pid) or 0, "socket": str(folder / dbg.SOCKET),
            "log": "/b/logs/relay.log", "program": "/opt/edge-infer/bin/edge-infer",
            "attach": None, "seconds": 1.5,
            "remote": {"login": {"user": "edge", "host": "127.0.0.1", "port": 1, **login},
                       "pidfile": "/tmp/edgeforge-gdbserver-123456789.pid", "sudo": False}}


def test_a_forged_session_never_runs_its_command_on_stop(tmp_path: Path):
    """An old or forged session.json that holds an ssh argv: `--stop` runs nothing from it and
    says which file to delete."""
    import subprocess

    from tests.conftest import run_invoke

    folder = session_folder(tmp_path)
    marker = tmp_path / "MARKER"
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        (folder / dbg.SESSION).write_text(json.dumps({
            "pid": sleeper.pid, "socket": str(folder / dbg.SOCKET),
            "remote": {"ssh": ["sh", "-c", f"touch {marker}", "sh"], "pidfile": "/tmp/p"}}))
        r = run_invoke("debug", "--board", "jetson-nx", "--stop",
                       env={"EDGEFORGE_BUILD_DIR": str(tmp_path / "build")}, timeout=120)
        assert not marker.exists()
        assert r.returncode == 8, r.stdout + r.stderr
        assert f"error: {folder / dbg.SESSION} is not a state file edgeforge wrote" in r.stderr
        assert f"Delete it (rm {folder / dbg.SESSION})" in r.stderr
        assert "Traceback" not in r.stdout + r.stderr
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.mark.parametrize("change", [
    {"remote": {"ssh": ["sh", "-c", "touch x"], "pidfile": "/tmp/p"}},     # an argv: refused
    {"pid": 1}, {"pid": "42"}, {"pid": True}, {"started": -1}, {"mode": "shell"},
    {"socket": "/elsewhere/gdb.sock"}, {"board": "rpi4"}, {"extra": "x"}, {"remote": None},
    {"remote": {"login": {"user": "-oProxyCommand=touch x", "host": "h", "port": 22},
                "pidfile": "/tmp/edgeforge-gdbserver-123456789.pid", "sudo": False}},
    {"remote": {"login": {"user": "edge", "host": "-oProxyCommand=x", "port": 22},
                "pidfile": "/tmp/edgeforge-gdbserver-123456789.pid", "sudo": False}},
    {"remote": {"login": {"user": "edge", "host": "h\n", "port": 22},
                "pidfile": "/tmp/edgeforge-gdbserver-123456789.pid", "sudo": False}},
    {"remote": {"login": {"user": "edge", "host": "h", "port": 70000},
                "pidfile": "/tmp/edgeforge-gdbserver-123456789.pid", "sudo": False}},
    {"remote": {"login": {"user": "edge", "host": "h", "port": 22},
                "pidfile": "/tmp/x; touch y", "sudo": False}},
    {"remote": {"login": {"user": "edge", "host": "10.0.0.9", "port": 22, "twin": True,
                          "known_hosts": "/x/known_hosts"},
                "pidfile": "/tmp/edgeforge-gdbserver-123456789.pid", "sudo": False}},
])
def test_a_session_that_edgeforge_would_not_write_is_refused(tmp_path: Path, change: dict):
    from edgeforge.core import StateFileError

    folder = session_folder(tmp_path)
    (folder / dbg.SESSION).write_text(json.dumps({**remote_session(folder, 4242), **change}))
    with pytest.raises(StateFileError, match=r"session\.json is not a state file edgeforge "
                                             r"wrote \(.+\); nothing was done.*Delete it"):
        dbg.stop_session(folder, quiet_runner(tmp_path))
    assert (folder / dbg.SESSION).exists()


def test_a_session_records_the_login_and_stop_builds_ssh_from_it(tmp_path: Path):
    import subprocess

    folder = session_folder(tmp_path)
    twin_hosts = str(folder.parent / "vm" / "known_hosts")
    login = dbg.Login(user="edge", host="127.0.0.1", port=2222, identity="/k/id",
                      known_hosts=twin_hosts, twin=True)
    assert login.argv() == ["ssh", "-p", "2222", "-o", f"UserKnownHostsFile={twin_hosts}",
                            "-o", "StrictHostKeyChecking=accept-new", "-o",
                            "PasswordAuthentication=no", "-o", "BatchMode=yes", "-i", "/k/id",
                            "-o", "IdentitiesOnly=yes", "edge@127.0.0.1"]
    device = dbg.Login(user="edge", host="edge-1.local", port=22)
    assert device.argv()[-1] == "edge@edge-1.local" and device.argv()[0] == "ssh"
    sleeper = subprocess.Popen(["sleep", "30"])
    try:  # every fact right, but the PID is not a debug server: read back, never killed
        state = remote_session(folder, sleeper.pid, identity="/k/id", known_hosts=twin_hosts,
                               port=1, twin=True)
        dbg.save_session(folder, state)
        s = dbg.read_session(folder)
        assert s is not None and s.remote.login.argv()[-1] == "edge@127.0.0.1"
        written = json.loads((folder / dbg.SESSION).read_text())["remote"]
        assert sorted(written) == ["login", "pidfile", "sudo"]      # facts, no command line
        assert written["login"]["user"] == "edge" and written["login"]["port"] == 1
        assert dbg.session_pid(folder) is None
        dbg.stop_session(folder, quiet_runner(tmp_path))  # ssh to port 1 of 127.0.0.1: refused
        assert sleeper.poll() is None and not (folder / dbg.SESSION).exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_line_break_in_a_recorded_folder_never_becomes_a_gdb_command(tmp_path: Path):
    """deps.json's package folders reach the gdbinit (substitute-path): a folder whose name
    holds a line break and `shell ...` is left out, and the gdbinit refuses any such value."""
    from edgeforge.debug import package_folders

    evil = tmp_path / "p" / "b" / "openc1234567890123\nshell touch MARKER\n"
    (evil / "b").mkdir(parents=True)
    good = tmp_path / "p" / "b" / "zlib01234567890123"
    (good / "b").mkdir(parents=True)
    (tmp_path / "deps.json").write_text(json.dumps({"package_dirs": {
        "opencv": str(evil / "p"), "zlib": str(good / "p"), "x\nshell y": str(good / "p")}}))
    assert package_folders(tmp_path) == {"zlib": good}
    bad = dbg.GdbSetup(board="b", sysroot=tmp_path, app_dir=tmp_path, symbols=tmp_path,
                       program_path="bin/x", substitutions=(("/conan/openc", str(evil)),))
    with pytest.raises(dbg.DebugError, match="a line break in it would start a gdb command"):
        dbg.gdbinit_text(bad)


def test_vscode_files_are_never_written_through_links_planted_beside_them(tmp_path: Path):
    """A link at launch.json.bak (to a file outside, or dangling) is neither followed nor
    replaced; a linked launch.json is replaced by a file, its target untouched; a named pipe
    is refused at once (it would block)."""
    import hashlib
    import os

    vs = tmp_path / ".vscode"
    vs.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim"
    victim.write_text("the user's own file\n")
    before = hashlib.sha256(victim.read_bytes()).hexdigest()
    (vs / "launch.json").write_text('{\n  // mine\n  "configurations": []\n}\n')
    (vs / "tasks.json").write_text('{\n  // mine\n  "tasks": []\n}\n')
    os.symlink(victim, vs / "launch.json.bak")
    os.symlink(outside / "created", vs / "tasks.json.bak")          # dangling
    dbg.write_vscode(vs, entry(tmp_path))
    assert hashlib.sha256(victim.read_bytes()).hexdigest() == before
    assert not (outside / "created").exists()
    assert (vs / "launch.json.bak").is_symlink() and (vs / "tasks.json.bak").is_symlink()
    assert "// mine" in (vs / "launch.json.bak.1").read_text()
    assert "// mine" in (vs / "tasks.json.bak.1").read_text()
    # launch.json itself a link to the victim: replaced by a file, the victim stays
    (vs / "launch.json").unlink()
    os.symlink(victim, vs / "launch.json")
    with pytest.raises(UsageError, match="not valid JSON"):   # the victim is read, not JSON
        dbg.write_vscode(vs, entry(tmp_path))
    victim.write_text('{"configurations": []}\n')
    before = hashlib.sha256(victim.read_bytes()).hexdigest()
    dbg.write_vscode(vs, entry(tmp_path))
    assert not (vs / "launch.json").is_symlink() and (vs / "launch.json").is_file()
    assert hashlib.sha256(victim.read_bytes()).hexdigest() == before
    (vs / "tasks.json").unlink()
    os.mkfifo(vs / "tasks.json")
    with pytest.raises(UsageError, match=r"tasks\.json: a named pipe, not a regular file"):
        dbg.write_vscode(vs, entry(tmp_path))
    assert (vs / "tasks.json").is_fifo()


def test_a_session_edgeforge_started_is_found_and_stopped_by_its_facts(tmp_path: Path,
                                                                      monkeypatch):
    """qemu-user's gdb stub, started as `invoke debug --emulate` starts it: its session.json
    holds facts only, its PID (with its start time) is recognised, `--stop` ends it."""
    import shutil
    import subprocess

    from edgeforge.core import Reporter, Runner
    from tests.conftest import require_tools
    require_tools("qemu-aarch64", "aarch64-linux-gnu-gcc")  # fails (never skips) when missing
    qemu, cc = shutil.which("qemu-aarch64"), shutil.which("aarch64-linux-gnu-gcc")
    (tmp_path / "main.c").write_text("int main(void) { return 0; }\n")
    program = tmp_path / "prog"
    subprocess.run([cc, "-static", str(tmp_path / "main.c"), "-o", str(program)], check=True)
    folder = session_folder(tmp_path)
    runner = Runner(Reporter(quiet=True), tmp_path / "logs", echo=False)
    state = dbg.start_emulated(folder, runner, qemu, Path("/nonexistent"), program, [])
    try:
        dbg.save_session(folder, {**state, "board": "jetson-nx", "seconds": 0.1})
        s = dbg.read_session(folder)
        assert s is not None and s.mode == "emulate" and s.remote is None
        assert dbg.session_pid(folder) == state["pid"]
        kill = servers._kill     # qemu-user waiting for gdb lets SIGTERM wait: SIGKILL sooner
        monkeypatch.setattr(servers, "_kill", lambda pid, timeout=0.5: kill(pid, timeout=0.5))
        assert dbg.stop_session(folder, runner) is True
        assert not (folder / dbg.SESSION).exists() and dbg.session_pid(folder) is None
    finally:
        servers._kill(state["pid"], timeout=2)
