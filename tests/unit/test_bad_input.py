"""Bad input is never "a bug in edgeforge": a typed option with a bad value, an interrupt
while a command runs, JSON nested thousands deep (a base image, an auth file, a sysroot
server's stamp, launch.json), an unclosed IPv6 --target, --ssh-key /dev/zero, a malformed
twin state file, an auth file whose `auth` is not text, and --out/--vscode where nothing can
be written each end in one sentence naming the option or file, with the documented exit code
and no traceback. The CLI cases run the real `invoke` with their own build, dist and cache
folders: each is refused before anything is built."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from invoke import Exit

from edgeforge import cli as commands
from edgeforge import debug as debugging
from edgeforge.core import HostSetupError, Reporter, Runner, SysrootError, UsageError, jsonfile, read_limited
from edgeforge.deliver.oci import layout as oci
from edgeforge.deliver.oci import read as ociread
from edgeforge.team import registry
from edgeforge.toolchain import sysroot, sysrootpack
from tests.conftest import run_invoke

DEEP = b"[" * 50_000 + b"]" * 50_000  # far past Python's recursion limit
BOARD = "jetson-nx"


def cli(tmp_path: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`invoke ARGS` with throwaway build, dist and cache folders."""
    return run_invoke(*args, timeout=300, env={
        "EDGEFORGE_BUILD_DIR": str(tmp_path / "build"), "EDGEFORGE_DIST_DIR": str(tmp_path / "dist"),
        "EDGEFORGE_CACHE": str(tmp_path / "cache"), **(env or {})})


def refused(r: subprocess.CompletedProcess, code: int, *says: str) -> str:
    """The run ended with `code` and one error line saying all of `says`; no traceback, no
    bug report. Returns that line."""
    out = r.stdout + r.stderr
    assert r.returncode == code, out
    assert "Traceback" not in out and "this is a bug" not in out, out
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, out
    for s in says:
        assert s in errors[0], errors[0]
    return errors[0]


# ---- 1. typed options: invoke's parser never sees a number ------------------------------------
@pytest.mark.parametrize("args, says", [
    (("vm", "--timeout", "soon"), "--timeout 'soon': expected a number of seconds above 0"),
    (("vm", "--timeout", "nan"), "--timeout 'nan': expected a number of seconds above 0"),
    (("vm", "--port", "abc"), "--port 'abc': expected a whole number from 1 to 65535"),
    (("vm", "--port", "70000"), "--port '70000': expected a whole number from 1 to 65535"),
    (("run", "--timeout", "abc", "--", "prog"), "--timeout 'abc': expected a number of seconds"),
    (("test", "--frames", "x"), "--frames 'x': expected a whole number from 1"),
    (("debug", "--emulate", "--attach", "²"), "--attach '²': expected a whole number from 1"),
])
def test_a_number_option_with_a_bad_value_is_a_usage_error(tmp_path: Path, args, says):
    refused(cli(tmp_path, *args, "--board", BOARD), 2, says)


def test_number_options_are_declared_as_text_so_invoke_never_converts_them():
    """A typed default (timeout=300) makes invoke's parser call int() itself: its ValueError
    is a traceback before edgeforge's handler runs."""
    from invoke import Task

    tasks = [commands.ns[name] for name in commands.ns.task_names]
    assert all(isinstance(t, Task) for t in tasks) and len(tasks) > 20
    for t in tasks:
        for arg in t.get_arguments():
            assert arg.kind in (str, bool, list), f"invoke {t.name} --{arg.name}: {arg.kind}"


# ---- 2. an interrupt while a command runs ------------------------------------------------------
def _interrupted_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list, int]:
    """Runner.run on a child that writes without pause, interrupted after half a second the
    way Ctrl-C or SIGTERM (commands.terminated) interrupts it; returns the exceptions the
    reader thread raised and the child's PID (its process group's)."""
    thread_errors: list[BaseException] = []
    monkeypatch.setattr(threading, "excepthook", lambda a: thread_errors.append(a.exc_value))
    pidfile = tmp_path / "child.pid"

    @commands.handled
    def task(c):
        Runner(Reporter(quiet=True), tmp_path / "logs").run(
            ["sh", "-c", f'echo $$ > "{pidfile}"; exec yes edgeforge'], what="a chatty step")

    previous = signal.signal(signal.SIGALRM, commands.terminated)
    signal.setitimer(signal.ITIMER_REAL, 0.5)
    try:
        with pytest.raises(Exit) as info:
            task(None)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # handled() set it for the task
    assert (info.value.code, info.value.message) == (130, "interrupted")
    time.sleep(0.5)  # a reader thread that was still writing has had its chance to fail
    return thread_errors, int(pidfile.read_text())


def test_an_interrupt_while_a_command_runs_is_one_line_and_no_thread_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture):
    for _ in range(3):  # the race it fixes (the log closed under the reader) is a race
        thread_errors, pid = _interrupted_run(tmp_path, monkeypatch)
        assert thread_errors == []
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)  # the child's whole process group is gone
    captured = capfd.readouterr()
    assert "Traceback" not in captured.out + captured.err
    log = (tmp_path / "logs" / "a-chatty-step.log").read_text()
    assert log.startswith("# ") and "edgeforge\n" in log  # what the child wrote was kept


# ---- 3. JSON nested thousands deep --------------------------------------------------------------
def test_the_json_helper_turns_every_way_json_is_wrong_into_the_callers_error(tmp_path: Path):
    for data, says in ((DEEP, "nested more than 100 levels deep"),
                       (b"[" * 150 + b"]" * 150, "nested more than 100 levels deep"),
                       (b"{not json", "is not valid JSON"), (b"\xff\xfe\x00", "is not valid JSON")):
        with pytest.raises(SysrootError) as info:
            jsonfile.parse(data, "the stamp X", SysrootError, fix="fix: do Y")
        assert info.value.message.startswith("the stamp X") and says in info.value.message
        assert info.value.message.endswith("; fix: do Y") and "\n" not in info.value.message
    assert jsonfile.parse(b'{"a": [1, {"b": null}]}', "x") == {"a": [1, {"b": None}]}
    big = tmp_path / "big.json"
    big.write_bytes(b"[" + b"0," * (3 << 20) + b"0]")
    with pytest.raises(UsageError, match=r"^big.json: larger than 4 MiB$"):
        jsonfile.read(big, "big.json", UsageError)


def _layout(root: Path, index: bytes) -> Path:
    (root / "blobs" / "sha256").mkdir(parents=True)
    (root / "oci-layout").write_text(json.dumps({"imageLayoutVersion": oci.LAYOUT_VERSION}))
    (root / "index.json").write_bytes(index)
    return root


def test_a_base_image_with_a_deep_index_or_manifest_is_an_image_format_error(tmp_path: Path):
    with pytest.raises(oci.ImageFormatError) as info:
        ociread.read_oci_layout(_layout(tmp_path / "a", DEEP))
    assert info.value.exit_code == 6
    assert info.value.message.startswith(f"the OCI layout {tmp_path / 'a'}: index.json: nested "
                                          "more than 100 levels deep")
    digest = hashlib.sha256(DEEP).hexdigest()
    root = _layout(tmp_path / "b", json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": oci.MEDIA_MANIFEST, "digest": f"sha256:{digest}", "size": len(DEEP)}]}
    ).encode())
    (root / "blobs" / "sha256" / digest).write_bytes(DEEP)
    with pytest.raises(oci.ImageFormatError, match=rf"the manifest \(blobs/sha256/{digest}\): "
                                                   "nested more than 100 levels deep"):
        ociread.read_oci_layout(root)


@pytest.mark.parametrize("content, says", [
    (DEEP, "nested more than 100 levels deep"),
    (b"{not json", "is not valid JSON"),
    # 7. `auth` that is not text: never b64decode'd (a TypeError), never shown
    (b'{"auths": {"127.0.0.1:5000": {"auth": 5}}}', "'auths.127.0.0.1:5000.auth' is not what"),
    (b'{"auths": {"127.0.0.1:5000": {"auth": ["x"]}}}', "'auths.127.0.0.1:5000.auth' is not"),
    (b'{"auths": {"127.0.0.1:5000": "edge:pw"}}', "'auths.127.0.0.1:5000' is not what"),
    (b'[1, 2]', "its top level is not what skopeo and docker write"),
    (b'{"auths": {"127.0.0.1:5000": {"auth": "\xc3\xa9t\xc3\xa9"}}}', "is not base64 of"),
])
def test_an_auth_file_skopeo_could_not_use_is_said_before_anything_is_built(
        tmp_path: Path, content: bytes, says: str):
    auth = tmp_path / "auth.json"
    auth.write_bytes(content)
    with pytest.raises(UsageError) as info:
        registry.credentials({registry.ENV_AUTHFILE: str(auth)}, "127.0.0.1:5000")
    msg = info.value.message
    assert msg.startswith(f"the auth file {auth}") and says in msg, msg
    assert f"fix: log in again with `skopeo login --authfile {auth} 127.0.0.1:5000`" in msg
    assert "edge:pw" not in msg and "\n" not in msg


def test_an_auth_file_without_this_registry_or_with_a_credential_helper_names_no_user(
        tmp_path: Path):
    auth = tmp_path / "auth.json"
    for data in ({"auths": {"10.0.0.5:5000": {"auth": "eA=="}}}, {"credsStore": "pass"},
                 {"auths": {"127.0.0.1:5000": {}}}):
        auth.write_text(json.dumps(data))
        assert registry.authfile_user(auth, "127.0.0.1:5000") is None
    auth.write_text(json.dumps({"auths": {"127.0.0.1:5000": {
        "auth": base64.b64encode(b"edge:pw").decode()}}}))
    assert registry.authfile_user(auth, "127.0.0.1:5000") == "edge"


def test_a_sysroot_servers_deep_stamp_is_a_sysroot_error(tmp_path: Path):
    tree = tmp_path / "debian-bookworm-arm64-0123456789abcdef"
    tree.mkdir()
    (tree / sysroot.STAMP).write_bytes(DEEP)
    stamp = sysroot._read_stamp(tree)
    assert stamp is None
    with pytest.raises(HostSetupError, match="delete .* and run `invoke sysroot"):
        sysroot.load_info(tree)  # a damaged stamp in the cache: an unusable cache (exit 8)
    with pytest.raises(SysrootError) as info:
        sysrootpack.check_stamp(stamp, "debian-bookworm-arm64", "0123456789abcdef", "arm64",
                                "http://127.0.0.1:8080/s.tar.gz")
    assert info.value.exit_code == 7 and "has no readable stamp" in info.value.message
    (tree / sysroot.STAMP).write_text('["a list"]')
    assert sysroot._read_stamp(tree) is None
    with pytest.raises(HostSetupError, match="its top level: Input should be an object"):
        sysroot.load_info(tree)


def _entry(tmp_path: Path) -> debugging.VscodeEntry:
    return debugging.VscodeEntry(
        mode="emulate", board=BOARD, program=tmp_path / "edge-infer", gdbinit=tmp_path / "gdbinit",
        address=str(tmp_path / "gdb.sock"), server_command=["/p/edgeforge", "debug", "--detach"],
        stop_command=["/p/edgeforge", "debug", "--stop"], cwd=Path("/p"))


@pytest.mark.parametrize("content, says", [
    (b"// comments\n" + DEEP, "launch.json: nested more than 100 levels deep"),
    (b"\xff\xfe not text", "launch.json is not valid JSON (with comments)"),
    (b'{"configurations": [{"name": ["a", "list"]}]}', None),  # unhashable: merged all the same
])
def test_a_deep_or_undecodable_launch_json_is_a_usage_error(tmp_path: Path, content: bytes,
                                                            says: str | None):
    vs = tmp_path / ".vscode"
    vs.mkdir()
    (vs / "launch.json").write_bytes(content)
    if says is None:
        launch, _ = debugging.write_vscode(vs, _entry(tmp_path))
        assert len(json.loads(launch.read_text())["configurations"]) == 2
        return
    with pytest.raises(UsageError) as info:
        debugging.write_vscode(vs, _entry(tmp_path))
    assert says in info.value.message and "fix it or move it away" in info.value.message
    assert (vs / "launch.json").read_bytes() == content  # the user's file is left as it was


# ---- 4. an unclosed IPv6 host in --target ------------------------------------------------------
@pytest.mark.parametrize("task", ["deploy", "debug"])
def test_an_unclosed_ipv6_target_is_a_usage_error(tmp_path: Path, task: str):
    """debug says so before it looks for a build, a sysroot or gdb-multiarch."""
    refused(cli(tmp_path, task, "--board", BOARD, "--target", "ssh://edge@[::1"), 2,
            "--target 'ssh://edge@[::1': expected ssh://user@host[:port]")


# ---- 5. --ssh-key /dev/zero and other files that are not a key ---------------------------------
def test_an_ssh_key_that_is_a_device_is_refused_before_reading_it(tmp_path: Path):
    refused(cli(tmp_path, "image", "--board", BOARD, "--ssh-key", "/dev/zero", "--dry-run"), 2,
            "the SSH public key /dev/zero (from --ssh-key): a character device, not a regular "
            "file; fix: give --ssh-key FILE.pub")


@pytest.mark.parametrize("case", ["fifo", "folder", "huge", "missing"])
def test_a_file_an_option_names_is_read_whole_only_when_it_is_a_small_regular_file(
        tmp_path: Path, case: str):
    path = tmp_path / "key.pub"
    if case == "fifo":
        os.mkfifo(path)  # opening it must not wait for a writer
    elif case == "folder":
        path.mkdir()
    elif case == "huge":
        path.write_bytes(b"ssh-ed25519 " + b"A" * 30_000)
    with pytest.raises(UsageError) as info:
        read_limited(path, f"--ssh-key {path}", limit=20_000, fix="fix: give a .pub file")
    assert info.value.message == {
        "fifo": f"--ssh-key {path}: a named pipe, not a regular file; fix: give a .pub file",
        "folder": f"--ssh-key {path}: a folder, not a regular file; fix: give a .pub file",
        "huge": f"--ssh-key {path}: larger than 19 KiB; fix: give a .pub file",
        "missing": f"cannot read --ssh-key {path}: No such file or directory; fix: give a .pub "
                   "file"}[case]


# ---- 6. a malformed or foreign state file of the twin ------------------------------------------
@pytest.mark.parametrize("content", [
    b"{not json", DEEP, b'{"pid": "abc"}', b"[1, 2]", b'{"pid": 1, "port": 22}',
    b'{"pid": 2, "port": 2222, "login": "edge", "console": "/elsewhere/console.log", '
    b'"disk": "/x", "started": 0}',  # the older form, or another twin's
])
def test_vm_stop_with_a_state_file_edgeforge_did_not_write_names_it(tmp_path: Path,
                                                                     content: bytes):
    state = tmp_path / "build" / BOARD / "vm" / "vm.json"
    state.parent.mkdir(parents=True)
    state.write_bytes(content)
    refused(cli(tmp_path, "vm", "--board", BOARD, "--stop"), 8,
            f"{state} is not a state file edgeforge wrote")


# ---- 8. output files and folders that cannot be written -----------------------------------------
@pytest.mark.parametrize("where", ["under-a-file", "deeper-under-a-file", "in-proc"])
def test_ci_out_where_nothing_can_be_written(tmp_path: Path, where: str):
    afile = tmp_path / "afile"
    afile.write_text("")
    out = {"under-a-file": afile / "ci.yml", "deeper-under-a-file": afile / "x" / "ci.yml",
           "in-proc": Path("/proc/edgeforge-ci.yml")}[where]
    line = refused(cli(tmp_path, "ci", "--provider", "gitlab", "--levels", "recipes", "--out",
                       str(out)), 2, f"(from --out {out})", "fix: give --out a file in a folder")
    assert {"under-a-file": f"the folder {afile} (from --out {out}) is a file, not a directory",
            "deeper-under-a-file": f"cannot be created: {afile} is a file, not a directory",
            "in-proc": f"cannot write {out} (from --out {out}): "}[where] in line


@pytest.mark.parametrize("where", ["a-file", "under-a-file", "in-proc"])
def test_debug_vscode_where_nothing_can_be_written(tmp_path: Path, where: str):
    afile = tmp_path / "afile"
    afile.write_text("")
    vs = {"a-file": afile, "under-a-file": afile / ".vscode", "in-proc": Path("/proc/x/.vscode")}
    line = refused(cli(tmp_path, "debug", "--board", BOARD, "--emulate", "--vscode",
                       str(vs[where])), 2, f"VSCode folder {vs[where]} (from --vscode)",
                   "fix: give --vscode a folder edgeforge can write")
    assert {"a-file": "is a file, not a directory",
            "under-a-file": f"cannot be created: {afile} is a file, not a directory",
            "in-proc": "cannot be created in /proc"}[where] in line


def test_vscode_files_that_cannot_be_written_are_a_usage_error(tmp_path: Path):
    afile = tmp_path / "afile"
    afile.write_text("")
    with pytest.raises(UsageError) as info:
        debugging.write_vscode(afile / ".vscode", _entry(tmp_path))
    assert info.value.message.startswith(f"cannot write launch.json and tasks.json into "
                                         f"{afile / '.vscode'}: ")
    assert info.value.message.endswith("; fix: give --vscode a writable folder")

