"""The processes a benchmark run drives, and the scratch databases it runs them on.

The gateway runs as `gateway serve` does (bench/server.py adds only the keyed no-op route);
the bare reference app (bench/server.py --bare) in a process of its own; the simulators run
as `gateway simulators`, in their own process like a real case system; the load generator
(wrk, or bench/load.py) runs in another. Helpers come from the acceptance tests' `process.py`.
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

from bench import wrk
from gateway.store import migrate
from gateway.store.engine import make_engine
from tests.acceptance.process import GatewayProcess, free_port

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_ADMIN = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# One per run: two runs on one PostgreSQL (two checkouts, say) must not drop each other's.
BENCH_DATABASE = f"bench_gateway_{os.getpid()}"


def launch(
    argv: list[str], env: dict[str, str], log: Path, *, stderr_only: bool = False
) -> subprocess.Popen[bytes]:
    """Start `argv` from the repository's root, its output appended to `log`.

    `stderr_only` drops standard output: the servers' own lines go to standard error.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            argv,
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL if stderr_only else out,
            stderr=out if stderr_only else subprocess.STDOUT,
        )


def _wait(url: str, process: subprocess.Popen[bytes], log: Path, seconds: float = 120) -> None:
    """Return once `url` answers 200; raise if the process exits first or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in {seconds:.0f} s")


@contextmanager
def helper_process(module: str, *args: str, log: Path, ready: str) -> Iterator[str]:
    """`python -m module --port P ARGS` in its own process, stopped afterwards; its base URL.

    Yields once `ready` (a path) answers 200; the process's output goes to `log`.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", module, "--port", str(port), *args]
    process = launch(argv, {**os.environ, "PYTHONPATH": str(ROOT)}, log)
    try:
        _wait(f"{url}{ready}", process, log, seconds=30)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


class Simulators(GatewayProcess):
    """`gateway simulators` in a subprocess: the councils' Mosaic, FWi and Protocol."""

    def start(self) -> None:
        """Start the simulators and wait until they answer."""
        argv = [sys.executable, "-m", "gateway", "simulators", "--port", str(self.port)]
        self.process = launch(argv, self.env, self.log)
        _wait(f"{self.url}/sim/mosaic/_control/faults", self.process, self.log)


class Server(GatewayProcess):
    """bench/server.py (the gateway app plus `POST /bench/noop`) in a subprocess."""

    arguments: tuple[str, ...] = ()
    ready_path = "/healthz"

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
        argv = [sys.executable, "-m", "bench.server", "--port", str(self.port), *self.arguments]
        self.process = launch(argv, self.env, self.log, stderr_only=True)
        _wait(f"{self.url}{self.ready_path}", self.process, self.log)


class BareServer(Server):
    """bench/server.py --bare: FastAPI alone, on the same uvicorn settings (no gateway)."""

    arguments = ("--bare",)
    ready_path = "/docs"


@contextmanager
def serving(
    data_dir: Path, database_url: str, simulators: Simulators, *, worker: bool, bare: bool = False
) -> Iterator[Server]:
    """A started server (the bare app if `bare`), stopped afterwards whatever happens."""
    server = (BareServer if bare else Server)(data_dir, database_url, simulators, worker=worker)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def load(
    server: Server,
    path: str,
    key: str,
    *,
    seconds: float,
    first: int,
    clients: int = 16,
    generator: str = "python",
) -> dict[str, Any]:
    """Load the server from wrk or bench/load.py; the summary (errors are raised)."""
    if generator == "wrk":
        summary = wrk.load(
            server.url, path, key, seconds=seconds, first=first, directory=server.data_dir,
            clients=clients,
        )  # fmt: skip
    else:
        summary = _python_load(server, path, key, seconds=seconds, first=first, clients=clients)
    wrong = {s: n for s, n in summary["statuses"].items() if s not in ("200", "202", "2xx") and n}
    if wrong or not summary["requests"]:
        raise RuntimeError(f"{path}: unexpected answers {summary['statuses']}")
    return summary


def _python_load(
    server: Server, path: str, key: str, *, seconds: float, first: int, clients: int
) -> dict[str, Any]:
    """Run bench/load.py against the server; its JSON summary."""
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
