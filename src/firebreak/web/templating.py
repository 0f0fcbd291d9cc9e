"""The Jinja2 environment the pages render with: autoescaping on, and a missing value is an error.

Autoescaping means a mention's text, an author's name or an issue title can never become markup in an
agent's browser; StrictUndefined turns a misspelt variable into a failing test instead of a blank.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape


def countdown(seconds_left: float | None) -> str:
    """'4m left' or 'OVERDUE 12m'; hours and days once minutes stop being readable."""
    if seconds_left is None:
        return "no clock"
    span = duration(abs(seconds_left))
    return f"OVERDUE {span}" if seconds_left <= 0 else f"{span} left"


def duration(seconds: float | None) -> str:
    """'12m', '3h 5m', '2d 4h'."""
    if seconds is None:
        return "—"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes}m"
    if minutes < 48 * 60:
        return f"{minutes // 60}h {minutes % 60}m"
    return f"{minutes // 1440}d {minutes % 1440 // 60}h"


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def iso(moment: datetime | None) -> str:
    """Machine-readable time for data- attributes and <time datetime>."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else ""


def number(value: float | int | None) -> str:
    if value is None:
        return "—"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"


environment = Environment(
    loader=PackageLoader("firebreak.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
)
environment.filters.update(countdown=countdown, duration=duration, when=when, iso=iso, number=number)


def render(template: str, **context: Any) -> str:
    return environment.get_template(template).render(**context)
