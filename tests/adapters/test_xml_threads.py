"""Schemas compile safely when the first requests arrive together, in several threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from adapters import registry, xml
from tests.messages import compact, merlin


def test_first_compilations_in_many_threads_all_succeed() -> None:
    """libxml2's schema compiler is serialised: concurrent first use never fails."""
    bodies = {"merlin": merlin(), "compact": compact()}
    for _ in range(5):
        xml.load_schema.cache_clear()

        def check(source: str) -> None:
            adapter = registry.INBOUND[source]
            xml.load_schema(adapter.schema_path).validate(xml.parse(bodies[source]))

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(check, ["merlin", "compact"] * 16))
