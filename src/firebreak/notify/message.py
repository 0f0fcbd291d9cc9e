"""Turn the alerts due for one target into one message (pure).

Several alerts due for the same target at the same time go out as ONE message rather than a burst,
so a crisis that raises thirty red flags in a minute fills one inbox entry or chat post, not thirty:

    title:  "3 alerts: Red flag: legal threat; Red flag: safety; SLA breached: first response"
    body:   "[1/3] Red flag: legal threat\\n<body>\\n<link>\\n\\n[2/3] …"

A single alert keeps its own subject as the title, and its body with the link appended.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

TITLE_MAX = 250


@dataclass(frozen=True, slots=True)
class AlertText:
    """The words of one alert: what `compose` needs of it."""

    subject: str
    body: str
    link: str | None


@dataclass(frozen=True, slots=True)
class Message:
    """What is handed to the notification service: a title and a plain-text body."""

    title: str
    body: str


def compose(alerts: Sequence[AlertText]) -> Message:
    """Return the one message that carries `alerts` (at least one)."""
    if not alerts:
        raise ValueError("compose needs at least one alert")
    if len(alerts) == 1:
        return Message(title=_clip(alerts[0].subject), body=_section(alerts[0], with_subject=False))
    count = len(alerts)
    title = _clip(f"{count} alerts: " + "; ".join(a.subject for a in alerts))
    body = "\n\n".join(f"[{i}/{count}] {_section(a, with_subject=True)}" for i, a in enumerate(alerts, start=1))
    return Message(title=title, body=body)


def _section(alert: AlertText, *, with_subject: bool) -> str:
    lines = [alert.subject] if with_subject else []
    if alert.body.strip():
        lines.append(alert.body.strip())
    if alert.link and alert.link not in alert.body:
        lines.append(alert.link)
    return "\n".join(lines)


def _clip(text: str) -> str:
    return text if len(text) <= TITLE_MAX else text[:TITLE_MAX - 1] + "…"
