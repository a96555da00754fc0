"""relocate-sdk.sh and the SDK's environment-setup, really run: a folder's name is data. Unpacked
into a folder whose name holds spaces, quotes, `$(...)`, backticks and a line break, nothing in
it runs, and every file names the folder exactly (read back by sh, bash and CMake); a folder
that some file cannot hold is refused before anything changes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from edgeforge.deliver import sdk, sdkrelocate
from tests.unit.test_toolchain_render import inputs

HOSTILE = "a b/it's \"q\" $(touch MARKER) `touch MARKER2`\nnl/sdk"
LOC = "/opt/edgeforge-sdk/jetson-nx"


def contents() -> sdk.SdkContents:
    return sdk.sdk_contents(inputs("jetson-nx"), None, {"zlib.pc": "prefix=/usr\nLibs: -lz\n"})


def unpack(c: sdk.SdkContents, dest: Path, kinds: tuple[str, ...] | None = None) -> list[str]:
    """The SDK's own files as an unpacked archive has them (the sysroot an empty folder); with
    `kinds`, only the relocated files of those languages. Returns the relocated files."""
    listed = c.files["share/edgeforge/relocate-files"][0].splitlines()
    keep = [r for r in listed if kinds is None or sdkrelocate.kind_of(r) in kinds]
    left_out = set(listed) - set(keep)
    for rel, (text, mode) in c.files.items():
        if rel in left_out or rel.removeprefix(sdkrelocate.TEMPLATES + "/") in left_out:
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_text(text)
        (dest / rel).chmod(mode)
    (dest / "share/edgeforge/relocate-files").write_text("".join(f"{r}\n" for r in keep))
    (dest / "sysroot").mkdir()
    return keep


def relocate(dest: Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["/bin/sh", str(dest / "relocate-sdk.sh")], cwd=cwd, text=True,
                          capture_output=True, timeout=120)


def markers(root: Path) -> list[Path]:
    return [p for p in root.rglob("MARKER*")]


def sourced(shell: str, dest: Path, cwd: Path) -> dict[str, str]:
    """What a shell that sourced environment-setup has (the folder is passed as an argument,
    never written into the command)."""
    names = ["EDGEFORGE_SYSROOT", "CC", "PKG_CONFIG", "PKG_CONFIG_LIBDIR", "CMAKE_TOOLCHAIN_FILE",
             "MESON_CROSS_FILE", "QEMU_LD_PREFIX", "PATH"]
    script = ('. "$1/toolchain/environment-setup" || exit 9\n'
              + "".join(f'printf "%s\\0" "${n}"\n' for n in names)
              # the fragments: what make and configure's eval get when they split them
              + 'eval "set -- $LD"; printf "%s\\0" "$@"\n')
    r = subprocess.run([shell, "-c", script, shell, str(dest)], cwd=cwd, capture_output=True,
                       timeout=60, env={"PATH": "/usr/bin:/bin", "HOME": str(cwd)})
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    values = r.stdout.split(b"\0")[:-1]
    got = dict(zip(names, (v.decode() for v in values), strict=False))
    got["LD argv"] = [v.decode() for v in values[len(names):]]
    return got


def test_the_shipped_files_are_their_templates_filled_with_the_sdk_location():
    c = contents()
    relocated = c.files["share/edgeforge/relocate-files"][0].splitlines()
    assert "toolchain/environment-setup" in relocated and "share/edgeforge/location" not in relocated
    for rel in relocated:
        tpl = c.files[f"{sdkrelocate.TEMPLATES}/{rel}"][0]
        assert LOC not in tpl and sdkrelocate.MARK in tpl
        assert sdkrelocate.fill(tpl, LOC) == c.files[rel][0]
    env = c.files[f"{sdkrelocate.TEMPLATES}/toolchain/environment-setup"][0]
    assert f"CMAKE_TOOLCHAIN_FILE={sdkrelocate.SH}/toolchain/toolchain.cmake" in env
    assert f"LD='/usr/bin/ld.lld-14 --sysroot={sdkrelocate.SH2}/sysroot'" in env
    assert f"# Source it in a POSIX shell (sh, dash, bash, zsh):  . {sdkrelocate.LINE}/" in env
    cmake = c.files[f"{sdkrelocate.TEMPLATES}/toolchain/toolchain.cmake"][0]
    assert f'set(CMAKE_SYSROOT "{sdkrelocate.CMAKE}/sysroot")' in cmake
    assert f"prefix={sdkrelocate.RAW}/sysroot/usr" in \
        c.files[f"{sdkrelocate.TEMPLATES}/toolchain/pkgconfig/zlib.pc"][0]


@pytest.mark.parametrize(("folder", "kinds"), [
    (HOSTILE, ("sh", "cmake")),
    ("a b/$(touch MARKER)/sdk", ("sh", "cmake")),   # unquoted, it was a command (before)
    (HOSTILE + "; touch MARKER3 &| $HOME \\", ("sh",)),     # CMake cannot hold a ';'
])
def test_relocation_into_a_hostile_folder_runs_nothing_and_names_it_exactly(
        tmp_path: Path, folder: str, kinds: tuple[str, ...]):
    c = contents()
    dest = tmp_path / folder
    dest.mkdir(parents=True)
    relocated = unpack(c, dest, kinds=kinds)
    r = relocate(dest, tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"SDK relocated from {LOC} to {dest}\n"
    assert (dest / "share/edgeforge/location").read_text() == f"{dest}\n"
    for rel in relocated:
        assert (dest / rel).read_text() == sdkrelocate.fill(
            c.files[f"{sdkrelocate.TEMPLATES}/{rel}"][0], str(dest)), rel
        assert ((dest / rel).stat().st_mode & 0o777) == c.files[rel][1]
    for shell in ("/bin/sh", "bash"):
        got = sourced(shell, dest, tmp_path)
        assert got["EDGEFORGE_SYSROOT"] == got["QEMU_LD_PREFIX"] == f"{dest}/sysroot"
        assert got["CC"] == f"{dest}/toolchain/bin/aarch64-linux-gnu-clang"
        assert got["CMAKE_TOOLCHAIN_FILE"] == f"{dest}/toolchain/toolchain.cmake"
        assert got["MESON_CROSS_FILE"] == f"{dest}/toolchain/meson-cross.ini"
        assert got["PKG_CONFIG_LIBDIR"] == f"{dest}/toolchain/pkgconfig"
        assert got["PATH"].startswith(f"{dest}/toolchain/bin:")
        assert got["LD argv"] == ["/usr/bin/ld.lld-14", f"--sysroot={dest}/sysroot"]
    # the compiler wrapper's command line, as its shell reads it
    wrapper = (dest / "toolchain/bin/aarch64-linux-gnu-clang").read_text()
    exec_line = wrapper[wrapper.index("\nexec ") + 6:]    # to the end: the folder has a \n
    argv = subprocess.run(["/bin/sh", "-c", "printf '%s\\0' " + exec_line, "sh", "-c"],
                          capture_output=True, check=True, timeout=60).stdout.split(b"\0")[:-1]
    assert f"--sysroot={dest}/sysroot".encode() in argv
    assert str(dest / "toolchain/bin/aarch64-linux-gnu-clang.cfg").encode() in argv
    # the pkg-config wrapper answers from the relocated folders only
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "pkg-config").write_text('#!/bin/sh\nprintf "%s" "$PKG_CONFIG_LIBDIR"\n')
    (fake / "pkg-config").chmod(0o755)
    r = subprocess.run([str(dest / "toolchain/pkg-config"), "--cflags", "zlib"], text=True,
                       capture_output=True, timeout=60, cwd=tmp_path,
                       env={"PATH": f"{fake}:/usr/bin:/bin",
                            "PKG_CONFIG_PATH": f"{dest}/sysroot/usr/lib/pkgconfig:/usr/lib"})
    assert r.stdout == f"{dest}/toolchain/pkgconfig", r.stderr
    assert "ignoring PKG_CONFIG_PATH entry /usr/lib " in r.stderr
    assert "ignoring PKG_CONFIG_PATH entry " + str(dest) not in r.stderr
    if "cmake" in kinds and shutil.which("cmake"):    # CMake reads its folders back exactly
        (tmp_path / "where").write_text(str(dest))
        (tmp_path / "read.cmake").write_text(
            'file(READ "${CMAKE_ARGV3}" SDK)\ninclude("${SDK}/toolchain/toolchain.cmake")\n'
            'file(WRITE "${CMAKE_ARGV4}" "${CMAKE_SYSROOT}|${CMAKE_C_COMPILER}")\n')
        subprocess.run(["cmake", "-P", str(tmp_path / "read.cmake"), str(tmp_path / "where"),
                        str(tmp_path / "got")], check=True, capture_output=True, timeout=60)
        assert (tmp_path / "got").read_text() == \
            f"{dest}/sysroot|{dest}/toolchain/bin/aarch64-linux-gnu-clang"
    assert markers(tmp_path) == []


def test_a_folder_some_file_cannot_hold_is_refused_and_nothing_changes(tmp_path: Path):
    c = contents()
    dest = tmp_path / HOSTILE
    dest.mkdir(parents=True)
    unpack(c, dest)
    before = {p: p.read_bytes() for p in dest.rglob("*") if p.is_file()}
    r = relocate(dest, tmp_path)
    assert r.returncode == 1
    assert r.stderr.startswith(f"relocate-sdk.sh: cannot relocate to {dest}: toolchain/")
    assert "(Conan profiles and pkg-config files have no quoting); nothing was changed" in r.stderr
    assert {p: p.read_bytes() for p in dest.rglob("*") if p.is_file()} == before
    # not relocated, the environment says so and runs nothing either
    for shell in ("/bin/sh", "bash"):
        s = subprocess.run([shell, "-c", '. "$1/toolchain/environment-setup"', shell, str(dest)],
                           cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert s.returncode == 1 and "does not exist (an SDK unpacked or moved" in s.stderr
    assert markers(tmp_path) == []


def test_the_whole_sdk_relocates_into_a_folder_with_spaces_and_again_after_a_move(
        tmp_path: Path):
    c = contents()
    first = tmp_path / "my sdks" / "jetson nx"
    first.mkdir(parents=True)
    relocated = unpack(c, first)
    assert relocate(first, tmp_path).returncode == 0
    assert relocate(first, tmp_path).stdout == ""            # already there: nothing to do
    second = tmp_path / "moved, again" / "sdk"
    second.parent.mkdir()
    first.rename(second)
    r = relocate(second, second)
    assert r.returncode == 0 and r.stdout == f"SDK relocated from {first} to {second}\n"
    for rel in relocated:
        assert (second / rel).read_text() == sdkrelocate.fill(
            c.files[f"{sdkrelocate.TEMPLATES}/{rel}"][0], str(second)), rel
    assert (second / "toolchain/pkgconfig/zlib.pc").read_text().startswith(
        f"prefix={second}/sysroot/usr\n")
    got = sourced("/bin/sh", second, tmp_path)
    assert got["CMAKE_TOOLCHAIN_FILE"] == f"{second}/toolchain/toolchain.cmake"
    assert got["LD argv"] == ["/usr/bin/ld.lld-14", f"--sysroot={second}/sysroot"]


@pytest.mark.parametrize(("folder", "placeholder", "written"), [
    ("/a b/it's", sdkrelocate.SH, "'/a b/it'\\''s'"),
    ("/plain/x", sdkrelocate.SH, "/plain/x"),
    ("/a b", sdkrelocate.SH2, "'\\''/a b'\\''"),
    ("/a\nb", sdkrelocate.LINE, "/a b"),
    ('/a "$x"\\\n', sdkrelocate.CMAKE, '/a \\"\\$x\\"\\\\\\n'),
    ("/it's\\", sdkrelocate.MESON, "/it\\'s\\\\"),
    ("/a b/c", sdkrelocate.RAW, "/a b/c"),
])
def test_each_spot_gets_the_folder_in_its_own_language(folder, placeholder, written):
    assert sdkrelocate.escaped(folder, placeholder) == written


@pytest.mark.parametrize(("folder", "placeholder"), [
    ("/a;b", sdkrelocate.CMAKE), ("/a\nb", sdkrelocate.MESON), ("/a$b", sdkrelocate.RAW),
    ("/a{{b", sdkrelocate.RAW), ("/a=b", sdkrelocate.RAW),
])
def test_a_folder_a_language_cannot_hold_is_refused(folder, placeholder):
    with pytest.raises(sdkrelocate.CannotRelocate):
        sdkrelocate.escaped(folder, placeholder)
