"""What a renderer is given: the stored event, the episode's derived facts and the alerts."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from adapters.base import Alert, DeliveryRequest
from gateway.canonical import CouncilRole, EpisodeEvent
from gateway.delivery.claims import Claim
from gateway.episodes import RETURN_INTERVIEW_DUE, cin_factors


def _statutory(owner: str | None) -> timedelta:
    return RETURN_INTERVIEW_DUE


def build(
    claimed: Claim, *, interview_due: Callable[[str | None], timedelta] = _statutory
) -> DeliveryRequest:
    """The renderer's input for one delivery.

    `interview_due` gives, for the council that owes the return home interview (its DfE code,
    or None when unknown), how long after the child is found its pack allows: the owner's
    clock, not the receiving council's, so a host council is sent the owner's deadline.

    The event and its snapshot are as stored at ingest; the per-child counts are the episode's
    latest (so a late delivery carries what the gateway knows now); `first_for_target` holds
    for a target's first delivery of the episode, which ordering guarantees went first.
    """
    event = EpisodeEvent.model_validate(claimed.canonical_event)
    state = claimed.episode_state
    found = event.episode.found
    owner = event.episode.return_interview_owner
    return DeliveryRequest(
        delivery_id=claimed.delivery_id,
        idempotency_key=claimed.idempotency_key,
        council=claimed.council,
        council_role=role(claimed, event),
        return_interview_owner=owner,
        episode_id=claimed.episode_id,
        first_for_target=claimed.seq == 1,
        event=event,
        return_interview_due_by=found.at + interview_due(owner) if found else None,
        cin_factors=cin_factors(event.episode),
        episodes_last_28_days=int(state.get("episodes_last_28_days", 1)),
        episodes_last_90_days=int(state.get("episodes_last_90_days", 1)),
        alerts=[Alert.model_validate(_alert(f)) for f in claimed.flags],
    )


def _alert(flag: Mapping[str, Any]) -> dict[str, str]:
    return {
        "code": str(flag["code"]),
        "rule": str(flag.get("rule", flag["code"])),
        "reason": str(flag.get("reason", "")),
    }


def role(claimed: Claim, event: EpisodeEvent) -> CouncilRole:
    """Why the delivery's council is told (docs/council-it.md).

    The role it was queued with (ingest, replay of the unroutable list: for a council named
    by a name resolved later, the role that name had). Else, for a delivery the policy timer
    queued or one queued before roles were kept, the council's role in the event's snapshot,
    or in the episode's state when the snapshot names it by a name resolved since.

    Raises:
        ValueError: none of them names the council: nothing says which duties are its own.
    """
    if claimed.council_role is not None:
        return CouncilRole(claimed.council_role)
    found = event.episode.role_of(claimed.council)
    if found is not None:
        return found
    told = claimed.episode_state.get("councils", [])
    state_role = next((t["role"] for t in told if t["council"] == claimed.council), None)
    if state_role is None:
        raise ValueError(f"council {claimed.council} has no role in delivery {claimed.delivery_id}")
    return CouncilRole(state_role)
