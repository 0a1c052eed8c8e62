"""deploy/prometheus: the alert rules load, pass their unit tests and name metrics that exist."""

from __future__ import annotations

import re
import subprocess

import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from gateway.api.deps import Services
from tests.deploy.tools import DEPLOY, tool

RULES = DEPLOY / "prometheus" / "gateway-alerts.yml"
RULE_TESTS = DEPLOY / "prometheus" / "gateway-alerts.test.yml"
# What a family's samples add to its name in the text format (prometheus_client).
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
}
EXPECTED_ALERTS = {
    "GatewayHighRiskDeliveryOverdue",
    "GatewayDeliveryOverdue",
    "GatewayDeadLetter",
    "GatewayCouncilDeliveriesFailing",
    "GatewayProtocolAckOverdue",
    "GatewayUnroutableWaiting",
    "GatewayAuditChainBroken",
    "GatewayAuditVerificationStale",
    "GatewayDown",
}


def _rules() -> list[dict[str, str]]:
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_promtool_checks_the_rules() -> None:
    """`promtool check rules` accepts the file."""
    promtool = tool("promtool", "prometheus")
    done = subprocess.run(
        [promtool, "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_unit_tests_of_every_alert_pass() -> None:
    """`promtool test rules`: each alert fires when it should and stays quiet otherwise."""
    promtool = tool("promtool", "prometheus")
    done = subprocess.run(
        [promtool, "test", "rules", str(RULE_TESTS)],
        capture_output=True,
        text=True,
        check=False,
        cwd=RULE_TESTS.parent,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    tested = set(re.findall(r"alertname: (\w+)", RULE_TESTS.read_text(encoding="utf-8")))
    assert tested == EXPECTED_ALERTS


def test_the_rules_are_the_alerts_the_operations_guide_lists() -> None:
    """Every alert has a severity and a runbook anchor that docs/operations.md has."""
    guide = (DEPLOY.parent / "docs" / "operations.md").read_text(encoding="utf-8")
    anchors = {_anchor(line) for line in guide.splitlines() if line.startswith("#")}
    rules = _rules()
    assert {r["alert"] for r in rules} == EXPECTED_ALERTS
    for rule in rules:
        assert rule["labels"]["severity"] in {"page", "ticket"}, rule["alert"]
        runbook = rule["annotations"]["runbook"]
        assert runbook.startswith("docs/operations.md#"), rule["alert"]
        assert runbook.split("#", 1)[1] in anchors, f"{rule['alert']}: no heading for {runbook}"


def _anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = heading.lstrip("#").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def test_every_metric_the_rules_name_is_exposed(services: Services) -> None:
    """Each `gateway_*` name in an expression is a family (or a sample of one) at /metrics."""
    assert services.audit_monitor is not None
    services.audit_monitor.run_once()  # the audit figures appear once a walk has finished
    from gateway.api.app import create_app

    with TestClient(create_app(services)) as client:
        text = client.get("/metrics").text
    families = {f.name: f.type for f in text_string_to_metric_families(text)}
    exposed = set(families)
    for name, kind in families.items():
        exposed |= {name + suffix for suffix in SUFFIXES.get(kind, ())}
    named = {m for rule in _rules() for m in re.findall(r"\bgateway_[a-z0-9_]+", rule["expr"])}
    assert named, "no gateway metric named in the rules"
    assert named <= exposed, f"named by the rules but not at /metrics: {sorted(named - exposed)}"
