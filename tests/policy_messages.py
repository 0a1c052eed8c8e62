"""Synthetic COMPACT and MERLIN messages for policy scenarios: any council, times and risks."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

UK = ZoneInfo("Europe/London")
# Canonical vulnerability -> (MERLIN risk factor code, COMPACT wording), for the ones tests use.
VULNERABILITY_CODES = {
    "domestic_abuse": ("DOM_ABUSE", None),
    "cse": ("CSE", "CSE RISK"),
    "mental_health": ("MENTAL_HEALTH", "MENTAL HEALTH"),
}
_serial = itertools.count(1)

# The demo's COMPACT councils (docs/council-it.md): name and force; any other code goes by MERLIN.
COMPACT_COUNCILS = {
    "830": ("Derbyshire County Council", "30"),
    "831": ("Derby City Council", "30"),
    "384": ("Wakefield Council", "13"),
    "871": ("Slough Borough Council", "43"),
}


def _letters(number: int) -> str:
    """A number as letters (child matching ignores digits in names)."""
    text = ""
    while True:
        number, digit = divmod(number, 26)
        text = chr(ord("a") + digit) + text
        if number == 0:
            return text


@dataclass(frozen=True)
class Child:
    """A synthetic child; every new one is a different child unless given the same names."""

    forename: str = "Testchild"
    surname: str = field(default_factory=lambda: f"Policy{_letters(next(_serial))}")
    dob: str = "2012-09-14"  # ISO
    nhs: str | None = None


@dataclass(frozen=True)
class Report:
    """One missing report, rendered as the next message of its case on each `message` call."""

    council: str
    reported: datetime
    child: Child = field(default_factory=Child)
    risks: tuple[tuple[str, datetime], ...] = ()  # (grade, assessed at); default: LOW at report
    looked_after: bool = False
    whereabouts_known: bool = False
    cp_plan: bool = False
    located: datetime | None = None
    placing: str | None = None  # the responsible council, when another one placed the child
    last_seen: datetime | None = None  # default: when reported
    vulnerabilities: tuple[str, ...] = ()  # canonical codes (VULNERABILITY_CODES)
    previous_reports: int | None = None  # MERLIN's PreviousReports12m
    case: str = field(default_factory=lambda: f"{next(_serial):06d}")

    def with_risk(self, grade: str, at: datetime) -> Report:
        """The same report with a new risk assessment appended."""
        return replace(self, risks=(*self.grades, (grade, at)))

    @property
    def seen(self) -> datetime:
        """When the child was last seen (the report's time unless given)."""
        return self.last_seen or self.reported

    @property
    def grades(self) -> tuple[tuple[str, datetime], ...]:
        """The risk history, defaulting to LOW at the report."""
        return self.risks or (("LOW", self.reported),)

    def message(self, version: int, event: str) -> tuple[str, bytes]:
        """(source, body) for this report's `version`th message of type `event` (COMPACT names)."""
        if self.council in COMPACT_COUNCILS:
            return "compact", _compact(self, version, event)
        return "merlin", _merlin(self, version, event)  # the Met: any council by its code


def _local(moment: datetime) -> str:
    return moment.astimezone(UK).strftime("%d/%m/%Y %H:%M")


def _compact(report: Report, version: int, event: str) -> bytes:
    name, force = COMPACT_COUNCILS[report.council]
    child = report.child
    dob = datetime.fromisoformat(child.dob).strftime("%d/%m/%Y")
    risks = "".join(
        f"<RiskAssessment><Grade>{grade}</Grade><AssessedAt>{_local(at)}</AssessedAt>"
        "<AssessedBy>PS 1 Example</AssessedBy><Rationale>Synthetic.</Rationale></RiskAssessment>"
        for grade, at in report.grades
    )
    placing = COMPACT_COUNCILS[report.placing][0] if report.placing else name
    care = (
        f"<Care><LookedAfter>{'Y' if report.looked_after else 'N'}</LookedAfter>"
        + (f"<PlacingAuthority>{placing}</PlacingAuthority>" if report.looked_after else "")
        + f"<CPPlan>{'Y' if report.cp_plan else 'N'}</CPPlan></Care>"
    )
    wording = [VULNERABILITY_CODES[v][1] for v in report.vulnerabilities]
    vulnerabilities = (
        "<Vulnerabilities>"
        + "".join(f"<Vulnerability>{w}</Vulnerability>" for w in wording)
        + "</Vulnerabilities>"
        if wording
        else ""
    )
    located = ""
    locate = ""
    if report.located is not None:
        located = f'<Located at="{_local(report.located)}" by="POLICE">A park</Located>'
        locate = "<Locate><ReturnedTo>Home</ReturnedTo><SafeAndWell>Y</SafeAndWell></Locate>"
    whereabouts = "<WhereaboutsKnown>Y</WhereaboutsKnown>" if report.whereabouts_known else ""
    closure = "<ClosureReason>LOCATED SAFE</ClosureReason>" if event == "CLOSED" else ""
    nhs = f"<NHSNo>{child.nhs}</NHSNo>" if child.nhs else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<CaseExport xmlns="urn:compact:missing-persons:export:3" version="3.4">
  <ExportHeader><ExportId>{uuid.uuid4()}</ExportId><ForceCode>{force}</ForceCode>
    <ExportedAt>{_local(report.reported)}</ExportedAt><EventType>{event}</EventType></ExportHeader>
  <Case>
    <CaseNumber>MP/{force}/2025/{report.case}</CaseNumber><SequenceNo>{version}</SequenceNo>
    <Person><PersonURN>P{report.case}</PersonURN><Forename>{escape(child.forename)}</Forename>
      <Surname>{escape(child.surname)}</Surname><DOB>{dob}</DOB><Sex>2</Sex>{nhs}
      <Address><AddressLine>1 Synthetic Street</AddressLine><Postcode>ZZ1 1ZZ</Postcode></Address>
      <LocalAuthority>{name}</LocalAuthority></Person>
    {care}{vulnerabilities}
    <RiskAssessments>{risks}</RiskAssessments>
    <Timeline><LastSeen at="{_local(report.seen)}">Home address</LastSeen>
      <Reported at="{_local(report.reported)}" by="PARENT"/>{whereabouts}{located}</Timeline>
    {locate}{closure}
    <OIC><Name>DC Example</Name><Collar>1</Collar><Station>Central</Station>
      <Phone>0300 000 0000</Phone><Email>oic@example.police.uk</Email></OIC>
  </Case>
</CaseExport>
""".encode()


_MERLIN_TYPES = {
    "NEW": "MISSING_REPORT",
    "RISK_CHANGE": "RISK_REVIEW",
    "UPDATE": "UPDATE",
    "LOCATED": "FOUND",
    "CLOSED": "CLOSURE",
    "CANCELLED": "CANCELLATION",
}
_MERLIN_GRADES = {"NO APPARENT RISK": "NO_APPARENT_RISK", "VERY LOW": "VERY_LOW"}


def _merlin(report: Report, version: int, event: str) -> bytes:
    child = report.child
    grade, assessed = report.grades[-1]
    iso = lambda moment: moment.isoformat()  # noqa: E731
    care = ""
    if report.looked_after:
        care = (
            "<CareStatus><LookedAfter>true</LookedAfter><LegalStatus>C2</LegalStatus>"
            f"<ResponsibleAuthority>{report.placing or report.council}</ResponsibleAuthority>"
            "<PlacementType>FOSTER</PlacementType>"
            f"<PlacementBorough>{report.council}</PlacementBorough>"
            f"<ChildProtectionPlan>{str(report.cp_plan).lower()}</ChildProtectionPlan></CareStatus>"
        )
    elif report.cp_plan:
        care = (
            "<CareStatus><LookedAfter>false</LookedAfter>"
            "<ChildProtectionPlan>true</ChildProtectionPlan></CareStatus>"
        )
    found = ""
    if report.located is not None:
        found = (
            f"<Found><FoundAt>{iso(report.located)}</FoundAt><FoundLocation>A park</FoundLocation>"
            "<FoundBy>POLICE</FoundBy><ReturnedTo>Home</ReturnedTo>"
            "<Condition>SAFE_WELL</Condition></Found>"
        )
    nhs = f"<NhsNumber>{child.nhs}</NhsNumber>" if child.nhs else ""
    whereabouts = "<WhereaboutsKnown>true</WhereaboutsKnown>" if report.whereabouts_known else ""
    codes = [VULNERABILITY_CODES[v][0] for v in report.vulnerabilities]
    factors = (
        "<RiskFactors>" + "".join(f'<Factor code="{c}"/>' for c in codes) + "</RiskFactors>"
        if codes
        else ""
    )
    previous = (
        f"<PreviousReports12m>{report.previous_reports}</PreviousReports12m>"
        if report.previous_reports is not None
        else ""
    )
    return f"""<MerlinNotification xmlns="urn:mps:merlin:notification:2" schemaVersion="2.1">
  <Header><MessageId>{uuid.uuid4()}</MessageId><SentAt>{iso(report.reported)}</SentAt>
    <NotificationType>{_MERLIN_TYPES[event]}</NotificationType><ForceCode>01</ForceCode>
    <SendingUnit>Synthetic MPU</SendingUnit></Header>
  <Report><MerlinRef>25MIS{report.case}</MerlinRef><ReportVersion>{version}</ReportVersion>
    <Subject><FamilyName>{escape(child.surname)}</FamilyName>
      <GivenNames>{escape(child.forename)}</GivenNames><DateOfBirth>{child.dob}</DateOfBirth>
      <Gender>F</Gender>{nhs}
      <HomeAddress><Line>1 Synthetic Road</Line><Postcode>ZZ1 1ZZ</Postcode></HomeAddress>
      <HomeBorough>{report.council}</HomeBorough></Subject>
    {care}
    <Missing><Category>MISSING</Category>{whereabouts}
      <RiskLevel>{_MERLIN_GRADES.get(grade, grade)}</RiskLevel>
      <RiskRationale>Synthetic.</RiskRationale><RiskAssessedAt>{iso(assessed)}</RiskAssessedAt>
      <LastSeenAt>{iso(report.seen)}</LastSeenAt><LastSeenLocation>Home</LastSeenLocation>
      <ReportedAt>{iso(report.reported)}</ReportedAt><ReportedBy>PARENT</ReportedBy>
      <Circumstances>Synthetic.</Circumstances>{factors}{previous}</Missing>
    {found}
    <OfficerInCase><Name>PC Example</Name><Rank>PC</Rank><WarrantNumber>000000</WarrantNumber>
      <Unit>MPU</Unit><Phone>020 0000 0000</Phone>
      <Email>mpu@example.police.uk</Email></OfficerInCase>
  </Report>
</MerlinNotification>
""".encode()
