"""Statutory returns built from the gateway's episodes (the DfE SSDA903 "Missing" table)."""
