"""images/<name>/device.yaml: what a device image holds, read into a frozen model.

A device image is a board's root file system: its stand-in Debian suite (the board's sysroot
descriptor says which), the packages listed here, the app's .deb installed through apt, a login
user, service instances, files and first-boot actions. Suite, architecture, version and the
.deb come from the board and the release, never from here.

No secret goes into an image: SSH host keys are made on first boot, the login key is the
user's *public* key given when the image is built (never a private key), and no account has a
password.

    error: unknown key 'hostnme' in images/<name>/device.yaml; did you mean 'hostname'?
"""

from __future__ import annotations

import base64
import posixpath
import re
import struct
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from edgeforge.core import UsageError

from .app import APP_NAME_PATTERN
from .yamlfile import model_schema, parse_model, read_descriptor, write_model_schema

IMAGES_DIR = "images"  # the project's image and installer definitions: images/<name>/
DEVICE_FILE = "device.yaml"
SCHEMA_FILE = "device.schema.json"

_PACKAGE = r"^[a-z0-9][a-z0-9.+-]+$"
_USER = r"^[a-z_][a-z0-9_-]{0,30}$"
_ABS = r"^/[A-Za-z0-9._/+@-]*$"
_INSTANCE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_HOST = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
#: key types an OpenSSH authorized_keys line may name
KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
             "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com",
             "sk-ecdsa-sha2-nistp256@openssh.com")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LoginSpec(_Frozen):
    """The one login: a user whose only way in is the public key given at build time."""

    user: str = Field(pattern=_USER, description="login name (home /home/<user>, no password)")
    groups: tuple[str, ...] = Field(
        (), description="supplementary groups, e.g. systemd-journal to read the app's output")
    sudo: bool = Field(False, description="may run sudo without a password (needed by `invoke "
                       "deploy` as this user; the login itself is key-only)")

    @field_validator("user")
    @classmethod
    def _not_root(cls, v: str) -> str:
        if v == "root":
            raise ValueError("root must not be the login; name an ordinary user")
        return v

    @field_validator("groups")
    @classmethod
    def _group_names(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for name in v:  # useradd --groups takes them joined with ','
            if not re.fullmatch(_USER, name):
                raise ValueError(f"{name!r} is not a group name (lower case letters, digits, "
                                 "'_' and '-')")
        return v


class ServiceSpec(_Frozen):
    """An instance of an app's template unit, enabled in the image."""

    app: str | None = Field(None, json_schema_extra={"pattern": APP_NAME_PATTERN},
                            description="whose service: one of the image's apps (default: the "
                            "image's own app, whose folder it is in)")
    instance: str = Field(pattern=_INSTANCE, description="instance name: <service>@<instance> "
                          "reads its configuration file, e.g. /etc/<app>/<instance>.conf")
    stream: str = Field(min_length=1, max_length=500, description="the instance's input (a file "
                        "of the image or a URL)")
    args: tuple[str, ...] = Field((), description="the app's options for this instance")

    @field_validator("stream")
    @classmethod
    def _one_line(cls, v: str) -> str:
        if any(c in v for c in "\n\r\0"):
            raise ValueError("must be one line")
        return v

    @field_validator("args")
    @classmethod
    def _words(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for word in v:
            if any(c in word for c in "\n\r\0 \"'\\$"):
                raise ValueError(f"{word!r}: one word without spaces, quotes, '$' or '\\' "
                                 "(systemd reads the line unquoted)")
        return v


class FileSpec(_Frozen):
    """A file put into the image: from the image's folder or one of edgeforge's samples."""

    path: str = Field(pattern=_ABS, description="absolute path in the image")
    source: str | None = Field(None, description="a file in the image definition's folder")
    sample: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9._-]*$",
                               description="a sample file edgeforge fetches (e.g. vtest.avi)")
    mode: int = Field(0o644, ge=0, le=0o777, description="permissions (octal in YAML: 0o644)")

    @model_validator(mode="after")
    def _one_origin(self) -> FileSpec:
        if (self.source is None) == (self.sample is None):
            raise ValueError("give exactly one of 'source' and 'sample'")
        if posixpath.normpath(self.path) != self.path or self.path.startswith(
                ("/proc", "/sys", "/dev", "/run", "/tmp")):
            raise ValueError(f"path {self.path!r}: a normal path outside /proc, /sys, /dev, "
                             "/run and /tmp")
        if self.source and (self.source.startswith("/") or ".." in Path(self.source).parts):
            raise ValueError(f"source {self.source!r}: a path inside the image's folder")
        return self


class TwinSpec(_Frozen):
    """The virtual twin: the same root file system booted by qemu-system-aarch64 -M virt."""

    kernel: str = Field("linux-image-arm64", pattern=_PACKAGE,
                        description="Debian's kernel package (with its initramfs)")
    modules: tuple[str, ...] = Field(
        ("virtio_pci", "virtio_blk", "virtio_net", "ext4"),
        description="modules in the initramfs (Debian's kernel has virtio and ext4 as modules)")
    memory_mb: int = Field(1024, ge=256, le=16384, description="the twin's memory")
    cpus: int = Field(2, ge=1, le=8, description="the twin's CPUs")
    free_mb: int = Field(256, ge=32, le=65536,
                         description="free space on the root file system beyond what it holds")


class DeviceDef(_Frozen):
    """images/<name>/device.yaml"""

    hostname: str = Field(pattern=_HOST, description="/etc/hostname; /etc/hosts names it")
    packages: tuple[str, ...] = Field(description="Debian packages besides the suite's base "
                                      "and the app's .deb (whose Depends apt resolves)")
    login: LoginSpec
    apps: tuple[str, ...] = Field(
        (), description="other apps of the project the image holds besides its own (their "
        ".deb installed by apt, their services' instances below with app: NAME)")
    services: tuple[ServiceSpec, ...] = ()
    files: tuple[FileSpec, ...] = ()
    first_boot: tuple[tuple[str, ...], ...] = Field(
        (), description="commands run once, on the first boot, before SSH starts (argv lists; "
        "SSH host keys are always made then)")
    twin: TwinSpec = TwinSpec()

    @field_validator("packages")
    @classmethod
    def _packages(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for name in v:
            if not re.fullmatch(_PACKAGE, name):
                raise ValueError(f"{name!r} is not a Debian package name")
        return v

    @field_validator("first_boot")
    @classmethod
    def _commands(cls, v: tuple[tuple[str, ...], ...]) -> tuple[tuple[str, ...], ...]:
        for argv in v:
            if not argv or not argv[0].startswith("/"):
                raise ValueError(f"{list(argv)}: each command is an argv list whose program is "
                                 "an absolute path, e.g. [/usr/bin/touch, /var/lib/x]")
            if any(c in w for w in argv for c in "\n\r\0"):
                raise ValueError(f"{list(argv)}: words must be one line")
        return v

    @field_validator("apps")
    @classmethod
    def _apps(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for name in v:
            if not re.fullmatch(APP_NAME_PATTERN, name):
                raise ValueError(f"{name!r} is not an app's name (apps/<name>/)")
        dup = sorted({n for n in v if v.count(n) > 1})
        if dup:
            raise ValueError(f"{', '.join(dup)} given more than once")
        return v

    @model_validator(mode="after")
    def _unique(self) -> DeviceDef:
        for what, names in (("services", [f"{s.app or 'its app'}@{s.instance}"
                                           for s in self.services]),
                            ("files", [f.path for f in self.files])):
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise ValueError(f"{what}: {', '.join(dup)} given more than once")
        return self


def device_schema() -> dict:
    return model_schema(DeviceDef, "edgeforge device image definition")


def write_schema(images_dir: Path) -> Path:
    return write_model_schema(images_dir / SCHEMA_FILE, DeviceDef, "edgeforge device image definition")


def load(folder: Path) -> DeviceDef:
    """Read and validate <folder>/device.yaml (folder: images/<name>)."""
    rel = f"{Path(folder).parent.name}/{Path(folder).name}/{DEVICE_FILE}"
    text = read_descriptor(Path(folder) / DEVICE_FILE, rel, "it defines the device image "
                           "(packages, login, services, files)", "a device image definition")
    dev = parse_model(text, rel, DeviceDef)
    for f in dev.files:
        if f.source and not (Path(folder) / f.source).is_file():
            raise UsageError(f"{rel}: files: source {f.source!r} does not exist in "
                             f"{Path(folder)}; add the file or fix the key")
    return dev


# ---- the login key ----------------------------------------------------------------------------
def public_key_line(text: str, where: str) -> str:
    """One OpenSSH public key line (type, base64 body, optional comment), checked: a private
    key or anything else is refused with a sentence naming `where` it came from."""
    if "PRIVATE KEY" in text:
        raise UsageError(f"{where} is a private key: give the public one (the .pub file beside "
                         "it); a private key never goes into an image")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if len(lines) != 1:
        raise UsageError(f"{where}: expected one OpenSSH public key line "
                         f"(ssh-ed25519 AAAA... comment), found {len(lines)} lines")
    parts = lines[0].split(None, 2)
    if len(parts) < 2 or parts[0] not in KEY_TYPES:
        raise UsageError(f"{where}: not an OpenSSH public key (it should start with one of "
                         f"{', '.join(KEY_TYPES[:3])}); make one with ssh-keygen -t ed25519")
    try:
        blob = base64.b64decode(parts[1], validate=True)
        (n,) = struct.unpack(">I", blob[:4])
        ok = blob[4:4 + n].decode("ascii") == parts[0]
    except (ValueError, struct.error, UnicodeDecodeError):
        ok = False
    if not ok:
        raise UsageError(f"{where}: the key's body is damaged (its base64 does not name "
                         f"{parts[0]}); copy the .pub file again")
    comment = re.sub(r"[^\x20-\x7e]", "", parts[2]) if len(parts) > 2 else ""
    return " ".join([parts[0], parts[1], *([comment] if comment else [])])
