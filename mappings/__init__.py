"""Declarative mapping data: code tables, council names, policy packs and demo routing.

The files beside this module are data, not code; `load()` reads one of them.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent


def path(name: str) -> Path:
    """The path of a mapping file by its name relative to this folder."""
    return ROOT / name


@cache
def load(name: str) -> Any:
    """Load a YAML mapping file once per process."""
    with path(name).open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)
