"""The Catalog's `/` box: tab takes the completion shown, a field word (``le`` → ``level:``) or
one of its values (``catalog_levels.complete``)."""

from __future__ import annotations

from typing import Any

from textual.binding import Binding
from textual.suggester import Suggester

from . import catalog_levels
from .catalog import FilterInput


class CatalogSuggester(Suggester):
    """Completes the Catalog filter's last word: a field word, or a value of it."""

    def __init__(self, pane: Any) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.pane = pane

    async def get_suggestion(self, value: str) -> str | None:
        return catalog_levels.complete(value, self.pane.current_facets())


class CatalogFilterInput(FilterInput):
    """The Catalog's `/` box: tab takes the completion shown (``le`` → ``level:``)."""

    BINDINGS = [Binding("tab", "complete", "Complete", show=False,
                        id="catalog.filter_complete")]

    def on_mount(self) -> None:
        for ancestor in self.ancestors:
            if hasattr(ancestor, "current_facets"):
                self.suggester = CatalogSuggester(ancestor)
                break

    def action_complete(self) -> None:
        if self._suggestion and len(self._suggestion) > len(self.value):
            self.value = self._suggestion
            self.cursor_position = len(self.value)
