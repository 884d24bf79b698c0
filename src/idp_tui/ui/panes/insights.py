"""Insights: DORA's four keys of the organisation, each team and each service (levels, trends,
weekly sparklines), the scorecards (services × rules, failing first) and the detail of the selected
number (the deployments it counted) or rule (its facts and the fix).

The data comes from the hub (``insights.view.gather``), with the deploys made through idp-tui
from the runtime's audit trail (read in a thread, merged as ``idp-tui dora`` merges them); the
counting runs in a thread (``insights.view.compute``) while the status line says so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from ... import render
from ...insights import view
from ...insights.dora import KEYS
from ...insights.scorecards import level_names
from ..base import ErrorBanner, Pane, while_running
from ..charts import sparkline
from ..costtext import scope_costs_of
from ..tables import KeyedTable

#: The sparkline's width (weeks drawn in so many cells).
SPARK_WIDTH = 12


def _text(cell: view.Cell) -> Text:
    return render.text(cell[0], cell[1])


def _lines(lines: Sequence[view.Cell]) -> Text:
    out = Text(end="")
    for i, line in enumerate(lines):
        if i:
            out.append("\n")
        out.append_text(_text(line))
    return out


class InsightsPane(Pane):
    pane_name = "insights"  # its entry in ui/panelist.py: title, key, aliases

    BINDINGS = [
        Binding("s", "toggle_view", "Scorecards", id="insights.view"),
        Binding("t", "cycle_team", "Team", id="insights.team"),
        Binding("l", "cycle_level", "Level", id="insights.level"),
        Binding("w", "cycle_window", "Window", id="insights.window"),
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.days = view.DEFAULT_WINDOW
        #: ``keys`` (the four keys) or ``scores`` (the scorecards).
        self.mode = "keys"
        self.team: str | None = None
        self.level: str | None = None
        self.insights: view.Insights | None = None
        self.inputs: view.Inputs | None = None
        self.computing = False
        self.error = ""
        #: The counting, run in a thread (replaceable, e.g. to hold it in a test).
        self.compute: Callable[..., view.Insights] = view.compute

    def compose(self) -> ComposeResult:
        yield ErrorBanner(id="insights-errors")
        yield Static(id="insights-status", classes="pane-status")
        yield KeyedTable(id="insights-keys", cursor_type="cell")
        yield KeyedTable(id="insights-scores")
        yield Static(id="insights-detail")

    @while_running
    def on_mount(self) -> None:
        self.query_one(ErrorBanner).display = False
        keys = self.query_one("#insights-keys", KeyedTable)
        keys.set_columns([("name", "Scope"), *((k, view.KEY_TITLES[k]) for k in KEYS),
                          ("level", "Level"), ("cost", "Cost/month"),
                          ("weekly", "Deploys/week")])
        scores = self.query_one("#insights-scores", KeyedTable)
        scores.set_columns([("service", "Service"), ("owner", "Team"), ("level", "Level"),
                            ("status", "Status"), ("rule", "Rule"), ("rule_level", "For"),
                            ("title", "Title")])
        scores.display = False
        self._status()

    def focus_main(self) -> None:
        self._table().focus()

    def is_settled(self) -> bool:
        return not self.computing and (self.insights is not None or bool(self.error))

    def on_unmount(self) -> None:
        from ...insights.scoring import scorer_of

        if self.inputs is not None:  # (it listens once it has asked)
            listeners = scorer_of(self.hub).listeners
            if self._counted in listeners:
                listeners.remove(self._counted)

    def _counted(self, scored: Any) -> None:
        """A new scorecard count (the Catalog's, or this pane's): this pane counts again from
        it once it has shown one; the Catalog's levels follow this pane's."""
        inputs = self.inputs
        if inputs is not None and inputs.scored is not scored and self.insights is not None \
                and not self.computing:
            self.reload()

    def pane_shown(self) -> None:
        if self.insights is None and not self.computing:
            self.reload()

    def refresh_now(self) -> None:
        super().refresh_now()
        self.reload()

    # Loading ----------------------------------------------------------------------------------

    def reload(self, *, ask: bool = True, fresh: bool = False) -> None:
        """Ask the hub (``ask``; ``fresh``: every source again, not the hub's last answers) or
        recount what it answered, off the UI thread."""
        self.computing = True
        self.error = ""
        self._status()
        self.run_worker(self._load(ask, fresh), exclusive=True, group="insights",
                        exit_on_error=False)

    def refresh_asked(self) -> None:
        """ctrl+r (the app's): the history and the scorecards counted anew from the sources'
        new answers; the Catalog's levels follow the new count."""
        self.reload(fresh=True)

    async def _load(self, ask: bool, fresh: bool = False) -> None:
        try:
            from ...insights.rules import configured_rules

            rules = configured_rules(self.idp.config)
            if ask or self.inputs is None:
                from ...insights.scoring import scorer_of

                scorer = scorer_of(self.hub)
                if self._counted not in scorer.listeners:
                    scorer.listeners.append(self._counted)
                before = scorer.last
                self.inputs = await view.gather(self.hub, self.idp.clock.now(), rules=rules,
                                                fresh=fresh, trail=self._trail())
                if self.inputs.scored is not before:  # a new count: the Catalog's follow it
                    self._levels_follow()
            insights = await asyncio.to_thread(self.compute, self.inputs, rules, days=self.days)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bad rule file, a source's surprise: said, never raised
            self.computing = False
            self.error = f"{type(exc).__name__}: {exc}"
            self._status()
            return
        self.computing = False
        self.insights = insights
        self.query_one(ErrorBanner).show_errors({f"{f.source}:{i}": f for i, f in
                                                 enumerate(insights.failures)})
        self._draw()

    def _trail(self) -> Any:
        """The runtime's audit trail (the deploys made through idp-tui count too), if any."""
        runtime = getattr(self.idp, "runtime", None)
        actions = getattr(runtime, "actions", None)
        return getattr(actions, "audit", None)

    def _levels_follow(self) -> None:
        """The Catalog's Level column counted again: the count just made, shared."""
        from .catalog import CatalogPane

        for pane in self.app.query(CatalogPane):
            pane.refresh_now()

    # Drawing ----------------------------------------------------------------------------------

    def _table(self) -> KeyedTable:
        return self.query_one("#insights-keys" if self.mode == "keys" else "#insights-scores",
                              KeyedTable)

    def _status(self) -> None:
        status = self.query_one("#insights-status", Static)
        if self.error:
            status.update(render.text(f"Insights could not be computed: {self.error}", "red"))
        elif self.computing:
            status.update(render.text(f"Computing the four keys and scorecards "
                                      f"(last {self.days} days)…", "italic"))
        elif self.insights is not None:
            status.update(render.text(view.summary(self.insights, team=self.team,
                                                   level=self.level), "dim"))
        else:
            status.update(render.text("No insights yet.", "dim"))

    def _draw(self) -> None:
        self._status()
        insights = self.insights
        if insights is None:
            return
        keys = self.query_one("#insights-keys", KeyedTable)
        scores = self.query_one("#insights-scores", KeyedTable)
        keys.display = self.mode == "keys"
        scores.display = self.mode == "scores"
        if keys.display:  # (the hidden table is filled when it is shown)
            self._sync_keys(keys, insights)
        else:
            self._sync_scores(scores, insights)
        self._detail()

    def _sync_keys(self, keys: KeyedTable, insights: view.Insights) -> None:
        costs = scope_costs_of(self.idp)  # each row's monthly cost, as `idp-tui cost` counts
        keys.sync([(row.key, (render.text(f"{'  ' * (row.scope != 'organisation')}"
                                          f"{row.scope if row.scope != 'organisation' else ''}"
                                          f"{' ' if row.scope != 'organisation' else ''}"
                                          f"{row.name}", "bold" if row.scope != "service"
                                          else ""),
                              *map(_text, row.cells), _text(row.level),
                              render.text(costs.get(row.key, "–")),
                              render.text(sparkline(row.weekly, SPARK_WIDTH, floor=0) if row.weekly
                                          else "", "cyan")))
                   for row in view.key_rows(insights, team=self.team)])

    def _sync_scores(self, scores: KeyedTable, insights: view.Insights) -> None:
        scores.sync([(row.key, (render.text(row.service), render.text(row.owner),
                                _text(row.level), _text(row.status), render.text(row.rule),
                                render.text(row.rule_level), render.text(row.title)))
                     for row in view.score_rows(insights.cards, team=self.team,
                                                level=self.level)])

    def _detail(self) -> None:
        detail = self.query_one("#insights-detail", Static)
        insights = self.insights
        if insights is None:
            detail.update("")
            return
        table = self._table()
        row = table.cursor_key
        if row is None:
            detail.update(render.text("Nothing to show.", "dim"))
        elif self.mode == "keys":
            column = min(max(table.cursor_column - 1, 0), len(KEYS) - 1)
            detail.update(_lines(view.key_detail(insights, row, KEYS[column])))
        else:
            service, _, rule = row.partition("\x00")
            detail.update(_lines(view.rule_detail(insights, service, rule)))

    def on_data_table_cell_highlighted(self, event: DataTable.CellHighlighted) -> None:
        self._detail()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._detail()

    # Keys -------------------------------------------------------------------------------------

    def action_toggle_view(self) -> None:
        self.mode = "scores" if self.mode == "keys" else "keys"
        self._draw()
        self.focus_main()

    def action_cycle_team(self) -> None:
        teams: list[str | None] = [None, *(view.teams_of(self.insights) if self.insights
                                           else [])]
        self.team = teams[(teams.index(self.team) + 1) % len(teams)] \
            if self.team in teams else None
        self._draw()

    def action_cycle_level(self) -> None:
        levels: list[str | None] = [None, *level_names()]
        self.level = levels[(levels.index(self.level) + 1) % len(levels)]
        self._draw()

    def action_cycle_window(self) -> None:
        windows = list(view.WINDOWS)
        self.days = windows[(windows.index(self.days) + 1) % len(windows)] \
            if self.days in windows else view.DEFAULT_WINDOW
        self.reload(ask=False)
