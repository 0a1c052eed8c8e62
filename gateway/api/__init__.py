"""The HTTP API (gateway-api.md): inbound, receipts, episodes, delivery log, operations."""
