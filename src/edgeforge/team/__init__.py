"""team"""

from .ci import (
    parse_only,
)
from .registry import (
    Credentials,
    Destination,
    parse_destination,
)
from .remotes import (
    add_argv,
    check_name,
    check_url,
    classify_failure,
    failing_remote,
    login_argv,
    package_list,
    password_var,
    upload_argv,
    user_var,
)

__all__ = [
    "Credentials",
    "Destination",
    "add_argv",
    "check_name",
    "check_url",
    "classify_failure",
    "failing_remote",
    "login_argv",
    "package_list",
    "parse_destination",
    "parse_only",
    "password_var",
    "upload_argv",
    "user_var",
]
