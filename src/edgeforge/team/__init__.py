"""team: what a team shares. Conan remotes (`remote.*`, `cache.*`), registry pushes, CI
pipelines, and edgeforge's own test suite."""

from .ci import (
    CiOptions,
)
from .ci import write as write_ci_pipeline
from .registry import (
    Credentials,
    Destination,
    parse_destination,
)
from .remoteconfig import (
    add_remote,
    login_remote,
    remote_action,
    remove_remote,
    show_remotes,
    switch_remote,
)
from .remotes import (
    add_argv,
    check_name,
    check_url,
    login_argv,
    package_list,
    upload_argv,
)
from .sharing import (
    describe_push,
    push_board_graph,
    push_destination,
    push_release,
    show_board_graph_status,
)
from .suite import (
    run_suite,
)

__all__ = [
    "CiOptions",
    "Credentials",
    "Destination",
    "add_argv",
    "check_name",
    "check_url",
    "login_argv",
    "package_list",
    "parse_destination",
    "upload_argv",
    "add_remote",
    "login_remote",
    "remote_action",
    "remove_remote",
    "show_remotes",
    "switch_remote",
    "describe_push",
    "push_board_graph",
    "push_destination",
    "push_release",
    "show_board_graph_status",
    "run_suite",
    "write_ci_pipeline",
]
