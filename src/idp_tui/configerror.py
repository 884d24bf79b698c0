"""The error of a bad configuration (its own module: reporting it imports nothing heavy)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

#: Problems reported at once; past that, how many more there are.
MAX_PROBLEMS = 20


class ConfigError(Exception):
    """A problem in the configuration, worded for the user.

    One error may carry several problems (``also``: every wrong key of a file is reported at
    once, not one per attempt); ``str()`` gives one line per problem.
    """

    def __init__(self, message: str, *, path: Path | None = None, line: int | None = None,
                 field: str | None = None, also: Iterable[ConfigError] = ()) -> None:
        self.message, self.path, self.line, self.field = message, path, line, field
        where = ""
        if path is not None:
            where = f"{path}" + (f", line {line}" if line else "")
        if field:
            where = f"{where} ({field})" if where else field
        self.where = where
        self.also = tuple(also)
        own = f"{where}: {message}" if where else message
        super().__init__("\n".join([own, *(problem.own for problem in self.also)]))
        self.own = own
        #: For the last line of a long report: how many problems it stands for.
        self.untold = 0

    @property
    def problems(self) -> list[ConfigError]:
        """This error's problems, one by one (the first is this error without the others)."""
        first = ConfigError(self.message, path=self.path, line=self.line, field=self.field)
        return [first, *self.also]

    @classmethod
    def combine(cls, errors: Iterable[ConfigError]) -> ConfigError:
        """One error reporting every problem of ``errors`` (at most MAX_PROBLEMS of them)."""
        problems: list[ConfigError] = []
        more = 0
        for error in errors:
            for problem in error.problems:
                if problem.untold:
                    more += problem.untold  # an earlier combination's "and N more problems"
                else:
                    problems.append(problem)
        if not problems:
            raise ValueError("no errors to combine")
        shown = problems[:MAX_PROBLEMS]
        more += len(problems) - len(shown)
        if more:
            untold = cls(f"and {more} more problem{'s' if more > 1 else ''}")
            untold.untold = more
            shown.append(untold)
        first = shown[0]
        return cls(first.message, path=first.path, line=first.line, field=first.field,
                   also=shown[1:])
