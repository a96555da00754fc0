"""The build plan is pure: printable and hashable without compilers."""

from __future__ import annotations

from pathlib import Path

from edgeforge.context import Context
from edgeforge.pipeline import make_plan
from edgeforge.report import Reporter
from tests.conftest import run_invoke


def ctx_for(root: Path, cache: Path) -> Context:
    return Context.create(project_root=root, cache_dir=cache, reporter=Reporter(quiet=True))


def test_plan_for_an_empty_cache_has_everything_to_do(tmp_project: Path, tmp_path: Path):
    ctx = ctx_for(tmp_project, tmp_path / "cache")
    plan = make_plan(ctx, ctx.catalog.resolve("jetson-nx", env={}))
    assert not plan.up_to_date
    assert [s.name for s in plan.steps] == ["sysroot", "compiler", "toolchain", "smoke",
                                            "abi-gate", "deps", "app", "manifest"]
    assert all(s.state == "to do" for s in plan.steps)
    text = plan.render()
    assert "debian-bullseye-arm64" in text and "GLIBC_2.31" in text


def test_plan_hash_follows_descriptor_and_source_changes(tmp_project: Path, tmp_path: Path):
    ctx = ctx_for(tmp_project, tmp_path / "cache")
    h0 = make_plan(ctx, ctx.catalog.resolve("rpi4", env={})).inputs_hash
    assert make_plan(ctx, ctx.catalog.resolve("rpi4", env={})).inputs_hash == h0
    h_env = make_plan(ctx, ctx.catalog.resolve("rpi4", env={"EDGEFORGE_CFLAGS": "-g"})).inputs_hash
    assert h_env != h0
    src = tmp_project / "apps" / "smoke" / "src" / "main.cpp"
    src.write_text(src.read_text() + "\n// changed\n")
    assert make_plan(ctx, ctx.catalog.resolve("rpi4", env={})).inputs_hash != h0


def test_dry_run_prints_resolution_and_plan(tmp_project: Path, tmp_path: Path):
    r = run_invoke("build", "--board", "rk3588", "--dry-run", cwd=tmp_project,
                   env={"EDGEFORGE_CACHE": str(tmp_path / "cache")})
    assert r.returncode == 0, r.stderr
    assert "resolved board rk3588" in r.stdout
    assert "plan for rk3588" in r.stdout and "[to do] sysroot" in r.stdout
    assert not (tmp_project / "build").exists()
