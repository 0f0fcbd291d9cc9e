"""The HTTP API (JSON under /api/v1) and its dependencies."""
