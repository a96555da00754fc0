"""The team-remote helpers that need no server: names, URLs, argv, package lists, and the
sentences for a remote that says no."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeforge.core import UsageError
from edgeforge.deps import (
    DepsResult,
    PackageNode,
    classify_failure,
    conan_env,
    download_argv,
    failing_remote,
    password_var,
    user_var,
)
from edgeforge.team import (
    add_argv,
    check_name,
    check_url,
    login_argv,
    package_list,
    upload_argv,
)


def test_names_and_urls_are_checked_before_conan_sees_them():
    assert check_name("team-cache") == "team-cache"
    for bad in ("", "1team", "team cache", "a/b", "x" * 70):
        with pytest.raises(UsageError, match="not usable"):
            check_name(bad)
    assert check_url("https://conan.example.com/artifactory/api/conan/edge")
    with pytest.raises(UsageError, match="not an http"):
        check_url("ftp://example.com")
    with pytest.raises(UsageError, match="carries credentials") as err:
        check_url("https://bob:hunter2@conan.example.com")
    assert "hunter2" not in str(err.value)


def test_passwords_travel_in_conans_own_variables_never_in_argv():
    assert password_var("team-cache") == "CONAN_PASSWORD_TEAM_CACHE"
    assert user_var("team") == "CONAN_LOGIN_USERNAME_TEAM"
    assert login_argv("team", "bob") == ["conan", "remote", "login", "team", "bob"]
    assert add_argv("team", "http://127.0.0.1:9300")[-1] == "--force"


def test_conan_env_passes_ci_credentials_only_to_remote_commands(monkeypatch, tmp_path: Path):
    from edgeforge.context import Context
    monkeypatch.setenv("CONAN_PASSWORD_TEAM", "s3cret")
    monkeypatch.setenv("CONAN_LOGIN_USERNAME_TEAM", "ci")
    monkeypatch.setenv("CFLAGS", "-O0")
    ctx = Context.create(cache_dir=tmp_path / "c", build_root=tmp_path / "b",
                         dist_root=tmp_path / "d")
    env = conan_env(ctx, credentials=True)
    assert env["CONAN_PASSWORD_TEAM"] == "s3cret" and env["CONAN_LOGIN_USERNAME_TEAM"] == "ci"
    assert "CFLAGS" not in env and env["CONAN_HOME"] == str(tmp_path / "c" / "conan2")
    # builds (recipes' scripts, test programs) never see them
    assert not any(k.startswith("CONAN_PASSWORD") for k in conan_env(ctx))


def test_upload_keeps_source_backups_out_and_takes_the_lockfile_metadata(tmp_path: Path):
    argv = upload_argv(tmp_path / "pl.json", "team", tmp_path / "empty")
    assert argv[:4] == ["conan", "upload", "--list", str(tmp_path / "pl.json")]
    assert "--metadata" in argv and argv[argv.index("--metadata") + 1] == "edgeforge/*"
    assert f"core.sources:download_cache={tmp_path / 'empty'}" in argv


def test_package_list_names_each_binary_with_its_revision():
    nodes = (PackageNode("zlib/1.2.13#r1", "p1", "Cache", "host"),
             PackageNode("protobuf/3.21.12#r2", "p2", "Cache", "host"),
             PackageNode("protobuf/3.21.12#r2", "p3", "Cache", "build"))
    deps = DepsResult(Path("conan.lock"), nodes, (), {})
    pl = package_list(deps, {("zlib/1.2.13#r1", "p1"): "v1", ("protobuf/3.21.12#r2", "p2"): "v2",
                             ("protobuf/3.21.12#r2", "p3"): "v3"})
    cache = pl["Local Cache"]
    assert cache["zlib/1.2.13"]["revisions"]["r1"]["packages"] == {"p1": {"revisions": {"v1": {}}}}
    assert set(cache["protobuf/3.21.12"]["revisions"]["r2"]["packages"]) == {"p2", "p3"}


def test_download_asks_for_every_binary_and_never_builds(tmp_path: Path):
    argv = download_argv(["zlib/1.2.13"], tmp_path / "h", tmp_path / "b", tmp_path / "l",
                         tmp_path / "o")
    # only what the graph needs: a static library inside another is not asked for
    assert "--build=never" in argv and "tools.graph:skip_binaries=False" not in argv
    # Conan's environment scripts go to the build folder, never into the current directory
    assert argv[argv.index("--output-folder") + 1] == str(tmp_path / "o")
    argv = download_argv(["zlib/1.2.13"], tmp_path / "h", tmp_path / "b", tmp_path / "l",
                         tmp_path / "o", True)
    assert "tools.graph:skip_binaries=False" in argv


@pytest.mark.parametrize(("output", "expect"), [
    ("ERROR: Wrong user or password. [Remote: team]", "refused the credentials"),
    ("ERROR: Permission denied for user: 'reader': Permission denied. [Remote: team]",
     "does not let"),
    ("ERROR: HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded with url: "
     "/v2/ping (Caused by NewConnectionError: Connection refused)", "cannot reach remote"),
    ("Unable to connect to remote team=http://127.0.0.1:9", "cannot reach remote"),
])
def test_a_remote_that_says_no_gets_a_sentence_with_a_fix(output: str, expect: str):
    text = classify_failure(output, "team", "reader")
    assert text and expect in text and "fix:" in text


def test_other_failures_are_left_to_the_runners_message():
    assert classify_failure("ERROR: Package 'zlib' not resolved", "team") is None
    # a local file problem or a test that timed out is not the remote's doing
    assert classify_failure("PermissionError: [Errno 13] Permission denied: '/x'", "team") is None
    assert classify_failure("test_package: read timed out", "team") is None


def test_the_failing_remote_is_the_one_conan_names():
    text = ("ERROR: Permission denied [Remote: team]\nUnable to connect to remote dead=http://x:9\n")
    assert failing_remote(text) == "dead"
    assert failing_remote("ERROR: Wrong user or password. [Remote: team]") == "team"
    assert failing_remote("ERROR: compiler failed") is None


def test_a_forged_deps_record_never_has_its_lockfile_uploaded(tmp_path: Path):
    """deps.json names the lockfile `cache push` uploads as metadata: a record naming another
    file (a key ...) is refused before any remote is asked, naming the record."""
    import json

    from edgeforge.context import Context
    from edgeforge.core import Reporter, StateFileError
    from edgeforge.team import remotes
    from tests.conftest import PROJECT

    ctx = Context.create(project_root=PROJECT, cache_dir=tmp_path / "cache",
                         build_root=tmp_path / "build", reporter=Reporter(quiet=True))
    bdir = ctx.layout("jetson-nx").root
    bdir.mkdir(parents=True)
    node = {"ref": "zlib/1.2.13#" + "a" * 32, "package_id": "b" * 40, "binary": "Build",
            "context": "host"}
    good = {"lockfile": str(bdir / "conan.lock"), "built": [node["ref"]], "nodes": [node],
            "package_dirs": {"zlib": "/c/p/b/zlib1234/p"}}
    (bdir / "deps.json").write_text(json.dumps(good))
    assert DepsResult.read(bdir / "deps.json").nodes == (PackageNode(**node),)
    for forged in ({**good, "lockfile": str(tmp_path / "id_ed25519")},
                   {**good, "nodes": [{**node, "ref": "--remote=x"}]},
                   {**good, "package_dirs": {"zlib": "relative\nx"}},
                   {**good, "extra": 1}):
        (bdir / "deps.json").write_text(json.dumps(forged))
        with pytest.raises(StateFileError, match=r"deps\.json is not a state file edgeforge "
                                                 r"wrote .*Delete it"):
            remotes.push(ctx, None, "jetson-nx", "team")
