"""API keys: issued once, stored hashed, bound to a role, revocable."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from gateway import keys
from gateway.keys import Role
from gateway.store.schema import api_keys
from gateway.store.work import unit_of_work


def test_issued_key_authenticates_with_its_binding(engine: Engine) -> None:
    """A police key authenticates as police bound to its force."""
    with unit_of_work(engine, audits=True) as connection:
        key = keys.create(connection, Role.POLICE, force="01")
        principal = keys.authenticate(connection, key)
    assert principal is not None
    assert (principal.role, principal.force, principal.council) == (Role.POLICE, "01", None)


def test_only_the_hash_is_stored(engine: Engine) -> None:
    """The secret part of the key appears nowhere in the database row."""
    with unit_of_work(engine, audits=True) as connection:
        key = keys.create(connection, Role.OPERATOR)
        row = connection.execute(select(api_keys)).one()
    parsed = keys.parse(key)  # the secret may hold "_": parse it, do not split on "_"
    assert parsed is not None
    assert parsed[1] not in " ".join(str(v) for v in row)


@pytest.mark.parametrize("presented", ["", "nonsense", "mep_aaaaaaaaaaaa_" + "x" * 43])
def test_unknown_or_malformed_keys_do_not_authenticate(engine: Engine, presented: str) -> None:
    """Garbage and unknown keys give no principal."""
    with engine.connect() as connection:
        assert keys.authenticate(connection, presented) is None


def test_wrong_secret_for_a_known_id_fails(engine: Engine) -> None:
    """A real key id with a different secret is refused."""
    with unit_of_work(engine, audits=True) as connection:
        key = keys.create(connection, Role.COUNCIL, council="304")
        forged = key[:-5] + ("AAAAA" if not key.endswith("AAAAA") else "BBBBB")
        assert keys.authenticate(connection, forged) is None


def test_revoked_key_stops_working(engine: Engine) -> None:
    """Revocation takes effect at once and is reported once."""
    with unit_of_work(engine, audits=True) as connection:
        key = keys.create(connection, Role.COUNCIL, council="304")
        key_id = key.split("_")[1]
        assert keys.revoke(connection, key_id)
        assert not keys.revoke(connection, key_id)
        assert keys.authenticate(connection, key) is None


@pytest.mark.parametrize(
    ("role", "force", "council"),
    [
        (Role.POLICE, None, None),
        (Role.POLICE, "1", None),
        (Role.COUNCIL, None, "30"),
        (Role.COUNCIL, "01", "304"),
        (Role.OPERATOR, "01", None),
    ],
)
def test_bindings_are_checked(role: Role, force: str | None, council: str | None) -> None:
    """Each role gets exactly its kind of binding."""
    with pytest.raises(ValueError, match="key"):
        keys.validate_binding(role, force, council)


def test_a_refusal_says_why_and_names_only_an_existing_key(engine: Engine) -> None:
    """Malformed, unknown, revoked or wrong: the id is given only for a key that exists."""
    with unit_of_work(engine, audits=True) as connection:
        key = keys.create(connection, keys.Role.POLICE, force="01")
        other = keys.create(connection, keys.Role.POLICE, force="01")
        keys.revoke(connection, other.split("_")[1])
        key_id = key.split("_")[1]
        assert keys.check(connection, "nonsense") == keys.Refused("malformed")
        assert keys.check(connection, "mep_aaaaaaaaaaaa_" + "A" * 43) == keys.Refused("unknown")
        wrong = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
        assert keys.check(connection, wrong) == keys.Refused("wrong_secret", key_id)
        assert keys.check(connection, other) == keys.Refused("revoked", other.split("_")[1])
        assert keys.check(connection, key) == keys.authenticate(connection, key)
