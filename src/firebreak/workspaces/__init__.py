"""Workspaces (one per brand) and the API tokens that act inside them."""
