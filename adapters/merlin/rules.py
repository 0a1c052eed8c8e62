"""The semantic rules of docs/police-it.md that a schema-valid notification must also keep.

Each rule yields its problems; `check` locates them on the element at fault, in document
order. Messages name the rule, never the value: the values are personal data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta

from lxml import etree

from adapters import xml
from adapters.merlin.model import MerlinNotification, NotificationType
from gateway.canonical import nhs_number_is_valid, normalise_postcode
from gateway.errors import ErrorLocation, SemanticInvalid

ADULT_AGE = 18
LAST_SEEN_GRACE = timedelta(minutes=5)

# One rule violation: the problem code, the path (local names) of the element at fault, and a
# message that names the rule but never the value.
Problem = tuple[str, str, str]

_SECTIONS: dict[NotificationType, tuple[str, ...]] = {
    NotificationType.FOUND: ("Found",),
    NotificationType.PREVENTION_INTERVIEW: ("Found", "PreventionInterview"),
    NotificationType.CLOSURE: ("Found", "ClosureReason"),
    NotificationType.CANCELLATION: ("ClosureReason",),
}


def check(notification: MerlinNotification, parsed: xml.ParsedXml) -> None:
    """Apply the rules of docs/police-it.md "Semantics" to a schema-valid notification.

    Raises:
        gateway.errors.SemanticInvalid: every broken rule, located, in document order; the
            problem code is the first one's.
    """
    problems = [problem for rule in RULES for problem in rule(notification)]
    if not problems:
        return
    located = sorted(
        ((code, _locate(parsed, path, message)) for code, path, message in problems),
        key=lambda item: item[1].line or 0,
    )
    code, first = located[0]
    raise SemanticInvalid(
        f"{len(located)} semantic error(s); first at {first.path}: {first.message}",
        [location for _, location in located],
        code=code,
    )


def _locate(parsed: xml.ParsedXml, path: str, message: str) -> ErrorLocation:
    namespace = etree.QName(parsed.root).namespace
    element = parsed.root.find("/".join(f"{{{namespace}}}{step}" for step in path.split("/")))
    return xml.locate(parsed.root if element is None else element, parsed, message)


def age_on(date_of_birth: date, day: date) -> int:
    """Whole years of age on `day` (someone born on 29 February comes of age on 1 March)."""
    years = day.year - date_of_birth.year
    return years - ((day.month, day.day) < (date_of_birth.month, date_of_birth.day))


def _date_of_birth(n: MerlinNotification) -> Iterator[Problem]:
    born = n.report.subject.date_of_birth
    path = "Report/Subject/DateOfBirth"
    # The message's own clock (SentAt, as written) keeps parse pure.
    if born > n.header.sent_at.date():
        yield "date-of-birth-in-future", path, "DateOfBirth is after the date of SentAt"
    elif age_on(born, n.report.missing.last_seen_at.date()) >= ADULT_AGE:
        yield "subject-adult", path, f"the subject is {ADULT_AGE} or over at LastSeenAt"


def _nhs_number(n: MerlinNotification) -> Iterator[Problem]:
    value = n.report.subject.nhs_number
    if value is not None and not nhs_number_is_valid(value):
        yield (
            "invalid-nhs-number",
            "Report/Subject/NhsNumber",
            "NhsNumber fails its modulus 11 check",
        )


def _postcodes(n: MerlinNotification) -> Iterator[Problem]:
    care = n.report.care_status
    addresses = {"Report/Subject/HomeAddress": n.report.subject.home_address}
    if care is not None and care.placement_address is not None:
        addresses["Report/CareStatus/PlacementAddress"] = care.placement_address
    for path, address in addresses.items():
        if normalise_postcode(address.postcode) is None:
            yield "invalid-postcode", f"{path}/Postcode", "Postcode is not a UK postcode"


def _last_seen(n: MerlinNotification) -> Iterator[Problem]:
    missing = n.report.missing
    if missing.last_seen_at - missing.reported_at > LAST_SEEN_GRACE:
        yield (
            "last-seen-after-reported",
            "Report/Missing/LastSeenAt",
            "LastSeenAt is more than 5 minutes after ReportedAt",
        )


def _found_at(n: MerlinNotification) -> Iterator[Problem]:
    found = n.report.found
    if found is not None and found.found_at < n.report.missing.last_seen_at:
        yield "found-before-last-seen", "Report/Found/FoundAt", "FoundAt is before LastSeenAt"


def _sections(n: MerlinNotification) -> Iterator[Problem]:
    kind = n.header.notification_type
    present = {
        "Found": n.report.found is not None,
        "PreventionInterview": n.report.prevention_interview is not None,
        "ClosureReason": n.report.closure_reason is not None,
    }
    for section in _SECTIONS.get(kind, ()):
        if not present[section]:
            yield (
                "missing-required-section",
                "Report",
                f"a {kind} notification must carry {section}",
            )


RULES: tuple[Callable[[MerlinNotification], Iterator[Problem]], ...] = (
    _date_of_birth,
    _nhs_number,
    _postcodes,
    _last_seen,
    _found_at,
    _sections,
)
