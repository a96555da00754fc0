"""`invoke ci`: the pipeline generator's pure parts (jobs, their order, the tag rule, no secrets,
byte-identical output), the dependency levels, `deps --only`, and the task's errors."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
import yaml

from edgeforge.core import DescriptorError, UsageError
from edgeforge.deps import PackageNode, only_nodes, parse_only
from edgeforge.team import ci
from tests.conftest import PROJECT, run_invoke

LEVELS = (("googletest", "protobuf", "zlib"), ("ffmpeg", "libpng"), ("opencv",))
BOARDS = [ci.BoardLevels("rpi4", LEVELS), ci.BoardLevels("jetson-nx", LEVELS),
          ci.BoardLevels("tiny", (("zlib",),))]


def docs(opts: ci.CiOptions | None = None) -> tuple[dict, dict]:
    opts = opts or ci.CiOptions()
    return (yaml.safe_load(ci.render("gitlab", BOARDS, opts)),
            yaml.safe_load(ci.render("github", BOARDS, opts)))


def test_a_chain_of_jobs_per_board_in_dependency_order():
    jobs = ci.plan_jobs(BOARDS, ci.CiOptions())
    assert [j.id for j in jobs] == [
        "jetson-nx-deps-1", "jetson-nx-deps-2", "jetson-nx-deps-3", "jetson-nx-app",
        "jetson-nx-release", "rpi4-deps-1", "rpi4-deps-2", "rpi4-deps-3", "rpi4-app",
        "rpi4-release", "tiny-deps-1", "tiny-app", "tiny-release"]
    by_id = {j.id: j for j in jobs}
    assert by_id["rpi4-deps-1"].needs == ()
    assert by_id["rpi4-deps-2"].needs == ("rpi4-deps-1",)
    assert by_id["rpi4-app"].needs == ("rpi4-deps-3",)
    assert by_id["rpi4-release"].needs == ("rpi4-app",)
    assert by_id["tiny-app"].needs == ("tiny-deps-1",)
    assert by_id["rpi4-deps-2"].commands == (
        "./edgeforge deps --board rpi4 --only ffmpeg,libpng", "./edgeforge cache push --board rpi4")
    assert by_id["rpi4-app"].commands == (
        "./edgeforge build --board rpi4", "./edgeforge test --board rpi4",
        "./edgeforge cache push --board rpi4")
    assert by_id["rpi4-release"].commands == ("./edgeforge release --board rpi4",)


def test_several_apps_get_a_job_chain_each_and_only_conan_apps_wait_for_the_graph():
    apps = [ci.CiApp("edge-uplink", graph=False, image=False), ci.CiApp("edge-infer")]
    jobs = {j.id: j for j in ci.plan_jobs(BOARDS[:1], ci.CiOptions(push="team/edge"), apps)}
    assert [i for i in jobs if not i.startswith("rpi4-deps")] == [
        "rpi4-app-edge-infer", "rpi4-release-edge-infer", "rpi4-app-edge-uplink",
        "rpi4-release-edge-uplink"]
    assert jobs["rpi4-app-edge-infer"].needs == ("rpi4-deps-3",)
    assert jobs["rpi4-app-edge-uplink"].needs == ()  # its library is the sysroot's
    assert jobs["rpi4-release-edge-uplink"].needs == ("rpi4-app-edge-uplink",)
    # no Conan binaries to push; no container image to push either
    assert jobs["rpi4-app-edge-uplink"].commands == (
        "./edgeforge build --board rpi4 --app edge-uplink",
        "./edgeforge test --board rpi4 --app edge-uplink")
    assert jobs["rpi4-release-edge-uplink"].commands == (
        "./edgeforge release --board rpi4 --app edge-uplink",)
    assert jobs["rpi4-release-edge-infer"].commands == (
        "./edgeforge release --board rpi4 --app edge-infer --push "
        '"$EDGEFORGE_REGISTRY/team/edge/edge-infer/rpi4"',)
    for provider in ("gitlab", "github"):
        text = ci.render(provider, BOARDS[:1], ci.CiOptions(), apps)
        assert "release-rpi4-edge-infer" in text and "release-rpi4-edge-uplink" in text
    one = {j.id for j in ci.plan_jobs(BOARDS[:1], ci.CiOptions(), apps[:1])}
    assert "rpi4-app" in one and "rpi4-release" in one  # one app: the names of before
    with pytest.raises(UsageError, match=r"apps a\+b and a\.b give the same CI job names"):
        ci.plan_jobs(BOARDS[:1], ci.CiOptions(), [ci.CiApp("a.b"), ci.CiApp("a+b")])


def test_gitlab_stages_come_in_dependency_order_and_jobs_need_earlier_ones():
    gl, _ = docs()
    assert gl["stages"] == ["deps-1", "deps-2", "deps-3", "app", "release"]
    jobs = {k: v for k, v in gl.items() if isinstance(v, dict) and "stage" in v}
    assert len(jobs) == 13
    for name, job in jobs.items():
        for need in job["needs"]:
            assert gl["stages"].index(jobs[need]["stage"]) < gl["stages"].index(job["stage"]), name
        board = name.split("-deps-")[0] if "-deps-" in name else name.rsplit("-", 1)[0]
        assert job["cache"]["key"] == f"edgeforge-{board}"
        paths = job["cache"]["paths"]
        assert ".edgeforge-cache/conan2/p/" in paths and ".edgeforge-cache/ccache/" in paths
        assert not any(p.rstrip("/") in (".edgeforge-cache", ".edgeforge-cache/conan2")
                       for p in paths)  # never the Conan home's tokens
    assert gl["variables"]["EDGEFORGE_CACHE"] == "$CI_PROJECT_DIR/.edgeforge-cache"
    assert gl["rpi4-deps-1"]["needs"] == []
    assert gl["rpi4-app"]["needs"] == ["rpi4-deps-3"]


def test_github_jobs_need_the_previous_level_and_cache_per_board_and_inputs():
    _, gh = docs()
    jobs = gh["jobs"]
    assert "needs" not in jobs["rpi4-deps-1"]
    assert jobs["rpi4-deps-2"]["needs"] == ["rpi4-deps-1"]
    assert jobs["rpi4-app"]["needs"] == ["rpi4-deps-3"]
    assert jobs["rpi4-release"]["needs"] == ["rpi4-app"]
    for name, job in jobs.items():
        cache = [s for s in job["steps"] if s.get("uses") == "actions/cache@v4"]
        assert len(cache) == 1, name
        board = name.split("-deps-")[0] if "-deps-" in name else name.rsplit("-", 1)[0]
        assert cache[0]["with"]["key"] == (
            f"edgeforge-{board}-${{{{ hashFiles('recipes/**', 'toolchains/**') }}}}")
        cached = cache[0]["with"]["path"].splitlines()
        assert ".edgeforge-cache/conan2/p/" in cached and ".edgeforge-cache" not in cached
        assert any("EDGEFORGE_CACHE=$GITHUB_WORKSPACE/.edgeforge-cache" in s.get("run", "")
                   and "GITHUB_ENV" in s["run"] for s in job["steps"])
    assert set(gh["on"]["push"]) == {"branches", "tags"}


def test_only_the_release_is_tag_only_and_keeps_dist_as_artifacts():
    gl, gh = docs()
    for name, job in gl.items():
        if not (isinstance(job, dict) and "stage" in job):
            continue
        is_release = name.endswith("-release")
        assert ("rules" in job) == is_release, name
        assert ("artifacts" in job) == is_release, name
        if is_release:
            assert job["rules"] == [{"if": "$CI_COMMIT_TAG"}]
            assert job["artifacts"]["paths"] == ["dist/"]
            assert job["script"] == [f"./edgeforge release --board {name[:-len('-release')]}"]
    for name, job in gh["jobs"].items():
        is_release = name.endswith("-release")
        assert ("if" in job) == is_release, name
        uploads = [s for s in job["steps"] if s.get("uses") == "actions/upload-artifact@v4"]
        assert len(uploads) == is_release, name
        if is_release:
            assert job["if"] == "startsWith(github.ref, 'refs/tags/')"
            assert uploads[0]["with"]["path"] == "dist/"


def test_push_adds_a_repository_per_board_under_the_registry_variable():
    gl, gh = docs(ci.CiOptions(push="team/edge-infer"))
    assert gl["rpi4-release"]["script"] == [
        './edgeforge release --board rpi4 --push "$EDGEFORGE_REGISTRY/team/edge-infer/rpi4"']
    assert gh["env"]["EDGEFORGE_REGISTRY"] == "${{ vars.EDGEFORGE_REGISTRY }}"
    assert gh["jobs"]["rpi4-release"]["env"] == {
        "EDGEFORGE_REGISTRY_USER": "${{ secrets.EDGEFORGE_REGISTRY_USER }}",
        "EDGEFORGE_REGISTRY_PASSWORD": "${{ secrets.EDGEFORGE_REGISTRY_PASSWORD }}"}
    assert "env" not in gh["jobs"]["rpi4-app"]
    with pytest.raises(UsageError, match="registry itself comes from"):
        ci.check_options(ci.CiOptions(push="registry.example/team/x"))


def test_the_remote_is_added_and_logged_in_from_variables_only(monkeypatch):
    secrets = {"EDGEFORGE_CONAN_USER": "ci-bot-7f3a", "EDGEFORGE_CONAN_PASSWORD": "s3cr3t-9c1e",
               "CONAN_PASSWORD_TEAM": "s3cr3t-9c1e", "CONAN_LOGIN_USERNAME_TEAM": "ci-bot-7f3a",
               "EDGEFORGE_CONAN_REMOTE_URL": "https://conan.internal.example/artifactory/api",
               "EDGEFORGE_REGISTRY_PASSWORD": "reg-pw-4411"}
    for k, v in secrets.items():
        monkeypatch.setenv(k, v)
    opts = ci.CiOptions(remote="team-cache", push="team/app")
    texts = {p: ci.render(p, BOARDS, opts) for p in ci.PROVIDERS}
    for text in texts.values():
        for value in secrets.values():
            assert value not in text
        assert "://" not in text  # no URL at all
        assert not re.search(r"\b[\w-]+\.(io|com|org|net|dev|cloud)\b", text), "a host name"
        assert ('./edgeforge remote add "$EDGEFORGE_CONAN_REMOTE_NAME" '
                '"$EDGEFORGE_CONAN_REMOTE_URL"') in text
        assert './edgeforge remote login "$EDGEFORGE_CONAN_REMOTE_NAME"' in text
    gl, gh = yaml.safe_load(texts["gitlab"]), yaml.safe_load(texts["github"])
    # Conan's own login variables, named after the remote ("team-cache" -> TEAM_CACHE)
    assert gl["variables"]["EDGEFORGE_CONAN_REMOTE_NAME"] == "team-cache"
    assert gl["variables"]["CONAN_LOGIN_USERNAME_TEAM_CACHE"] == "$EDGEFORGE_CONAN_USER"
    assert gl["variables"]["CONAN_PASSWORD_TEAM_CACHE"] == "$EDGEFORGE_CONAN_PASSWORD"
    # on GitHub only the login step sees the secrets (not checkout, cache or upload actions)
    assert not any(k.startswith("CONAN_") for k in gh["env"])
    for job in gh["jobs"].values():
        login = next(st for st in job["steps"] if st.get("name") == "team Conan remote")
        assert login["env"]["CONAN_LOGIN_USERNAME_TEAM_CACHE"] == "${{ secrets.EDGEFORGE_CONAN_USER }}"
        assert login["env"]["CONAN_PASSWORD_TEAM_CACHE"] == "${{ secrets.EDGEFORGE_CONAN_PASSWORD }}"
        assert sum("env" in st for st in job["steps"]) <= 2  # login (and a registry push)
    assert gh["env"]["EDGEFORGE_CONAN_REMOTE_URL"] == "${{ vars.EDGEFORGE_CONAN_REMOTE_URL }}"
    # every job adds the remote before it builds
    assert all(s.startswith(("command -v git", ": ", "./edgeforge remote "))
               for s in gl["default"]["before_script"])
    for job in gh["jobs"].values():
        runs = [s.get("run", "") for s in job["steps"]]
        remote = next(i for i, r in enumerate(runs) if "remote login" in r)
        build = next(i for i, r in enumerate(runs) if r.startswith("./edgeforge ")
                     and "remote" not in r)
        assert remote < build


def test_the_same_inputs_give_the_same_bytes_whatever_their_order():
    shuffled = BOARDS[:]
    random.Random(7).shuffle(shuffled)
    for provider in ci.PROVIDERS:
        a = ci.render(provider, BOARDS, ci.CiOptions())
        b = ci.render(provider, list(reversed(shuffled)), ci.CiOptions())
        assert a == b
        assert a.startswith("# Generated by edgeforge")
        assert "&id" not in a and "*id" not in a  # no YAML anchors


def test_unknown_provider_levels_and_remote_are_sentences():
    with pytest.raises(UsageError, match="expected one of github, gitlab"):
        ci.check_provider("nope")
    with pytest.raises(UsageError, match="no --provider given"):
        ci.check_provider(None)
    with pytest.raises(UsageError, match="--levels 'graph'"):
        ci.check_options(ci.CiOptions(levels_from="graph"))
    with pytest.raises(UsageError, match="--remote 'my remote'"):
        ci.check_options(ci.CiOptions(remote="my remote"))


def test_board_names_become_job_ids_github_accepts():
    assert ci.job_base("rk3588") == "rk3588"
    assert ci.job_base("imx8.mp+x") == "imx8_mp_x"
    assert ci.image_name("imx8.mp+x") == "imx8.mp-x"
    with pytest.raises(UsageError, match="same CI job names"):
        ci.plan_jobs([ci.BoardLevels("a.b", ()), ci.BoardLevels("a+b", ())], ci.CiOptions())


# ---- levels ------------------------------------------------------------------------------------
def test_levels_from_conans_build_order_json():
    def recipe(ref: str, *contexts: str) -> dict:
        return {"ref": ref, "packages": [[{"package_id": "x", "binary": "Build", "context": c}
                                          for c in contexts]]}

    text = json.dumps({"order_by": "recipe", "order": [
        [recipe("zlib/1.2.13#a", "host"), recipe("protobuf/3.21.12#b", "build", "host"),
         recipe("ffmpeg/5.1.9#c", "host")],
        [recipe("libpng/1.6.39#d", "host")],
        [recipe("opencv/4.6.0#e", "host")]]})
    assert ci.levels_from_build_order(text) == (
        ("ffmpeg", "protobuf", "zlib"), ("libpng",), ("opencv",))
    assert ci.levels_from_build_order(json.dumps({"order": []})) == ()


def test_levels_from_requirements_put_a_recipe_above_its_deepest_requirement():
    requires = {"app": ["b", "c"], "b": ["c"], "c": [], "d": []}
    assert ci.levels_from_requirements(["app", "d"], requires) == (("c", "d"), ("b",), ("app",))
    with pytest.raises(DescriptorError, match="cycle: a -> b -> a"):
        ci.levels_from_requirements(["a"], {"a": ["b"], "b": ["a"]})
    with pytest.raises(DescriptorError, match="recipe a requires 'zz', but there is no "
                                              "recipes/zz/conanfile.py"):
        ci.levels_from_requirements(["a"], {"a": ["zz"]})


def test_recipe_levels_of_the_project_follow_its_recipes():
    levels = ci.recipe_levels(PROJECT)
    where = {name: i for i, lv in enumerate(levels) for name in lv}
    assert levels[-1] == ("opencv",)
    assert where["zlib"] < where["libpng"] < where["opencv"]
    assert where["protobuf"] < where["opencv"] and where["ffmpeg"] < where["opencv"]
    assert set(where) == {p.parent.name for p in (PROJECT / "recipes").glob("*/conanfile.py")}


def test_graph_profiles_hold_settings_only():
    s = ci.GraphSettings("armv8", "clang", "14", "17", "Release")
    host = ci.graph_profile(s)
    assert host.splitlines() == ["[settings]", "os=Linux", "arch=armv8", "compiler=clang",
                                 "compiler.version=14", "compiler.libcxx=libstdc++11",
                                 "compiler.cppstd=17", "build_type=Release"]
    assert "arch=x86_64\ncompiler=gcc\ncompiler.version=12\n" in ci.graph_profile(
        s, build_machine=True)


# ---- deps --only -------------------------------------------------------------------------------
def test_only_names_known_recipes():
    known = ["ffmpeg", "libpng", "zlib"]
    assert parse_only(" zlib, libpng ,", known) == frozenset({"zlib", "libpng"})
    with pytest.raises(UsageError, match="unknown recipe nope; recipes: ffmpeg, libpng, zlib"):
        parse_only("zlib,nope", known)
    with pytest.raises(UsageError, match="no recipe named"):
        parse_only(",", known)


def test_only_nodes_are_the_named_packages_the_remote_lacks():
    nodes = [PackageNode("zlib/1#r", "z", "Download", "host"),
             PackageNode("protobuf/3#r", "pb", "Build", "build"),
             PackageNode("protobuf/3#r", "ph", "Cache", "host"),
             PackageNode("opencv/4#r", "o", "Missing", "host")]
    assert only_nodes(nodes, frozenset({"zlib", "protobuf"})) == nodes[1:3]
    assert only_nodes(nodes, frozenset({"opencv"})) == nodes[3:]


# ---- the task ----------------------------------------------------------------------------------
def test_invoke_ci_with_an_unknown_provider_is_a_clear_error(tmp_path: Path):
    out = tmp_path / "ci.yml"
    r = run_invoke("ci", "--provider", "nope", "--out", str(out))
    assert r.returncode == 2, r.stdout + r.stderr
    assert "error: --provider 'nope': unknown; expected one of github, gitlab" in r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    assert not out.exists()


def test_invoke_deps_only_with_an_unknown_recipe_stops_before_building():
    r = run_invoke("deps", "--board", "jetson-nx", "--only", "zlib,nope")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "error: --only 'zlib,nope': unknown recipe nope; recipes: ffmpeg" in r.stderr


def test_invoke_ci_writes_the_default_path_of_the_project(tmp_project: Path):
    r = run_invoke("ci", "--provider", "github", "--levels", "recipes", cwd=tmp_project)
    assert r.returncode == 0, r.stdout + r.stderr
    text = (tmp_project / ".github" / "workflows" / "edgeforge.yml").read_text()
    # the project's two apps: a job chain each after the board's graph
    assert "jetson-nx-deps-1:" in text and "jetson-nx-release-edge-uplink:" in text
    r = run_invoke("ci", "--provider", "gitlab", "--levels", "recipes", "--board", "rpi4",
                   cwd=tmp_project)
    assert r.returncode == 0, r.stdout + r.stderr
    gl = yaml.safe_load((tmp_project / ".gitlab-ci.yml").read_text())
    assert sorted(k for k in gl if "-app" in k) == ["rpi4-app-edge-infer", "rpi4-app-edge-uplink"]
    assert gl["rpi4-app-edge-uplink"]["script"][-2:] == [
        "./edgeforge build --board rpi4 --app edge-uplink",
        "./edgeforge test --board rpi4 --app edge-uplink"]


def test_invoke_ci_refuses_to_write_into_a_named_pipe_or_a_device(tmp_project: Path,
                                                                  tmp_path: Path):
    """--out a FIFO: refused at once (exit 2), never blocks and never replaces it."""
    import os
    import subprocess

    fifo = tmp_path / "pipe.yml"
    os.mkfifo(fifo)
    try:
        r = run_invoke("ci", "--provider", "github", "--levels", "recipes", "--out", str(fifo),
                       cwd=tmp_project, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("invoke ci --out FIFO blocked")
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"error: --out {fifo}: a named pipe, not a regular file" in r.stderr
    assert fifo.is_fifo()
    with pytest.raises(UsageError, match="a character device, not a regular file"):
        from edgeforge.core import check_destination
        check_destination(Path("/dev/null"), "--out")
