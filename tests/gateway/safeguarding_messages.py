"""COMPACT exports for the role and condition tests, built from docs/police-it.md's example.

Two children, both reported by Derbyshire (force 30): one looked after by Derbyshire (830, FWi)
and placed in Derby (831, Mosaic), on a child protection plan; one not looked after, living in
Slough (871, Protocol). Each is later located "not safe and well" with no injuries described.
"""

from __future__ import annotations

from tests.messages import compact, new_id

_CARE = "<LookedAfter>N</LookedAfter>\n      <CPPlan>N</CPPlan>"
_PLACED_IN_DERBY_BY_DERBYSHIRE = (
    _CARE,
    "<LookedAfter>Y</LookedAfter><PlacingAuthority>Derbyshire</PlacingAuthority>"
    "<PlacementKind>FOSTER</PlacementKind>"
    "<PlacementLocalAuthority>Derby City Council</PlacementLocalAuthority><CPPlan>Y</CPPlan>",
)
_LIVES_IN_SLOUGH = (
    "<LocalAuthority>Derbyshire County Council</LocalAuthority>",
    "<LocalAuthority>Slough Borough Council</LocalAuthority>",
)
_NOT_SAFE_AND_WELL = (
    '<Reported at="27/10/2024 01:05" by="PARENT"/>\n    </Timeline>',
    '<Reported at="27/10/2024 01:05" by="PARENT"/>\n'
    '      <Located at="27/10/2024 09:00" by="POLICE">Bus station</Located>\n    </Timeline>\n'
    "    <Locate><ReturnedTo>Carer's address</ReturnedTo><SafeAndWell>N</SafeAndWell></Locate>",
)
LOOKED_AFTER_CASE = "MP/30/2024/004401"
AT_HOME_CASE = "MP/30/2024/004402"


def looked_after(*, located: bool = False) -> bytes:
    """The looked-after child's report, or (`located`) its second export, LOCATED."""
    if not located:
        return compact(_PLACED_IN_DERBY_BY_DERBYSHIRE, export_id=new_id(), case=LOOKED_AFTER_CASE)
    return compact(
        _PLACED_IN_DERBY_BY_DERBYSHIRE,
        _NOT_SAFE_AND_WELL,
        export_id=new_id(),
        case=LOOKED_AFTER_CASE,
        sequence=2,
        event="LOCATED",
    )


def at_home(*, located: bool = False) -> bytes:
    """The Slough child's report, or (`located`) its second export, LOCATED."""
    changes = (_LIVES_IN_SLOUGH, ("999 765 4323", "999 000 0018"))
    if not located:
        return compact(*changes, export_id=new_id(), case=AT_HOME_CASE)
    return compact(
        *changes,
        _NOT_SAFE_AND_WELL,
        export_id=new_id(),
        case=AT_HOME_CASE,
        sequence=2,
        event="LOCATED",
    )
