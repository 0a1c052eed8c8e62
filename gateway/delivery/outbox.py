"""The outbox (docs/architecture.md): one name for its three parts.

- `gateway.delivery.claims`: claiming due deliveries, in order per episode and council,
  highest risk first, under leases.
- `gateway.delivery.outcomes`: recording how attempts ended, in batches, with their audit
  entries and the case systems' ids.
- `gateway.delivery.acks`: Protocol's asynchronous acknowledgements.

Each step is its own short unit of work naming its locks (gateway/store/locks.py gives their
order), so nothing is held open while a case system answers, and the steps of several workers
run side by side, taking the audit chain's lock only at commit.
"""

from __future__ import annotations

from gateway.delivery.acks import ACK_LOCKS, ack_cursor, apply_acks, awaiting_ack
from gateway.delivery.claims import DUE, SETTLED, Claim, claim
from gateway.delivery.outcomes import (
    FINISH_LOCKS,
    PURPOSE,
    Attempted,
    Finished,
    finish,
    finish_many,
    save_case_record,
    save_case_records,
)

__all__ = [
    "ACK_LOCKS",
    "DUE",
    "FINISH_LOCKS",
    "PURPOSE",
    "SETTLED",
    "Attempted",
    "Claim",
    "Finished",
    "ack_cursor",
    "apply_acks",
    "awaiting_ack",
    "claim",
    "finish",
    "finish_many",
    "save_case_record",
    "save_case_records",
]
