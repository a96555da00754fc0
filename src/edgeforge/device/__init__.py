"""device: what runs on the board. A device image's root file system (rootfs) and disks (the
virtual twin's disk, NVIDIA's flashing tree, a Raspberry Pi's SD card), made by the device
image steps of a release (steps); the twin booted under qemu-system (twin, twinsession); SSH
to a device or the twin (ssh); a package deployed over it (deploy, update)."""

from .deploy import (
    KEEP_DIR,
    Installed,
    remote_script,
)
from .disks import (
    LINUX_FS_TYPE,
    TwinBoot,
    image_uuids,
    mbr_script,
    mkfs_argv,
    raspi_partuuid,
    sfdisk_script,
    twin_cpu,
    write_l4t_rootfs,
    write_raspi_sd,
    write_twin,
)
from .rootfs import (
    COMPLETE,
    FIRSTBOOT_DONE,
    SSHD_DROPIN,
    base_argv,
    base_components,
    base_key,
    base_packages,
    configure,
    ensure_base,
    firstboot_unit,
    fstab_text,
    hosts_text,
    install_app,
    stand_in_suite,
)
from .ssh import (
    SshTarget,
    parse_target,
    ssh_argv,
    ssh_run,
)
from .steps import (
    DEVICE_FORMATS,
    image_apps,
)
from .twin import (
    VmPaths,
    connect_hint,
    free_port,
    read_state,
    running_pid,
)
from .twinsession import (
    boot_twin,
    stop_twin,
)
from .update import (
    update_device,
)

__all__ = [
    "COMPLETE",
    "DEVICE_FORMATS",
    "image_apps",
    "FIRSTBOOT_DONE",
    "Installed",
    "KEEP_DIR",
    "LINUX_FS_TYPE",
    "remote_script",
    "SSHD_DROPIN",
    "SshTarget",
    "TwinBoot",
    "VmPaths",
    "base_argv",
    "base_components",
    "base_key",
    "base_packages",
    "configure",
    "connect_hint",
    "ensure_base",
    "firstboot_unit",
    "free_port",
    "fstab_text",
    "hosts_text",
    "image_uuids",
    "install_app",
    "mbr_script",
    "mkfs_argv",
    "parse_target",
    "raspi_partuuid",
    "read_state",
    "running_pid",
    "sfdisk_script",
    "ssh_argv",
    "ssh_run",
    "stand_in_suite",
    "twin_cpu",
    "write_l4t_rootfs",
    "write_raspi_sd",
    "write_twin",
    "boot_twin",
    "stop_twin",
    "update_device",
]
