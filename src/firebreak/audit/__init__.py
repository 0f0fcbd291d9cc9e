"""The append-only audit log: who did what to which object, and why."""
