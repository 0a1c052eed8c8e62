"""The HTTP API (openapi.yaml): inbound, receipts, episodes, delivery log, operations."""
