"""The warnings of a receipt: facts police IT should act on (openapi.yaml, "Inbound").

A warning never refuses a message: it is accepted and stored whatever the warnings say.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

UNRESOLVED = "council_name_unresolved"
RESPONSIBLE_UNKNOWN = "responsible_authority_unknown"
NO_COUNCIL_TOLD = "no_council_told"


def warnings(receipt: Mapping[str, Any], *, responsible_unknown: bool) -> list[dict[str, str]]:
    """The warnings of a receipt whose events were just routed.

    `responsible_unknown`: an event was about a looked-after child whose message names no
    responsible authority at all.
    """
    found = [
        {
            "code": UNRESOLVED,
            "message": f"the council name {name!r} matches no council the gateway knows: that "
            "council is not told until an operator resolves the name (the councils that "
            "matched are told as usual); check the name, or ask the gateway's operators",
        }
        for name in receipt["unresolved_councils"]
    ]
    if responsible_unknown:
        found.append(
            {
                "code": RESPONSIBLE_UNKNOWN,
                "message": "the child is looked after but the message names no responsible "
                "(placing) authority: the council where the child is was told and warned; "
                "name the placing authority in the next message about this child",
            }
        )
    if receipt["event_types"] and not receipt["deliveries"]:
        found.append(
            {
                "code": NO_COUNCIL_TOLD,
                "message": "no council could be told: the message is stored and waits on the "
                "unroutable list until an operator onboards the council or resolves its name",
            }
        )
    return found
