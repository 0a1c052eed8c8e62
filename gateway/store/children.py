"""The statements of the `children` aggregate: each child, matched across reports.

Run as prepared statements (gateway/store/prepared.py): they are on the ingest path.
"""

from __future__ import annotations

from sqlalchemy import bindparam, insert, literal_column, select, union_all, update

from gateway.store.prepared import Prepared
from gateway.store.schema import children

# With an NHS number: the child with it, else the oldest child of that name and birth date
# recorded without one, in one statement (each branch on its own index, NHS matches first).
BY_NHS_OR_KEY = Prepared(
    union_all(
        select(
            children.c.id,
            children.c.nhs_number,
            children.c.created_at,
            literal_column("0").label("rank"),
        ).where(children.c.nhs_number == bindparam("nhs")),
        select(
            children.c.id,
            children.c.nhs_number,
            children.c.created_at,
            literal_column("1").label("rank"),
        ).where(children.c.match_key == bindparam("key"), children.c.nhs_number.is_(None)),
    )
    .order_by("rank", "created_at")
    .limit(1)
)
BY_KEY = Prepared(
    select(children.c.id)
    .where(children.c.match_key == bindparam("key"))
    .order_by(children.c.created_at)
    .limit(1)
)
INSERT = Prepared(insert(children))
# SET columns come from the parameters' keys; `row_id` picks the row.
UPDATE = Prepared(update(children).where(children.c.id == bindparam("row_id")))
