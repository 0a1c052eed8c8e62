"""The `gateway` command (docs/operations.md): serve, keys, config, audit, database.

Exit status: 0 success, 1 runtime failure, 2 bad usage or invalid configuration (with a
message naming the file, the line and the problem).
"""

from gateway.cli import admin, export, replay, serving  # noqa: F401 - each registers its commands
from gateway.cli.common import main

__all__ = ["main"]
