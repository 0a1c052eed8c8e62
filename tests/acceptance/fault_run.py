"""A fault run: police IT post episodes while `gateway serve` is killed with SIGKILL, repeatedly.

Shared by the chaos test (tests/acceptance/test_chaos.py, against the gateway's simulators)
and the benchmark's fault run (bench/faults.py, against independent doubles): the same
episodes across the demo's six councils, the same posting (each episode's messages in order,
resent until the gateway takes them, as police IT do), the same kills, and the same end:
how long after the last message the last delivery arrived. The checks at the case systems
are in `delivery_checks.py`.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from sqlalchemy import Engine, func, select

from gateway.store.schema import deliveries, events
from tests.acceptance.delivery_checks import unsettled
from tests.acceptance.process import GatewayProcess
from tests.messages import MERLIN_FOUND, compact, merlin

XML = {"Content-Type": "application/xml"}
FORCES = ("01", "30", "13", "43")
Episode = tuple[str, str, list[bytes]]  # (source, force, the messages in order)


def _merlin_messages(borough: str, ref: str, count: int) -> list[bytes]:
    place = (
        ("<HomeBorough>304<", f"<HomeBorough>{borough}<"),
        ("<PlacementBorough>304<", f"<PlacementBorough>{borough}<"),
    )
    found = [merlin(*place, message_id=str(uuid.uuid4()), ref=ref)]
    for version in range(2, count + 1):
        last = version == count
        found.append(
            merlin(
                *place,
                *([MERLIN_FOUND] if last else []),
                message_id=str(uuid.uuid4()),
                ref=ref,
                version=version,
                notification="FOUND" if last else "UPDATE",
            )
        )
    return found


def _compact_messages(force: str, council: str, case: str, count: int) -> list[bytes]:
    swaps = (
        ("<ForceCode>30<", f"<ForceCode>{force}<"),
        ("<LocalAuthority>Derbyshire County Council<", f"<LocalAuthority>{council}<"),
    )
    found = [compact(*swaps, export_id=str(uuid.uuid4()).upper(), case=case)]
    for sequence in range(2, count + 1):
        found.append(
            compact(
                *swaps,
                export_id=str(uuid.uuid4()).upper(),
                case=case,
                sequence=sequence,
                event="UPDATE",
            )
        )
    return found


def episodes(per_kind: int, messages: int = 2) -> list[Episode]:
    """`per_kind` episodes of each of six kinds (one council each), `messages` messages each.

    MERLIN to Brent and to Redbridge, COMPACT to Derbyshire, Derby, Wakefield and Slough; the
    last MERLIN message of an episode says the child was found. Each message is one event and
    one delivery.
    """
    found: list[Episode] = []
    for n in range(per_kind):
        for borough in ("304", "317"):
            ref = f"24MIS{int(borough) * 1000 + n:06d}"
            found.append(("merlin", "01", _merlin_messages(borough, ref, messages)))
        for force, council in (
            ("30", "Derbyshire County Council"),
            ("30", "Derby City"),
            ("13", "Wakefield"),
            ("43", "Slough"),
        ):
            case = f"MP/{force}/2024/{len(found):06d}"
            found.append(("compact", force, _compact_messages(force, council, case, messages)))
    return found


@dataclass
class Sending:
    """What the posters saw."""

    failures: list[str] = field(default_factory=list)
    last_accepted: datetime | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accepted(self) -> None:
        """A message was taken (202, or 200 for a resend)."""
        with self.lock:
            self.last_accepted = datetime.now(UTC)


def post_in_order(
    gw: GatewayProcess,
    keys: dict[str, dict[str, str]],
    found: list[Episode],
    sending: Sending,
    pace_s: float = 0.0,
) -> None:
    """Post each episode's messages in order, resending until the gateway answers (police IT)."""
    with httpx.Client(base_url=gw.url, timeout=10) as http:
        for source, force, bodies in found:
            for body in bodies:
                for _ in range(600):
                    try:
                        answer = http.post(
                            f"/v1/inbound/{source}", content=body, headers={**XML, **keys[force]}
                        )
                    except httpx.TransportError:
                        time.sleep(0.1)  # killed: resend once it is back
                        continue
                    if answer.status_code in (200, 202):
                        sending.accepted()
                        break
                    sending.failures.append(f"{answer.status_code}: {answer.text[:300]}")
                    return
                else:
                    sending.failures.append("the gateway never came back")
                    return
                time.sleep(pace_s)


@dataclass
class Run:
    """A fault run's outcome, before the checks at the case systems."""

    messages: int
    kills: int
    kills_while_sending: int
    sending_s: float
    sending: Sending


def send_with_kills(
    gateway: GatewayProcess,
    found: list[Episode],
    *,
    kills: int,
    posters: int = 4,
    pace_s: float = 0.0,
    seed: int = 11,
    until_sent: bool = False,
) -> Run:
    """Start the gateway, post `found` from `posters` threads and kill -9 it `kills` times.

    Kills come 0.5 to 2.5 s apart (each followed by a restart), so they land during ingest
    and, once posting is done, during delivery; with `until_sent`, they go on until posting
    is done too. Returns once posting is done and the gateway runs.
    """
    keys = {f: gateway.key("--role", "police", "--force", f) for f in FORCES}
    sending = Sending()
    threads = [
        threading.Thread(
            target=post_in_order,
            args=(gateway, keys, found[i::posters], sending, pace_s),
            daemon=True,  # a run given up on does not wait for its posters
        )
        for i in range(posters)
    ]
    gateway.start()
    started = time.monotonic()
    for thread in threads:
        thread.start()
    dice, while_sending, done = random.Random(seed), 0, 0
    while done < kills or (until_sent and any(t.is_alive() for t in threads)):
        done += 1
        time.sleep(dice.uniform(0.5, 2.5))
        while_sending += any(t.is_alive() for t in threads)
        gateway.kill9()
        gateway.start()
    for thread in threads:
        thread.join(timeout=900)
    return Run(
        messages=sum(len(bodies) for _, _, bodies in found),
        kills=done,
        kills_while_sending=while_sending,
        sending_s=time.monotonic() - started,
        sending=sending,
    )


def wait_until_delivered(engine: Engine, limit_s: float) -> bool:
    """Whether every delivery was delivered within `limit_s` from now."""
    deadline = time.monotonic() + limit_s
    while unsettled(engine) and time.monotonic() < deadline:
        time.sleep(0.5)
    return unsettled(engine) == 0


def stored_from_messages(engine: Engine) -> int:
    """Events stored from police messages (the policy timer's aside)."""
    with engine.connect() as connection:
        return int(
            connection.execute(
                select(func.count()).where(events.c.message_row_id.is_not(None))
            ).scalar_one()
        )


def last_delivered_at(engine: Engine) -> datetime | None:
    """When the last delivery was confirmed (delivered or acknowledged)."""
    with engine.connect() as connection:
        found: datetime | None = connection.execute(
            select(func.max(deliveries.c.delivered_at))
        ).scalar_one()
    return found
