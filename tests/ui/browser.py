"""What the browser tests share: Debian's chromium, and the flags it runs with here."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# No sandbox (the tests may run as root), and nothing that reaches for the network.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    """Debian's chromium; skip without it (fail in CI, where scripts/setup must install it)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and Path("/usr/bin/chromium").exists():
        found = "/usr/bin/chromium"
    if found is None:
        reason = "Debian's chromium is not installed (scripts/setup installs it with apt as root)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return found
