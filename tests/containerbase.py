"""A container base image made from a board's stand-in Debian suite, for the tests that put
the container image on a base (tests/integration/test_container.py): mmdebstrap
--variant=minbase, no extra packages, written as an OCI layout by edgeforge's own writer, like a
vendor's base, made from what is reachable. Built once into <cache>/images/ by the shared
cached-tree helper (aside, under a lock, renamed in) and reused."""

from __future__ import annotations

from pathlib import Path

from edgeforge.config import DebianSysroot, Target, sysroot_json
from edgeforge.context import Context
from edgeforge.core import (
    CACHED_TREE_EPOCH,
    HostSetupError,
    Runner,
    UsageError,
    base_env,
    cached_tree,
    canonical_hash,
)
from edgeforge.deliver.oci import layout as oci
from edgeforge.deliver.oci.image import DEFAULT_PATH
from edgeforge.host import debian_mirror, require_binfmt
from edgeforge.toolchain import mmdebstrap_argv


def stand_in_base(ctx: Context, target: Target, runner: Runner) -> Path:
    """An OCI layout of the board's stand-in Debian suite (mmdebstrap --variant=minbase, no
    extra packages): <cache>/images/debian-<suite>-<arch>-minbase-<key>.oci."""
    spec = target.sysroot.spec
    if not isinstance(spec, DebianSysroot):
        raise UsageError(f"the sysroot of {target.name} ({target.sysroot.name}) is not made from "
                         "a Debian suite: there is no stand-in suite to make a base image from")
    spec = spec.model_copy(update={"packages": (), "variant": "minbase"})
    key = canonical_hash({"format": 1, "spec": sysroot_json(spec)})[:16]
    final = ctx.cache_dir / "images" / f"debian-{spec.suite}-{spec.arch.value}-minbase-{key}.oci"

    def build(work: Path) -> Path:
        mirror = debian_mirror()
        if not mirror:
            raise HostSetupError("cannot tell which Debian mirror to use: set "
                                 "EDGEFORGE_DEBIAN_MIRROR to the mirror's URL")
        require_binfmt(spec.arch, why=f"mmdebstrap runs {spec.arch.value} maintainer scripts")
        rootfs = work / "mmdebstrap.tar"
        epoch = CACHED_TREE_EPOCH
        runner.run(mmdebstrap_argv(spec, rootfs, mirror),
                   what=f"mmdebstrap {spec.suite} {spec.arch.value} base image",
                   needed_by="the stand-in base image", timeout=3600,
                   env=base_env({"SOURCE_DATE_EPOCH": str(epoch)}))
        layout = oci.Layout(work / "layout")
        layer = oci.write_rootfs_layer(rootfs, layout, work, epoch)
        platform = oci.platform_for(spec.arch)
        config = layout.put_json(oci.image_config(
            platform, epoch, {"Env": [f"PATH={DEFAULT_PATH}"], "Cmd": ["/bin/bash"]},
            [layer.diff_id], [{"created": oci.rfc3339(epoch),
                               "created_by": f"mmdebstrap --variant=minbase {spec.suite}"}]),
            oci.MEDIA_CONFIG)
        manifest = layout.put_json(oci.image_manifest(config, [layer.descriptor]),
                                   oci.MEDIA_MANIFEST)
        layout.finish([oci.Descriptor(oci.MEDIA_MANIFEST, manifest.digest, manifest.size,
                                      annotations={oci.REF_NAME: spec.suite},
                                      platform=platform)])
        return work / "layout"

    return cached_tree(final, lambda p: (p / "index.json").is_file(), build)
