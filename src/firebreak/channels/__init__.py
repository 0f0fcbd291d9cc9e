"""Channels: the places mentions come from, with their secrets and poll state."""
