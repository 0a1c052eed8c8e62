"""Synthetic test messages: the specs' own examples, and variants built from them."""

from __future__ import annotations

import uuid

# docs/police-it.md "Example", verbatim.
MERLIN_EXAMPLE = """<MerlinNotification xmlns="urn:mps:merlin:notification:2" schemaVersion="2.1">
  <Header>
    <MessageId>6f1c9a52-3d7e-4d55-9a0e-2b8f7c1d0e44</MessageId>
    <SentAt>2024-05-01T22:05:13+01:00</SentAt>
    <NotificationType>MISSING_REPORT</NotificationType>
    <ForceCode>01</ForceCode>
    <SendingUnit>NW BCU Missing Persons Unit</SendingUnit>
  </Header>
  <Report>
    <MerlinRef>24MIS012345</MerlinRef>
    <ReportVersion>1</ReportVersion>
    <CadRef>CAD4521/01MAY24</CadRef>
    <Subject>
      <FamilyName>Testchild</FamilyName>
      <GivenNames>Alex Jordan</GivenNames>
      <DateOfBirth>2010-03-04</DateOfBirth>
      <Gender>F</Gender>
      <SelfDefinedEthnicity>W1</SelfDefinedEthnicity>
      <NhsNumber>9997654323</NhsNumber>
      <HomeAddress><Line>1 Example Road</Line><Line>Wembley</Line><Postcode>HA9 0ZZ</Postcode></HomeAddress>
      <HomeBorough>304</HomeBorough>
    </Subject>
    <CareStatus>
      <LookedAfter>true</LookedAfter>
      <LegalStatus>C2</LegalStatus>
      <ResponsibleAuthority>830</ResponsibleAuthority>
      <PlacementType>RESIDENTIAL</PlacementType>
      <PlacementAddress><Line>The Example Home</Line><Postcode>HA9 0ZY</Postcode></PlacementAddress>
      <PlacementBorough>304</PlacementBorough>
      <ChildProtectionPlan>false</ChildProtectionPlan>
    </CareStatus>
    <Missing>
      <Category>MISSING</Category>
      <RiskLevel>MEDIUM</RiskLevel>
      <RiskRationale>Third episode this month; associates linked to county lines.</RiskRationale>
      <RiskAssessedAt>2024-05-01T21:55:00+01:00</RiskAssessedAt>
      <LastSeenAt>2024-05-01T18:00:00+01:00</LastSeenAt>
      <LastSeenLocation>Outside the home</LastSeenLocation>
      <ReportedAt>2024-05-01T21:30:00+01:00</ReportedAt>
      <ReportedBy>RESIDENTIAL_STAFF</ReportedBy>
      <Circumstances>Did not return by curfew; phone switched off.</Circumstances>
      <RiskFactors><Factor code="COUNTY_LINES"/><Factor code="CSE">Older associate</Factor></RiskFactors>
      <PreviousReports12m>4</PreviousReports12m>
    </Missing>
    <OfficerInCase>
      <Name>PC Example</Name><Rank>PC</Rank><WarrantNumber>000000</WarrantNumber>
      <Unit>NW BCU MPU</Unit><Phone>020 0000 0000</Phone><Email>mpu@example.police.uk</Email>
    </OfficerInCase>
  </Report>
</MerlinNotification>
"""

# docs/police-it.md "Example", verbatim.
COMPACT_EXAMPLE = """<?xml version="1.0" encoding="UTF-8"?>
<CaseExport xmlns="urn:compact:missing-persons:export:3" version="3.4">
  <ExportHeader>
    <ExportId>0E4F6F3A-8B21-4C8E-9C55-6A1B2D3E4F50</ExportId>
    <ForceCode>30</ForceCode>
    <ExportedAt>27/10/2024 01:40</ExportedAt>
    <EventType>NEW</EventType>
  </ExportHeader>
  <Case>
    <CaseNumber>MP/30/2024/004321</CaseNumber>
    <SequenceNo>1</SequenceNo>
    <IncidentNumber>30-INC-20241026-0456</IncidentNumber>
    <Person>
      <PersonURN>30P0099887</PersonURN>
      <Forename>Sam</Forename>
      <Surname>Examplechild</Surname>
      <DOB>14/09/2009</DOB>
      <Sex>1</Sex>
      <Ethnicity>M1</Ethnicity>
      <NHSNo>999 765 4323</NHSNo>
      <Address><AddressLine>2 Sample Street</AddressLine><AddressLine>Matlock</AddressLine><Postcode>de4 3zz</Postcode></Address>
      <LocalAuthority>Derbyshire County Council</LocalAuthority>
    </Person>
    <Care>
      <LookedAfter>N</LookedAfter>
      <CPPlan>N</CPPlan>
    </Care>
    <Vulnerabilities><Vulnerability>SELF HARM</Vulnerability></Vulnerabilities>
    <RiskAssessments>
      <RiskAssessment>
        <Grade>HIGH</Grade>
        <AssessedAt>27/10/2024 01:30</AssessedAt>
        <AssessedBy>PS 1234 Example</AssessedBy>
        <Rationale>Expressed intent to self harm.</Rationale>
      </RiskAssessment>
    </RiskAssessments>
    <Timeline>
      <LastSeen at="26/10/2024 23:15">Home address</LastSeen>
      <Reported at="27/10/2024 01:05" by="PARENT"/>
    </Timeline>
    <OIC><Name>DC Example</Name><Collar>5678</Collar><Station>Chesterfield</Station><Phone>0300 000 0000</Phone><Email>oic@example.police.uk</Email></OIC>
  </Case>
</CaseExport>
"""


def merlin(
    *replacements: tuple[str, str],
    message_id: str | None = None,
    version: int | None = None,
    ref: str | None = None,
    notification: str | None = None,
) -> bytes:
    """The MERLIN example with text replaced (each replacement must apply)."""
    text = MERLIN_EXAMPLE
    changes = list(replacements)
    if message_id is not None:
        changes.append(("6f1c9a52-3d7e-4d55-9a0e-2b8f7c1d0e44", message_id))
    if version is not None:
        changes.append(
            ("<ReportVersion>1</ReportVersion>", f"<ReportVersion>{version}</ReportVersion>")
        )
    if ref is not None:
        changes.append(("24MIS012345", ref))
    if notification is not None:
        changes.append(("<NotificationType>MISSING_REPORT<", f"<NotificationType>{notification}<"))
    for old, new in changes:
        assert old in text, f"replacement target not in the example: {old!r}"
        text = text.replace(old, new)
    return text.encode("utf-8")


def compact(
    *replacements: tuple[str, str],
    export_id: str | None = None,
    sequence: int | None = None,
    case: str | None = None,
    event: str | None = None,
) -> bytes:
    """The COMPACT example with text replaced (each replacement must apply)."""
    text = COMPACT_EXAMPLE
    changes = list(replacements)
    if export_id is not None:
        changes.append(("0E4F6F3A-8B21-4C8E-9C55-6A1B2D3E4F50", export_id))
    if sequence is not None:
        changes.append(("<SequenceNo>1</SequenceNo>", f"<SequenceNo>{sequence}</SequenceNo>"))
    if case is not None:
        changes.append(("MP/30/2024/004321", case))
    if event is not None:
        changes.append(("<EventType>NEW<", f"<EventType>{event}<"))
    for old, new in changes:
        assert old in text, f"replacement target not in the example: {old!r}"
        text = text.replace(old, new)
    return text.encode("utf-8")


def new_id() -> str:
    """A fresh message id."""
    return str(uuid.uuid4())


MERLIN_FOUND = (
    "    <OfficerInCase>",
    "    <Found>\n"
    "      <FoundAt>2024-05-02T09:15:00+01:00</FoundAt>\n"
    "      <FoundLocation>A park</FoundLocation>\n"
    "      <FoundBy>POLICE</FoundBy>\n"
    "      <ReturnedTo>The Example Home</ReturnedTo>\n"
    "      <Condition>SAFE_WELL</Condition>\n"
    "    </Found>\n"
    "    <OfficerInCase>",
)
