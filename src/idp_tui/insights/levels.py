"""An ordered set of named levels (DORA's performance clusters, the scorecards' medals): read from
a word with a sentence when it is none of them, and ranked in the order they are declared."""

from __future__ import annotations

from enum import StrEnum
from typing import Self


class OrderedLevel(StrEnum):
    """A base for an enum of levels; the members are declared in their order."""

    @property
    def rank(self) -> int:
        """The member's place in the declaration, from 0."""
        return list(type(self)).index(self)

    @classmethod
    def parse(cls, text: str) -> Self:
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise ValueError(f"unknown level {text!r} (known: "
                             f"{', '.join(level.value for level in cls)})") from None
