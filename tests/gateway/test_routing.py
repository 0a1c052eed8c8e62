"""The routing file: the demo routing loads; every mistake names file, line and problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway import routing
from gateway.errors import ConfigurationError
from gateway.settings import DEMO_ROUTING

GOOD = """\
councils:
  - code: "304"
    name: London Borough of Brent
    system: mosaic
    base_url: https://mosaic.example.gov.uk/integration
    policy: brent
    credentials_env: BRENT_MOSAIC
"""
ENV = {"BRENT_MOSAIC_CLIENT_ID": "id", "BRENT_MOSAIC_CLIENT_SECRET": "secret"}


def _load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> routing.RoutingTable:
    path = tmp_path / "routing.yaml"
    path.write_text(text, encoding="utf-8")
    return routing.load(path, environ=ENV if env is None else env)


def test_demo_routing_has_the_six_councils() -> None:
    """The bundled demo routing onboards the six demo councils on their systems."""
    table = routing.load(DEMO_ROUTING, simulators_url="http://127.0.0.1:9999", environ={})
    systems = {code: route.system for code, route in table.councils.items()}
    assert systems == {
        "304": "mosaic",
        "317": "protocol",
        "830": "fwi",
        "831": "mosaic",
        "384": "mosaic",
        "871": "protocol",
    }
    assert table.targets["830"].base_url == "http://127.0.0.1:9999/sim/fwi/830"


def test_secrets_come_from_the_environment(tmp_path: Path) -> None:
    """Credentials are read from <credentials_env>_* variables."""
    table = _load(tmp_path, GOOD)
    assert table.targets["304"].credentials == {"client_id": "id", "client_secret": "secret"}


@pytest.mark.parametrize(
    ("change", "line", "fragment"),
    [
        (('code: "304"', 'code: "3040"'), 2, "code"),
        (("system: mosaic", "system: carefirst"), 2, "system"),
        (("policy: brent", "policy: nowhere"), 2, "unknown policy pack"),
        (("base_url: https://", "base_url: ftp://"), 2, "http(s)"),
        (
            (
                "    credentials_env: BRENT_MOSAIC\n",
                "    credentials_env: BRENT_MOSAIC\n    colour: red\n",
            ),
            2,
            "colour",
        ),
    ],
)
def test_mistakes_name_file_line_and_problem(
    tmp_path: Path, change: tuple[str, str], line: int, fragment: str
) -> None:
    """A bad value is reported with the file, the entry's line and what is wrong."""
    with pytest.raises(ConfigurationError) as caught:
        _load(tmp_path, GOOD.replace(*change))
    assert caught.value.file is not None and caught.value.file.endswith("routing.yaml")
    assert caught.value.line == line
    assert fragment in caught.value.problem


def test_missing_secret_variable_is_named(tmp_path: Path) -> None:
    """A credentials variable that is not set is a configuration error naming it."""
    with pytest.raises(ConfigurationError, match="BRENT_MOSAIC_CLIENT_SECRET"):
        _load(tmp_path, GOOD, env={"BRENT_MOSAIC_CLIENT_ID": "id"})


def test_duplicate_council_is_refused(tmp_path: Path) -> None:
    """The same council twice is an error at the second entry's line."""
    entry = GOOD.split("\n", 1)[1]
    with pytest.raises(ConfigurationError, match="listed twice") as caught:
        _load(tmp_path, GOOD + entry)
    assert caught.value.line == 8


def test_non_loopback_without_credentials_is_refused(tmp_path: Path) -> None:
    """Only simulators on loopback may go without credentials_env."""
    text = GOOD.replace("    credentials_env: BRENT_MOSAIC\n", "")
    with pytest.raises(ConfigurationError, match="credentials_env is required"):
        _load(tmp_path, text)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    """A YAML syntax error points at its line."""
    with pytest.raises(ConfigurationError) as caught:
        _load(tmp_path, GOOD + "  - code: [unclosed\n")
    assert caught.value.line is not None and caught.value.line >= 8


@pytest.mark.parametrize(
    ("base_url", "fragment"),
    [
        ("http://mosaic.example.gov.uk/integration", "must use https"),
        ("http://10.20.30.40/integration", "must use https"),
        ("http://0.0.0.0:8080/sim", "unspecified"),
        ("https://[::]/x", "unspecified"),
        ("http://169.254.169.254/latest/meta-data", "cloud metadata"),
        ("https://169.254.10.1/x", "link-local"),
        ("https://[fe80::1]/x", "link-local"),
        ("https://[fd00:ec2::254]/x", "cloud metadata"),
        ("https://[::ffff:169.254.169.254]/x", "cloud metadata"),
        ("https://100.100.100.200/x", "cloud metadata"),
        ("https://metadata.google.internal./computeMetadata/v1", "cloud metadata"),
        ("https://2852039166/x", "cloud metadata"),  # 169.254.169.254 as one number
        ("https://0xa9.0xfe.0xa9.0xfe/x", "cloud metadata"),
        ("https://user:secret@mosaic.example.gov.uk/x", "credentials"),
    ],
)
def test_unsafe_base_urls_are_refused_naming_file_and_line(
    tmp_path: Path, base_url: str, fragment: str
) -> None:
    """Plain http off this machine, link-local, metadata and unspecified hosts never load."""
    text = GOOD.replace("https://mosaic.example.gov.uk/integration", base_url)
    with pytest.raises(ConfigurationError) as caught:
        _load(tmp_path, text)
    assert caught.value.line == 2 and caught.value.file is not None
    assert "base_url" in caught.value.problem and fragment in caught.value.problem


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.1:8081/sim/mosaic/304",
        "http://localhost:8081/sim",
        "http://[::1]:8081/sim",
        "http://127.8.9.10/sim",
        "https://mosaic.example.gov.uk/integration",
        "https://203.0.113.7/integration",
    ],
)
def test_https_anywhere_and_plain_http_on_loopback_are_accepted(
    tmp_path: Path, base_url: str
) -> None:
    """The simulators on loopback and https endpoints are valid targets."""
    table = _load(tmp_path, GOOD.replace("https://mosaic.example.gov.uk/integration", base_url))
    assert table.targets["304"].base_url == base_url
