"""The dashboard's panes, one entry each: the app builds its tabs, its pane keys (binding ids
``pane.NAME``), the `:` commands and the command palette's "Go to" entries from this list.

A new pane is its module (a :class:`~idp_tui.ui.base.Pane` subclass whose ``pane_name`` is the
entry's name), its styles and one :class:`PaneInfo` here. The list is read for the first frame,
before the panes themselves (which need the plugin API and the hub) are imported: this module
imports nothing but the standard library, and a pane's class is loaded by name when the dashboard
builds it.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import Pane

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class PaneInfo:
    """One pane: what the user calls it and where its class lives."""

    #: The `:` command, the tab's id and the pane's (``NAME-pane``), the binding id ``pane.NAME``.
    name: str
    #: The tab's title (after its key), the palette's "Go to TITLE".
    title: str
    #: The default key (a Textual key name; ``[keys] "pane.NAME"`` remaps it).
    key: str
    #: Other words for it at the `:` prompt.
    aliases: tuple[str, ...]
    #: The pane's class, as "module:Class" (imported when the dashboard builds the pane), or the
    #: class itself.
    widget: str | type[Any]
    #: The footer's label for the key (default: the title).
    label: str = ""

    def __post_init__(self) -> None:
        for word in (self.name, *self.aliases):
            if not _NAME.match(word):
                raise ValueError(f"pane {self.name!r}: {word!r} is not a lower-case word")
        if isinstance(self.widget, str) and ":" not in self.widget:
            raise ValueError(f"pane {self.name!r}: widget must be 'module:Class'")

    @property
    def binding_id(self) -> str:
        return f"pane.{self.name}"

    @property
    def footer_label(self) -> str:
        return self.label or self.title

    def load(self) -> type[Pane]:
        """The pane's class (its module imported now)."""
        if isinstance(self.widget, str):
            module, _, name = self.widget.partition(":")
            cls = getattr(importlib.import_module(module), name)
        else:
            cls = self.widget
        declared = getattr(cls, "pane_name", "")
        if declared != self.name:
            raise ValueError(f"pane {self.name!r}: {cls.__name__}.pane_name is {declared!r}")
        return cls  # type: ignore[no-any-return]


#: The panes in tab order. The first is the one shown at start (and drawn from the last run's
#: catalog in the first frame, see ``idp_tui.ui.boot``).
PANES: tuple[PaneInfo, ...] = (
    PaneInfo("catalog", "Catalog", "1", ("cat", "services"),
             "idp_tui.ui.panes.catalog:CatalogPane"),
    PaneInfo("envs", "Environments", "2", ("environments",),
             "idp_tui.ui.panes.envs:EnvironmentsPane", label="Envs"),
    PaneInfo("pipelines", "Pipelines", "3", ("pipeline", "pl", "runs"),
             "idp_tui.ui.panes.pipelines:PipelinesPane"),
    PaneInfo("logs", "Logs", "4", ("log",), "idp_tui.ui.panes.logs:LogsPane"),
    PaneInfo("metrics", "Metrics", "5", ("metric", "m"), "idp_tui.ui.panes.metrics:MetricsPane"),
    PaneInfo("insights", "Insights", "6", ("dora", "scorecards", "insight"),
             "idp_tui.ui.panes.insights:InsightsPane"),
)


def check(panes: tuple[PaneInfo, ...]) -> tuple[PaneInfo, ...]:
    """``panes`` if their names and keys are distinct (else ``ValueError`` naming the clash)."""
    seen: dict[str, str] = {}
    keys: dict[str, str] = {}
    for pane in panes:
        for word in (pane.name, *pane.aliases):
            if word in seen:
                raise ValueError(f"pane {pane.name!r}: {word!r} already names pane {seen[word]!r}")
            seen[word] = pane.name
        if pane.key in keys:
            raise ValueError(f"pane {pane.name!r}: key {pane.key!r} is pane {keys[pane.key]!r}'s")
        keys[pane.key] = pane.name
    if not panes:
        raise ValueError("the dashboard needs at least one pane")
    return panes
