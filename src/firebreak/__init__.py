"""Firebreak: self-hosted social media issues management."""

__version__ = "0.1.0"
