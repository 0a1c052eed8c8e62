"""deploy/nginx: the reverse-proxy configuration loads in nginx and does what it says.

`nginx -t` checks the file as shipped (with a throw-away certificate); then a real nginx, on
free ports, proxies a real gateway (uvicorn in a thread) and the test checks what the file
promises: https with a Secure session cookie, the 1 MiB body limit before the gateway, the
simulators and the metrics closed to the outside, plain http redirected.
"""

from __future__ import annotations

import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from gateway.api.app import build_services, create_app
from gateway.settings import Settings
from gateway.store import migrate
from gateway.store.engine import make_engine
from tests.deploy.tools import DEPLOY, tool

CONF = DEPLOY / "nginx" / "gateway.conf"
CERT = "/etc/nginx/tls/gateway.example.gov.uk.fullchain.pem"
KEY = "/etc/nginx/tls/gateway.example.gov.uk.key"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for the test (openssl, as any Debian has it)."""
    openssl = tool("openssl", "openssl")
    cert, key = folder / "cert.pem", folder / "key.pem"
    request = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    names = ["-subj", "/CN=gateway.example.gov.uk", "-keyout", str(key), "-out", str(cert)]
    subprocess.run(
        [openssl, *request, *names],
        check=True,
        capture_output=True,
    )
    return cert, key


def _site(folder: Path, *, http: int, https: int, upstream: int) -> Path:
    """The shipped file with test certificates and ports (IPv4 only: CI may have no IPv6)."""
    cert, key = _certificate(folder)
    text = CONF.read_text(encoding="utf-8").replace(CERT, str(cert)).replace(KEY, str(key))
    text = re.sub(r"^\s*listen \[::\].*\n", "", text, flags=re.MULTILINE)
    text = text.replace("listen 80;", f"listen 127.0.0.1:{http};")
    text = text.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{https} ssl http2;")
    text = text.replace("server 127.0.0.1:8080", f"server 127.0.0.1:{upstream}")
    site = folder / "site.conf"
    site.write_text(text, encoding="utf-8")
    main = folder / "nginx.conf"
    temps = "\n".join(
        f"  {name}_temp_path {folder / name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main.write_text(
        f"daemon off;\nuser root;\npid {folder / 'nginx.pid'};\nerror_log {folder / 'error.log'};\n"
        f"events {{}}\nhttp {{\n  access_log off;\n{temps}\n  include {site};\n}}\n",
        encoding="utf-8",
    )
    return main


def test_nginx_accepts_the_configuration(tmp_path: Path) -> None:
    """`nginx -t` on the shipped file (only certificates and ports changed)."""
    nginx = tool("nginx", "nginx")
    main = _site(tmp_path, http=_free_port(), https=_free_port(), upstream=8080)
    done = subprocess.run(
        [nginx, "-t", "-c", str(main), "-p", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture
def gateway_port(tmp_path: Path) -> Iterator[int]:
    """The gateway served by uvicorn in a thread (SQLite, simulators mounted, no worker)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
    migrate.upgrade(engine)
    settings = Settings(data_dir=tmp_path / "data", worker=False, _env_file=None)
    app = create_app(build_services(settings, engine=engine, upgrade=False))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield int(server.servers[0].sockets[0].getsockname()[1])
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


@pytest.fixture
def proxy(tmp_path: Path, gateway_port: int) -> Iterator[tuple[str, str]]:
    """An nginx with the shipped file in front of the gateway; its http and https base URLs."""
    nginx = tool("nginx", "nginx")
    http, https = _free_port(), _free_port()
    folder = tmp_path / "nginx"
    folder.mkdir()
    main = _site(folder, http=http, https=https, upstream=gateway_port)
    log = folder / "stderr.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [nginx, "-c", str(main), "-p", str(folder)], stdout=subprocess.DEVNULL, stderr=stderr
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"https://127.0.0.1:{https}/healthz", verify=False, timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{http}", f"https://127.0.0.1:{https}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.slow
def test_the_proxy_serves_https_bounds_bodies_and_closes_the_simulators(
    proxy: tuple[str, str],
) -> None:
    """Through nginx: https works, http redirects, 1 MiB + 1 is 413, /sim is 404, cookie Secure."""
    plain, secure = proxy
    with httpx.Client(base_url=secure, verify=False, timeout=10) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        too_big = client.post(
            "/v1/inbound/merlin",
            content=b"<" + b"x" * (1024 * 1024),
            headers={"Content-Type": "application/xml", "Authorization": "Bearer x"},
        )
        assert too_big.status_code == 413
        assert client.get("/sim/mosaic/_control/records").status_code == 404
        assert client.get("/metrics").status_code == 200  # from 127.0.0.1, which is allowed
        sign_in = client.get("/ui/sign-in")
        assert sign_in.status_code == 200
        cookie = sign_in.headers["set-cookie"]
        assert "secure" in cookie.lower() and "httponly" in cookie.lower()
        assert "nginx/" not in sign_in.headers.get("server", "")
    redirect = httpx.get(f"{plain}/healthz", follow_redirects=False, timeout=10)
    assert redirect.status_code == 301
    assert redirect.headers["location"].startswith("https://")
