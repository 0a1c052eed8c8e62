"""An exchange ends at its total deadline however slowly the target answers."""

from __future__ import annotations

import time

import httpx
import pytest

from adapters import deadline
from adapters.exchange import exchange
from gateway.errors import RetryableDelivery
from tests.adapters.trickle import trickling


def timed_exchange(http: httpx.Client, url: str, timeout_s: float = 1.0) -> float:
    """Seconds until the exchange with a trickling target gave up (it must give up)."""
    started = time.monotonic()
    with pytest.raises(RetryableDelivery, match="no answer in time"):
        exchange(http, "POST", f"{url}/x", system="test", timeout_s=timeout_s, content=b"{}")
    return time.monotonic() - started


@pytest.mark.parametrize("head_at_once", [False, True], ids=["head", "body"])
def test_a_trickling_answer_ends_at_the_timeout_in_total(head_at_once: bool) -> None:
    """A byte every quarter second (no read ever times out) still ends after `timeout_s`."""
    with trickling(head_at_once=head_at_once) as url, deadline.client() as http:
        took = timed_exchange(http, url)
    assert 0.9 <= took < 1.6


def test_the_callers_deadline_bounds_several_exchanges() -> None:
    """Within one deadline (an attempt: token, send, retry), the second exchange gets the rest."""
    with trickling() as url, deadline.client() as http, deadline.within(1.5):
        first = timed_exchange(http, url)
        second = timed_exchange(http, url)
    assert first < 1.2 and second < 0.7, (first, second)


def test_a_passed_deadline_refuses_at_once() -> None:
    """Nothing is even sent once the deadline has passed."""
    with trickling() as url, deadline.client() as http, deadline.within(0.0):
        assert timed_exchange(http, url) < 0.2


def test_a_client_without_the_deadline_would_be_held() -> None:
    """The reason for all this: httpx's own timeouts are per read, and a trickle beats them."""
    with trickling(pace_s=0.05) as url, httpx.Client(timeout=0.5) as http:
        started = time.monotonic()
        with http.stream("POST", f"{url}/x", content=b"{}") as answer:
            assert answer.status_code == 200  # the head took 4 s at a byte per 0.05 s
        assert time.monotonic() - started > 3
