"""The Protocol client: the file drop and the acknowledgement feed."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from adapters.base import TargetConfig
from adapters.protocol import client, renderer
from gateway.errors import PermanentDelivery, RetryableDelivery
from tests.contract.canonical_cases import CASES

TARGET = TargetConfig(
    council="317",
    system="protocol",
    base_url="https://ics.example.org/317",
    credentials={"api_key": "protocol-key-0001"},
)


def serve(*answers: httpx.Response) -> tuple[httpx.Client, list[httpx.Request]]:
    """A client answering from a list, and the list of requests it received."""
    seen: list[httpx.Request] = []
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return queue.pop(0)

    return httpx.Client(transport=httpx.MockTransport(handler)), seen


def test_the_drop_is_a_put_named_after_council_and_key():
    """PUT {base}/import/inbox/<LA>_<key>.xml with the API key and application/xml."""
    http, seen = serve(httpx.Response(201))
    request = CASES["found"]
    result = client.send(request, renderer.render(request), TARGET, http)
    assert seen[0].method == "PUT"
    assert seen[0].url == "https://ics.example.org/317/import/inbox/317_key-found.xml"
    assert seen[0].headers["X-Api-Key"] == "protocol-key-0001"
    assert seen[0].headers["Content-Type"] == "application/xml"
    assert (result.acknowledged, result.target_reference) == (False, "317_key-found.xml")


@pytest.mark.parametrize(("council", "key"), [("31", "k"), ("317", "../etc"), ("317", "a/b")])
def test_an_unsafe_file_name_is_permanent(council, key):
    """A council code or key that cannot make a plain file name is refused before sending."""
    with pytest.raises(PermanentDelivery):
        client.filename(council, key)


def _acks(*items: dict[str, Any], next_cursor: str | None = "2") -> httpx.Response:
    return httpx.Response(
        200, content=json.dumps({"acks": list(items), "next": next_cursor}).encode()
    )


ACCEPTED = {
    "filename": "317_key-found.xml",
    "status": "ACCEPTED",
    "protocolRef": "PRT-000001",
    "personRef": "PRT-P-1",
    "errors": [],
    "cursor": "1",
}
REJECTED = {
    "filename": "317_key-closed.xml",
    "status": "REJECTED",
    "protocolRef": None,
    "personRef": None,
    "errors": ["/ProtocolImport: bad"],
    "cursor": "2",
}


def test_poll_acks_reads_the_feed_after_the_cursor():
    """Acks become Ack models, oldest first, with the next cursor."""
    http, seen = serve(_acks(ACCEPTED, REJECTED))
    acks, cursor = client.poll_acks(TARGET, "0", http)
    assert seen[0].url == "https://ics.example.org/317/import/acks?after=0"
    assert seen[0].headers["X-Api-Key"] == "protocol-key-0001"
    assert [(a.target_reference, a.accepted, a.reference, a.errors) for a in acks] == [
        ("317_key-found.xml", True, "PRT-000001", []),
        ("317_key-closed.xml", False, None, ["/ProtocolImport: bad"]),
    ]
    assert cursor == "2"


def test_poll_acks_from_the_start_and_with_nothing_new():
    """No cursor reads from the start; an empty page keeps the cursor."""
    http, seen = serve(_acks(next_cursor=None))
    assert client.poll_acks(TARGET, None, http) == ([], None)
    assert seen[0].url == "https://ics.example.org/317/import/acks"


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (httpx.Response(401), PermanentDelivery),
        (httpx.Response(503), RetryableDelivery),
        (httpx.Response(200, content=b"[]"), RetryableDelivery),
        (httpx.Response(200, content=b'{"acks": [{"status": "MAYBE"}]}'), RetryableDelivery),
    ],
)
def test_poll_acks_failures(answer, error):
    """A refused key is permanent; an unavailable or nonsensical feed is retryable."""
    http, _ = serve(answer)
    with pytest.raises(error):
        client.poll_acks(TARGET, "0", http)
