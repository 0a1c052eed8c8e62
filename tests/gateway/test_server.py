"""The HTTP server's limits: a deadline for request heads, and the demo kept on this machine."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from click.testing import CliRunner
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from structlog.testing import capture_logs

from gateway.cli import main
from gateway.cli.serving import _local
from gateway.errors import ConfigurationError
from gateway.server import check_exposure, uvicorn_config
from gateway.settings import Settings

HEAD_TIMEOUT_S = 0.5
ROUTING = """\
councils:
  - code: "304"
    name: London Borough of Brent
    system: mosaic
    base_url: https://mosaic.example.gov.uk/integration
    policy: brent
    credentials_env: BRENT_MOSAIC
"""


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.fixture
def server() -> Iterator[tuple[str, int]]:
    """A server with the gateway's uvicorn settings (head deadline 0.5 s) on a loopback port."""
    app = Starlette(routes=[Route("/ok", lambda _request: PlainTextResponse("ok"))])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    settings = _settings(header_timeout_s=HEAD_TIMEOUT_S, keep_alive_s=60)
    config = uvicorn_config(app, "127.0.0.1", 0, settings)
    config.lifespan = "off"
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not running.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    yield sock.getsockname()
    running.should_exit = True
    thread.join(10)


def _closed_after(connection: socket.socket, trickle: bytes, limit_s: float) -> float | None:
    """Send `trickle` a byte every 0.1 s; seconds until the server closed (None: it did not)."""
    started = time.monotonic()
    connection.settimeout(0.1)
    for byte in trickle:
        try:
            connection.sendall(bytes([byte]))
            if connection.recv(1024) == b"":
                return time.monotonic() - started
        except TimeoutError:
            pass
        except OSError:
            return time.monotonic() - started
        if time.monotonic() - started > limit_s:
            return None
    return None


def test_a_head_sent_a_byte_at_a_time_is_cut_off(server: tuple[str, int]) -> None:
    """A client that never finishes its headers loses the connection at the head deadline."""
    with socket.create_connection(server) as connection:
        took = _closed_after(connection, b"GET /ok HTTP/1.1\r\nX-Slow: " + b"a" * 100, 5)
    assert took is not None and HEAD_TIMEOUT_S <= took < HEAD_TIMEOUT_S + 2


def test_the_next_head_on_a_kept_alive_connection_has_the_same_deadline(
    server: tuple[str, int],
) -> None:
    """A whole request is answered; a second one trickled on the same connection is cut off."""
    with socket.create_connection(server) as connection:
        connection.sendall(b"GET /ok HTTP/1.1\r\nHost: t\r\n\r\n")
        assert connection.recv(1024).startswith(b"HTTP/1.1 200")
        took = _closed_after(connection, b"GET /ok HTTP/1.1\r\nX-Slow: " + b"a" * 100, 5)
    assert took is not None and took < HEAD_TIMEOUT_S + 2


def test_a_prompt_request_is_served_after_a_slow_start_within_the_deadline(
    server: tuple[str, int],
) -> None:
    """The deadline counts the whole head, not each byte: a head within it is answered."""
    with socket.create_connection(server) as connection:
        connection.sendall(b"GET /ok HTTP/1.1\r\n")
        time.sleep(HEAD_TIMEOUT_S / 3)
        connection.sendall(b"Host: t\r\n\r\n")
        connection.settimeout(5)
        assert connection.recv(1024).startswith(b"HTTP/1.1 200")


def test_uvicorn_runs_with_bounded_heads_connections_and_keep_alive() -> None:
    """Head size, concurrent connections, idle keep-alive and trusted proxies are set."""
    settings = _settings(max_connections=100, keep_alive_s=7, forwarded_allow_ips="10.0.0.1")
    config = uvicorn_config(object(), "127.0.0.1", 8080, settings)
    assert config.h11_max_incomplete_event_size == 16 * 1024
    assert (config.limit_concurrency, config.timeout_keep_alive) == (100, 7)
    assert config.proxy_headers and config.forwarded_allow_ips == "10.0.0.1"


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.7", "gateway.example.org"])
def test_the_demo_on_another_interface_is_refused_unless_allowed(host: str) -> None:
    """With the demo routing, only loopback is allowed; the override warns."""
    settings = _settings()
    assert settings.is_demo_routing
    with pytest.raises(ConfigurationError, match="allow-demo-on-network"):
        check_exposure(host, settings, allow_demo=False)
    with capture_logs() as logs:
        assert check_exposure(host, settings, allow_demo=True) is True
    assert [e["log_level"] for e in logs if e["event"] == "demo_exposed_on_network"] == ["warning"]


def test_loopback_and_a_real_routing_serve_anywhere(tmp_path: Path) -> None:
    """The demo on loopback, and a council routing without simulators anywhere, are fine."""
    assert check_exposure("127.0.0.1", _settings(), allow_demo=False) is False
    assert check_exposure("::1", _settings(), allow_demo=False) is False
    routing = tmp_path / "routing.yaml"
    routing.write_text(ROUTING, encoding="utf-8")
    real = _settings(routing_file=routing)
    assert check_exposure("0.0.0.0", real, allow_demo=False) is False
    assert check_exposure(
        "0.0.0.0", _settings(routing_file=routing, simulators=True), allow_demo=True
    )


def test_serve_with_the_demo_on_all_interfaces_exits_2_before_serving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`gateway serve --host 0.0.0.0` with the demo routing stops with a configuration error."""
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("GATEWAY_ROUTING_FILE", raising=False)
    result = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0", "--port", "1"])
    assert result.exit_code == 2
    assert "not loopback" in result.output and "--allow-demo-on-network" in result.output
    assert not (tmp_path / "data").exists()  # refused before anything was created


@pytest.mark.parametrize(
    ("host", "local"),
    [("0.0.0.0", "127.0.0.1"), ("::", "[::1]"), ("127.0.0.1", "127.0.0.1"), ("::1", "[::1]")],
)
def test_the_demo_reaches_its_own_simulators_over_loopback(host: str, local: str) -> None:
    """Bound to every interface, the in-process simulators are reached on loopback."""
    assert _local(host) == local
