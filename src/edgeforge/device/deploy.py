"""`invoke deploy`: install the board's current package on a running device over SSH.

The package is copied to the device, then one script runs there as a transient systemd unit
(started by `systemd-run`, then waited for by a second SSH session; the script removes its
package and itself when it ends), so an SSH connection that drops does not stop it half way
(tested: the deploy's connection cut during a 20 s postinst, the install completes). The script
first asks apt whether the package can be installed at all (architecture, Depends) and changes
nothing when it cannot. It then installs with apt; if that fails it puts the previous package
back (kept on the device from the last good install, or from the image), and restarts the app's
enabled instances either way. Only a package that installed and whose instances came back is
kept as the next rollback point. The report shows each instance's state and the app's
--version from the device.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from edgeforge.core import DeviceError, Runner, UsageError

from .ssh import SshTarget, ssh_run

KEEP_DIR = "/var/lib/edgeforge/deploy"      # <package>/previous.deb: its last good package
REMOTE_OUT = "/tmp/edgeforge-deploy.out"     # what the install script said (its unit's stdout)


@dataclass(frozen=True)
class Installed:
    """What the app's .deb puts on a device: its package name (its installer file's), its main
    program (install.prefix and install.programs of its descriptor) and the names of its
    services' template units (<name>@<instance>.service)."""

    package: str
    program: str                  # e.g. /opt/<app>/bin/<program>
    services: tuple[str, ...]

    @property
    def program_name(self) -> str:
        return PurePosixPath(self.program).name


#: runs on the device as root: $1 the new .deb; exit 0 installed, 3 refused (nothing changed),
#: 4 install failed and the previous package was put back (`remote_script` fills it in)
_REMOTE_SCRIPT = r"""#!/bin/sh
set -u
new=$1
# the script removes its package and itself when it ends: a client whose connection dropped
# must not take them away while it runs
trap 'rm -f "$new" "$0"' EXIT
keep=__KEEP__
export DEBIAN_FRONTEND=noninteractive
__UNITS__
if ! apt-get install -y --simulate --no-install-recommends "$new" \
    >/tmp/edgeforge-deploy.sim 2>&1; then
  echo "edgeforge-deploy: refused, nothing changed: apt cannot install $(basename "$new"):"
  tail -n 5 /tmp/edgeforge-deploy.sim
  exit 3
fi
restart() {
  for u in $(printf '%s\n%s\n' "$instances" "$enabled" | sort -u); do
    [ -n "$u" ] && systemctl restart "$u" || true
  done
}
if apt-get install -y --allow-downgrades --no-install-recommends "$new" \
    >/tmp/edgeforge-deploy.log 2>&1; then
  mkdir -p "$keep" && cp "$new" "$keep/previous.deb.new" \
    && mv "$keep/previous.deb.new" "$keep/previous.deb"
  restart
  echo "edgeforge-deploy: installed $(basename "$new")"
  exit 0
fi
echo "edgeforge-deploy: install failed:"
tail -n 8 /tmp/edgeforge-deploy.log
if [ -f "$keep/previous.deb" ]; then
  dpkg --remove --force-remove-reinstreq __PACKAGE__ >/dev/null 2>&1 || true
  if apt-get install -y --allow-downgrades --no-install-recommends "$keep/previous.deb" \
      >/tmp/edgeforge-deploy.rollback 2>&1; then
    echo "edgeforge-deploy: the previous package is back"
  else
    echo "edgeforge-deploy: rollback failed too:"; tail -n 5 /tmp/edgeforge-deploy.rollback
  fi
else
  echo "edgeforge-deploy: no previous package kept in $keep to roll back to"
fi
restart
exit 4
"""


def remote_script(package: str, services: tuple[str, ...]) -> str:
    """The install script for the package `package` whose template units are `services`
    (their instances are restarted; none: nothing to restart)."""
    if services:
        units = " ".join(shlex.quote(f"{s}@*.service") for s in services)
        lines = (f"instances=$(systemctl list-units --all --plain --no-legend {units} \\\n"
                 "  | awk '{print $1}')\n"
                 f"enabled=$(systemctl list-unit-files --plain --no-legend {units} 2>/dev/null "
                 "\\\n  | awk '$2==\"enabled\"{print $1}')")
    else:
        lines = "instances=\nenabled="
    # each package its own rollback point: apps of one device never roll back to another's
    return (_REMOTE_SCRIPT.replace("__UNITS__", lines)
            .replace("__KEEP__", shlex.quote(f"{KEEP_DIR}/{package}"))
            .replace("__PACKAGE__", shlex.quote(package)))


def deploy(package: Path, target: SshTarget, runner: Runner, app: Installed, *,
           identity: Path | None = None, known_hosts: Path | None = None,
           reporter=None) -> dict:
    """Copy, install (or roll back), restart; returns {"installed", "version", "instances"}."""
    if package.suffix != ".deb":
        raise UsageError(f"{package.name}: deploy installs .deb packages (the device needs dpkg)")
    remote_deb = f"/tmp/edgeforge-deploy-{package.name}"
    remote_sh = "/tmp/edgeforge-deploy.sh"
    base = target.argv(identity, known_hosts)

    def ssh(command: list[str], what: str, stdin: bytes | None = None, check: bool = True):
        # without input, ssh reads the caller's stdin (as it always has here)
        r = ssh_run(runner, base, " ".join(shlex.quote(w) for w in command), what=what,
                    input=stdin, attach_stdin=True, timeout=1800)
        if check and r.returncode != 0:
            raise DeviceError(f"{what} on {target.host} failed (exit {r.returncode}): "
                                 f"{r.stderr.decode(errors='replace').strip()[-800:]}")
        return r

    runner.which("ssh", "invoke deploy")
    ssh(["sh", "-c", 'cat > "$1"', "sh", remote_deb], "copying the package",
        stdin=package.read_bytes())
    ssh(["sh", "-c", 'cat > "$1"', "sh", remote_sh], "copying the install script",
        stdin=remote_script(app.package, app.services).encode())
    sudo = [] if target.user == "root" else ["sudo", "-n"]
    # started, then waited for by a second session (not `systemd-run --wait`, whose client
    # holds a reference on the unit): the unit runs to its end whatever the sessions do
    ssh([*sudo, "rm", "-f", REMOTE_OUT], "clearing the last output", check=False)
    r = ssh([*sudo, "systemd-run", "--quiet", "--collect", "--unit", "edgeforge-deploy",
             "--property", f"StandardOutput=file:{REMOTE_OUT}", "/bin/sh", remote_sh,
             remote_deb], "installing", check=False)
    out = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
    if r.returncode == 0:
        w = ssh(["sh", "-c", "while systemctl is-active -q edgeforge-deploy; do sleep 1; done; "
                 f"cat {REMOTE_OUT}"], "waiting for the install", check=False)
        out += w.stdout.decode(errors="replace") + w.stderr.decode(errors="replace")
    # (the script removes them itself; these are left only when its unit never started)
    ssh(["sh", "-c", 'systemctl is-active -q edgeforge-deploy || rm -f "$0" "$1"', remote_deb,
         remote_sh], "cleaning up", check=False)
    if r.returncode != 0 and out.lstrip().startswith("sudo:"):
        raise DeviceError(f"{target.user}@{target.host} may not run sudo without a password: "
                             "deploy as root or give the user passwordless sudo "
                             "(device.yaml: login.sudo: true)")
    status = report(ssh, app)
    if "edgeforge-deploy: installed" not in out:
        if "edgeforge-deploy: refused" in out:
            raise DeviceError(f"deploy refused, nothing changed on {target.host}:\n"
                                 f"{out.strip()[-1500:]}")
        raise DeviceError(f"deploy of {package.name} failed on {target.host}; the device "
                          f"has {app.package} {status['package'] or 'not installed'}:\n"
                          f"{out.strip()[-1500:]}")
    return {"installed": package.name, **status}


def report(ssh, app: Installed) -> dict:
    r = ssh([app.program, "--version"], f"{app.program_name} --version", check=False)
    version = r.stdout.decode(errors="replace").splitlines()[0] if r.returncode == 0 and \
        r.stdout else None
    r = ssh(["dpkg-query", "-W", "-f=${Version} ${Status}", app.package], "dpkg-query",
            check=False)
    package = r.stdout.decode(errors="replace").strip() if r.returncode == 0 else None
    instances = {}
    if not app.services:
        return {"version": version, "package": package, "instances": instances}
    r = ssh(["systemctl", "list-units", "--all", "--plain", "--no-legend",
             *(f"{s}@*.service" for s in app.services)], "listing the instances", check=False)
    for line in r.stdout.decode(errors="replace").splitlines():
        unit = line.split()[0] if line.split() else ""
        if unit:
            s = ssh(["systemctl", "show", "-p", "ActiveState", "-p", "Result", unit],
                    "instance state", check=False).stdout.decode().split()
            instances[unit] = ", ".join(sorted(s))
    return {"version": version, "package": package, "instances": instances}
