"""Raise validation problems at their exact place in a document, so the playbook loader names the line."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

Location = tuple[str | int, ...]
_PART = re.compile(r"\(.*?\)|\[(\d+)\]|([A-Za-z_][A-Za-z0-9_]*)")


def refuse(title: str, problems: Sequence[tuple[Location, str, Any]]) -> None:
    """Raise one pydantic ValidationError with a message at each (location, message, input), if any.

    Raised inside a validator, pydantic prefixes the locations with where that validator sits, so the
    playbook loader can name the line of each problem, not just the section's.
    """
    if problems:
        raise ValidationError.from_exception_data(title, [
            InitErrorDetails(
                type=PydanticCustomError("invalid_reference", "{message}", {"message": message}),
                loc=location,
                input=value,
            )
            for location, message, value in problems
        ])


def location_of(path: str) -> Location:
    """Turn 'routing.rules[5].when' or 'nodes[6] (polarity).branches[0]' into ('routing', 'rules', 5, ...)."""
    parts: list[str | int] = []
    for match in _PART.finditer(path):
        index, name = match.groups()
        if index is not None:
            parts.append(int(index))
        elif name is not None:
            parts.append(name)
    return tuple(parts)
