"""Tests of the protocol outbound adapter."""
