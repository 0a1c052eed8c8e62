"""The outbound contract suite: every case-system adapter gets these checks in one line.

`tests/contract/test_outbound.py` builds one suite per registered adapter
(`outbound_contract(adapter)`). The checks read the adapter's own folder (manifest, schema,
golden payloads, the spec's answer rows in `fixtures/answers.toml`) and the canonical cases in
`canonical_cases.py`. A check named in the manifest's `[exemptions]` is skipped with the reason
written there.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import xmlschema
from structlog.testing import capture_logs

from adapters import registry, xml
from adapters.base import OutboundAdapter, SendResult, TargetConfig
from gateway.canonical import (
    Condition,
    CouncilRole,
    DfeMissingType,
    EpisodeStatus,
    EventType,
    Gender,
    InterviewMethod,
    PoliceCategory,
    RiskLevel,
    Vulnerability,
)
from gateway.errors import DeliveryError, PermanentDelivery, RetryableDelivery
from scripts.refresh_outbound_golden import golden_path
from tests.adapters.simulators import mounted
from tests.contract.answers import SECRET, Row, rows, token_answer
from tests.contract.canonical_cases import CASE_NAMES, CASES, with_alert_code

ROOT = Path(__file__).resolve().parents[2]
# Canonical code list -> its values; each target's mapping file needs a table of that name.
CANONICAL_TABLES: dict[str, list[str]] = {
    "event_type": [v.value for v in EventType],
    "risk_level": [v.value for v in RiskLevel],
    "status": [v.value for v in EpisodeStatus],
    "gender": [v.value for v in Gender],
    "police_category": [v.value for v in PoliceCategory],
    "episode_type": [*(v.value for v in DfeMissingType), "none"],
    "interview_method": [v.value for v in InterviewMethod],
    "vulnerability": [v.value for v in Vulnerability],
    "source_system": [],  # the registered police sources, read when the check runs
    "council_role": [v.value for v in CouncilRole],
    "found_condition": [v.value for v in Condition],
}


def validate_against_schema(schema_path: Path, body: bytes) -> None:
    """Validate a payload against a JSON Schema or an XSD, independently of the renderer."""
    if schema_path.suffix == ".json":
        schema = json.loads(schema_path.read_text(encoding="utf-8"))
        errors = [
            e.json_path
            for e in jsonschema.Draft202012Validator(schema).iter_errors(json.loads(body))
        ]
        assert not errors, f"schema errors at {errors}"
    else:
        xml.load_schema(schema_path).validate(xml.parse(body))


def canonical_codes(table: str) -> list[str]:
    """The canonical codes of `table` that every target needs a code for."""
    return list(registry.INBOUND) if table == "source_system" else CANONICAL_TABLES[table]


def target(adapter: OutboundAdapter, council: str = "304") -> TargetConfig:
    """A target with the adapter's credentials and nothing else, each holding the secret."""
    return TargetConfig(
        council=council,
        system=adapter.name,
        timeout_s=2.0,
        base_url=f"https://case-system.example.org/{council}",
        credentials={key: f"{SECRET}-{key}" for key in adapter.credentials},
    )


def client_answering(
    answer: Callable[[httpx.Request], httpx.Response], seen: list[httpx.Request]
) -> httpx.Client:
    """An httpx client whose transport records each call and answers tokens itself."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth/token"):
            return token_answer()
        seen.append(request)
        return answer(request)

    return httpx.Client(transport=httpx.MockTransport(handler))


def key_places(request: httpx.Request, key: str) -> set[str]:
    """Where a request carries the idempotency key: header names, `url`, `body`."""
    places = {name for name, value in request.headers.items() if key in value}
    if key in str(request.url):
        places.add("url")
    if key.encode() in request.content:
        places.add("body")
    return places


def outcome_of(adapter: OutboundAdapter, response: httpx.Response) -> tuple[str, Any]:
    """(`delivered` | `received` | `retryable` | `permanent`, result or error) of `classify`."""
    try:
        result = adapter.classify(response)
    except RetryableDelivery as exc:
        return "retryable", exc
    except PermanentDelivery as exc:
        return "permanent", exc
    return ("delivered" if result.acknowledged else "received"), result


def outbound_contract(adapter: OutboundAdapter) -> type:
    """A pytest class holding every outbound contract check for `adapter`."""
    folder = adapter.folder
    manifest = tomllib.loads((folder / "manifest.toml").read_text(encoding="utf-8"))
    exemptions: dict[str, str] = manifest.get("exemptions", {})
    answers = rows(folder / "fixtures" / "answers.toml")
    failing = [row for row in answers if row.outcome in ("retryable", "permanent")]
    success = next((row for row in answers if row.outcome in ("delivered", "received")), None)

    def exempt(check: str) -> None:
        if check in exemptions:
            pytest.skip(f"exempt: {exemptions[check]}")

    class OutboundContract:
        """Checks every outbound adapter must pass."""

        def test_manifest_agrees_with_the_adapter(self) -> None:
            """The manifest's name is the folder's and the adapter's, and its files are its."""
            assert manifest["name"] == folder.name == adapter.name
            assert manifest["direction"] == "outbound"
            assert manifest["spec"].endswith(".md") and manifest["spec_version"]
            assert (ROOT / manifest["mapping"]).is_file()
            assert adapter.schema_path.resolve() == (folder / manifest["schema"]).resolve()
            assert adapter.codes.path.resolve() == (ROOT / manifest["mapping"]).resolve()
            for reason in exemptions.values():
                assert reason.strip(), "every contract exemption needs a reason"

        def test_adapter_is_an_outbound_adapter(self) -> None:
            """The folder exports one `OutboundAdapter` named as the folder."""
            assert isinstance(adapter, OutboundAdapter)
            assert adapter.credentials, "name the credential keys the client reads"

        def test_demo_credentials_have_the_credential_keys(self) -> None:
            """Loopback routes without `credentials_env` send every key the client reads."""
            assert sorted(adapter.demo_credentials) == sorted(adapter.credentials)
            assert all(adapter.demo_credentials.values())

        def test_the_simulator_takes_a_delivery(self) -> None:
            """The client, with the demo credentials, delivers to the adapter's own simulator."""
            request = CASES["reported_not_looked_after"]
            sim = TargetConfig(
                council="304",
                system=adapter.name,
                base_url=f"http://testserver/sim/{adapter.name}/304",
                credentials=dict(adapter.demo_credentials),
            )
            with mounted(adapter.name, adapter.create_simulator()) as http:
                result = adapter.send(request, adapter.render(request), sim, http)
            assert isinstance(result, SendResult) and result.target_reference

        def test_schema_compiles(self) -> None:
            """The target's schema is itself valid (JSON Schema 2020-12 or XSD 1.0)."""
            if adapter.schema_path.suffix == ".json":
                jsonschema.Draft202012Validator.check_schema(
                    json.loads(adapter.schema_path.read_text(encoding="utf-8"))
                )
            else:
                xmlschema.XMLSchema10(str(adapter.schema_path))

        @pytest.mark.parametrize("case", CASE_NAMES)
        def test_case_renders_and_validates(self, case: str) -> None:
            """Every canonical case renders to a payload valid against the target's schema."""
            payload = adapter.render(CASES[case])
            validate_against_schema(adapter.schema_path, payload.body)

        @pytest.mark.parametrize("case", CASE_NAMES)
        def test_case_equals_its_golden_file(self, case: str) -> None:
            """Every canonical case renders byte for byte to its reviewed golden payload."""
            golden = golden_path(adapter, case)
            assert golden.is_file(), "missing: run scripts/refresh_outbound_golden.py"
            assert adapter.render(CASES[case]).body == golden.read_bytes(), (
                "golden differs: run scripts/refresh_outbound_golden.py and review the diff"
            )

        def test_every_golden_file_has_a_case(self) -> None:
            """No golden payload is left over from a case that no longer exists."""
            stale = sorted(
                p.name for p in golden_path(adapter, "x").parent.iterdir() if p.stem not in CASES
            )
            assert not stale, f"stale golden files: {stale}"

        def test_render_is_deterministic(self) -> None:
            """The same request renders to the same bytes twice."""
            request = CASES[CASE_NAMES[0]]
            assert adapter.render(request) == adapter.render(request)

        def test_a_payload_breaking_the_schema_is_permanent(self) -> None:
            """A render that fails its schema raises PermanentDelivery, never sends."""
            with pytest.raises(PermanentDelivery):
                adapter.render(with_alert_code(CASES[CASE_NAMES[0]], "not a code!"))

        @pytest.mark.parametrize("table", sorted(CANONICAL_TABLES))
        def test_every_canonical_code_has_a_target_code(self, table: str) -> None:
            """Each canonical code of the list has a code in the target's mapping file."""
            exempt(f"code_table:{table}")
            codes = adapter.codes.tables().get(table)
            assert codes is not None, f"{adapter.codes.path.name} has no {table!r} table"
            missing = [value for value in canonical_codes(table) if value not in codes]
            assert not missing, f"{table}: no {adapter.name} code for {missing}"

        def test_idempotency_key_is_sent_and_stable_across_retries(self) -> None:
            """The key travels with the first attempt and identically with its retry."""
            exempt("idempotency")
            request = CASES["reported_not_looked_after"]
            payload = adapter.render(request)
            seen: list[httpx.Request] = []

            def answer(_: httpx.Request) -> httpx.Response:
                return httpx.Response(503) if len(seen) == 1 else success.response()

            with client_answering(answer, seen) as http:
                with pytest.raises(RetryableDelivery):
                    adapter.send(request, payload, target(adapter), http)
                adapter.send(request, payload, target(adapter), http)
            first, retry = (key_places(r, request.idempotency_key) for r in seen)
            assert first, "the idempotency key is not sent"
            assert first == retry
            assert seen[0].url == seen[1].url

        def test_the_answer_table_has_a_success_and_failures(self) -> None:
            """The spec's answer rows name at least one success and one failure, uniquely."""
            assert success is not None, "no success row"
            assert failing, "no failure row"
            assert len({row.name for row in answers}) == len(answers)

        @pytest.mark.parametrize("row", answers, ids=[row.name for row in answers])
        def test_answer_row_is_classified(self, row: Row) -> None:
            """Each answer of the spec's table gets the outcome the spec gives it."""
            outcome, value = outcome_of(adapter, row.response())
            assert outcome == row.outcome
            if outcome == "retryable" and row.retry_after is not None:
                assert value.retry_after == row.retry_after
            if outcome in ("delivered", "received"):
                assert (value.target_reference, value.person_id, value.episode_ref) == (
                    row.target_reference,
                    row.person_id,
                    row.episode_ref,
                )
                assert value.http_status == row.status
            else:
                assert value.http_status == row.status

        @pytest.mark.parametrize("row", failing, ids=[row.name for row in failing])
        def test_no_secret_in_errors_or_logs(self, row: Row) -> None:
            """Whatever the target answers, no credential reaches an error text or a log."""
            request = CASES["reported_not_looked_after"]
            payload = adapter.render(request)
            with (
                capture_logs() as logs,
                client_answering(lambda _: row.response(), []) as http,
                pytest.raises(DeliveryError) as caught,
            ):
                adapter.send(request, payload, target(adapter), http)
            error = caught.value
            for text in (str(error), repr(error), error.reason, json.dumps(logs, default=str)):
                assert SECRET not in text

        def test_no_secret_when_the_transport_fails(self) -> None:
            """A connection failure is retryable and its error carries no credential."""

            def refuse(request: httpx.Request) -> httpx.Response:
                raise httpx.ConnectError("connection refused", request=request)

            request = CASES["reported_not_looked_after"]
            with (
                capture_logs() as logs,
                httpx.Client(transport=httpx.MockTransport(refuse)) as http,
                pytest.raises(RetryableDelivery) as caught,
            ):
                adapter.send(request, adapter.render(request), target(adapter), http)
            assert SECRET not in str(caught.value) + json.dumps(logs, default=str)

    OutboundContract.__name__ = f"Test{adapter.name.capitalize()}OutboundContract"
    return OutboundContract
