"""Load a playbook from YAML and validate it; every error names the file, the line and the field."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from firebreak.core.errors import InvalidInput
from firebreak.playbook.schema import Playbook

DEFAULT_PLAYBOOK = "default.yaml"
DEFAULT_SOURCE = f"<default>/{DEFAULT_PLAYBOOK}"


class PlaybookError(InvalidInput):
    """A playbook that cannot be used; `problems` lists each one as 'file:line: field: message'."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems) if len(problems) == 1 else f"{len(problems)} problems", field=None)
        self.problems = problems

    def __str__(self) -> str:
        return "invalid playbook:\n  " + "\n  ".join(self.problems)


@dataclass(frozen=True, slots=True)
class LoadedPlaybook:
    """A validated playbook with where it came from and a content hash that versions it."""

    playbook: Playbook
    source: str
    digest: str

    @property
    def version(self) -> str:
        """Return 'declared-version+hash', which changes whenever the content does."""
        return f"{self.playbook.playbook.version}+{self.digest[:12]}"


class _LineLoader(yaml.SafeLoader):
    """A safe loader that remembers the line of every mapping key and sequence item."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = {}
    lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=True)
        lines[key] = key_node.start_mark.line + 1
    return _Lined(mapping, lines, node.start_mark.line + 1)


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> list[Any]:
    items = [loader.construct_object(child, deep=True) for child in node.value]
    return _LinedList(items, [child.start_mark.line + 1 for child in node.value], node.start_mark.line + 1)


class _Lined(dict):  # type: ignore[type-arg]
    def __init__(self, data: dict[str, Any], lines: dict[str, int], line: int) -> None:
        super().__init__(data)
        self.lines = lines
        self.line = line


class _LinedList(list):  # type: ignore[type-arg]
    def __init__(self, data: list[Any], lines: list[int], line: int) -> None:
        super().__init__(data)
        self.lines = lines
        self.line = line


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def _line_of(document: Any, location: tuple[int | str, ...]) -> int | None:
    """Return the line of the deepest part of `location` that exists in the document."""
    line = getattr(document, "line", None)
    node = document
    for part in location:
        if isinstance(node, _Lined) and isinstance(part, str) and part in node:
            line = node.lines.get(part, line)
            node = node[part]
        elif isinstance(node, _LinedList) and isinstance(part, int) and 0 <= part < len(node):
            line = node.lines[part]
            node = node[part]
        else:
            break
    return line


def _field_path(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


# Sections a playbook may leave out and take from the shipped default: a brand can start with its own
# risk guide and adopt routing, SLAs and the rest later. Inherited sections are not cross-checked
# against the brand's categories (a default rule naming a category the brand dropped never matches).
INHERITABLE = ("assessment", "calendars", "roles", "teams", "queues", "routing", "sla", "alerts", "issues",
               "replies")


@lru_cache(maxsize=1)
def _default_document() -> dict[str, Any]:
    text = resources.files("firebreak.playbook.defaults").joinpath(DEFAULT_PLAYBOOK).read_text("utf-8")
    return yaml.safe_load(text)


def parse_playbook(text: str, *, source: str) -> LoadedPlaybook:
    """Validate playbook YAML text; raise PlaybookError listing every problem with its line.

    Parsing a full playbook takes a quarter of a second, and every process, CLI command and test
    loads the same few texts, so results are cached by (text, source); a LoadedPlaybook is immutable.
    """
    return _parse_cached(text, source)


@lru_cache(maxsize=64)
def _parse_cached(text: str, source: str) -> LoadedPlaybook:
    try:
        document = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - _LineLoader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f"{mark.line + 1}" if mark else "?"
        raise PlaybookError([f"{source}:{line}: YAML syntax: {exc.problem or exc}"]) from None
    except yaml.YAMLError as exc:
        raise PlaybookError([f"{source}: YAML syntax: {exc}"]) from None
    if not isinstance(document, dict):
        raise PlaybookError([f"{source}:1: the playbook must be a mapping with playbook:, risk: and examples:"])
    plain = _plain(document)
    inherited = [] if source == DEFAULT_SOURCE else [
        key for key in INHERITABLE if key not in plain and key in _default_document()]
    for key in inherited:
        plain[key] = _default_document().get(key)
    try:
        playbook = Playbook.model_validate(plain, context={"inherited": frozenset(inherited)})
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            location = tuple(p for p in error["loc"] if isinstance(p, int | str))
            line = _line_of(document, location)
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{source}:{line or '?'}: {_field_path(location)}: {message}")
        raise PlaybookError(problems) from None
    digest = hashlib.sha256(text.encode()).hexdigest()
    return LoadedPlaybook(playbook, source, digest)


def load_playbook(path: Path | str | None = None) -> LoadedPlaybook:
    """Load the playbook at `path`, or the shipped default when None."""
    if path is None:
        text = resources.files("firebreak.playbook.defaults").joinpath(DEFAULT_PLAYBOOK).read_text("utf-8")
        return parse_playbook(text, source=DEFAULT_SOURCE)
    file = Path(path)
    try:
        text = file.read_text("utf-8")
    except FileNotFoundError:
        raise PlaybookError([f"{file}: no such file"]) from None
    except UnicodeDecodeError as exc:
        raise PlaybookError([f"{file}: not UTF-8 text ({exc.reason})"]) from None
    return parse_playbook(text, source=str(file))
