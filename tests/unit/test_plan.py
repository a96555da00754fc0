"""The build plan is pure: printable and hashable without compilers; steps are skipped only
when their signature matches their stamp and their outputs are intact."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edgeforge.context import Context
from edgeforge.core import Plan, Reporter, Step, publish, staging_for
from edgeforge.pipeline import board_plan
from tests.conftest import run_invoke


def ctx_for(root: Path, cache: Path, build: Path | None = None) -> Context:
    return Context.create(project_root=root, cache_dir=cache, build_root=build,
                          reporter=Reporter(quiet=True))


def signatures(plan: Plan) -> dict[str, str]:
    return {st.step.name: st.signature for st in plan.states()}


def test_plan_for_an_empty_cache_has_everything_to_do(tmp_project: Path, tmp_path: Path):
    ctx = ctx_for(tmp_project, tmp_path / "cache")
    plan = board_plan(ctx, ctx.catalog.resolve("jetson-nx", env={}))
    states = plan.states()
    # no source step: the deps step fetches sources only for what it builds (not what it downloads)
    assert [st.step.name for st in states] == ["sysroot", "toolchain", "smoke", "deps", "app",
                                               "manifest"]
    assert all(not st.up_to_date and st.reason == "never built" for st in states)
    text = plan.render()
    assert "debian-bullseye-arm64" in text and "GLIBC_2.31" in text
    smoke_only = board_plan(ctx, ctx.catalog.resolve("jetson-nx", env={}), with_deps=False)
    assert [s.name for s in smoke_only.steps] == ["sysroot", "toolchain", "smoke", "manifest"]


def test_signatures_follow_descriptor_and_source_changes(tmp_project: Path, tmp_path: Path):
    ctx = ctx_for(tmp_project, tmp_path / "cache")
    s0 = signatures(board_plan(ctx, ctx.catalog.resolve("rpi4", env={})))
    assert signatures(board_plan(ctx, ctx.catalog.resolve("rpi4", env={}))) == s0
    s_env = signatures(board_plan(ctx, ctx.catalog.resolve("rpi4", env={"EDGEFORGE_CFLAGS": "-g"})))
    # a flag changes the toolchain and everything after it, not the sysroot
    assert s_env["sysroot"] == s0["sysroot"]
    assert all(s_env[n] != s0[n] for n in ("toolchain", "smoke", "deps", "app", "manifest"))
    src = tmp_project / "apps" / "smoke" / "src" / "main.cpp"
    src.write_text(src.read_text() + "\n// changed\n")
    s_src = signatures(board_plan(ctx, ctx.catalog.resolve("rpi4", env={})))
    assert s_src["smoke"] != s0["smoke"] and s_src["manifest"] != s0["manifest"]
    assert s_src["deps"] == s0["deps"] and s_src["app"] == s0["app"]


def test_dry_run_prints_resolution_and_plan(tmp_project: Path, tmp_path: Path):
    r = run_invoke("build", "--board", "rk3588", "--dry-run", cwd=tmp_project,
                   env={"EDGEFORGE_CACHE": str(tmp_path / "cache")})
    assert r.returncode == 0, r.stderr
    assert "resolved board rk3588" in r.stdout
    assert "plan for rk3588" in r.stdout and "[to do] sysroot" in r.stdout
    assert "(never built)" in r.stdout
    assert not (tmp_project / "build").exists()


# ---- the step machinery, with plain Python actions ------------------------------------------
def counting_plan(tmp_path: Path, value: str, log: list[str]) -> Plan:
    out_a = tmp_path / "out" / "a.txt"
    out_b = tmp_path / "out" / "b"

    def a(ex):
        log.append("a")
        out_a.parent.mkdir(parents=True, exist_ok=True)
        out_a.write_text(value)
        return value

    def b(ex):
        log.append("b")
        staging = staging_for(out_b)
        staging.mkdir(parents=True)
        (staging / "f").write_text(ex["a"] + "!")
        return publish(staging, out_b)

    return Plan("demo", [
        Step("a", "write a", a, inputs={"value": value}, outputs=(out_a,),
             load=lambda ex: out_a.read_text()),
        Step("b", "derive b", b, needs=("a",), outputs=(out_b,)),
    ], tmp_path / "stamps")


def test_steps_run_once_then_skip_and_rerun_what_changed(tmp_path: Path):
    log: list[str] = []
    rep = Reporter(quiet=True)
    counting_plan(tmp_path, "x", log).execute(rep)
    assert log == ["a", "b"]
    ex = counting_plan(tmp_path, "x", log).execute(rep)
    assert log == ["a", "b"] and ex.ran == [] and set(ex.skipped) == {"a", "b"}
    # an input change reruns the step and what needs it
    counting_plan(tmp_path, "y", log).execute(rep)
    assert log == ["a", "b", "a", "b"]
    assert (tmp_path / "out" / "b" / "f").read_text() == "y!"
    # a damaged output reruns only its step; the skipped step's result is loaded, not rebuilt
    (tmp_path / "out" / "b" / "f").write_text("damaged")
    states = {st.step.name: st for st in counting_plan(tmp_path, "y", log).states()}
    assert states["a"].up_to_date and not states["b"].up_to_date
    assert "changed" in states["b"].reason
    counting_plan(tmp_path, "y", log).execute(rep)
    assert log == ["a", "b", "a", "b", "b"]
    assert (tmp_path / "out" / "b" / "f").read_text() == "y!"
    # a file merely touched (same content, new time) is still intact
    os.utime(tmp_path / "out" / "a.txt", (1, 1))
    assert all(st.up_to_date for st in counting_plan(tmp_path, "y", log).states())


def test_a_failing_step_keeps_the_last_good_output_and_no_stamp(tmp_path: Path):
    final = tmp_path / "out"
    staging = staging_for(final)
    staging.mkdir()
    (staging / "good").write_text("1")
    publish(staging, final)

    def gate(folder: Path) -> None:
        raise RuntimeError("gate says no")

    bad = staging_for(final)
    bad.mkdir()
    (bad / "bad").write_text("2")
    with pytest.raises(RuntimeError):
        publish(bad, final, gate)
    assert sorted(p.name for p in final.iterdir()) == ["good"]

    plan = Plan("demo", [Step("x", "fails", lambda ex: gate(final), outputs=(final,))],
                tmp_path / "stamps")
    with pytest.raises(RuntimeError):
        plan.execute(Reporter(quiet=True))
    assert not (tmp_path / "stamps" / "x.json").exists()
    assert [st.reason for st in plan.states()] == ["never built"]


def test_plan_refuses_a_step_that_needs_a_later_one(tmp_path: Path):
    with pytest.raises(ValueError, match="needs"):
        Plan("demo", [Step("a", "", lambda ex: None, needs=("b",)),
                      Step("b", "", lambda ex: None)], tmp_path)


def test_special_files_in_an_output_are_recorded_never_read(tmp_path: Path):
    """A root file system's /dev nodes and FIFOs are outputs too: recording or checking them
    must not open them (reading /dev/console or a FIFO blocks for ever)."""
    from edgeforge.core import damaged_output, record_outputs
    out = tmp_path / "tree"
    (out / "dev").mkdir(parents=True)
    os.mkfifo(out / "dev" / "initctl")
    (out / "etc").mkdir()
    (out / "etc" / "hostname").write_text("edge-infer\n")
    records = record_outputs([out])
    fifo = records[str(out / "dev" / "initctl")]
    assert fifo.sha256 is None and fifo.special and fifo.special.startswith("10000:")
    assert damaged_output([out], records) is None
    (out / "dev" / "initctl").unlink()
    (out / "dev" / "initctl").write_text("not a fifo")
    assert damaged_output([out], records) == f"{out / 'dev' / 'initctl'} changed"


def test_an_output_declared_since_the_last_run_makes_the_step_run(tmp_path: Path):
    rep = Reporter(quiet=True)
    runs: list[str] = []

    def plan(outputs: tuple[Path, ...]) -> Plan:
        def act(ex):
            runs.append("a")
            for o in outputs:
                o.mkdir(parents=True, exist_ok=True)
                (o / "f").write_text("x")
        return Plan("t", [Step("a", "a", act, outputs=outputs)], tmp_path / "stamps")

    plan((tmp_path / "one",)).execute(rep)
    plan((tmp_path / "one",)).execute(rep)
    assert runs == ["a"]
    state = plan((tmp_path / "one", tmp_path / "two")).states()[0]
    assert not state.up_to_date and state.reason == f"{tmp_path / 'two'} is missing"
    plan((tmp_path / "one", tmp_path / "two")).execute(rep)
    assert runs == ["a", "a"] and (tmp_path / "two" / "f").is_file()


def test_a_stamp_edgeforge_would_not_write_makes_the_step_run_again(tmp_path: Path):
    """A stamp is data: one of another step, one that records files outside the step's
    outputs or one with values of the wrong type is not trusted; the step runs again."""
    import json

    log: list[str] = []
    rep = Reporter(quiet=True)
    counting_plan(tmp_path, "x", log).execute(rep)
    stamp_b = tmp_path / "stamps" / "b.json"
    good = json.loads(stamp_b.read_text())
    outside = str(tmp_path / "elsewhere")
    for forged, why in [
        ({**good, "step": "a"}, "it is the stamp of step 'a'"),
        ({**good, "files": {**good["files"], outside: {"size": 0, "mtime_ns": 0,
                                                       "sha256": "0" * 64}}},
         f"it records {outside!r}, which is not an output of b"),
        ({**good, "signature": "$(touch x)"}, "signature: String should match pattern"),
        ({**good, "files": {k: {**v, "size": str(v["size"])} for k, v in good["files"].items()}},
         "Input should be a valid integer"),
    ]:
        stamp_b.write_text(json.dumps(forged))
        states = {st.step.name: st for st in counting_plan(tmp_path, "x", log).states()}
        assert states["a"].up_to_date and not states["b"].up_to_date
        assert states["b"].reason.startswith(f"its stamp {stamp_b} is not one edgeforge wrote")
        assert why in states["b"].reason and states["b"].reason.endswith(": it runs again")
    counting_plan(tmp_path, "x", log).execute(rep)
    again = json.loads(stamp_b.read_text())
    assert log == ["a", "b", "b"] and again["signature"] == good["signature"]
    assert again["step"] == "b" and list(again["files"]) == list(good["files"])
