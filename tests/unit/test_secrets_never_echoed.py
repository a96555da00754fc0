"""A password or token the user gives (in --target, --push, a remote's URL, the team's mirror
or sysroot server URL) appears nowhere: not on the screen, not in a log, a bug report or a
record. The real CLI, run as a user would, on invocations that fail fast before any build."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeforge.core import UsageError
from edgeforge.debug import DebugOptions, device_for
from tests.conftest import run_invoke

#: case -> (the secret, invoke's arguments, environment variables); each secret its own
CASES = {
    "deploy-ipv6-unclosed": ("Pw1-deploy-v6", ["deploy", "--board", "jetson-nx", "--target",
                                               "ssh://edge:Pw1-deploy-v6@[::1"], {}),
    "deploy-password": ("Pw2-deploy", ["deploy", "--board", "jetson-nx", "--target",
                                       "ssh://edge:Pw2-deploy@127.0.0.1:2222"], {}),
    "release-push": ("Pw3-push", ["release", "--board", "jetson-nx", "--dry-run", "--push",
                                  "bob:Pw3-push@registry.example.invalid/team/edge-infer"], {}),
    "release-push-docker": ("Pw4-push", [
        "release", "--board", "jetson-nx", "--dry-run", "--push",
        "docker://bob:Pw4-push@[::1]:5000/team/edge-infer:1.0"], {}),
    "remote-add": ("Pw5-remote", ["remote", "add", "--name", "team", "--url",
                                  "ftp://bob:Pw5-remote@files.example.invalid/conan"], {}),
    "remote-add-token-query": ("Pw6-remote", [
        "remote", "add", "--name", "team", "--url",
        "https://conan.example.invalid/api/conan/edge?token=Pw6-remote"], {}),
    "source-mirror-token": ("Pw7-mirror", ["sources"], {
        "EDGEFORGE_SOURCE_MIRROR_URL": "https://m.example.invalid/src?token=Pw7-mirror"}),
    "source-mirror-userinfo": ("Pw8-mirror", ["sources"], {
        "EDGEFORGE_SOURCE_MIRROR_URL": "https://ci:Pw8-mirror@[::1/src"}),
    "sysroot-signed": ("Pw9-sysroot", ["sysroot", "--board", "jetson-nx"], {
        "EDGEFORGE_SYSROOT_URL": "https://f.example.invalid/sysroots?X-Amz-Credential=AKIA%2F1"
                                 "&X-Amz-Signature=Pw9-sysroot"}),
    "sysroot-userinfo": ("Pw10-sysroot", ["sysroot", "--board", "jetson-nx"], {
        "EDGEFORGE_SYSROOT_URL": "http://ci:Pw10-sysroot@files.example.invalid/sysroots"}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_password_given_to_the_cli_is_never_shown_logged_or_written(case, tmp_path: Path):
    secret, args, extra = CASES[case]
    # every folder the run may write to is under tmp_path: cache (logs, bug reports), build,
    # dist, and the temporary folder a bug report falls back to
    env = {"EDGEFORGE_CACHE": str(tmp_path / "cache"),
           "EDGEFORGE_BUILD_DIR": str(tmp_path / "build"),
           "EDGEFORGE_DIST_DIR": str(tmp_path / "dist"), "TMPDIR": str(tmp_path / "tmp"),
           "EDGEFORGE_SOURCE_MIRROR_URL": "", "EDGEFORGE_SYSROOT_URL": "", **extra}
    (tmp_path / "tmp").mkdir()
    r = run_invoke(*args, env=env, timeout=120)
    assert r.returncode == 2, (r.stdout, r.stderr)  # a usage error, found before any work
    assert secret not in r.stdout and secret not in r.stderr, r.stderr
    assert "***" in r.stderr, r.stderr  # the message still shows what was given, redacted
    assert "this is a bug" not in r.stderr, r.stderr
    for p in tmp_path.rglob("*"):
        if p.is_file():
            assert secret.encode() not in p.read_bytes(), f"{secret} written to {p}"


@pytest.mark.parametrize("target", ["ssh://edge:Pw11-debug@[::1", "ssh://edge:Pw11-debug@host"])
def test_debug_on_a_device_refuses_a_password_without_repeating_it(target):
    with pytest.raises(UsageError) as info:
        device_for(None, None, DebugOptions(target=target))  # type: ignore[arg-type]
    assert "Pw11" not in info.value.message and "ssh://edge:***@" in info.value.message
