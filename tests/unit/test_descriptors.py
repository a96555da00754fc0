"""Descriptor loading, resolution order, and the corpus of bad descriptors."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

from edgeforge.config import (
    MAX_BYTES,
    AbiStrategy,
    Arch,
    Catalog,
    CompilerFamily,
    json_schemas,
    load_yaml,
    write_editor_schemas,
)
from edgeforge.context import Context
from edgeforge.core import DescriptorError, HostSetupError, Reporter, ToolMissingError
from edgeforge.toolchain import locate_tools
from tests.conftest import PROJECT, copy_project, run_invoke

CORPUS = sorted((Path(__file__).parent / "bad_descriptors").glob("*.yaml"))
BOARDS = ["jetson-nx", "jetson-nano", "jetson-orin", "rpi4", "rk3588", "atlas500",
          "sophon-se5", "a311d", "rpi3-armhf", "mlu220-edge"]


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


def test_committed_json_schemas_match_the_models(tmp_path: Path):
    import json

    for name, schema in json_schemas().items():
        committed = json.loads((PROJECT / "toolchains" / "schema" / f"{name}.schema.json").read_text())
        assert committed == json.loads(json.dumps(schema)), f"run `invoke schema` ({name})"
    # every schema `invoke schema` writes (toolchains/, images/, apps/) is the one in the tree
    written = write_editor_schemas(tmp_path)
    assert {str(p.relative_to(tmp_path)) for p in written} >= {
        "toolchains/schema/board.schema.json", "images/image.schema.json",
        "images/device.schema.json", "apps/app.schema.json"}
    for path in written:
        rel = path.relative_to(tmp_path)
        assert path.read_bytes() == (PROJECT / rel).read_bytes(), f"run `invoke schema` ({rel})"


def test_schema_lists_board_keys_and_strategies():
    board = json_schemas()["board"]
    assert {"compiler", "sysroot", "cpu", "abi", "overlays"} <= set(board["properties"])
    text = str(board)
    assert "sysroot-libstdcxx" in text and "static-libstdcxx" in text


# ---- bad input never gives a traceback (issue 10) ---------------------------------------------

def _one_paragraph(message: str) -> None:
    assert "Traceback" not in message and "\n\n" not in message and len(message) < 1000


def test_mlu220_edge_is_a_jetson_nano_class_clang_board():
    t = catalog().resolve("mlu220-edge", env={})
    assert (t.abi.glibc, t.abi.glibcxx, t.abi.strategy) == ("2.27", "3.4.25",
                                                           AbiStrategy.SYSROOT_LIBSTDCXX)
    assert t.family is CompilerFamily.CLANG and t.cpu_flags == ("-mcpu=cortex-a53",)
    assert t.sysroot.name == "debian-bullseye-arm64"
    assert "NEUWARE_HOME" in t.board.spec.overlays["neuware"].path


def test_descriptor_that_is_not_utf8_names_file_line_and_fix(tmp_project: Path):
    (tmp_project / "toolchains/boards/jetson-nano.yaml").write_bytes(
        b"description: x\ndevice_os: Ubuntu 18.04 caf\xe9\n")
    with pytest.raises(DescriptorError) as exc:
        catalog(tmp_project).resolve("jetson-nano", env={})
    assert exc.value.exit_code == 2
    assert exc.value.message.startswith(
        "toolchains/boards/jetson-nano.yaml:2:28: not UTF-8 text (byte 0xe9); "
        "descriptors are UTF-8: save the file as UTF-8")
    _one_paragraph(exc.value.message)


def test_invoke_boards_lists_good_boards_and_names_each_bad_file(tmp_project: Path):
    boards = tmp_project / "toolchains/boards"
    (boards / "jetson-nano.yaml").write_bytes(b"description: caf\xe9\n")
    (boards / "Jetson_NX.yaml").write_text((boards / "rpi4.yaml").read_text())
    (boards / "x.yml").write_text((boards / "rpi4.yaml").read_text())
    (boards / "d.yaml").mkdir()
    (boards / "y.yaml").symlink_to("y.yaml")
    r = run_invoke("boards", cwd=tmp_project)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    for name in set(BOARDS) - {"jetson-nano"}:
        assert re.search(rf"^{re.escape(name)}\b", r.stdout, re.M), name
    assert "jetson-nano: toolchains/boards/jetson-nano.yaml:1:17: not UTF-8 text" in r.stderr
    assert "toolchains/boards/x.yml: descriptor files end in .yaml; rename it to x.yaml" \
        in r.stderr
    assert "toolchains/boards/Jetson_NX.yaml: descriptor names use lower-case letters" in r.stderr
    assert "toolchains/boards/d.yaml is a folder, not a descriptor file" in r.stderr
    assert "toolchains/boards/y.yaml is a symbolic link to y.yaml that cannot be followed " \
        "(a loop of symbolic links)" in r.stderr


@pytest.mark.parametrize("text", [
    "description: " + "[" * 5000 + "]" * 5000,
    "".join(f"{' ' * i}k{i}:\n" for i in range(3000)),
    "description: " + "{a: " * 3000 + "x" + "}" * 3000,
], ids=["flow-sequences", "block-mappings", "flow-mappings"])
def test_nesting_thousands_of_levels_deep_is_refused(text: str):
    with pytest.raises(DescriptorError, match=r"^b.yaml:\d+:\d+: nested more than 32 levels deep"):
        load_yaml(text, "b.yaml")


def test_alias_bomb_is_refused_at_once_with_bounded_memory():
    import tracemalloc

    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]"
              for i in range(12)]  # 10**13 strings once expanded
    tracemalloc.start()
    start = time.monotonic()
    with pytest.raises(DescriptorError, match="anchors and aliases .* are not allowed"):
        load_yaml("\n".join(lines), "bomb.yaml")
    elapsed, peak = time.monotonic() - start, tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert elapsed < 1 and peak < 5_000_000


def test_duplicate_key_would_have_turned_a_gcc_board_into_a_clang_board(tmp_project: Path):
    board = tmp_project / "toolchains/boards/rpi4.yaml"
    board.write_text(board.read_text() + "compiler: clang14-aarch64\n")
    with pytest.raises(DescriptorError) as exc:
        catalog(tmp_project).resolve("rpi4", env={})
    assert re.match(r"toolchains/boards/rpi4.yaml:\d+:1: duplicate key 'compiler' \(first at "
                    r"line \d+\)", exc.value.message)


def test_ten_megabyte_descriptor_is_refused_with_a_short_message(tmp_project: Path):
    board = tmp_project / "toolchains/boards/rpi4.yaml"
    with board.open("w") as fh:
        for i in range(200_000):
            fh.write(f"unknown_key_{i}: {'v' * 40}\n")
    assert board.stat().st_size > 10 * MAX_BYTES
    start = time.monotonic()
    with pytest.raises(DescriptorError) as exc:
        catalog(tmp_project).resolve("rpi4", env={})
    assert time.monotonic() - start < 2
    assert exc.value.message.startswith("toolchains/boards/rpi4.yaml: larger than 1024 KiB")
    _one_paragraph(exc.value.message)


def test_thousands_of_unknown_keys_and_long_values_give_a_short_message(tmp_project: Path):
    board = tmp_project / "toolchains/boards/rpi4.yaml"
    text = board.read_text().replace("description:", "description: [" + "x" * 5000 + "] #")
    board.write_text(text + "".join(f"unknown_key_{i}: {'v' * 200}\n" for i in range(3000)))
    with pytest.raises(DescriptorError) as exc:
        catalog(tmp_project).resolve("rpi4", env={})
    msg = exc.value.message
    assert "unknown key 'unknown_key_0' in toolchains/boards/rpi4.yaml" in msg
    assert "and 2995 more unknown keys in toolchains/boards/rpi4.yaml (known keys: description," \
        in msg
    assert "key 'description' in toolchains/boards/rpi4.yaml: Input should be a valid string; " \
        "got ['xxxxxxxxx" in msg and "... (5004 characters)" in msg
    assert len(msg) < 1200 and all(len(line) < 400 for line in msg.splitlines())


@pytest.mark.parametrize("var", ["EDGEFORGE_CACHE", "EDGEFORGE_BUILD_DIR"])
@pytest.mark.parametrize("case", ["a-file", "under-a-file", "proc"])
def test_cache_or_build_dir_that_cannot_be_used(var: str, case: str, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch):
    afile = tmp_path / "afile"
    afile.write_text("")
    path = {"a-file": afile, "under-a-file": afile / "sub", "proc": Path("/proc/x/edgeforge")}[case]
    monkeypatch.setenv(var, str(path))
    with pytest.raises(HostSetupError) as exc:
        Context.create(project_root=PROJECT, reporter=Reporter(quiet=True))
    msg = exc.value.message
    assert f"(from environment variable {var})" in msg and f"fix: point {var} at a writable" in msg
    assert {"a-file": "is a file, not a directory",
            "under-a-file": f"cannot be created: {afile} is a file, not a directory",
            "proc": "cannot be created in /proc: No such file or directory"}[case] in msg
    _one_paragraph(msg)


def test_cache_that_is_a_file_through_invoke_exits_8_without_traceback(tmp_project: Path):
    afile = tmp_project / "afile"
    afile.write_text("")
    r = run_invoke("boards", cwd=tmp_project, env={"EDGEFORGE_CACHE": str(afile)})
    assert r.returncode == 8, r.stdout + r.stderr
    assert f"error: cache directory {afile} (from environment variable EDGEFORGE_CACHE) is a " \
        "file, not a directory" in r.stderr
    assert "Traceback" not in r.stdout + r.stderr


@pytest.mark.parametrize("case", ["a-file", "dangling-symlink", "symlink-loop"])
def test_unreadable_boards_folder(case: str, tmp_project: Path):
    boards = tmp_project / "toolchains/boards"
    shutil.rmtree(boards)
    if case == "a-file":
        boards.write_text("")
    else:
        boards.symlink_to("nowhere" if case == "dangling-symlink" else "boards")
    with pytest.raises(DescriptorError) as exc:
        catalog(tmp_project).resolve("jetson-nx", env={})
    assert {
        "a-file": "toolchains/boards is a file, not a folder; board descriptors go in "
                  "toolchains/boards/<name>.yaml",
        "dangling-symlink": "toolchains/boards is a symbolic link to nowhere that cannot be "
                            "followed (its target does not exist)",
        "symlink-loop": "toolchains/boards is a symbolic link to boards that cannot be followed "
                        "(a loop of symbolic links)",
    }[case] in exc.value.message


def test_board_name_messages_say_where_the_name_came_from(tmp_project: Path):
    cat = catalog(tmp_project)
    with pytest.raises(DescriptorError, match=r"^environment variable EDGEFORGE_BOARD: no board "
                                              r"named 'nonsense'"):
        cat.resolve(env={"EDGEFORGE_BOARD": "nonsense"})
    with pytest.raises(DescriptorError, match=r"^command line --board: no board named 'nonsense'"):
        cat.resolve("nonsense", env={})
    with pytest.raises(DescriptorError, match=r"^environment variable EDGEFORGE_COMPILER: no "
                                              r"compiler named 'gcc'"):
        cat.resolve("rpi4", env={"EDGEFORGE_COMPILER": "gcc"})
    with pytest.raises(DescriptorError, match=r"^key 'build_type' from environment variable "
                                              r"EDGEFORGE_BUILD_TYPE: expected .* got 'debug'; "
                                              r"did you mean 'Debug'\?"):
        cat.resolve("rpi4", env={"EDGEFORGE_BUILD_TYPE": "debug"})
    with pytest.raises(DescriptorError, match=r"^key 'build_type' from command line --build-type"):
        cat.resolve("rpi4", env={}, cli={"build_type": "debug"})
    defaults = tmp_project / "toolchains/defaults.yaml"
    defaults.write_text(defaults.read_text().replace("default_board: jetson-nx",
                                                     "default_board: nonsense"))
    with pytest.raises(DescriptorError, match=r"^key 'default_board' in toolchains/defaults.yaml: "
                                              r"no board named 'nonsense'"):
        catalog(tmp_project).resolve(env={})


@pytest.mark.parametrize("entry, expect", [
    ("Jetson_NX.yaml", "toolchains/boards/Jetson_NX.yaml: descriptor names use lower-case "
                       "letters, digits, '.', '+' and '-' only and start with a letter or digit; "
                       "rename it to jetson-nx.yaml (jetson-nx.yaml exists already"),
    ("x.yml", "toolchains/boards/x.yml: descriptor files end in .yaml; rename it to x.yaml"),
    ("x.yaml/", "toolchains/boards/x.yaml is a folder, not a descriptor file; move it out of "
                "toolchains/boards/"),
    ("y.yaml@", "toolchains/boards/y.yaml is a symbolic link to y.yaml that cannot be followed "
                "(a loop of symbolic links); fix the link or remove it"),
], ids=["bad-name", "yml-suffix", "folder", "symlink-loop"])
def test_misnamed_or_broken_board_file_says_what_is_wrong(entry: str, expect: str,
                                                          tmp_project: Path):
    boards = tmp_project / "toolchains/boards"
    name = entry.rstrip("/@")
    if entry.endswith("/"):
        (boards / name).mkdir()
    elif entry.endswith("@"):
        (boards / name).symlink_to(name)
    else:
        (boards / name).write_text((boards / "rpi4.yaml").read_text())
    cat = catalog(tmp_project)
    problems = cat.problems("boards")
    assert len(problems) == 1 and expect in problems[0]
    stem = name.rsplit(".", 1)[0]
    assert stem not in cat.names("boards")
    with pytest.raises(DescriptorError) as exc:
        cat.resolve(stem, env={})
    assert exc.value.message == f"command line --board: {problems[0]}"
    assert "did you mean" not in exc.value.message


def test_absolute_tool_path_that_does_not_exist_is_not_an_apt_package(tmp_project: Path):
    comp = tmp_project / "toolchains/compilers/clang14-aarch64.yaml"
    comp.write_text(comp.read_text() + "tools: {cc: /opt/nowhere/bin/clang}\n")
    t = catalog(tmp_project).resolve("jetson-nx", env={})
    with pytest.raises(ToolMissingError) as exc:
        locate_tools(t)
    assert exc.value.message.startswith(
        "/opt/nowhere/bin/clang does not exist or is not executable (compiler clang14-aarch64, "
        "key 'tools.cc' in toolchains/compilers/clang14-aarch64.yaml)")
    assert "apt-get" not in exc.value.message


def test_environment_flags_are_split_like_a_shell_does():
    t = catalog().resolve("rpi4", env={"EDGEFORGE_CXXFLAGS": '-DGREETING="hello world" -O2',
                                       "EDGEFORGE_LDFLAGS": "-Wl,--as-needed  '-L/opt/my libs'"})
    assert t.extra_cxxflags == ("-DGREETING=hello world", "-O2")
    assert t.extra_ldflags == ("-Wl,--as-needed", "-L/opt/my libs")
    with pytest.raises(DescriptorError) as exc:
        catalog().resolve("rpi4", env={"EDGEFORGE_CFLAGS": '-DGREETING="hello'})
    assert exc.value.exit_code == 2
    assert exc.value.message.startswith(
        "environment variable EDGEFORGE_CFLAGS: cannot split '-DGREETING=\"hello' into flags "
        "(no closing quotation)")
