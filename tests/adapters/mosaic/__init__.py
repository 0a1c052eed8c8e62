"""Tests of the mosaic outbound adapter."""
