"""Council names, as COMPACT writes them, to DfE LA codes (`mappings/councils.yaml`).

Matching ignores case, punctuation and generic affixes ("Council", "County Council", "MDC",
"London Borough of", "City of", ...), so "City of Wakefield MDC" and "Wakefield" are one key.
It is exact after that: a name that matches nothing is never guessed, because a missing child
routed to the wrong council is worse than one that waits for an operator. Such a name is kept
verbatim as an unresolved council (docs/police-it.md); `gateway replay` resolves it again with the
table as it is then (`load_table`), once an operator has added the variant.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

import mappings
from gateway.errors import ConfigurationError

FILE = "councils.yaml"
_DROP = re.compile("['\u2019.]")  # "King's", "C.C." read as one word
_SPLIT = re.compile(r"[^0-9a-z]+")
_LA_CODE = re.compile(r"^[0-9]{3}$")

# Names whose generic words are the name itself: "City of London" is the City of London
# Corporation (201), while a bare "London" (what stripping "City of" would leave) names no
# council at all. Each is read as one word before the affixes are stripped.
_WHOLE: tuple[tuple[str, ...], ...] = (("city", "of", "london"),)

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
    tokens = _joined(tuple(token for token in _SPLIT.split(text) if token))
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


def _joined(tokens: tuple[str, ...]) -> tuple[str, ...]:
    """`tokens` with each of `_WHOLE` made one token, so no affix rule can take it apart."""
    for whole in _WHOLE:
        size = len(whole)
        at = 0
        while at + size <= len(tokens):
            if tokens[at : at + size] == whole:
                tokens = (*tokens[:at], " ".join(whole), *tokens[at + size :])
            at += 1
    return tokens


@dataclass(frozen=True, slots=True)
class NameTable:
    """The names table: every matching key to its LA code, and each code's official name."""

    index: Mapping[str, str]
    names: Mapping[str, str]

    def lookup(self, name: str) -> str | None:
        """The DfE LA code of a council name, or None when the name is not in the table."""
        return self.index.get(normalise(name))

    def official_name(self, code: str) -> str | None:
        """The official name of the council with this LA code, if it is in the table."""
        return self.names.get(code)

    def codes(self) -> frozenset[str]:
        """Every LA code the table knows."""
        return frozenset(self.names)


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


def load_table(path: Path | None = None) -> NameTable:
    """Read and check the names table from its file now (not the copy read at start-up).

    `gateway replay` reads it this way, so a variant an operator has just added resolves the
    names that were waiting for it.

    Raises:
        ConfigurationError: the file cannot be read, or is not a valid names table.
    """
    where = path or mappings.path(FILE)
    try:
        data = yaml.safe_load(where.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot read the council names: {exc}", file=str(where)) from exc
    index, names = build_index(data, str(where))
    return NameTable(index, names)


TABLE = NameTable(*build_index(mappings.load(FILE), str(mappings.path(FILE))))


def lookup(name: str) -> str | None:
    """The DfE LA code of a council name in the table read at start-up, or None."""
    return TABLE.lookup(name)


def official_name(code: str) -> str | None:
    """The official name of the council with this LA code, if it is in the table."""
    return TABLE.official_name(code)


def known_codes() -> frozenset[str]:
    """Every LA code the table knows."""
    return TABLE.codes()
