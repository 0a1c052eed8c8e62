"""The figures the alert rules page on: overdue by risk, dead letters, late acks, unroutable."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, update

from gateway.api.deps import Services
from gateway.canonical import utc_now
from gateway.store.schema import unroutable
from tests.gateway.delivery import ids_of, post, set_delivery
from tests.gateway.onboarding import HARROW
from tests.messages import compact, merlin, new_id


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample at /metrics by name and labels."""
    text = client.get("/metrics").text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_overdue_deliveries_are_counted_by_risk_level(
    client: TestClient, engine: Engine, met: dict[str, str], derbys: dict[str, str]
) -> None:
    """A medium-risk delivery past its deadline counts as medium; the high-risk one as high."""
    medium = ids_of(post(client, "merlin", merlin(), met))  # the MERLIN example: medium risk
    high = ids_of(post(client, "compact", compact(), derbys))  # the COMPACT example: high risk
    past = utc_now() - timedelta(minutes=1)
    set_delivery(engine, medium["304"], deadline_at=past)
    set_delivery(engine, high["830"], deadline_at=past, status="retrying")
    figures = scrape(client)
    by_risk = "gateway_deliveries_overdue_by_risk"
    assert figures[(by_risk, (("council", "304"), ("risk", "medium"), ("system", "mosaic")))] == 1
    assert figures[(by_risk, (("council", "830"), ("risk", "high"), ("system", "fwi")))] == 1
    assert not any(name == by_risk and value == 0 for (name, _), value in figures.items())


def test_dead_letters_and_late_acknowledgements_are_counted_per_council(
    client: TestClient, engine: Engine, met: dict[str, str], services: Services
) -> None:
    """Two dead letters for Brent; a Protocol drop sent longer ago than the ack allowance."""
    for n in range(2):
        receipt = post(client, "merlin", merlin(message_id=new_id(), ref=f"24MIS7{n:05d}"), met)
        set_delivery(engine, ids_of(receipt)["304"], status="dead", last_error="refused")
    late = utc_now() - timedelta(seconds=services.settings.ack_overdue_s + 60)
    receipt = post(client, "merlin", merlin(message_id=new_id(), ref="24MIS799999"), met)
    set_delivery(engine, ids_of(receipt)["830"], status="sent", sent_at=late)
    figures = scrape(client)
    assert figures[("gateway_dead_letters", (("council", "304"), ("system", "mosaic")))] == 2
    assert figures[("gateway_acks_overdue", (("council", "830"), ("system", "fwi")))] == 1


def test_the_unroutable_list_is_counted_with_the_oldest_events_age(
    client: TestClient, engine: Engine, met: dict[str, str]
) -> None:
    """Harrow's two waiting events count; the age is the oldest one's; resolved ones do not."""
    kind = (("kind", "not_onboarded"),)
    empty = scrape(client)
    assert empty[("gateway_unroutable_waiting", kind)] == 0
    assert empty[("gateway_unroutable_oldest_age_seconds", kind)] == 0
    post(client, "merlin", merlin(*HARROW), met)
    with engine.begin() as connection:
        connection.execute(
            update(unroutable)
            .where(unroutable.c.council == "310")
            .values(created_at=utc_now() - timedelta(minutes=20))
        )
    figures = scrape(client)
    assert figures[("gateway_unroutable_waiting", kind)] == 2
    assert 20 * 60 <= figures[("gateway_unroutable_oldest_age_seconds", kind)] < 21 * 60
    with engine.begin() as connection:
        connection.execute(update(unroutable).values(resolved_at=utc_now()))
    assert scrape(client)[("gateway_unroutable_waiting", kind)] == 0
