"""Adapters: one folder per external system (police systems in, case systems out)."""
