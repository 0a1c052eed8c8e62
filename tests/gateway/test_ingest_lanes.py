"""The lane in the server's process (`ingest_processes=0`, the test suite's API tests).

It hands each batch over, and reads each result back, pickled as an ingest process's pipe
does (gateway/ingest/processes.py), so the API tests exercise what crosses to and from the
processes of `gateway serve`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway import keys
from gateway.api.deps import Services
from gateway.errors import IngestFailed
from gateway.ingest.batching import Ingestor
from gateway.ingest.prepare import Received
from gateway.ingest.write import Outcome
from tests.messages import merlin, new_id


class _PickledAs(str):
    """A string that becomes `merlin` only when it is pickled and read back."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (str, ("merlin",))


class _Marker:
    """A result that says whether it was pickled on its way back."""

    crossed = False

    def __reduce__(self) -> tuple[Any, ...]:
        return (_crossed_marker, ())


def _crossed_marker() -> _Marker:
    marker = _Marker()
    marker.crossed = True
    return marker


def test_the_batch_is_handed_over_pickled(
    services: Services, police_principal: keys.Principal
) -> None:
    """A source name that is `merlin` only once pickled is stored as a MERLIN message."""
    assert services.ingest.pids == [None]  # no process: the lane is in this one
    received = Received(_PickledAs("no-such-source"), merlin(message_id=new_id()), police_principal)
    outcome = asyncio.run(services.ingest.submit(received))
    assert isinstance(outcome, Outcome) and outcome.status_code == 202


def test_results_come_back_pickled(
    services: Services, police_principal: keys.Principal, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the ingestor returns reaches the caller as a copy read back from its pickle."""

    def marked(_self: Ingestor, batch: list[Received]) -> list[Outcome]:
        return [Outcome(200, {"receipt_id": "r", "marker": _Marker()}) for _ in batch]

    monkeypatch.setattr(Ingestor, "prepare_and_store", marked)
    received = Received("merlin", merlin(message_id=new_id()), police_principal)
    outcome = asyncio.run(services.ingest.submit(received))
    assert outcome.receipt["marker"].crossed


def test_an_unexpected_error_crosses_by_type_only_as_from_a_process(
    services: Services, police_principal: keys.Principal
) -> None:
    """A fault that is not the gateway's own error is answered as a process answers it."""
    received = Received("no-such-source", b"", police_principal)
    with pytest.raises(IngestFailed, match=r"^KeyError in the ingest process$"):
        asyncio.run(services.ingest.submit(received))
