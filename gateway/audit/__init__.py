"""The append-only, hash-chained audit log (docs/architecture.md, docs/decisions/0005 and 0028).

- `chain`: entries, appended in a unit of work (`gateway.store.work`) and chained at commit.
- `checkpoints`: the chain's head, signed and written outside the database after each commit.
- `verification`: every entry against its text, and the head against the checkpoints.
"""

from gateway.audit.chain import GENESIS, Action, Head, append, canonical_json
from gateway.audit.verification import Problem, Report, count, describe, verify

__all__ = [
    "GENESIS",
    "Action",
    "Head",
    "Problem",
    "Report",
    "append",
    "canonical_json",
    "count",
    "describe",
    "verify",
]
