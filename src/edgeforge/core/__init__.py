"""core"""

from .download import (
    base_url_from_env,
    check_base_url,
    download,
    join_url,
)
from .cachedtree import cached_tree
from .epoch import CACHED_TREE_EPOCH, source_date_epoch
from .errors import (
    EXIT_BUG,
    EXIT_INTERRUPTED,
    AbiViolationError,
    CheckFailedError,
    CommandFailedError,
    DescriptorError,
    DeviceError,
    EdgeforgeError,
    HostSetupError,
    RemoteError,
    ReproducibilityError,
    SourceError,
    StateFileError,
    SysrootError,
    ToolMissingError,
    UsageError,
)
from .escaping import (
    meson_literal,
    sh,
)
from .extract import (
    file_mode,
    normalise,
    safe_extract,
)
from .fsutil import (
    canonical_hash,
    check_destination,
    checksum_mismatch,
    file_lock,
    mounts_under,
    not_a_file,
    read_limited,
    rmtree,
    sha256_file,
    verify_sha256,
    write_atomic,
    write_json,
)
from .owncode import code_digest, code_of
from .redact import (
    redact,
    redact_url,
)
from .report import (
    Reporter,
)
from .runner import (
    Runner,
    base_env,
    run_foreground,
)
from .statefile import (
    proc_start_time,
)
from .steps import (
    Execution,
    Plan,
    Step,
    damaged_output,
    load_json,
    publish,
    record_outputs,
    staged,
    staging_for,
    tree_digest,
)

__all__ = [
    "cached_tree",
    "CACHED_TREE_EPOCH",
    "source_date_epoch",
    "code_digest",
    "code_of",
    "AbiViolationError",
    "CheckFailedError",
    "CommandFailedError",
    "DescriptorError",
    "DeviceError",
    "EXIT_BUG",
    "EXIT_INTERRUPTED",
    "EdgeforgeError",
    "Execution",
    "HostSetupError",
    "Plan",
    "RemoteError",
    "Reporter",
    "ReproducibilityError",
    "Runner",
    "SourceError",
    "StateFileError",
    "Step",
    "SysrootError",
    "ToolMissingError",
    "UsageError",
    "base_env",
    "base_url_from_env",
    "canonical_hash",
    "check_base_url",
    "check_destination",
    "checksum_mismatch",
    "damaged_output",
    "download",
    "file_lock",
    "file_mode",
    "join_url",
    "load_json",
    "meson_literal",
    "mounts_under",
    "normalise",
    "not_a_file",
    "proc_start_time",
    "publish",
    "read_limited",
    "record_outputs",
    "redact",
    "redact_url",
    "rmtree",
    "run_foreground",
    "safe_extract",
    "sh",
    "sha256_file",
    "staged",
    "staging_for",
    "tree_digest",
    "verify_sha256",
    "write_atomic",
    "write_json",
]
