"""Fill the playbook's `{placeholder}` texts: holding statements, the reply with the link, the follow-up.

    render("We've posted an update on {title}: {link}", {"title": "Checkout errors", "link": url})

A placeholder is a name in braces, `{name}` (letters, digits and underscores). A value that is not
given is left in the text as `{name}`, so the person editing the draft sees what is still to fill in
rather than a silent gap. Values are inserted as they are, never expanded again. `{{` and `}}` write a
literal brace; any other brace is plain text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


def placeholders(template: str) -> set[str]:
    """Return the names the template asks for (escaped braces are not placeholders)."""
    return {match.group(1) for match in _TOKEN.finditer(template) if match.group(1) is not None}


def render(template: str, values: Mapping[str, str]) -> str:
    """Return the template with each `{name}` replaced by `values[name]`, or kept visible when missing."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return match.group(0)[0]  # "{{" or "}}"
        value = values.get(name)
        return match.group(0) if value is None else value

    return _TOKEN.sub(fill, template)
