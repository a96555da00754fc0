"""images/<app>/installers.yaml (the file an app descriptor's deliver.installer_info names):
what every installer of the app (.deb, .rpm, .run) says about it, read into a frozen model.

The model lives here, below deliver/, so that loading an app checks the file with the app's
descriptor (config/apploader.py: its errors come from `invoke build --dry-run` too, not only at
release time); deliver/packages/staging.py reads it for the installers and renders their files.

The YAML goes through the descriptors' loader and the same error formatter, so a mistake names
the file, the key and a likely fix:

    error: unknown key 'service.restrat' in images/<app>/installers.yaml; did you mean 'restart'?

Everything else the installers need (version, architecture, dependencies, files) comes from
the release input, never from this file.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .yamlfile import parse_model

_PKG = r"^[a-z0-9][a-z0-9.+-]+$"
_USER = r"^[a-z_][a-z0-9_-]{0,30}$"
USER_PATTERN = _USER  # a system user's (or group's) name, for the other descriptors
#: "Full Name <mail@example.org>"
MAINTAINER_PATTERN = r"^[^<>\n]+ <[^<>@\s]+@[^<>@\s]+\.[^<>@\s]+>$"
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
        (), description="the app's options in the shipped instance file (its templates name "
        "the variable)")

    @field_validator("supplementary_groups")
    @classmethod
    def _groups(cls, v: tuple[str, ...]) -> tuple[str, ...]:
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
    maintainer: str = Field(pattern=MAINTAINER_PATTERN,
                            description="Name <address>")
    vendor: str = Field(description="RPM Vendor")
    homepage: str | None = Field(None, pattern=r"^https?://\S+$")
    copyright: str = Field(description="the app's copyright line, e.g. 2026 The <app> authors")
    section: str = Field("video", pattern=r"^[a-z0-9/-]+$", description="Debian section")
    rpm_group: str = Field("Applications/Multimedia", description="RPM Group")
    prefix: str = Field(pattern=r"^/opt/[a-z0-9][a-z0-9.+-]*$",
                        description="where the .deb and .rpm install the app (/opt/<name>)")
    script_depends: tuple[str, ...] = Field(
        (), description="Debian packages the maintainer scripts call (e.g. adduser); the "
        "libraries' Depends are computed, never listed here")
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


def parse_installers(text: str, rel: str) -> InstallersSpec:
    """installers.yaml text validated into an InstallersSpec."""
    return parse_model(text, rel, InstallersSpec)
