"""`invoke release --push REGISTRY/REPO[:TAG]`: the release's container image (or, for several
boards, the multi-board image index) copied from its OCI layout to a container registry.

    skopeo copy --preserve-digests [--all] --dest-tls-verify=... [--dest-authfile F]
        --digestfile D oci:<layout>:<ref> docker://REGISTRY/REPO:TAG

The layout is the release's own (written byte for byte reproducibly), and digests are
preserved: the registry ends up with exactly the manifest (or index) digest the release
recorded, so a reproducible release also has a reproducible pull reference `REPO@sha256:...`.
The push is recorded beside the release (dist/<board>/<app>/<version>.push.json), never inside it:
the release folder and its SHA256SUMS stay as they were.

Pure parts (unit-tested): the destination parser, where credentials come from, TLS policy, the
auth file's JSON, skopeo's argv and the sentence for each way a push fails. The thin part runs
skopeo through the runner.

Credentials never reach argv (the runner echoes it and `ps` shows it), the environment of the
child, a log or a record: EDGEFORGE_REGISTRY_USER / EDGEFORGE_REGISTRY_PASSWORD are written to a
temporary auth file (mode 600 in a private folder, deleted after the push); otherwise an existing
auth file is handed to skopeo (REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json, or skopeo's own
defaults: ${XDG_RUNTIME_DIR}/containers/auth.json, ~/.docker/config.json).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import re
import shlex
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from edgeforge.config import tag_version
from edgeforge.context import Context
from edgeforge.core import (
    CommandFailedError,
    RegistryError,
    Runner,
    ToolMissingError,
    UsageError,
    base_env,
    jsonfile,
    redact,
    statefile,
    write_json,
)
from edgeforge.deliver import CONTAINER_RECORD, oci, read_container_result

ENV_USER = "EDGEFORGE_REGISTRY_USER"
ENV_PASSWORD = "EDGEFORGE_REGISTRY_PASSWORD"
ENV_INSECURE = "EDGEFORGE_REGISTRY_INSECURE"
ENV_AUTHFILE = "REGISTRY_AUTH_FILE"
#: what skopeo may see besides the runner's usual variables: its default auth file's folder
#: and the proxies a registry may sit behind (never a password)
PASSTHROUGH = ("XDG_RUNTIME_DIR", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy",
               "http_proxy", "no_proxy")
RECORD_SUFFIX = ".push.json"
RETRIES = 2
PUSH_TIMEOUT = 3600
EXAMPLE = "127.0.0.1:5000/<app> or REGISTRY/team/<app>:1.0.0"

_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)"
                   r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*")
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


# ---- pure: the destination -----------------------------------------------------------------------
@dataclass(frozen=True)
class Destination:
    registry: str                    # host[:port], as the user wrote it: 127.0.0.1:5000
    repository: str                  # team/<app>
    tag: str | None = None           # None: the release's version

    @property
    def host(self) -> str:
        """The host without its port (and without an IPv6 address's brackets)."""
        if self.registry.startswith("["):
            return self.registry[1:].partition("]")[0]
        return self.registry.rsplit(":", 1)[0] if ":" in self.registry else self.registry

    @property
    def loopback(self) -> bool:
        if self.host.lower() == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def reference(self, tag: str) -> str:
        return f"{self.registry}/{self.repository}:{tag}"


def parse_destination(text: str) -> Destination:
    """`REGISTRY[:PORT]/REPO[:TAG]` (a leading `docker://` is allowed). The first part must be a
    registry host, as docker tells one: it has a port, a dot or is `localhost`."""
    raw = redact(text)  # a message never repeats a password given in it

    def bad(why: str) -> UsageError:
        return UsageError(f"--push {raw[:200]!r}: {why}; expected REGISTRY[:PORT]/REPO[:TAG], "
                          f"e.g. {EXAMPLE}")

    text = text.strip()
    text = text.removeprefix("docker://")
    if not text or any(c.isspace() or ord(c) < 32 for c in text):
        raise bad("empty, or white space or control characters in it")
    if "@" in text.split("/", 1)[0]:
        raise bad(f"credentials do not go into --push (they would stay in the shell's history "
                  f"and in `ps`); set {ENV_USER} and {ENV_PASSWORD}, or log in with "
                  "`skopeo login REGISTRY`")
    if "@" in text:
        raise bad("a digest (@sha256:...) names an image that exists; a push needs a tag "
                  "(or none: the release's version)")
    if "/" not in text:
        raise bad("no registry: the first part must be the registry's host")
    registry, rest = text.split("/", 1)
    ipv6 = registry.startswith("[")
    if ipv6:
        host, sep, after = registry[1:].partition("]")
        if not sep or (after and not after.startswith(":")):
            raise bad(f"{registry!r} is not an IPv6 address in brackets ([::1]:5000)")
        port = after[1:] if after else None
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise bad(f"{registry!r} is not an IPv6 address in brackets ([::1]:5000)") from None
    else:
        host, sep, port = registry.partition(":")
        port = port if sep else None
        if not _HOST.fullmatch(host):
            raise bad(f"{registry!r} is not a host name or address")
        if "." not in host and port is None and host != "localhost":
            raise bad(f"{registry!r} looks like a repository, not a registry host (a registry "
                      "has a port, a dot, or is localhost)")
    if port is not None and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        raise bad(f"port {port!r} of {registry!r} is not a number from 1 to 65535")
    tag = None
    last = rest.rsplit("/", 1)[-1]
    if ":" in last:
        rest, tag = rest.rsplit(":", 1)
        if not _TAG.fullmatch(tag):
            raise bad(f"tag {tag!r}: a tag is up to 128 letters, digits, '_', '.' and '-', "
                      "not starting with '.' or '-'")
    if not rest:
        raise bad("no repository after the registry")
    for part in rest.split("/"):
        if not _COMPONENT.fullmatch(part):
            lower = " (repository names are lower case)" if part.lower() != part else ""
            raise bad(f"repository {rest!r}: {part!r} is not a valid path component{lower}: "
                      "lower-case letters and digits, separated by '.', '_', '__' or '-'")
    if len(registry) + 1 + len(rest) > 255:
        raise bad("the name is longer than 255 characters")
    return Destination(registry, rest, tag)


def push_tag(dest: Destination, version: str) -> str:
    """The tag a push writes: the given one, else the release's version as a tag."""
    return dest.tag or tag_version(version)


# ---- pure: credentials and TLS -------------------------------------------------------------------
@dataclass(frozen=True)
class Credentials:
    source: str                                   # for messages: where they come from
    user: str | None = None                       # for messages; never the password
    password: str | None = field(default=None, repr=False)
    authfile: Path | None = None                  # an existing auth file handed to skopeo

    def describe(self) -> str:
        return f"user {self.user} ({self.source})" if self.user else self.source


def credentials(env: Mapping[str, str], registry: str) -> Credentials:
    """Where the push's credentials come from: EDGEFORGE_REGISTRY_USER + _PASSWORD, else an
    auth file (REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json), else skopeo's defaults."""
    user, password = env.get(ENV_USER) or None, env.get(ENV_PASSWORD) or None
    if user or password:
        if not (user and password):
            given, missing = (ENV_USER, ENV_PASSWORD) if user else (ENV_PASSWORD, ENV_USER)
            raise UsageError(f"{given} is set but {missing} is not: set both (or neither, to "
                             "use an auth file from `skopeo login` or `docker login`)")
        if any(ord(c) < 32 for c in user) or ":" in user:
            raise UsageError(f"{ENV_USER} holds a ':' or a control character; a registry user "
                             "name has neither")
        return Credentials(f"from {ENV_USER} and {ENV_PASSWORD}", user, password)
    for var, path in ((ENV_AUTHFILE, env.get(ENV_AUTHFILE)),
                      ("DOCKER_CONFIG", env.get("DOCKER_CONFIG") and
                       str(Path(env["DOCKER_CONFIG"]) / "config.json"))):
        if not path:
            continue
        p = Path(path).expanduser()
        if not p.is_file():
            if var == ENV_AUTHFILE:
                raise UsageError(f"{ENV_AUTHFILE}={path[:200]!r}: no such file; log in with "
                                 f"`skopeo login --authfile {path[:200]} {registry}`, or set "
                                 f"{ENV_USER} and {ENV_PASSWORD}")
            continue
        return Credentials(f"auth file {p} (from {var})", authfile_user(p, registry),
                           authfile=p)
    return Credentials("skopeo's default auth files (${XDG_RUNTIME_DIR}/containers/auth.json, "
                       "~/.docker/config.json)")


def authfile_user(path: Path, registry: str) -> str | None:
    """The user name an auth file holds for a registry (for messages), or None when it holds
    none for it (a credential helper's entry). Only the name before the ':' is kept; the rest
    is never looked at again. A file skopeo could not use either (not JSON, too large or deep,
    not {"auths": {REGISTRY: {"auth": BASE64}}}) is a UsageError naming it, before any build;
    the message never shows what the file holds."""
    fix = (f"fix: log in again with `skopeo login --authfile {path} {registry}`, or set "
           f"{ENV_USER} and {ENV_PASSWORD}")
    data = jsonfile.read(path, f"the auth file {path}", UsageError, fix=fix, limit=1 << 20)
    where, auth = "its top level", None
    if isinstance(data, dict):
        where, auths = "'auths'", data.get("auths") or {}
        if isinstance(auths, dict):
            where, entry = f"'auths.{registry}'", auths.get(registry) or {}
            if isinstance(entry, dict):
                where, auth = f"'auths.{registry}.auth'", entry.get("auth") or ""
    if not isinstance(auth, str):  # a number, a list, an object: never shown
        raise UsageError(f"the auth file {path}: {where} is not what skopeo and docker write "
                         f"({{\"auths\": {{\"{registry}\": {{\"auth\": \"BASE64 of USER:PASSWORD\""
                         f"}}}}}}); {fix}")
    try:
        return base64.b64decode(auth).decode().split(":", 1)[0] or None
    except (ValueError, UnicodeDecodeError):  # binascii.Error is a ValueError
        raise UsageError(f"the auth file {path}: 'auths.{registry}.auth' is not base64 of "
                         f"USER:PASSWORD; {fix}") from None


def tls_verify(dest: Destination, env: Mapping[str, str]) -> bool:
    """Verified TLS, except for a loopback registry (plain HTTP allowed, as docker does) or
    when EDGEFORGE_REGISTRY_INSECURE=1 asks for it explicitly."""
    value = env.get(ENV_INSECURE, "").strip().lower()
    if value not in ("", "0", "1", "false", "true", "no", "yes"):
        raise UsageError(f"{ENV_INSECURE}={value[:40]!r}: expected 1 (push without TLS "
                         "verification, plain HTTP allowed) or 0")
    return not (dest.loopback or value in ("1", "true", "yes"))


def auth_json(registry: str, user: str, password: str) -> bytes:
    """A containers auth file holding one registry's credentials."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return json.dumps({"auths": {registry: {"auth": token}}}).encode()


@contextmanager
def private_authfile(creds: Credentials, registry: str) -> Iterator[Path | None]:
    """The auth file skopeo gets: the user's own, or one written from the environment's
    credentials into a private folder (0700, the file 0600) that is deleted afterwards."""
    if creds.password is None:
        yield creds.authfile
        return
    assert creds.user is not None
    folder = Path(tempfile.mkdtemp(prefix="edgeforge-auth-"))  # mode 0700
    try:
        path = folder / "auth.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(auth_json(registry, creds.user, creds.password))
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def copy_argv(source: str, dest_ref: str, *, all_images: bool, tls_verify: bool,
              authfile: Path | None, digestfile: Path) -> list[str]:
    """skopeo's command line: digests preserved (the registry must hold exactly what the release
    recorded), every platform's image with an index, a file to read the pushed digest from."""
    return ["skopeo", "copy", "--preserve-digests", f"--retry-times={RETRIES}",
            *(["--all"] if all_images else []),
            f"--dest-tls-verify={'true' if tls_verify else 'false'}",
            *(["--dest-authfile", str(authfile)] if authfile else []),
            "--digestfile", str(digestfile), source, f"docker://{dest_ref}"]


# ---- pure: what a failure means ------------------------------------------------------------------
_UNREACHABLE = ("i/o timeout", "deadline exceeded", "network is unreachable", "no route to host",
                "connection reset", "TLS handshake timeout")


def explain_failure(output: str, dest: Destination, creds: Credentials, tls: bool) -> str | None:
    """A sentence with a fix for a failed push, from skopeo's output; None when unknown."""
    reg, low = dest.registry, output.lower()
    # status codes as words only: a digest's hex digits may hold "401" too
    if "unauthorized" in low or "authentication required" in low or re.search(r"\b401\b", low):
        if creds.user:
            fix = (f"check {ENV_USER} and {ENV_PASSWORD}" if creds.password else
                   f"log in again: skopeo login --authfile {creds.authfile} {reg}")
            return (f"registry {reg} refused the credentials for user {creds.user} "
                    f"({creds.source}); fix: {fix}")
        return (f"registry {reg} asks for credentials and {creds.source} hold none for it; fix: "
                f"set {ENV_USER} and {ENV_PASSWORD}, or log in with `skopeo login {reg}`")
    if ("denied: " in low or "requested access to the resource is denied" in low
            or re.search(r"\b403\b", low)):
        return (f"registry {reg} denied {creds.user or 'the anonymous user'} pushing to "
                f"{dest.repository}; fix: ask its administrator for push rights on "
                f"{dest.repository}, or push to a repository you own")
    if "server gave http response to https client" in low:
        return (f"registry {reg} speaks plain HTTP; edgeforge uses plain HTTP only for loopback "
                "registries (127.0.0.1, localhost, ::1); fix: serve the registry over TLS, or "
                f"set {ENV_INSECURE}=1 to push without TLS (the credentials travel unprotected)")
    if "x509:" in low or "certificate" in low:
        return (f"registry {reg}'s TLS certificate is not trusted here; fix: put its CA "
                f"certificate in /etc/containers/certs.d/{reg}/ca.crt, or set {ENV_INSECURE}=1 "
                "to skip verification")
    if "connection refused" in low:
        return (f"cannot reach registry {reg}: connection refused (nothing listens there); "
                "fix: check the host and port, and that the registry is running")
    if "no such host" in low or "server misbehaving" in low:
        return (f"cannot reach registry {reg}: the host name {dest.host} does not resolve; "
                "fix: check its spelling and this machine's DNS")
    for what in _UNREACHABLE:
        if what.lower() in low:
            return (f"cannot reach registry {reg} ({what}); fix: check the network, a proxy "
                    "(HTTPS_PROXY, NO_PROXY) or a firewall")
    if "manifest invalid" in low or "manifest_invalid" in low or "unsupported" in low:
        return (f"registry {reg} does not accept the release's OCI image manifest or index; "
                "fix: push to a registry that supports the OCI image format (Distribution "
                "2.7 or later and most hosted registries do)")
    return None


def last_message(tail: list[str]) -> str:
    """skopeo's fatal message without its log prefix (time=... level=fatal msg="...")."""
    for line in reversed(tail):
        m = re.search(r'level=fatal msg="(.*)"\s*$', line)
        if m:
            return m.group(1).replace('\\"', '"')[:500]
    return (tail[-1] if tail else "")[:500]


# ---- what is pushed ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Source:
    what: str                        # "the jetson-nx image (linux/arm64)"
    layout: Path                     # the OCI layout folder
    ref: str                         # the ref name inside the layout
    digest: str                      # the manifest's (or index's) digest the registry must hold
    version: str
    index: bool                      # an image index: push every platform's image (--all)
    record: Path                     # where the push is recorded
    platforms: tuple[tuple[str, str], ...] = ()   # an index's (platform, manifest digest)

    @property
    def oci_ref(self) -> str:
        return f"oci:{self.layout}:{self.ref}"


def release_source(folder: Path) -> Source:
    """The container image of a board's release folder (dist/<board>/<app>/<version>/)."""
    folder = Path(folder)
    if not (folder / CONTAINER_RECORD).is_file():
        raise UsageError(f"no release with a container image at {folder} ({CONTAINER_RECORD} is "
                         "missing); run `invoke release --board BOARD --version VERSION` first")
    r = read_container_result(folder)
    if not (r.oci_layout / "index.json").is_file():
        raise UsageError(f"the release {folder} has no OCI layout {r.oci_layout.name}; release "
                         "it again with `invoke release`")
    return Source(f"the {r.board} image ({r.platform})", r.oci_layout,
                  f"{tag_version(r.version)}-{r.board}", r.manifest_digest, r.version,
                  index=False, record=folder.with_name(folder.name + RECORD_SUFFIX))


def index_source(folder: Path) -> Source:
    """The multi-board image index of dist/index/<app>/<version>/ (pipeline.release_index)."""
    folder = Path(folder)
    layouts = sorted(p for p in folder.glob("*.oci") if (p / "index.json").is_file())
    if len(layouts) != 1:
        raise UsageError(f"no multi-board image index in {folder}; run `invoke release` with "
                         "several --board options first")
    layout = layouts[0]
    top = _read_json(layout / "index.json")
    entry = next((m for m in top.get("manifests", []) if m.get("mediaType") == oci.MEDIA_INDEX),
                 None)
    if entry is None:
        raise UsageError(f"{layout}/index.json names no image index")
    index = _read_json(oci.Layout(layout).blob_path(entry["digest"]))
    platforms = tuple(("/".join(p for p in (m["platform"].get("os"),
                                            m["platform"].get("architecture"),
                                            m["platform"].get("variant")) if p), m["digest"])
                      for m in index.get("manifests", []) if m.get("platform"))
    return Source("the image index (" + ", ".join(p for p, _ in platforms) + ")", layout,
                  entry["annotations"][oci.REF_NAME], entry["digest"], folder.name, index=True,
                  record=folder.with_name(folder.name + RECORD_SUFFIX), platforms=platforms)


def _read_json(path: Path) -> dict[str, Any]:
    data = jsonfile.read(Path(path), error=UsageError, fix="release again with `invoke release`")
    if not isinstance(data, dict):
        raise UsageError(f"{path} is not a JSON object; release again with `invoke release`")
    return data


# ---- the push ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PushTarget:
    """A checked destination with its credentials and TLS policy: made before anything is
    built, so a mistake costs nothing."""

    dest: Destination
    creds: Credentials
    tls: bool

    def describe(self, source: str) -> str:
        tls = ("TLS verified" if self.tls else
               "plain HTTP allowed (loopback)" if self.dest.loopback else
               f"TLS NOT verified ({ENV_INSECURE}=1)")
        tag = self.dest.tag or "<the release version>"
        return (f"then push {source} to {self.dest.reference(tag)} ({tls}; credentials: "
                f"{self.creds.describe()})")


def prepare(text: str, env: Mapping[str, str] | None = None) -> PushTarget:
    env = os.environ if env is None else env
    dest = parse_destination(text)
    if shutil.which("skopeo", path=base_env().get("PATH")) is None:
        raise ToolMissingError("skopeo not found (needed by invoke release --push); fix: "
                               "apt-get install skopeo, or invoke setup")
    return PushTarget(dest, credentials(env, dest.registry), tls_verify(dest, env))


@dataclass(frozen=True)
class Pushed:
    reference: str                   # REGISTRY/REPO:TAG
    digest: str                      # sha256:...

    @property
    def pinned(self) -> str:
        """The pull reference by digest: REGISTRY/REPO@sha256:..."""
        return f"{self.reference.rsplit(':', 1)[0]}@{self.digest}"


def skopeo_env() -> dict[str, str]:
    return base_env({k: os.environ[k] for k in PASSTHROUGH if k in os.environ})


def push(ctx: Context, target: PushTarget, source: Source, runner: Runner) -> Pushed:
    """Copy the source's layout to the registry; check the registry holds the release's digest;
    record it beside the release."""
    dest, reporter = target.dest, ctx.reporter
    ref = dest.reference(push_tag(dest, source.version))
    if not target.tls and not dest.loopback:
        reporter.warn(f"pushing to {dest.registry} without TLS verification ({ENV_INSECURE}=1): "
                      "the credentials and the image can be read or changed on the way")
    read_record(source)  # a record that could not be added to stops the push before it starts
    work = Path(tempfile.mkdtemp(prefix="edgeforge-push-"))
    try:
        with reporter.step(f"pushing {source.what} to {ref} ({target.creds.describe()})"), \
                private_authfile(target.creds, dest.registry) as authfile:
            argv = copy_argv(source.oci_ref, ref, all_images=source.index, tls_verify=target.tls,
                             authfile=authfile, digestfile=work / "digest")
            try:
                runner.run(argv, what=f"push {source.what} to {ref}", env=skopeo_env(),
                           timeout=PUSH_TIMEOUT, needed_by="invoke release --push")
            except CommandFailedError as exc:
                said = last_message(exc.tail)
                why = explain_failure("\n".join(exc.tail), dest, target.creds, target.tls)
                if why is None:
                    raise
                raise RegistryError(f"{why}\n  skopeo: {said}\n  full log: {exc.log_path}") \
                    from None
            digest = (work / "digest").read_text().strip() if (work / "digest").is_file() else ""
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if digest != source.digest:
        raise RegistryError(f"registry {dest.registry} holds {ref} as {digest or 'nothing'}, not "
                            f"the release's {source.digest}; the push did not keep the "
                            "release's bytes")
    pushed = Pushed(ref, digest)
    record(source, pushed)
    reporter.info(f"pushed {source.what}: {pushed.reference}")
    for platform, d in source.platforms:
        reporter.info(f"  {platform}: {pushed.reference.rsplit(':', 1)[0]}@{d}")
    reporter.info(f"pull by digest: {pushed.pinned}")
    return pushed


#: a content digest as the registry and the release name it
DIGEST = r"^sha256:[0-9a-f]{64}$"


class PushEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    digest: str = Field(pattern=DIGEST)
    source: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._+~-]*$")   # the layout's folder name
    index: bool
    platforms: dict[str, str]

    @field_validator("platforms")
    @classmethod
    def _platforms(cls, value: dict[str, str]) -> dict[str, str]:
        for platform, digest in value.items():
            if not re.fullmatch(r"[a-z0-9]+(/[a-z0-9._-]+){1,2}", platform) or \
                    not re.fullmatch(DIGEST, digest):
                raise ValueError(f"not a platform and its digest: {platform!r}: {digest!r}")
        return value


class PushRecord(BaseModel):
    """<release>.push.json: where the release was pushed, and the digests the registry holds."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    schema_version: Literal[1]
    version: str
    pushes: dict[str, PushEntry]

    @field_validator("pushes")
    @classmethod
    def _references(cls, value: dict[str, PushEntry]) -> dict[str, PushEntry]:
        for ref in value:
            if not re.fullmatch(r"[A-Za-z0-9._:\[\]-]+(/[a-z0-9._-]+)+:[A-Za-z0-9_][A-Za-z0-9._-]{0,127}",
                                ref):
                raise ValueError(f"not a pushed reference REGISTRY/REPO:TAG: {ref[:80]!r}")
        return value


def read_record(source: Source) -> PushRecord | None:
    """The release's push record (None: never pushed); one edgeforge did not write is refused."""
    path = source.record
    fix = (f"Delete it (rm {shlex.quote(str(path))}): it is only a note of earlier pushes, the "
           "registry keeps the images; then push again")
    rec = statefile.load(path, PushRecord, fix)
    if rec is not None and rec.version != source.version:
        raise statefile.refused(path, f"version {rec.version!r}, but the release is "
                                f"{source.version}", fix)
    return rec


def record(source: Source, pushed: Pushed) -> Path:
    """Add the push to <release>.push.json (one entry per reference; no credentials)."""
    path = source.record
    earlier = read_record(source)
    pushes = {ref: e.model_dump() for ref, e in earlier.pushes.items()} if earlier else {}
    # parse_destination refuses user info; redacted all the same: a record is never a secret's
    pushes[redact(pushed.reference)] = {"digest": pushed.digest, "source": source.layout.name,
                                        "index": source.index,
                                        "platforms": {p: d for p, d in source.platforms}}
    write_json(path, {"schema_version": 1, "version": source.version, "pushes": pushes})
    return path
