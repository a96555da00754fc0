"""Typed, frozen descriptor models. Only `descriptors.py` builds them from YAML.

The JSON schema for editors is generated from these classes (`invoke schema`).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Arch(StrEnum):
    ARM64 = "arm64"
    ARMHF = "armhf"

    @property
    def multiarch(self) -> str:
        """Debian's multiarch tuple, also the default GNU triple."""
        return {Arch.ARM64: "aarch64-linux-gnu", Arch.ARMHF: "arm-linux-gnueabihf"}[self]

    @property
    def conan_arch(self) -> str:
        return {Arch.ARM64: "armv8", Arch.ARMHF: "armv7hf"}[self]

    @property
    def cmake_processor(self) -> str:
        return {Arch.ARM64: "aarch64", Arch.ARMHF: "armv7l"}[self]

    @property
    def meson_cpu_family(self) -> str:
        return {Arch.ARM64: "aarch64", Arch.ARMHF: "arm"}[self]

    @property
    def qemu(self) -> str:
        """The qemu-user program, also the name of its binfmt_misc entry."""
        return {Arch.ARM64: "qemu-aarch64", Arch.ARMHF: "qemu-arm"}[self]

    @property
    def elf_machine(self) -> str:
        """e_machine as pyelftools names it."""
        return {Arch.ARM64: "EM_AARCH64", Arch.ARMHF: "EM_ARM"}[self]

    @property
    def elf_class(self) -> int:
        return {Arch.ARM64: 64, Arch.ARMHF: 32}[self]

    @property
    def interpreter(self) -> str:
        return {
            Arch.ARM64: "/lib/ld-linux-aarch64.so.1",
            Arch.ARMHF: "/lib/ld-linux-armhf.so.3",
        }[self]

    @classmethod
    def from_triple(cls, triple: str) -> Arch | None:
        cpu = triple.split("-", 1)[0]
        if cpu in ("aarch64", "arm64"):
            return cls.ARM64
        if cpu.startswith("arm") and triple.endswith("hf"):
            return cls.ARMHF
        return None


class CompilerFamily(StrEnum):
    GCC = "gcc"
    CLANG = "clang"


class AbiStrategy(StrEnum):
    """How a board's binaries stay at or below its ABI ceiling."""

    #: the compiler's own glibc/libstdc++ are no newer than the device's
    COMPILER_RUNTIME = "compiler-runtime"
    #: libstdc++ and libgcc linked statically; glibc must still be within the ceiling
    STATIC_LIBSTDCXX = "static-libstdcxx"
    #: clang compiles and links against the sysroot's own libstdc++ and glibc
    SYSROOT_LIBSTDCXX = "sysroot-libstdcxx"


_TRIPLE = r"^[a-z0-9_]+(-[a-z0-9_]+){1,3}$"
_GLIBC = r"^2\.\d+$"
_GLIBCXX = r"^3\.4\.\d+$"
_CXXABI = r"^1\.3\.\d+$"
_SHA256 = r"^[0-9a-f]{64}$"
_TOOL_ROLES = ("cc", "cxx", "ar", "ranlib", "strip", "nm", "objcopy", "objdump", "readelf")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class Settings(_Strict):
    """Build settings any layer may set; later layers win, flag lists accumulate."""

    build_type: Literal["Release", "Debug", "RelWithDebInfo", "MinSizeRel"] | None = Field(
        None, description="CMake/Conan build type"
    )
    cppstd: Literal["14", "17", "20"] | None = Field(None, description="C++ standard")
    debug_info: Literal["none", "lines", "full"] | None = Field(
        None, description="debug information every package and the app are compiled with "
        "(none; lines: -g1, functions and lines; full: -g, with variables); it is split from "
        "the shipped binaries into the release's -dbg artifacts. Default: full")
    cflags: tuple[str, ...] = Field((), description="extra C and C++ compile flags")
    cxxflags: tuple[str, ...] = Field((), description="extra C++-only compile flags")
    ldflags: tuple[str, ...] = Field((), description="extra link flags")


class Defaults(_Strict):
    """toolchains/defaults.yaml: the first resolution layer."""

    default_board: str = Field(description="board used when --board is not given")
    settings: Settings = Settings()


class CompilerDescriptor(_Strict):
    """toolchains/compilers/<name>.yaml"""

    description: str = ""
    family: CompilerFamily = Field(description="gcc or clang")
    triple: str = Field(pattern=_TRIPLE, description="target triple, e.g. aarch64-linux-gnu")
    version: str | None = Field(
        None, pattern=r"^\d+$", description="major version; probed with -dumpversion if absent"
    )
    prefix: str = Field("", description="tool name prefix, e.g. 'aarch64-linux-gnu-' (gcc)")
    suffix: str = Field("", description="tool name suffix, e.g. '-14' for clang-14")
    path: str | None = Field(
        None,
        description="root of a toolchain tree (Linaro, Bootlin, L4T) whose bin/ holds the "
        "tools; absent: look the tools up on PATH. ~ and ${VAR} are expanded",
    )
    linker: Literal["bfd", "gold", "lld"] | None = Field(
        None, description="linker passed as -fuse-ld (clang defaults to lld)"
    )
    tools: dict[str, str] = Field(
        default_factory=dict,
        description="override a tool's file name, by role: " + ", ".join(_TOOL_ROLES),
    )
    apt: tuple[str, ...] = Field((), description="Debian packages that provide the tools")
    settings: Settings = Settings()

    @field_validator("tools")
    @classmethod
    def _known_roles(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(v) - set(_TOOL_ROLES))
        if unknown:
            raise ValueError(
                f"unknown tool role(s) {', '.join(unknown)}; roles are {', '.join(_TOOL_ROLES)}"
            )
        return v

    def tool_names(self) -> dict[str, str]:
        """File names of each tool (not yet located)."""
        p, s = self.prefix, self.suffix
        if self.family is CompilerFamily.GCC:
            names = {
                "cc": f"{p}gcc{s}",
                "cxx": f"{p}g++{s}",
                "ar": f"{p}ar",
                "ranlib": f"{p}ranlib",
                "strip": f"{p}strip",
                "nm": f"{p}nm",
                "objcopy": f"{p}objcopy",
                "objdump": f"{p}objdump",
                "readelf": f"{p}readelf",
            }
        else:
            names = {
                "cc": f"{p}clang{s}",
                "cxx": f"{p}clang++{s}",
                "ar": f"llvm-ar{s}",
                "ranlib": f"llvm-ranlib{s}",
                "strip": f"llvm-strip{s}",
                "nm": f"llvm-nm{s}",
                "objcopy": f"llvm-objcopy{s}",
                "objdump": f"llvm-objdump{s}",
                "readelf": f"llvm-readelf{s}",
            }
        names.update(self.tools)
        return names

    @property
    def effective_linker(self) -> str | None:
        if self.linker:
            return self.linker
        return "lld" if self.family is CompilerFamily.CLANG else None


class _SysrootBase(_Strict):
    description: str = ""
    arch: Arch = Field(description="Debian architecture of the tree: arm64 or armhf")
    settings: Settings = Settings()


class DebianSysroot(_SysrootBase):
    """A sysroot built from Debian packages with mmdebstrap."""

    kind: Literal["debian"]
    suite: str = Field(pattern=r"^[a-z]+$", description="Debian suite, e.g. bullseye")
    variant: Literal["minbase", "essential", "apt", "required", "buildd", "extract"] = "minbase"
    components: tuple[str, ...] = ("main",)
    extra_suites: tuple[str, ...] = Field(
        (), description="further suites from the same mirror, e.g. bullseye-updates"
    )
    packages: tuple[str, ...] = Field(description="packages to include (headers, -dev)")


class TarballSysroot(_SysrootBase):
    """A vendor rootfs archive (e.g. an L4T sample rootfs), pinned by sha256."""

    kind: Literal["tarball"]
    sha256: str = Field(pattern=_SHA256, description="sha256 of the archive (64 hex digits)")
    file: str | None = Field(None, description="local path of the archive")
    url: str | None = Field(None, description="where to fetch it when no local file is given")
    subdir: str | None = Field(None, description="folder inside the archive holding the rootfs")


class DirectorySysroot(_SysrootBase):
    """An existing tree, e.g. copied from a device with rsync."""

    kind: Literal["directory"]
    path: str = Field(description="the tree's root; ~ and ${VAR} are expanded")


SysrootDescriptor = Annotated[
    DebianSysroot | TarballSysroot | DirectorySysroot, Field(discriminator="kind")
]


class CpuFlags(_Strict):
    """CPU tuning per compiler family: gcc and clang accept different -mcpu names."""

    gcc: tuple[str, ...] = ()
    clang: tuple[str, ...] = ()

    def for_family(self, family: CompilerFamily) -> tuple[str, ...]:
        return self.gcc if family is CompilerFamily.GCC else self.clang


class AbiCeiling(_Strict):
    """The newest symbol versions the real device's OS provides."""

    glibc: str = Field(pattern=_GLIBC, description="highest GLIBC_ version, e.g. 2.31")
    glibcxx: str = Field(pattern=_GLIBCXX, description="highest GLIBCXX_ version, e.g. 3.4.28")
    cxxabi: str | None = Field(None, pattern=_CXXABI, description="highest CXXABI_ version")
    strategy: AbiStrategy = Field(description="how binaries stay within the ceiling")


class Overlay(_Strict):
    """A vendor SDK (CUDA, TensorRT, BMNNSDK, CANN ...) that users may have locally."""

    path: str = Field(description="host path of the SDK root; ~ and ${VAR} are expanded")
    description: str = ""
    include: tuple[str, ...] = ("include",)
    lib: tuple[str, ...] = ("lib",)


class BoardDescriptor(_Strict):
    """toolchains/boards/<name>.yaml"""

    description: str = Field(description="the board, in a sentence")
    device_os: str = Field(description="the OS the real device runs, e.g. JetPack 5.1 (L4T R35)")
    stand_in: str = Field("", description="why the chosen sysroot stands in for the device OS")
    compiler: str = Field(description="name of a descriptor in toolchains/compilers/")
    sysroot: str = Field(description="name of a descriptor in toolchains/sysroots/")
    cpu: CpuFlags = CpuFlags()
    abi: AbiCeiling
    overlays: dict[str, Overlay] = Field(default_factory=dict)
    settings: Settings = Settings()
    installers: tuple[Literal["deb", "rpm", "run"], ...] = Field(
        ("deb", "run"),
        description="installers `invoke release` writes: deb (Debian/Ubuntu-based device OS), "
        "rpm (EulerOS, RHEL-like), run (self-extracting, any board)")
    device_images: tuple[Literal["l4t-rootfs", "raspi-sd"], ...] = Field(
        (), description="device image layouts `invoke image` writes besides the virtual twin's "
        "disk: l4t-rootfs (a root file system tarball for NVIDIA's Linux_for_Tegra/rootfs), "
        "raspi-sd (a Raspberry Pi SD-card image: raspi-firmware's boot partition and the root)")

    @field_validator("installers")
    @classmethod
    def _no_repeats(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(v)) != len(v):
            raise ValueError(f"lists an installer twice: {list(v)}")
        return v

    @field_validator("overlays")
    @classmethod
    def _overlay_names(cls, v: dict[str, Overlay]) -> dict[str, Overlay]:
        for name in v:
            if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
                raise ValueError(f"overlay name {name!r} must be lower-case letters, digits, - or _")
        return v


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))
