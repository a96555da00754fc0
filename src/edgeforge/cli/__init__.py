"""cli: invoke tasks, one module per wing; each task parses its options and calls the library.

`ns` is the collection tasks.py hands to invoke; `program.main` is the entry script's way in
(it also takes the older spellings `remote add NAME URL`, `cache push`, a lone `test`)."""

from invoke import Collection

from . import build, debug, deliver, device, host, team
from ._common import STATE, bug_report, handled, terminated

ns = Collection(
    # host and toolchain
    host.setup, host.doctor, host.boards, host.sysroot, host.toolchain, host.schema,
    # build
    build.build, build.deps, build.sources, build.test, build.native, build.sample, build.run,
    build.gate, build.new_app,
    # deliver, device, debug
    deliver.release, deliver.sdk, device.image, device.vm, device.deploy, debug.debug,
    # team
    team.ci, team.suite, team.remote, team.cache,
)
ns.configure({"run": {"echo": True}})

__all__ = ["STATE", "bug_report", "handled", "ns", "terminated"]
