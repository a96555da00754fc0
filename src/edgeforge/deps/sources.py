"""The content-addressed source mirror: every archive a recipe pins, by sha256, offline.

Layout: <cache>/sources/s/<sha256>, which is the layout of Conan's download cache
(`core.sources:download_cache`), so Conan's `get()` finds each archive there and never goes
online. The mirror is filled from Debian's source archive (`apt-get source --download-only`,
the `debian:` entry next to each pin in conandata.yml) or, for users with internet access, from
the upstream URL. Every archive is verified against its pin before any build starts.

A team shares its mirror by serving the folder (<cache>/sources) with any static file server:
with EDGEFORGE_SOURCE_MIRROR_URL set, a missing archive is fetched from <URL>/s/<sha256> first.
What the server sends is verified against the pin before it enters the mirror; a server that
sends other bytes, or cannot be reached, stops the run (no quiet fallback: the team chose that
server). A server that answers 404 lacks the archive: it is fetched from Debian or upstream.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edgeforge.config import recipes as recipedata
from edgeforge.context import Context
from edgeforge.core import (
    RemoteError,
    Runner,
    SourceError,
    base_env,
    base_url_from_env,
    checksum_mismatch,
    download,
    file_lock,
    join_url,
    sha256_file,
)

MIRROR_URL_VAR = "EDGEFORGE_SOURCE_MIRROR_URL"
MIRROR_LAYOUT = "the source mirror's s/<sha256> files (a copy of ~/.cache/edgeforge/sources)"


@dataclass(frozen=True)
class Pin:
    recipe: str
    version: str
    sha256: str
    urls: tuple[str, ...]
    debian_package: str | None = None
    debian_version: str | None = None
    debian_file: str | None = None

    @property
    def name(self) -> str:
        if self.debian_file:
            return self.debian_file
        return self.urls[0].rsplit("/", 1)[-1].split(":")[-1] if self.urls else self.sha256

    def describe(self) -> str:
        return f"{self.recipe}/{self.version} {self.name}"


def load_pins(recipes_dir: Path, names: list[str] | None = None) -> list[Pin]:
    pins: list[Pin] = []
    for conandata in sorted(recipes_dir.glob("*/conandata.yml")):
        recipe = conandata.parent.name
        if names is not None and recipe not in names:
            continue
        for version, pin in recipedata.conandata(recipes_dir, recipe).pins():
            deb = pin.debian
            pins.append(Pin(recipe, version, pin.sha256, pin.urls,
                            deb.package if deb else None, deb.version if deb else None,
                            deb.file if deb else None))
    return pins


def recipe_version(recipes_dir: Path, recipe: str) -> str:
    return recipedata.conandata(recipes_dir, recipe).version


def mirror_dir(ctx: Context) -> Path:
    return ctx.mirror_dir


def mirror_path(ctx: Context, pin: Pin) -> Path:
    return mirror_dir(ctx) / "s" / pin.sha256


@dataclass(frozen=True)
class MirrorState:
    pin: Pin
    path: Path
    present: bool


def status(ctx: Context, pins: list[Pin]) -> list[MirrorState]:
    return [MirrorState(p, mirror_path(ctx, p), mirror_path(ctx, p).is_file()) for p in pins]


def verify(ctx: Context, pins: list[Pin]) -> None:
    """Every pinned archive is present and matches its sha256, or nothing builds."""
    problems = []
    for st in status(ctx, pins):
        if not st.present:
            problems.append(f"{st.pin.describe()}: not in the mirror ({st.path}); run "
                            "`invoke sources`")
            continue
        problem = checksum_mismatch(st.path, st.pin.sha256, f"{st.pin.describe()} in the mirror",
                                    "delete the file and run `invoke sources`")
        if problem:
            problems.append(problem)
    if problems:
        raise SourceError("source mirror check failed:\n  " + "\n  ".join(problems))


def shared_url(base: str, sha256: str) -> str:
    """Where a team's mirror serves an archive: the same layout as the local mirror."""
    return join_url(base, "s", sha256)


def fill(ctx: Context, pins: list[Pin], runner: Runner | None = None) -> list[str]:
    """Fetch what the mirror lacks. Returns a line per archive fetched."""
    runner = runner or ctx.runner()
    team = base_url_from_env(MIRROR_URL_VAR, MIRROR_LAYOUT)  # checked before anything runs
    fetched = []
    dest_dir = mirror_dir(ctx) / "s"
    dest_dir.mkdir(parents=True, exist_ok=True)
    for pin in pins:
        dest = mirror_path(ctx, pin)
        if dest.is_file():
            continue
        with file_lock(mirror_dir(ctx) / f".{pin.sha256}.lock"):
            if dest.is_file():
                continue
            with ctx.reporter.step(f"fetching {pin.describe()}"):
                tmp = Path(tempfile.mkdtemp(prefix=".fetch-", dir=mirror_dir(ctx)))
                try:
                    got, origin = _fetch(ctx, pin, tmp, runner, team)
                    problem = checksum_mismatch(
                        got, pin.sha256, pin.describe(), f"the pin in recipes/{pin.recipe}/"
                        "conandata.yml or the archive is wrong")
                    if problem:
                        raise SourceError(problem)
                    os.replace(got, dest)
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
            fetched.append(f"{pin.describe()} from {origin} -> {dest}")
    return fetched


def _fetch(ctx: Context, pin: Pin, tmp: Path, runner: Runner,
           team: str | None = None) -> tuple[Path, str]:
    """The archive, downloaded into `tmp`, and where it came from."""
    if team:
        url = shared_url(team, pin.sha256)
        got = _from_team_mirror(pin, url, tmp)
        if got:
            return got, f"the team mirror ({url})"
        ctx.reporter.info(f"{pin.describe()} is not on the team mirror ({url}: HTTP 404); "
                          "fetching it from Debian's source archive or upstream")
    errors = []
    if pin.debian_package and pin.debian_version and pin.debian_file:
        r = runner.run(
            ["apt-get", "source", "--download-only", "-q",
             f"{pin.debian_package}={pin.debian_version}"],
            what=f"apt-get source {pin.debian_package}", cwd=tmp, env=base_env(),
            check=False, log_name=f"apt-source-{pin.debian_package}",
        )
        got = tmp / pin.debian_file
        # the orig tarball can arrive even when another file of the source package 404s
        if got.is_file():
            return got, f"apt-get source {pin.debian_package}={pin.debian_version}"
        errors.append(f"apt-get source {pin.debian_package}={pin.debian_version} "
                      f"(exit {r.returncode}; deb-src entries enabled? `invoke setup` does it; "
                      f"log: {r.log_path})")
    for url in pin.urls:
        if not url.startswith(("http://", "https://")):
            continue
        try:
            got = download(url, tmp / url.rsplit("/", 1)[-1], pin.describe())
            assert got is not None
            return got, url
        except SourceError as exc:
            errors.append(exc.message)
    raise SourceError(f"cannot fetch {pin.describe()}: " + "; ".join(errors or ["no source given"]))


def _from_team_mirror(pin: Pin, url: str, tmp: Path) -> Path | None:
    """The archive from the team's mirror, verified against its pin; None on a 404."""
    try:
        got = download(url, tmp / pin.sha256, pin.describe(), missing_ok=True)
    except SourceError as exc:
        raise RemoteError(unreachable_message(exc.message)) from None
    if got is None:
        return None
    actual = sha256_file(got)
    if actual != pin.sha256.lower():
        raise SourceError(lying_mirror_message(pin, url, actual))
    return got


def unreachable_message(problem: str) -> str:
    return (f"the team's source mirror ({MIRROR_URL_VAR}) did not answer: {problem}; nothing "
            "was added to the mirror. Fix: start the file server or correct the URL; or unset "
            f"{MIRROR_URL_VAR} to fetch the archives from Debian's source archive and upstream")


def lying_mirror_message(pin: Pin, url: str, actual: str) -> str:
    return (f"the team's source mirror sent the wrong file for {pin.describe()}: {url} "
            f"({MIRROR_URL_VAR}) has sha256 {actual}, expected {pin.sha256} (the pin in "
            f"recipes/{pin.recipe}/conandata.yml); it was not added to the mirror. Fix: replace "
            f"s/{pin.sha256} on the server with a verified copy (`sha256sum` must print that "
            f"name), or unset {MIRROR_URL_VAR} to fetch the archive from Debian or upstream")

