"""The processes a benchmark run drives, and the scratch databases it runs them on.

The gateway runs as `gateway serve` does (bench/server.py adds only the no-op route); the
simulators run as `gateway simulators`, in their own process like a real case system; the
load generator runs in a third process. Helpers come from the acceptance tests' `process.py`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, create_engine, text

from gateway.store import migrate
from gateway.store.engine import make_engine
from tests.acceptance.process import GatewayProcess

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_ADMIN = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# One per run: two runs on one PostgreSQL must not drop each other's database.
BENCH_DATABASE = f"bench_gateway_{os.getpid()}"


def _wait(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in 120 s")


class Simulators(GatewayProcess):
    """`gateway simulators` in a subprocess: the councils' Mosaic, FWi and Protocol."""

    def start(self) -> None:
        """Start the simulators and wait until they answer."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gateway", "simulators", "--port", str(self.port)],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        _wait(f"{self.url}/sim/mosaic/_control/faults", self.process, self.log)


class Server(GatewayProcess):
    """bench/server.py (the gateway app plus `POST /bench/noop`) in a subprocess."""

    def __init__(
        self, data_dir: Path, database_url: str, simulators: Simulators, *, worker: bool
    ) -> None:
        super().__init__(data_dir, database_url)
        self.env |= {
            "GATEWAY_LOG_LEVEL": "info",  # the default: ingest pays for its log lines
            "GATEWAY_WORKER": "1" if worker else "0",
            "GATEWAY_SIMULATORS": "0",
            "GATEWAY_PUBLIC_URL": simulators.url,  # the demo routing's `{simulators}`
            "PYTHONPATH": str(ROOT),
        }

    def start(self) -> None:
        """Start the server and wait until /healthz answers."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bench.server", "--port", str(self.port)],
                env=self.env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        _wait(f"{self.url}/healthz", self.process, self.log)


@contextmanager
def serving(
    data_dir: Path, database_url: str, simulators: Simulators, *, worker: bool
) -> Iterator[Server]:
    """A started server, stopped afterwards whatever happens."""
    server = Server(data_dir, database_url, simulators, worker=worker)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def load(
    server: Server, path: str, key: str, *, seconds: float, first: int, clients: int = 16
) -> dict[str, Any]:
    """Run bench/load.py against the server; its JSON summary (errors are raised)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.load",
            server.url,
            path,
            f"--key={key}",
            f"--clients={clients}",
            f"--seconds={seconds}",
            f"--first={first}",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        check=False,
        timeout=seconds + 300,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench.load failed: {done.stderr.decode()[-3000:]}")
    summary: dict[str, Any] = json.loads(done.stdout)
    wrong = {s: n for s, n in summary["statuses"].items() if s not in ("200", "202")}
    if wrong or not summary["requests"]:
        raise RuntimeError(f"{path}: unexpected answers {summary['statuses']}")
    return summary


@dataclass
class Backend:
    """Scratch databases on one backend: SQLite files or schemas of one PostgreSQL database."""

    name: str
    root: Path

    def url(self, label: str) -> str:
        """A new, migrated, empty database for `label`."""
        if self.name == "sqlite":
            url = f"sqlite:///{self.root / label}.db"
        else:
            schema = f"{label}_{uuid.uuid4().hex[:6]}"
            with self._admin(BENCH_DATABASE) as engine, engine.connect() as connection:
                connection.execute(text(f'CREATE SCHEMA "{schema}"'))
            url = f"{_on(BENCH_DATABASE)}?options=-csearch_path%3D{schema}"
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        return url

    @contextmanager
    def _admin(self, database: str) -> Iterator[Engine]:
        engine = create_engine(_on(database), isolation_level="AUTOCOMMIT")
        try:
            yield engine
        finally:
            engine.dispose()


def _on(database: str) -> str:
    return POSTGRES_ADMIN.rsplit("/", 1)[0] + "/" + database


@contextmanager
def backend(name: str) -> Iterator[Backend]:
    """Scratch space for one backend, removed afterwards (the PostgreSQL database dropped)."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
        found = Backend(name, Path(tmp))
        if name == "postgres":
            with found._admin(POSTGRES_ADMIN.rsplit("/", 1)[1]) as engine, engine.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)'))
                c.execute(text(f'CREATE DATABASE "{BENCH_DATABASE}"'))
        try:
            yield found
        finally:
            if name == "postgres":
                admin = POSTGRES_ADMIN.rsplit("/", 1)[1]
                with found._admin(admin) as engine, engine.connect() as c:
                    c.execute(text(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)'))
