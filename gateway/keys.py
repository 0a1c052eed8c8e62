"""API keys: issued per client, stored as hashes, bound to a role and a force or council.

A key is `mep_<id>_<secret>`: the id finds the row without scanning, the secret is checked
against its SHA-256 in constant time. Secrets are 256 random bits, so a fast hash is the right
tool here (a password KDF protects low-entropy secrets, not these).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Connection, select, update

from gateway import audit
from gateway.canonical import utc_now
from gateway.store.schema import api_keys

_KEY = re.compile(r"^mep_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$")


class Role(StrEnum):
    """Who a key speaks for (docs/operations.md, "Keys and their rotation")."""

    POLICE = "police"
    COUNCIL = "council"
    OPERATOR = "operator"


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller."""

    key_id: str
    role: Role
    force: str | None = None
    council: str | None = None

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        bound = self.force or self.council
        return f"{self.role}:{bound}:{self.key_id}" if bound else f"{self.role}:{self.key_id}"


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """A key as listed (never with its secret)."""

    key_id: str
    role: Role
    force: str | None
    council: str | None
    name: str | None
    created_at: datetime
    revoked_at: datetime | None


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def validate_binding(role: Role, force: str | None, council: str | None) -> None:
    """A police key needs a force code, a council key an LA code, an operator key neither."""
    if role is Role.POLICE and not (force and re.fullmatch(r"[0-9]{2}", force)):
        raise ValueError("a police key needs --force with a two-digit force code")
    if role is Role.COUNCIL and not (council and re.fullmatch(r"[0-9]{3}", council)):
        raise ValueError("a council key needs --council with a three-digit DfE LA code")
    if (role is Role.POLICE and council) or (role is Role.COUNCIL and force):
        raise ValueError("a key is bound to a force or to a council, not both")
    if role is Role.OPERATOR and (force or council):
        raise ValueError("an operator key is not bound to a force or council")


def create(
    connection: Connection,
    role: Role,
    *,
    force: str | None = None,
    council: str | None = None,
    name: str | None = None,
    actor: str = "cli",
) -> str:
    """Issue a key; returns the full key, which is shown once and never stored."""
    validate_binding(role, force, council)
    key_id = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12))
    secret = secrets.token_urlsafe(32)
    connection.execute(
        api_keys.insert().values(
            id=key_id,
            secret_hash=_hash(secret),
            role=str(role),
            force=force,
            council=council,
            name=name,
            created_at=utc_now(),
        )
    )
    audit.append(
        connection,
        actor=actor,
        action=audit.Action.KEY_CREATED,
        subject=key_id,
        details={"role": str(role), "force": force, "council": council},
    )
    return f"mep_{key_id}_{secret}"


@dataclass(frozen=True, slots=True)
class Refused:
    """Why a presented key was refused, for the log (the caller is told only "unknown").

    `key_id` is the id of an existing key whose secret was wrong or which is revoked (None
    when the key is malformed or names no key): never the secret.
    """

    reason: str  # malformed | unknown | revoked | wrong_secret
    key_id: str | None = None


@dataclass(frozen=True, slots=True)
class Stored:
    """What checking a key needs of its row: never the secret, only its hash."""

    secret_hash: str
    principal: Principal
    revoked: bool


def parse(presented: str) -> tuple[str, str] | None:
    """The key id and secret of a presented key, or None if it is malformed."""
    match = _KEY.match(presented)
    return None if match is None else (match[1], match[2])


def stored(connection: Connection, key_id: str) -> Stored | None:
    """The key `key_id` as stored, or None if there is none."""
    row = connection.execute(
        select(
            api_keys.c.secret_hash,
            api_keys.c.role,
            api_keys.c.force,
            api_keys.c.council,
            api_keys.c.revoked_at,
        ).where(api_keys.c.id == key_id)
    ).first()
    if row is None:
        return None
    principal = Principal(key_id=key_id, role=Role(row.role), force=row.force, council=row.council)
    return Stored(row.secret_hash, principal, revoked=row.revoked_at is not None)


def verify(key: Stored | None, key_id: str, secret: str) -> Principal | Refused:
    """The principal of key `key_id` presented with `secret`, or why it is refused."""
    if key is None:
        return Refused("unknown")
    if key.revoked:
        return Refused("revoked", key_id)
    if not hmac.compare_digest(key.secret_hash, _hash(secret)):
        return Refused("wrong_secret", key_id)
    return key.principal


def check(connection: Connection, presented: str) -> Principal | Refused:
    """The principal for a presented key, or why it is refused."""
    parsed = parse(presented)
    if parsed is None:
        return Refused("malformed")
    key_id, secret = parsed
    return verify(stored(connection, key_id), key_id, secret)


def authenticate(connection: Connection, presented: str) -> Principal | None:
    """The principal for a presented key, or None if unknown, malformed or revoked."""
    checked = check(connection, presented)
    return checked if isinstance(checked, Principal) else None


def revoke(connection: Connection, key_id: str, actor: str = "cli") -> bool:
    """Revoke a key by id; False when there is no such unrevoked key."""
    result = connection.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=utc_now())
    )
    if result.rowcount:
        audit.append(connection, actor=actor, action=audit.Action.KEY_REVOKED, subject=key_id)
    return bool(result.rowcount)


def list_keys(connection: Connection) -> list[KeyInfo]:
    """Every key, newest first, without secrets."""
    rows = connection.execute(select(api_keys).order_by(api_keys.c.created_at.desc())).all()
    return [
        KeyInfo(
            key_id=r.id,
            role=Role(r.role),
            force=r.force,
            council=r.council,
            name=r.name,
            created_at=r.created_at,
            revoked_at=r.revoked_at,
        )
        for r in rows
    ]
