"""Descriptor loading, resolution order, and the corpus of bad descriptors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edgeforge.descriptors import Catalog, json_schemas
from edgeforge.errors import DescriptorError
from edgeforge.model import AbiStrategy, Arch, CompilerFamily
from tests.conftest import PROJECT, copy_project, run_invoke

CORPUS = sorted((Path(__file__).parent / "bad_descriptors").glob("*.yaml"))
BOARDS = ["jetson-nx", "jetson-nano", "jetson-orin", "rpi4", "rk3588", "atlas500",
          "sophon-se5", "a311d", "rpi3-armhf"]


def catalog(root: Path = PROJECT) -> Catalog:
    return Catalog(root / "toolchains", root)


def test_every_required_board_exists_and_resolves():
    cat = catalog()
    assert set(BOARDS) <= set(cat.names("boards"))
    for name in cat.names("boards"):
        t = cat.resolve(name, env={})
        assert t.name == name
        assert t.arch in (Arch.ARM64, Arch.ARMHF)
        assert t.cpu_flags, f"{name} has no CPU tuning for {t.family.value}"
        assert t.board.spec.device_os and t.board.spec.stand_in


def test_default_board_is_jetson_nx():
    assert catalog().resolve(env={}).name == "jetson-nx"


def test_one_board_is_32_bit_armhf():
    armhf = [n for n in catalog().names("boards") if catalog().resolve(n, env={}).arch is Arch.ARMHF]
    assert armhf, "at least one 32-bit armhf board is required"


def test_clang_boards_use_sysroot_libstdcxx_and_bookworm_gcc_boards_use_compiler_runtime():
    cat = catalog()
    for name in cat.names("boards"):
        t = cat.resolve(name, env={})
        if t.abi.strategy is AbiStrategy.SYSROOT_LIBSTDCXX:
            assert t.family is CompilerFamily.CLANG


def test_resolution_order_environment_then_command_line():
    cat = catalog()
    t = cat.resolve("jetson-nx", env={"EDGEFORGE_BUILD_TYPE": "Debug"})
    assert t.build_type == "Debug"
    assert ("build_type", "Debug", "environment") in t.provenance
    t = cat.resolve("jetson-nx", env={"EDGEFORGE_BUILD_TYPE": "Debug"},
                    cli={"build_type": "MinSizeRel"})
    assert t.build_type == "MinSizeRel"
    assert ("build_type", "MinSizeRel", "command line") in t.provenance


def test_compiler_override_changes_family_and_cpu_flags():
    t = catalog().resolve("a311d", env={}, cli={"compiler": "clang14-aarch64"})
    assert t.family is CompilerFamily.CLANG
    assert t.cpu_flags == ("-mcpu=cortex-a53",)
    assert ("compiler", "clang14-aarch64", "command line --compiler") in t.provenance


def test_compiler_override_that_cannot_meet_the_strategy_is_refused():
    with pytest.raises(DescriptorError, match="'sysroot-libstdcxx' needs a clang compiler"):
        catalog().resolve("rk3588", env={}, cli={"compiler": "debian-gcc12-aarch64"})


def test_environment_flags_accumulate_after_descriptor_flags():
    t = catalog().resolve("rpi4", env={"EDGEFORGE_CFLAGS": "-g1 -DFOO=1"})
    assert t.extra_cflags == ("-g1", "-DFOO=1")


def test_resolution_is_printed_with_its_sources():
    text = catalog().resolve("jetson-nx", env={}).describe_resolution()
    assert "order: defaults, compiler, sysroot, board, environment, command line" in text
    assert re.search(r"compiler\s+clang14-aarch64\s+from board toolchains/boards/jetson-nx.yaml", text)
    assert re.search(r"build_type\s+Release\s+from defaults toolchains/defaults.yaml", text)


def test_cli_cannot_override_unknown_settings():
    with pytest.raises(DescriptorError, match="cannot override sysrot"):
        catalog().resolve("jetson-nx", env={}, cli={"sysrot": "x"})


def _case_header(path: Path) -> dict[str, str]:
    head = {}
    for line in path.read_text().splitlines():
        m = re.match(r"# (\w+): (.*)$", line)
        if not m:
            break
        head[m.group(1)] = m.group(2)
    return head


@pytest.mark.parametrize("case", CORPUS, ids=[c.stem for c in CORPUS])
def test_bad_descriptor_gives_its_own_message(case: Path, tmp_path: Path):
    head = _case_header(case)
    root = copy_project(tmp_path / "p")
    (root / "toolchains" / head["replaces"]).write_text(case.read_text())
    board = head.get("board", "jetson-nx")
    with pytest.raises(DescriptorError) as exc:
        catalog(root).resolve(None if board == "-" else board, env={})
    assert head["expect"] in exc.value.message


def test_corpus_messages_are_distinct():
    expects = [_case_header(c)["expect"] for c in CORPUS]
    assert len(expects) == len(set(expects)) >= 20


def test_bad_descriptor_through_invoke_exits_2_without_traceback(tmp_project: Path):
    board = tmp_project / "toolchains" / "boards" / "jetson-nx.yaml"
    board.write_text(board.read_text().replace("sysroot:", "sysrot:"))
    r = run_invoke("build", "--board", "jetson-nx", "--dry-run", cwd=tmp_project)
    assert r.returncode == 2
    assert "unknown key 'sysrot' in toolchains/boards/jetson-nx.yaml; did you mean 'sysroot'?" \
        in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


def test_invoke_boards_lists_every_board_with_ceilings():
    r = run_invoke("boards")
    assert r.returncode == 0, r.stderr
    for name in BOARDS:
        assert name in r.stdout
    assert re.search(r"jetson-nx \*\s+clang14-aarch64\s+debian-bullseye-arm64\s+aarch64-linux-gnu"
                     r"\s+GLIBC_2.31 GLIBCXX_3.4.28", r.stdout)
    assert re.search(r"rpi3-armhf\s+debian-gcc12-armhf\s+debian-bookworm-armhf\s+"
                     r"arm-linux-gnueabihf", r.stdout)


def test_committed_json_schemas_match_the_models():
    import json

    for name, schema in json_schemas().items():
        committed = json.loads((PROJECT / "toolchains" / "schema" / f"{name}.schema.json").read_text())
        assert committed == json.loads(json.dumps(schema)), f"run `invoke schema` ({name})"


def test_schema_lists_board_keys_and_strategies():
    board = json_schemas()["board"]
    assert {"compiler", "sysroot", "cpu", "abi", "overlays"} <= set(board["properties"])
    text = str(board)
    assert "sysroot-libstdcxx" in text and "static-libstdcxx" in text
