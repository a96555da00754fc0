"""The system libraries an app takes from the board's sysroot (`system_libraries` in its
app.yaml), pure: a Debian sysroot's package list gets them (sorted, after the descriptor's own);
a tarball or directory sysroot, which has no package list, must already hold them, as its dpkg
status says.

Nothing added (no app lists a package the descriptor does not): the descriptor is returned as
it is, so the sysroot's key, folder and stamp are the ones it had before apps could add any."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from edgeforge.config import APP_FILE, App, DebianSysroot, DirectorySysroot, Loaded


# ---- a Debian sysroot's package list -------------------------------------------------------------
def app_packages(apps: Iterable[App]) -> tuple[str, ...]:
    """The Debian packages the apps take from the board's sysroot (their `system_libraries`),
    sorted, each once."""
    return tuple(sorted({p for a in apps for p in a.spec.system_libraries}))


def with_packages(spec: Any, extra: Iterable[str]) -> Any:
    """A Debian sysroot's descriptor with the packages of `extra` it does not list yet added
    after its own, sorted; any other kind (no package list) as it is. Nothing new: the very
    same descriptor, so its key, its folder and its stamp stay as they were."""
    if not isinstance(spec, DebianSysroot):
        return spec
    new = sorted(set(extra) - set(spec.packages))
    return spec.model_copy(update={"packages": (*spec.packages, *new)}) if new else spec


# ---- a vendor tree ------------------------------------------------------------------------------
DPKG_STATUS = "var/lib/dpkg/status"


def installed_packages(text: str) -> frozenset[str]:
    """The packages a dpkg status file says are installed ("Status: ... installed")."""
    found = set()
    for stanza in re.split(r"\n[ \t]*\n", text):
        fields = dict(re.findall(r"^([A-Za-z-]+):[ \t]*(.*)$", stanza, flags=re.M))
        if fields.get("Package") and fields.get("Status", "").split()[-1:] == ["installed"]:
            found.add(fields["Package"].strip())
    return frozenset(found)


def system_library_problems(loaded: Loaded, srel: str, apps: Iterable[App],
                            status: str | None) -> list[str]:
    """A sentence for each app whose `system_libraries` the imported (tarball or directory)
    sysroot does not hold; `status`: the text of its dpkg status (None: it has none)."""
    spec = loaded.spec
    sysroot = f"sysroot {loaded.name} ({srel}, kind '{spec.kind}')"
    installed = installed_packages(status) if status is not None else frozenset()
    problems = []
    for app in apps:
        missing = [p for p in app.spec.system_libraries if p not in installed]
        if not missing:
            continue
        names = ", ".join(missing)
        if status is None:
            about = f"{names} cannot be checked: {sysroot} has no {DPKG_STATUS}"
            add = f"add {names} to the vendor tarball, with its dpkg status ({DPKG_STATUS})"
        else:
            verb = "are" if len(missing) > 1 else "is"
            about = f"{names} {verb} not installed in {sysroot}, says its {DPKG_STATUS}"
            add = f"add {names} to the vendor tarball"
        if isinstance(spec, DirectorySysroot):
            add = (f"install {names} on the device the tree was copied from ({spec.path}) and "
                   "copy the tree again")
        problems.append(f"key 'system_libraries' in {app.rel}/{APP_FILE}: {about}; fix: use a "
                        "Debian sysroot (kind: debian), which installs an app's system libraries, "
                        f"or {add}")
    return problems
