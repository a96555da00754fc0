"""What every installer of the app (.deb, .rpm, .run) shares: the description in
images/<app>/installers.yaml, read into a frozen model, and the files they all carry (the
systemd unit, the instance configuration, the manual page, the licence notices), rendered
from the templates next to it. debpkg, rpmpkg and runinstaller only package them.

The YAML goes through the descriptors' loader (`load_yaml`: no anchors, no duplicate keys) and
the same error formatter, so a mistake names the file, the key and a likely fix:

    error: unknown key 'restrat' in images/edge-infer/installers.yaml; did you mean 'restart'?

Everything else the installers need (version, architecture, dependencies, files) comes from
the release input, never from this file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .descriptors import MAX_BYTES, format_validation_error, load_yaml
from .errors import DescriptorError

INSTALLERS_FILE = "installers.yaml"

_PKG = r"^[a-z0-9][a-z0-9.+-]+$"
_USER = r"^[a-z_][a-z0-9_-]{0,30}$"
#: what a value written into a unit file, a conffile or a maintainer script must not contain
_UNSAFE = set("\n\r\"'`$\\;&|<>")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServiceSpec(_Frozen):
    """The systemd template unit <package>@.service: one instance per stream."""

    user: str = Field(pattern=_USER, description="dedicated system user the service runs as")
    supplementary_groups: tuple[str, ...] = Field(
        (), description="groups the service joins too (e.g. video for V4L2 cameras)")
    restart: Literal["on-failure", "always", "on-abnormal", "on-abort", "on-watchdog"] = Field(
        "on-failure", description="systemd Restart= policy")
    restart_sec: int = Field(5, ge=1, le=3600, description="seconds between restarts")
    start_limit_burst: int = Field(
        10, ge=1, le=1000, description="restarts allowed within start_limit_interval_sec")
    start_limit_interval_sec: int = Field(300, ge=1, le=86400)
    default_instance: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_.-]*$",
        description="instance whose /etc/<package>/<instance>.conf the package ships")
    default_stream: str = Field(description="STREAM= in the shipped instance file")
    args: tuple[str, ...] = Field(
        (), description="EDGE_INFER_ARGS= in the shipped instance file (the app's options)")

    @field_validator("supplementary_groups")
    @classmethod
    def _groups(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        import re

        for g in v:
            if not re.fullmatch(_USER, g):
                raise ValueError(f"group {g!r} is not a valid group name")
        return v

    @field_validator("default_stream", "args")
    @classmethod
    def _safe(cls, v: str | tuple[str, ...]) -> str | tuple[str, ...]:
        for word in (v,) if isinstance(v, str) else v:
            bad = sorted(set(word) & _UNSAFE)
            if bad or not word or " " in word:
                raise ValueError(
                    f"{word!r} must be one word without quotes, '$', '\\', ';', '&', '|', '<', "
                    "'>' or white space (it goes into an EnvironmentFile systemd splits)")
        return v


class RunSpec(_Frozen):
    """The self-extracting .run installer."""

    default_prefix: str = Field(pattern=r"^/[A-Za-z0-9._/+-]*$",
                                description="where it installs without --prefix")


class InstallersSpec(_Frozen):
    """images/<app>/installers.yaml"""

    package: str = Field(pattern=_PKG, description="package name of the .deb and .rpm")
    summary: str = Field(min_length=10, max_length=79,
                         description="one line (Debian short description, RPM Summary)")
    description: str = Field(min_length=20, description="a few sentences; blank line = paragraph")
    maintainer: str = Field(pattern=r"^[^<>\n]+ <[^<>@\s]+@[^<>@\s]+\.[^<>@\s]+>$",
                            description="Name <address>")
    vendor: str = Field(description="RPM Vendor")
    homepage: str | None = Field(None, pattern=r"^https?://\S+$")
    copyright: str = Field(description="the app's copyright line, e.g. 2026 The edge-infer authors")
    license: str = Field(pattern=r"^[A-Za-z0-9.+-]+$", description="SPDX id of the app's licence")
    section: str = Field("video", pattern=r"^[a-z0-9/-]+$", description="Debian section")
    rpm_group: str = Field("Applications/Multimedia", description="RPM Group")
    prefix: str = Field(pattern=r"^/opt/[a-z0-9][a-z0-9.+-]*$",
                        description="where the .deb and .rpm install the app (/opt/<name>)")
    script_depends: tuple[str, ...] = Field(
        (), description="Debian packages the maintainer scripts call (e.g. adduser); the "
        "libraries' Depends are computed, never listed here")
    not_shipped: tuple[str, ...] = Field(
        (), description="Conan packages of the graph that are not in the program (test-only), "
        "left out of the licence notices")
    service: ServiceSpec
    run: RunSpec

    @field_validator("summary", "vendor", "copyright", "rpm_group")
    @classmethod
    def _one_line(cls, v: str) -> str:
        if "\n" in v or "\r" in v or "%" in v:
            raise ValueError("must be one line without '%'")
        return v

    @field_validator("description")
    @classmethod
    def _text(cls, v: str) -> str:
        if "%" in v:
            raise ValueError("must not contain '%' (RPM would expand it as a macro)")
        return v

    def paragraphs(self) -> list[str]:
        """The description as paragraphs of single-spaced text."""
        return [" ".join(p.split()) for p in self.description.strip().split("\n\n") if p.strip()]


def images_dir(project_root: Path, app: str) -> Path:
    return project_root / "images" / app


def load_installers(project_root: Path, app: str) -> InstallersSpec:
    """Read and validate images/<app>/installers.yaml."""
    path = images_dir(project_root, app) / INSTALLERS_FILE
    try:
        rel = str(path.relative_to(project_root))
    except ValueError:
        rel = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DescriptorError(f"missing {rel}: it describes the {app} installers "
                              "(package name, maintainer, service)") from None
    except OSError as exc:
        raise DescriptorError(f"cannot read {rel}: {exc.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise DescriptorError(f"{rel}: larger than {MAX_BYTES // 1024} KiB; not an installer file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DescriptorError(f"{rel}: not UTF-8 text; save it as UTF-8") from None
    return parse_installers(text, rel)


def parse_installers(text: str, rel: str) -> InstallersSpec:
    doc = load_yaml(text, rel)
    try:
        return InstallersSpec.model_validate(doc.data)
    except ValidationError as exc:
        raise DescriptorError(format_validation_error(exc, rel, InstallersSpec, doc.data,
                                                      doc.scalars)) from None
