"""No personal data in operational logs: the real structlog chain, messages full of it."""

from __future__ import annotations

import io
import json

import pytest
import structlog
from fastapi.testclient import TestClient

from gateway import logs
from tests.conftest import KeyRing
from tests.messages import compact, merlin, new_id

# Distinctive synthetic values: if any of them is printed, redaction failed.
PERSONAL = [
    "Zebedeeson",
    "Quillanthe",
    "9990000026",
    "HA9 0QZ",
    "2011-02-03",
    "03/02/2011",
    "7 Zanzibar Crescent",
    "Vermilion Lane",
    "Pemberleigh",
    "Xanthippa",
]


@pytest.fixture
def printed() -> io.StringIO:
    """Configure the production log chain to print into a buffer."""
    buffer = io.StringIO()
    logs.configure("debug")
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=buffer))
    yield buffer
    structlog.reset_defaults()


def test_messages_full_of_personal_data_leave_none_in_the_logs(
    client: TestClient, keyring: KeyRing, printed: io.StringIO
) -> None:
    """Accepted, duplicate, conflicting and invalid messages log ids only."""
    met = {**keyring.headers("police", force="01"), "Content-Type": "application/xml"}
    derbys = {**keyring.headers("police", force="30"), "Content-Type": "application/xml"}
    body = merlin(
        ("Testchild", "Zebedeeson"),
        ("Alex Jordan", "Quillanthe Xanthippa"),
        ("9997654323", "9990000026"),
        ("HA9 0ZZ", "HA9 0QZ"),
        ("2010-03-04", "2011-02-03"),
        ("1 Example Road", "7 Zanzibar Crescent"),
        ("Outside the home", "Vermilion Lane"),
    )
    assert client.post("/v1/inbound/merlin", content=body, headers=met).status_code == 202
    assert client.post("/v1/inbound/merlin", content=body, headers=met).status_code == 200
    conflict = body.replace(b"Vermilion Lane", b"Pemberleigh")
    assert client.post("/v1/inbound/merlin", content=conflict, headers=met).status_code == 409
    invalid = merlin(("Testchild", "Zebedeeson"), ("2010-03-04", "2011-13-03"), message_id=new_id())
    assert client.post("/v1/inbound/merlin", content=invalid, headers=met).status_code == 422
    bad_nhs = merlin(("Testchild", "Zebedeeson"), ("9997654323", "9990000027"), message_id=new_id())
    assert client.post("/v1/inbound/merlin", content=bad_nhs, headers=met).status_code == 422
    other = compact(
        ("Examplechild", "Zebedeeson"),
        ("14/09/2009", "03/02/2011"),
        ("Home address", "Pemberleigh"),
    )
    assert client.post("/v1/inbound/compact", content=other, headers=derbys).status_code == 202
    output = printed.getvalue()
    lines = [json.loads(line) for line in output.splitlines()]
    assert any(line["event"] == "message_accepted" for line in lines)
    leaked = [value for value in PERSONAL if value in output]
    assert not leaked, f"personal data in the logs: {leaked}"


def test_redaction_processor_blanks_keys_and_identifier_shapes() -> None:
    """The safety net: personal keys are blanked and NHS/postcode/date shapes scrubbed."""
    event = logs.redact(
        None,
        "info",
        {
            "event": "x",
            "family_name": "Zebedeeson",
            "note": "nhs 999 000 0026 at HA9 0QZ on 2011-02-03",
            "nested": {"postcode": "HA9 0QZ"},
        },
    )
    text = json.dumps(event)
    assert "Zebedeeson" not in text and "0026" not in text and "HA9" not in text
    assert "2011-02-03" not in text
