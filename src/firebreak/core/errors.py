"""One error tree for the whole product.

    FirebreakError
    ├── ConfigurationError        settings or environment are unusable
    ├── DatabaseNotMigrated       schema is missing or behind; run `firebreak init`
    ├── NotFound                  an id or slug names nothing in this workspace
    ├── InvalidInput              a value a caller sent is wrong (names the field)
    │   └── ImportRowError        one row of an import file is wrong (names file, line, column)
    ├── Unauthorized              no or wrong credentials / signature
    └── ConnectorError            a remote network failed; `permanent` says whether to retry

The web layer maps these onto HTTP statuses; the CLI onto exit codes and messages.
"""

from __future__ import annotations


class FirebreakError(Exception):
    """Base of every error Firebreak raises on purpose."""


class ConfigurationError(FirebreakError):
    """Settings or environment cannot be used as given."""


class DatabaseNotMigrated(FirebreakError):
    """The database schema is not at the version this code expects."""


class NotFound(FirebreakError):
    """A referenced object does not exist (or is not visible to the caller)."""


class InvalidInput(FirebreakError):
    """A caller-supplied value is wrong; `field` names where."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class ImportRowError(InvalidInput):
    """A row of an import file cannot be read; carries file, line and column."""

    def __init__(self, message: str, *, path: str, line: int, column: str | None = None) -> None:
        super().__init__(message, field=column)
        self.path = path
        self.line = line
        self.column = column

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}"
        if self.column:
            where += f" column {self.column!r}"
        return f"{where}: {self.message}"


class Unauthorized(FirebreakError):
    """Credentials or a signature are missing or wrong."""


class Forbidden(FirebreakError):
    """The caller is known but their role does not allow this (HTTP 403, not 401)."""


class Conflict(FirebreakError):
    """The thing changed since the caller read it (HTTP 409): reload and try again."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ConnectorError(FirebreakError):
    """A remote network call failed; `permanent` is False when a retry may succeed."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent
