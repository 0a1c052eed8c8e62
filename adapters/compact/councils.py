"""Council names, as COMPACT writes them, to DfE LA codes (`mappings/councils.yaml`).

Matching ignores case, punctuation and generic affixes ("Council", "County Council", "MDC",
"London Borough of", "City of", ...), so "City of Wakefield MDC" and "Wakefield" are one key.
It is exact after that: an unknown name is refused by the caller, never guessed, because a
missing child routed to the wrong council is worse than a message sent back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import mappings
from gateway.errors import ConfigurationError

FILE = "councils.yaml"
_DROP = re.compile("['\u2019.]")  # "King's", "C.C." read as one word
_SPLIT = re.compile(r"[^0-9a-z]+")
_LA_CODE = re.compile(r"^[0-9]{3}$")

# Generic words around a council's own name, as token sequences; longest first so
# "county council" goes before "council".
_PREFIXES: tuple[tuple[str, ...], ...] = (
    ("metropolitan", "borough", "of"),
    ("london", "borough", "of"),
    ("royal", "borough", "of"),
    ("borough", "of"),
    ("city", "of"),
    ("the",),
    ("lb",),
)
_SUFFIXES: tuple[tuple[str, ...], ...] = (
    ("london", "borough", "of"),  # the ONS style: "Redbridge, London Borough of"
    ("royal", "borough", "of"),
    ("city", "of"),
    ("metropolitan", "district", "council"),
    ("metropolitan", "borough", "council"),
    ("district", "council"),
    ("borough", "council"),
    ("county", "council"),
    ("city", "council"),
    ("council",),
    ("mdc",),
    ("mbc",),
    ("bc",),
    ("cc",),
    ("lb",),
    ("city",),
    ("county",),
)


def normalise(name: str) -> str:
    """The matching key of a council name: lower case, words only, generic affixes removed."""
    text = _DROP.sub("", name.casefold().replace("&", " and "))
    tokens = tuple(token for token in _SPLIT.split(text) if token)
    changed = True
    while changed:
        changed = False
        for affix in _PREFIXES:
            if len(tokens) > len(affix) and tokens[: len(affix)] == affix:
                tokens, changed = tokens[len(affix) :], True
        for affix in _SUFFIXES:
            if len(tokens) > len(affix) and tokens[-len(affix) :] == affix:
                tokens, changed = tokens[: -len(affix)], True
    return " ".join(tokens)


def build_index(data: Any, file: str = FILE) -> tuple[dict[str, str], dict[str, str]]:
    """Check the councils file and index it.

    Returns:
        (key -> LA code, LA code -> official name).

    Raises:
        ConfigurationError: the file's shape is wrong, or two councils share a key.
    """
    councils = data.get("councils") if isinstance(data, Mapping) else None
    if not isinstance(councils, Mapping):
        raise ConfigurationError("expected a top-level 'councils' mapping", file=file)
    index: dict[str, str] = {}
    names: dict[str, str] = {}
    for code, entry in councils.items():
        name, variants = _entry(code, entry, file)
        names[code] = name
        for spelling in (name, *variants):
            key = normalise(spelling)
            if not key:
                raise ConfigurationError(f"council {code}: {spelling!r} has no words", file=file)
            other = index.setdefault(key, code)
            if other != code:
                raise ConfigurationError(
                    f"councils {other} and {code} both match {spelling!r} (key {key!r})",
                    file=file,
                )
    return index, names


def _entry(code: object, entry: object, file: str) -> tuple[str, list[str]]:
    if not isinstance(code, str) or not _LA_CODE.match(code):
        raise ConfigurationError(f"{code!r} is not a quoted three-digit LA code", file=file)
    if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
        raise ConfigurationError(f"council {code}: expected a 'name' string", file=file)
    variants = entry.get("variants", [])
    if not isinstance(variants, list) or not all(isinstance(v, str) for v in variants):
        raise ConfigurationError(f"council {code}: 'variants' must be a list of names", file=file)
    return entry["name"], variants


_INDEX, _NAMES = build_index(mappings.load(FILE), str(mappings.path(FILE)))


def lookup(name: str) -> str | None:
    """The DfE LA code of a council name, or None when the name is not in the table."""
    return _INDEX.get(normalise(name))


def official_name(code: str) -> str | None:
    """The official name of the council with this LA code, if it is in the table."""
    return _NAMES.get(code)


def known_codes() -> frozenset[str]:
    """Every LA code the table knows."""
    return frozenset(_NAMES)
