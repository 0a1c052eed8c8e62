"""Code tables: canonical codes to a case system's codes, and the gaps named."""

from __future__ import annotations

import pytest

import mappings
from adapters.codes import CodeTables
from gateway.errors import PermanentDelivery


def test_code_tables_name_a_missing_table_or_value():
    """A lookup that fails names the system, table, value and mapping file."""
    codes = CodeTables("mosaic", mappings.path("mosaic.yaml"))
    assert codes.code("risk_level", "high") == "HIGH"
    with pytest.raises(PermanentDelivery, match="no mosaic code for colour 'red'") as caught:
        codes.code("colour", "red")
    assert "mappings/mosaic.yaml" in caught.value.reason


def test_code_tables_read_their_file_once(tmp_path):
    """The file is read on the first lookup only: renderers look codes up on the hot path."""
    path = tmp_path / "system.yaml"
    path.write_text("risk_level:\n  high: H\n", encoding="utf-8")
    codes = CodeTables("system", path)
    assert codes.code("risk_level", "high") == "H"
    path.write_text("risk_level:\n  high: changed\n", encoding="utf-8")
    assert codes.code("risk_level", "high") == "H"
