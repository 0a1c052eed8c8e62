"""Council names as COMPACT writes them, to DfE LA codes: exact after normalisation."""

from __future__ import annotations

import pytest

from adapters.compact import councils
from gateway.errors import ConfigurationError

# councils.md: every name and variant of the demo councils, and the councils that are not
# onboarded (which must still resolve, so their messages land on the unroutable list).
COUNCILS_MD = {
    "304": ["London Borough of Brent", "Brent", "LB Brent", "Brent Council"],
    "317": ["London Borough of Redbridge", "Redbridge", "LB Redbridge", "Redbridge Council"],
    "830": ["Derbyshire County Council", "Derbyshire", "Derbyshire CC"],
    "831": ["Derby City Council", "Derby", "Derby City"],
    "384": [
        "City of Wakefield Metropolitan District Council",
        "Wakefield",
        "Wakefield Council",
        "City of Wakefield MDC",
        "Wakefield MDC",
    ],
    "871": ["Slough Borough Council", "Slough", "Slough BC"],
    "310": ["Harrow"],
    "302": ["Barnet"],
    "383": ["Leeds"],
    "380": ["Bradford"],
    "381": ["Calderdale"],
    "382": ["Kirklees"],
    "891": ["Nottinghamshire"],
    "892": ["Nottingham"],
    "870": ["Reading"],
    "868": ["Windsor and Maidenhead"],
}
CASES = [(code, name) for code, names in COUNCILS_MD.items() for name in names]


@pytest.mark.parametrize(("code", "name"), CASES, ids=[name for _, name in CASES])
def test_every_name_in_councils_md_resolves(code: str, name: str) -> None:
    """Each council name and variant listed in councils.md gives its LA code."""
    assert councils.lookup(name) == code


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Derbyshire County Council", "830"),
        ("DERBYSHIRE COUNTY COUNCIL", "830"),
        ("Derbyshire C.C.", "830"),
        ("Derby City Council", "831"),
        ("derby city", "831"),
        ("Derby", "831"),
        ("City of Wakefield MDC", "384"),
        ("Wakefield Metropolitan District Council", "384"),
        ("  wakefield   council ", "384"),
        ("London Borough of Harrow", "310"),
        ("LB Barnet", "302"),
        ("Barnet Council", "302"),
        ("Leeds City Council", "383"),
        ("City of Bradford Metropolitan District Council", "380"),
        ("Bradford MDC", "380"),
        ("Calderdale MBC", "381"),
        ("Calderdale Metropolitan Borough Council", "381"),
        ("Kirklees Council", "382"),
        ("Nottinghamshire County Council", "891"),
        ("Nottingham City Council", "892"),
        ("Reading Borough Council", "870"),
        ("Reading BC", "870"),
        ("Royal Borough of Windsor and Maidenhead", "868"),
        ("Windsor & Maidenhead", "868"),
        ("The Royal Borough of Windsor and Maidenhead Council", "868"),
        ("Slough B.C.", "871"),
        ("Redbridge, London Borough of", "317"),
    ],
)
def test_generic_affixes_case_and_punctuation_are_ignored(name: str, code: str) -> None:
    """Generic affixes, case, punctuation and spacing do not change the match."""
    assert councils.lookup(name) == code


def test_derby_and_derbyshire_stay_apart() -> None:
    """The city (831) and the county (830) never meet after normalisation."""
    assert councils.normalise("Derby City Council") == "derby"
    assert councils.normalise("Derbyshire County Council") == "derbyshire"
    assert councils.lookup("Derby") != councils.lookup("Derbyshire")


@pytest.mark.parametrize(
    "name",
    [
        "Wakefeld",
        "Derbys",
        "Brentwood",
        "Council",
        "County Council",
        "London",
        "",
        "   ",
        "Nottingham Trent",
        "East Midlands Council",
    ],
)
def test_unknown_names_are_not_guessed(name: str) -> None:
    """A near miss, a bare affix or an empty name matches nothing."""
    assert councils.lookup(name) is None


def test_official_names_and_codes() -> None:
    """The table gives official names and knows at least every council in councils.md."""
    assert councils.official_name("384") == "City of Wakefield Metropolitan District Council"
    assert councils.official_name("999") is None
    assert set(COUNCILS_MD) <= councils.known_codes()


def test_two_councils_meeting_after_normalisation_is_a_configuration_error() -> None:
    """A variant that normalises onto another council's key stops start-up, naming the file."""
    data = {
        "councils": {
            "831": {"name": "Derby City Council", "variants": []},
            "830": {"name": "Derbyshire County Council", "variants": ["Derby County"]},
        }
    }
    with pytest.raises(ConfigurationError) as caught:
        councils.build_index(data, "mappings/councils.yaml")
    assert caught.value.file == "mappings/councils.yaml"
    assert "831" in caught.value.problem
    assert "830" in caught.value.problem


@pytest.mark.parametrize(
    "data",
    [
        None,
        {"councils": []},
        {"councils": {"38": {"name": "Too Short"}}},
        {"councils": {304: {"name": "Unquoted Code"}}},
        {"councils": {"304": {"variants": ["Brent"]}}},
        {"councils": {"304": {"name": "Brent", "variants": "LB Brent"}}},
        {"councils": {"304": {"name": "Council"}, "317": {"name": "Council"}}},
    ],
)
def test_malformed_councils_file_is_a_configuration_error(data: object) -> None:
    """Every shape error in the councils file is reported against the file."""
    with pytest.raises(ConfigurationError) as caught:
        councils.build_index(data, "councils.yaml")
    assert caught.value.file == "councils.yaml"
