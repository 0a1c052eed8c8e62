"""Contract suites shared by every adapter of a direction."""
