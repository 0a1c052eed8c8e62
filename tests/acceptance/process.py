"""Run the real `gateway` command in subprocesses, as an integration team would."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

GATEWAY = [sys.executable, "-m", "gateway"]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class GatewayProcess:
    """`gateway serve` in a subprocess over a given database."""

    def __init__(self, data_dir: Path, database_url: str | None = None) -> None:
        self.data_dir = data_dir
        self.env = {**os.environ, "GATEWAY_DATA_DIR": str(data_dir), "GATEWAY_LOG_LEVEL": "warning"}
        if database_url:
            self.env["GATEWAY_DATABASE_URL"] = database_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "serve.log"

    def command(self, *args: str) -> str:
        """Run a `gateway` subcommand against the same settings; its standard output."""
        done = subprocess.run(
            [*GATEWAY, *args], env=self.env, capture_output=True, check=True, timeout=120
        )
        return done.stdout.decode()

    def key(self, *args: str) -> dict[str, str]:
        """Issue a key with `gateway keys create ARGS`; Authorization headers for it."""
        return {"Authorization": f"Bearer {self.command('keys', 'create', *args).splitlines()[-1]}"}

    def start(self) -> None:
        """Start `gateway serve` and wait until it answers /healthz."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*GATEWAY, "serve", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gateway serve exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("gateway serve did not come up in 60 s")

    def kill9(self) -> None:
        """SIGKILL the server: no shutdown handlers, no flushing."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """Terminate the server if it runs."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def peak_rss_kib(self) -> int:
        """The server's peak resident memory (VmHWM) so far."""
        assert self.process is not None
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        line = next(li for li in status.splitlines() if li.startswith("VmHWM:"))
        return int(line.split()[1])
