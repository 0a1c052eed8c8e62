"""Council names as COMPACT writes them, to DfE LA codes: exact after normalisation."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import mappings
from adapters.compact import councils
from gateway.errors import ConfigurationError

# Every name and variant the interface agreement lists for the demo councils, and the councils
# that are not onboarded (which must still resolve, so their messages land on the unroutable list).
DEMO_COUNCIL_NAMES = {
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
CASES = [(code, name) for code, names in DEMO_COUNCIL_NAMES.items() for name in names]


@pytest.mark.parametrize(("code", "name"), CASES, ids=[name for _, name in CASES])
def test_every_name_of_the_demo_councils_resolves(code: str, name: str) -> None:
    """Each council name and variant listed for the demo councils gives its LA code."""
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
        "London Council",
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
    """The table gives official names and knows at least every demo council."""
    assert councils.official_name("384") == "City of Wakefield Metropolitan District Council"
    assert councils.official_name("999") is None
    assert set(DEMO_COUNCIL_NAMES) <= councils.known_codes()


def _spellings() -> list[tuple[str, str]]:
    table = mappings.load(councils.FILE)["councils"]
    return [
        (code, spelling)
        for code, entry in table.items()
        for spelling in (entry["name"], *entry.get("variants", []))
    ]


def test_the_table_holds_every_childrens_services_authority_in_england() -> None:
    """153 councils, the City of London (201) and the Isles of Scilly (420) among them (DfE)."""
    codes = councils.known_codes()
    assert len(codes) == 153
    assert {"201", "420"} <= codes
    # Abolished: Cumbria, Northamptonshire, Dorset County, Bournemouth, Poole, Bedfordshire.
    assert not {"909", "928", "835", "837", "836", "820"} & codes


@pytest.mark.parametrize(("code", "spelling"), _spellings(), ids=str)
def test_every_spelling_in_the_table_names_its_own_council(code: str, spelling: str) -> None:
    """No official name or variant of one council resolves to another."""
    assert councils.lookup(spelling) == code


@pytest.mark.parametrize(
    ("name", "code"),
    [
        # city and county
        ("Derby City Council", "831"),
        ("Derbyshire County Council", "830"),
        ("Nottingham City Council", "892"),
        ("Nottinghamshire County Council", "891"),
        ("Leicester City Council", "856"),
        ("Leicestershire County Council", "855"),
        ("Southampton City Council", "852"),
        ("Hampshire County Council", "850"),
        ("City of York Council", "816"),
        ("York", "816"),
        ("North Yorkshire County Council", "815"),
        ("North Yorkshire Council", "815"),
        ("East Riding of Yorkshire Council", "811"),
        ("Kingston upon Hull City Council", "810"),
        ("Hull City Council", "810"),
        ("Kingston upon Hull, City of", "810"),
        ("Royal Borough of Kingston upon Thames", "314"),
        ("Kingston upon Thames", "314"),
        ("Bristol City Council", "801"),
        ("Bristol, City of", "801"),
        ("City of Bristol", "801"),
        ("Durham County Council", "840"),
        ("County Durham", "840"),
        ("City of Westminster", "213"),
        ("Westminster City Council", "213"),
        ("City of London", "201"),
        ("City of London Corporation", "201"),
        ("The City of London Council", "201"),
        # the 2019-2023 reorganisations
        ("Dorset Council", "838"),
        ("Dorset County Council", "838"),
        ("Bournemouth, Christchurch and Poole Council", "839"),
        ("BCP Council", "839"),
        ("Borough of Poole", "839"),
        ("Buckinghamshire County Council", "825"),
        ("North Northamptonshire Council", "940"),
        ("West Northamptonshire Council", "941"),
        ("Cumberland Council", "942"),
        ("Westmorland & Furness Council", "943"),
        ("Somerset County Council", "933"),
        ("Somerset Council", "933"),
        ("North Somerset Council", "802"),
        ("Bath & North East Somerset Council", "800"),
        ("Council of the Isles of Scilly", "420"),
        ("Cornwall Council", "908"),
    ],
)
def test_the_hard_pairs_resolve_each_to_its_own_council(name: str, code: str) -> None:
    """Cities and their counties, Kingstons, Cities of, and the new unitaries stay apart."""
    assert councils.lookup(name) == code


@pytest.mark.parametrize(
    "name",
    [
        "London",
        "Greater London",
        "Kingston",
        "Richmond",
        "Newcastle",
        "Newcastle Borough Council",
        "Northamptonshire County Council",
        "Cumbria County Council",
        "Bedfordshire",
        "Cheshire",
        "Yorkshire",
        "Borsetshire County Council",
    ],
)
def test_ambiguous_and_abolished_names_resolve_to_nothing(name: str) -> None:
    """A name that could mean two councils (or none now) is left for an operator."""
    assert councils.lookup(name) is None


def test_city_of_london_keeps_its_generic_words() -> None:
    """The words of "City of London" stay together: stripping "City of" cannot leave "London"."""
    assert councils.normalise("City of London Council") == "city of london"
    assert councils.normalise("City of Westminster") == "westminster"


def test_load_table_reads_the_file_as_it_is_now(tmp_path: Path) -> None:
    """A variant added to the file resolves with a table read after the change."""
    data = mappings.load(councils.FILE)
    edited = {
        "councils": {
            **data["councils"],
            "830": {"name": "Derbyshire County Council", "variants": ["Borsetshire"]},
        }
    }
    path = tmp_path / "councils.yaml"
    path.write_text(yaml.safe_dump(edited), encoding="utf-8")
    assert councils.lookup("Borsetshire County Council") is None
    assert councils.load_table(path).lookup("Borsetshire County Council") == "830"


def test_load_table_names_the_file_it_cannot_read(tmp_path: Path) -> None:
    """A missing or broken names file is a configuration error naming the file."""
    with pytest.raises(ConfigurationError) as caught:
        councils.load_table(tmp_path / "absent.yaml")
    assert caught.value.file == str(tmp_path / "absent.yaml")


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
