"""Developer scripts (golden-file refresh)."""
