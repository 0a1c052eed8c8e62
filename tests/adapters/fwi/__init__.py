"""Tests of the fwi outbound adapter."""
