"""A case system that answers one byte at a time, slowly: it never lets a read time out."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

ANSWER = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{"x": 1'


@contextmanager
def trickling(
    *, pace_s: float = 0.25, head_at_once: bool = False, answer: bytes = ANSWER
) -> Iterator[str]:
    """Serve on loopback, answering every request a byte per `pace_s`; yields its base URL.

    `head_at_once` sends the status line and headers whole and trickles only the body.
    """
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def answer_one(connection: socket.socket) -> None:
        with connection:
            connection.settimeout(5)
            try:
                connection.recv(65536)  # the request (small, in one piece on loopback)
                body_from = answer.index(b"\r\n\r\n") + 4 if head_at_once else 0
                connection.sendall(answer[:body_from])
                for byte in answer[body_from:]:
                    if stop.is_set():
                        return
                    connection.sendall(bytes([byte]))
                    time.sleep(pace_s)
                stop.wait()  # the promised body never ends
            except OSError:
                return  # the client hung up: what it should do

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=answer_one, args=(connection,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        server.close()
