"""Flags on the canonical episode: each council reads its own, timer events have no message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from gateway.api.deps import Services
from tests.conftest import KeyRing
from tests.policy.harness import Gateway
from tests.policy_messages import Report

T = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)


def test_each_council_reads_only_its_own_flags(
    services: Services, client: TestClient, keyring: KeyRing
) -> None:
    """A Brent child placed by Derbyshire: both packs run; each council sees its own flags."""
    gw = Gateway(services.engine, T)
    episode = gw.send(Report(council="304", reported=T, looked_after=True, placing="830"))
    gw.tick(T + 3 * timedelta(days=1))
    by_council = {f.council for f in gw.flags(episode)}
    assert by_council == {"304", "830"}
    for council in ("304", "830"):
        headers = keyring.headers("council", council=council)
        view = client.get(f"/v1/episodes/{episode}", headers=headers).json()
        assert view["flags"], council
        assert {f["council"] for f in view["flags"]} == {council}
        assert all(f["reason"] and f["due_at"] and f["raised_at"] for f in view["flags"])
        timer_events = [e for e in view["events"] if e["type"] == "updated"]
        assert timer_events
        assert all(e["source_message_id"] is None for e in timer_events)
    operator = keyring.headers("operator")
    everything = client.get(f"/v1/episodes/{episode}", headers=operator).json()
    assert {f["council"] for f in everything["flags"]} == {"304", "830"}
