"""Posts and replies Firebreak sends to the networks, through a durable, idempotent, throttled outbox."""
