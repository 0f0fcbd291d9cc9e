"""HTML from template files with every value escaped unless it is already Markup.

The templates are plain `string.Template` files ($name placeholders) in web/templates/; repeated parts
(rows, list items) are rendered one fragment at a time and joined as Markup. Escaping by default means a
mention's text can never become markup in an agent's browser.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from functools import cache
from importlib import resources
from string import Template
from typing import Any


class Markup(str):
    """Text that is already safe HTML (a rendered fragment); everything else is escaped."""

    __slots__ = ()


def escape(value: Any) -> Markup:
    if isinstance(value, Markup):
        return value
    return Markup(html.escape("" if value is None else str(value), quote=True))


def join(fragments: Iterable[Markup]) -> Markup:
    return Markup("".join(escape(fragment) for fragment in fragments))


@cache
def _template(name: str) -> Template:
    return Template(resources.files("firebreak.web").joinpath("templates", name).read_text(encoding="utf-8"))


def render(name: str, **values: Any) -> Markup:
    """Fill template `name`; a placeholder without a value is a programming error and raises KeyError."""
    return Markup(_template(name).substitute({key: escape(value) for key, value in values.items()}))
