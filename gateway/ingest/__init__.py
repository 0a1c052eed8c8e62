"""Ingest: from accepted bytes to a committed message, episode, events, deliveries and audit.

The modules follow a message (CONTRIBUTING.md walks them):
`processes` hands it to a lane; `group_commit` gathers the lane's batch; `batching` stores
the batch in one transaction (split and retried if that fails); `prepare` parses, validates
and maps each message; `write` stores one message; `events` records each of its events.
"""
