"""A total deadline on outbound HTTP, whatever pace the other side keeps.

httpx's timeouts bound each network operation, not the whole exchange: a case system that
sends one byte a second never lets a read time out, and would hold a worker for as long as it
likes. Here every read, write and connect of a client made by `client()` waits at most until
the thread's current deadline (`within`), and fails with a timeout once it has passed, so a
trickling answer ends at the deadline like a silent one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

_local = threading.local()


@contextmanager
def within(seconds: float) -> Iterator[None]:
    """Bound the network operations this thread starts in the block by `seconds` in total.

    Nested blocks keep the earlier of the two deadlines.
    """
    before: float | None = getattr(_local, "at", None)
    end = time.monotonic() + seconds
    _local.at = end if before is None else min(before, end)
    try:
        yield
    finally:
        _local.at = before


def remaining() -> float | None:
    """Seconds left before this thread's deadline (None: no deadline)."""
    end: float | None = getattr(_local, "at", None)
    return None if end is None else end - time.monotonic()


def _bounded(timeout: float | None, error: type[Exception]) -> float | None:
    left = remaining()
    if left is None:
        return timeout
    if left <= 0:
        raise error("the exchange's total deadline has passed")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_tcp(host, port, bounded, local_address, socket_options))

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_unix_socket(path, bounded, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def transport() -> httpx.HTTPTransport:
    """A transport for case systems whose connections keep the thread's deadline."""
    made = httpx.HTTPTransport()
    # httpx builds its connection pool without a way to pass a network backend: wrap the
    # pool's own (tests/adapters/test_deadline.py fails if httpx renames it).
    pool = made._pool
    pool._network_backend = _Backend(pool._network_backend)
    return made


def client() -> httpx.Client:
    """An httpx client for case systems: no redirects, no proxy variables, deadlines kept."""
    return httpx.Client(transport=transport(), follow_redirects=False, trust_env=False)
