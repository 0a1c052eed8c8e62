"""A no-op case system: answers every Mosaic and FWi call with a fixed success, records nothing.

Run as its own process (`python -m bench.noop_target --port P`). It speaks just enough
HTTP/1.1 over asyncio streams (keep-alive, `Content-Length` bodies) to answer Mosaic's token
and episode calls and FWi's SOAP call the way their clients accept, and does no other work,
so what limits a client hitting it is the client and the machine: the drain's reference.
"""

from __future__ import annotations

import argparse
import asyncio
import json

MOSAIC_TOKEN = json.dumps({"access_token": "noop-token", "expires_in": 3600}).encode()
MOSAIC_CREATED = json.dumps(
    {"episodeId": "EP-NOOP", "personId": "P-NOOP", "eventId": "EV-NOOP"}
).encode()
FWI_NS = "urn:fwi:integration:missing:1"
FWI_RESULT = (
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
    f'<RecordMissingEpisodeEventResponse xmlns="{FWI_NS}"><Result><Outcome>Created</Outcome>'
    "<FwiEpisodeId>FE-NOOP</FwiEpisodeId><FwiEventId>FV-NOOP</FwiEventId>"
    "<FwiClientId>FC-NOOP</FwiClientId></Result></RecordMissingEpisodeEventResponse>"
    "</soap:Body></soap:Envelope>"
).encode()


def answer(path: str) -> bytes:
    """The whole HTTP answer for a request to `path`."""
    if path.endswith("/oauth/token"):
        status, media, body = "200 OK", "application/json", MOSAIC_TOKEN
    elif "/FWiIntegration/" in path:
        status, media, body = "200 OK", "text/xml; charset=utf-8", FWI_RESULT
    elif "/missing-episodes" in path:
        status, media, body = "201 Created", "application/json", MOSAIC_CREATED
    else:
        status, media, body = "404 Not Found", "text/plain", b"not found"
    head = f"HTTP/1.1 {status}\r\nContent-Type: {media}\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1]
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if length:
                await reader.readexactly(length)
            writer.write(answer(path))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def _main(host: str, port: int) -> None:
    server = await asyncio.start_server(_serve, host, port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    """Serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(_main(args.host, args.port))


if __name__ == "__main__":
    main()
