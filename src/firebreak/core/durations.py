"""Durations as people write them in a playbook ("5m", "1h30m", "2d"), parsed once into seconds."""

from __future__ import annotations

import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_WHOLE = re.compile(r"^(?:\s*\d+(?:\.\d+)?\s*[smhdw])+\s*$")


def parse_duration(text: str | int | float) -> float:
    """Return the seconds in `text` ("90s", "5m", "1h30m", "2d", "1w"); refuse bare numbers and negatives.

    Bare numbers are refused because "5" could mean seconds, minutes or hours, and a wrong guess in an
    SLA policy is a silent breach.
    """
    if isinstance(text, bool) or not isinstance(text, str):
        raise ValueError(f"duration {text!r} needs a unit: write e.g. '30s', '5m', '2h', '1d' or '1w'")
    cleaned = text.strip().lower()
    if cleaned.startswith("-"):
        raise ValueError(f"duration {text!r} is negative")
    if not _WHOLE.match(cleaned):
        raise ValueError(f"duration {text!r} is not like '30s', '5m', '1h30m', '2d' or '1w'")
    return float(sum(float(number) * _UNITS[unit] for number, unit in _PART.findall(cleaned)))


def format_duration(seconds: float) -> str:
    """Return a short human form ("1h 5m", "45s", "2d 3h") for messages and the CLI."""
    sign = "-" if seconds < 0 else ""
    remaining = int(round(abs(seconds)))
    if remaining < 60:
        return f"{sign}{remaining}s"
    parts = []
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        amount, remaining = divmod(remaining, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return sign + " ".join(parts[:2])
