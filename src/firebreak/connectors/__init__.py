"""Connectors: how mentions arrive from networks and feeds (and, later, how replies leave)."""
