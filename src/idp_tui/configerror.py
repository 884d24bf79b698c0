"""The error of a bad configuration (its own module: reporting it imports nothing heavy)."""

from __future__ import annotations

from pathlib import Path


class ConfigError(Exception):
    """A problem in the configuration, worded for the user."""

    def __init__(self, message: str, *, path: Path | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.message, self.path, self.line, self.field = message, path, line, field
        where = ""
        if path is not None:
            where = f"{path}" + (f", line {line}" if line else "")
        if field:
            where = f"{where} ({field})" if where else field
        super().__init__(f"{where}: {message}" if where else message)
