"""Pure episode logic: child matching keys, per-child counts and the canonical episode state.

The canonical episode JSON of openapi.yaml is computed here from the previous state and
the newest event; storage keeps it as the episode's `state` so reads need no recomputation.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import mappings
from gateway.canonical import CouncilRole, EpisodeEvent, EpisodeSnapshot

COUNT_WINDOWS_DAYS = (28, 30, 60, 90)
MAX_MATCH_KEY = 300  # children.match_key's length
RETURN_INTERVIEW_DUE = timedelta(hours=72)


def _fold(text: str) -> str:
    """Lower-case ASCII letters only: 'O'Brien-Smith' and 'obrien smith' match."""
    decomposed = unicodedata.normalize("NFKD", text)
    return re.sub(r"[^a-z]", "", decomposed.encode("ascii", "ignore").decode().lower())


def match_key(event: EpisodeEvent) -> str:
    """Normalised family name, first given name and date of birth: one child across messages.

    Folding can make a name longer than it was written ('ﬃ' is 'ffi'), so a key too long for
    its column is kept as the SHA-256 of the whole key instead: the same child still gets the
    same key, and two children never share one (a readable key always holds '|').
    """
    child = event.child
    first = child.given_names.split()[0] if child.given_names.split() else ""
    key = f"{_fold(child.family_name)}|{_fold(first)}|{child.date_of_birth.isoformat()}"
    if len(key) <= MAX_MATCH_KEY:
        return key
    return "sha256:" + hashlib.sha256(key.encode("ascii")).hexdigest()


@dataclass(frozen=True, slots=True)
class ChildCounts:
    """How many episodes the child had in each window up to this one (this one included)."""

    last_28_days: int
    last_30_days: int
    last_60_days: int
    last_90_days: int
    total: int


def count_episodes(reported_at: datetime, others: Iterable[datetime]) -> ChildCounts:
    """Counts of the child's episodes reported in the windows ending at `reported_at`."""
    starts = [t for t in others if t <= reported_at]
    d28, d30, d60, d90 = (
        sum(1 for t in starts if t > reported_at - timedelta(days=d)) for d in COUNT_WINDOWS_DAYS
    )
    return ChildCounts(
        last_28_days=d28, last_30_days=d30, last_60_days=d60, last_90_days=d90, total=len(starts)
    )


def cin_factors(snapshot: EpisodeSnapshot) -> list[str]:
    """DfE CIN census assessment factors for the episode (mappings/cin_factors.yaml)."""
    table = mappings.load("cin_factors.yaml")
    factors: list[str] = list(table["always"])
    for vulnerability in snapshot.vulnerabilities:
        for factor in table["by_vulnerability"].get(str(vulnerability), []):
            if factor not in factors:
                factors.append(factor)
    return sorted(factors, key=_factor_order)


def _factor_order(code: str) -> tuple[int, str]:
    """Census order: 1A, 2A, 10A, 11A (numerically, not as text)."""
    digits = "".join(c for c in code if c.isdigit())
    return int(digits or 0), code


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _risk_history(
    previous: Mapping[str, Any] | None, snapshot: EpisodeSnapshot
) -> list[dict[str, Any]]:
    history = {(h["level"], h["at"]): h for h in (previous or {}).get("risk_history", [])}
    for assessment in snapshot.risk_history:
        key = (str(assessment.level), _iso(assessment.at))
        history.setdefault(key, {"level": key[0], "at": key[1]})
    return sorted(history.values(), key=lambda h: h["at"])


@dataclass(frozen=True, slots=True)
class Told:
    """Who is told of an episode: the councils with their roles, and the names still waiting.

    `councils` holds `{"council", "role"}` and, for a council known only because an operator
    resolved the name the police wrote, that `"name"` too; `unresolved` holds
    `{"name", "role"}` for each name that matches no council yet.
    """

    councils: list[dict[str, str]]
    unresolved: list[dict[str, str]]

    def code_in(self, *roles: CouncilRole) -> str | None:
        """The council told in one of `roles`, if any."""
        wanted = {str(role) for role in roles}
        return next((t["council"] for t in self.councils if t["role"] in wanted), None)


def roles_in_state(state: Mapping[str, Any]) -> list[tuple[str, CouncilRole]]:
    """Each council told of a stored episode, with its role (as `told` recorded them).

    A state written before roles were kept has none: they are worked out from its councils
    as `EpisodeSnapshot.council_roles` does.
    """
    if "councils" in state:
        return [(str(t["council"]), CouncilRole(t["role"])) for t in state["councils"]]
    home, responsible = str(state["home_council"]), state.get("responsible_council")
    if not state.get("looked_after"):
        return [(home, CouncilRole.HOME)]
    roles = [] if home == responsible else [(home, CouncilRole.HOST)]
    return [*roles, (str(responsible), CouncilRole.RESPONSIBLE)] if responsible else roles


def told(previous: Mapping[str, Any] | None, snapshot: EpisodeSnapshot) -> Told:
    """The councils to tell of `snapshot`, with a name resolved earlier for this episode.

    A name the police still write but an operator has since resolved (`gateway replay`
    recorded it in the episode's state) counts as the council it names, in the role the
    name has now; a council told in two roles is told once, as `responsible` if either is.
    """
    resolved = {
        t["name"]: t["council"] for t in (previous or {}).get("councils", []) if t.get("name")
    }
    councils = [{"council": code, "role": str(role)} for code, role in snapshot.council_roles()]
    unresolved: list[dict[str, str]] = []
    for waiting in snapshot.unresolved_councils:
        code = resolved.get(waiting.name)
        if code is None:
            unresolved.append({"name": waiting.name, "role": str(waiting.role)})
        else:
            add_council(councils, code, waiting.role, name=waiting.name)
    return Told(councils, unresolved)


def add_council(
    councils: list[dict[str, str]], code: str, role: CouncilRole, *, name: str | None = None
) -> None:
    """Add `code` in `role` to `councils` (in place); `name`: the name it was resolved from."""
    entry = next((t for t in councils if t["council"] == code), None)
    if entry is None:
        entry = {"council": code, "role": str(role)}
        councils.append(entry)
    elif role is CouncilRole.RESPONSIBLE:
        entry["role"] = str(role)
    if name is not None:
        entry.setdefault("name", name)


def council_columns(snapshot: EpisodeSnapshot, told: Told) -> dict[str, str | None]:
    """`home_council`, `responsible_council` and `return_interview_owner` of the episode.

    As the snapshot says, or, where it names a council by a name since resolved, that council.
    """
    home = snapshot.home_council or told.code_in(CouncilRole.HOME, CouncilRole.HOST)
    responsible = snapshot.responsible_council or told.code_in(CouncilRole.RESPONSIBLE)
    return {
        "home_council": home,
        "responsible_council": responsible,
        "return_interview_owner": responsible if snapshot.looked_after else home,
    }


def build_state(
    previous: Mapping[str, Any] | None,
    event: EpisodeEvent,
    *,
    episode_id: str,
    counts: ChildCounts,
    sources: list[dict[str, str]],
) -> dict[str, Any]:
    """The canonical episode (without `events`, which are read from their table)."""
    snap = event.episode
    found_at = snap.found.at if snap.found else None
    care = snap.care
    councils = told(previous, snap)
    return {
        "episode_id": episode_id,
        "police_category": str(snap.police_category),
        "whereabouts_known": snap.whereabouts_known,
        "dfe_missing_type": str(snap.dfe_missing_type) if snap.dfe_missing_type else None,
        "status": str(snap.status),
        "risk_level": str(snap.risk_level),
        "risk_history": _risk_history(previous, snap),
        "child": event.child.model_dump(mode="json"),
        "looked_after": snap.looked_after,
        "legal_status": str(care.legal_status) if care and care.legal_status else None,
        "placement_type": str(care.placement_type) if care and care.placement_type else None,
        "child_protection_plan": snap.on_child_protection_plan,
        **council_columns(snap, councils),
        "councils": councils.councils,
        "unresolved_councils": councils.unresolved,
        "reported_at": _iso(snap.reported_at),
        "last_seen_at": _iso(snap.last_seen_at),
        "last_seen_location": snap.last_seen_location,
        "found_at": _iso(found_at),
        "found_location": snap.found.location if snap.found else None,
        "found_condition": str(snap.found.condition) if snap.found else None,
        "circumstances": snap.circumstances,
        "vulnerabilities": [str(v) for v in snap.vulnerabilities],
        "cin_factors": cin_factors(snap),
        "return_interview_due_by": _iso(found_at + RETURN_INTERVIEW_DUE) if found_at else None,
        "episodes_last_28_days": counts.last_28_days,
        "episodes_last_30_days": counts.last_30_days,
        "episodes_last_60_days": counts.last_60_days,
        "episodes_last_90_days": counts.last_90_days,
        "episodes_total": counts.total,
        "previous_reports_12m": snap.previous_reports_12m,
        "debrief": snap.debrief.model_dump(mode="json") if snap.debrief else None,
        "closure_reason": str(snap.closure_reason) if snap.closure_reason else None,
        "police": snap.police.model_dump(mode="json"),
        "incident_number": snap.incident_number,
        "flags": list((previous or {}).get("flags", [])),
        "sources": sources,
    }
