"""Each repository the ``github`` source reads as a part of it, with its own health (the health
view and ``idp-tui sources``): one that answers 404 or 403 is in error on its own row, with the
latency of its last answer, while the others answer (``SourceContext.set_part_health``).

A repository's part is named as the config or the catalog writes it; requests match it case-
insensitively, as GitHub does.
"""

from __future__ import annotations

from collections.abc import Iterable

from idp_tui import SourceContext

#: The kind of part, as the health view says it.
KIND = "repository"


class RepoParts:
    """The repositories read now, reported as parts (only changes reach the hub)."""

    def __init__(self, context: SourceContext) -> None:
        self.context = context
        #: lowercase "owner/repo" → as written, in the order first read.
        self._names: dict[str, str] = {}

    def follow(self, repos: Iterable[str]) -> None:
        """The repositories read from now on: new ones are waiting for an answer, those no
        longer read are no longer shown."""
        wanted = {repo.lower(): repo for repo in repos}
        for key, name in list(self._names.items()):
            if key not in wanted or wanted[key] != name:
                self.context.forget_part(name)
                del self._names[key]
        for key, name in wanted.items():
            if key not in self._names:
                self._names[key] = name
                self.context.set_part_health(name, None, kind=KIND)

    def name(self, key: str) -> str:
        """The part's name of a repository (``key``: lowercase)."""
        return self._names.get(key, key)

    def answered(self, key: str, latency: float) -> None:
        if key in self._names:
            self.context.set_part_health(self._names[key], True, latency, kind=KIND)

    def failed(self, key: str, error: BaseException, latency: float | None = None) -> None:
        if key in self._names:
            self.context.set_part_health(self._names[key], False, latency, error=error, kind=KIND)
