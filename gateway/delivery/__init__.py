"""The delivery engine: outbox, retry schedule, workers, replay."""
