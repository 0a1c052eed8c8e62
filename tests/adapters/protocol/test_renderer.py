"""The Protocol renderer: the import document exactly as docs/council-it.md describes it."""

from __future__ import annotations

import pytest
from lxml import etree

from adapters import xml
from adapters.base import Alert
from adapters.protocol import renderer
from gateway.errors import PermanentDelivery
from tests.contract.canonical_cases import CASES

NS = {"p": renderer.NS}


def doc(case: str) -> etree._Element:
    """The rendered document of a canonical case, parsed."""
    return xml.parse(renderer.render(CASES[case]).body).root


def text(root: etree._Element, path: str) -> str | None:
    """The text at a `p:`-prefixed path below Notification."""
    return root.findtext(f"p:Notification/{path}", namespaces=NS)


def test_root_carries_the_format_version():
    """ProtocolImport is in its namespace with formatVersion 1."""
    root = doc("found")
    assert root.tag == f"{{{renderer.NS}}}ProtocolImport"
    assert root.get("formatVersion") == "1"


def test_kind_is_awol_only_for_dfe_type_a_and_lac_is_y_or_n():
    """AWOL for DfE type A; LAC says Y for looked-after children and N otherwise."""
    away = doc("reported_looked_after_away")
    assert (text(away, "p:Episode/p:Kind"), text(away, "p:Episode/p:LAC")) == ("AWOL", "Y")
    missing = doc("reported_looked_after_missing")
    assert (text(missing, "p:Episode/p:Kind"), text(missing, "p:Episode/p:LAC")) == ("MISSING", "Y")
    home = doc("reported_not_looked_after")
    assert (text(home, "p:Episode/p:Kind"), text(home, "p:Episode/p:LAC")) == ("MISSING", "N")


def test_event_codes_and_risk_letters():
    """Event types and risk levels use Protocol's own codes."""
    assert text(doc("reported_absent"), "p:EventCode") == "NEW"
    assert text(doc("reported_absent"), "p:Episode/p:Risk") == "N"
    assert text(doc("risk_changed"), "p:EventCode") == "RISK"
    assert text(doc("debriefed_with_disclosures"), "p:EventCode") == "DEBRIEF"


def test_debrief_disclosures_are_y_or_n():
    """The debrief's declined, harm and crime answers are Y/N."""
    root = doc("debriefed_with_disclosures")
    assert [text(root, f"p:Debrief/p:{name}") for name in ("Declined", "Harm", "Crime")] == [
        "N",
        "Y",
        "Y",
    ]


def test_alerts_and_vulnerabilities_are_repeated_elements():
    """Alert* and Vulnerability* repeat directly, with upper-case codes."""
    root = doc("updated_with_alerts")
    alerts = root.findall("p:Notification/p:Alert", NS)
    assert [a.get("code") for a in alerts] == [
        "STRATEGY_MEETING_REQUIRED",
        "CSE_SCREENING_REQUIRED",
    ]
    assert [v.text for v in root.findall("p:Notification/p:Episode/p:Vulnerability", NS)] == [
        "GANG_ASSOCIATION",
        "DOMESTIC_ABUSE",
        "MISSING_WITH_FAMILY",
    ]


def test_a_document_over_two_mebibytes_is_permanent():
    """The import refuses files over 2 MiB, so the renderer does not produce one."""
    alerts = [Alert(code="other", rule="r", reason="x" * 4000) for _ in range(600)]
    with pytest.raises(PermanentDelivery, match="over 2 MiB"):
        renderer.render(CASES["found"].model_copy(update={"alerts": alerts}))
