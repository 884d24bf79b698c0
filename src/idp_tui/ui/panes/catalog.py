"""Catalog: every service, fuzzy filter and field filters, sort by column, and a detail panel."""

from __future__ import annotations

import asyncio
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.geometry import Size
from textual.widgets import Input, Static

from ... import render
from ...api.models import (
    Deployment,
    Facet,
    Health,
    Service,
    ServiceDetail,
    Signal,
    Team,
    Window,
)
from ...api.source import Capability
from ...fuzzy import FuzzyIndex
from ...hub import Snapshot, Topic, count_facets, facet_values
from ..advisor import advised_services, marked
from ..base import ErrorBanner, Pane, focus_now, while_running
from ..costtext import cost_detail
from ..charts import format_value, sparkline
from ..vtable import VirtualTable
from . import catalog_levels
from .. import columns as fit_columns

COLUMNS = [("name", "Name"), ("owner", "Owner"), ("tier", "Tier"), ("lifecycle", "Lifecycle"),
           ("language", "Language"), ("health", "Health"), ("level", "Level")]
#: Which columns leave first when the table is too narrow for all of them (the higher, the
#: sooner; those at 0 always stay, whole): the detail panel shows every field of the selected
#: service.
COLUMN_PRIORITY = {"name": 0, "health": 0, "owner": 1, "tier": 2, "level": 3, "errors": 3,
                   "traffic": 4, "lifecycle": 5, "language": 6}
#: The widest these columns grow (a longer name ends in an ellipsis; the others stay on screen).
MAX_WIDTHS = {"name": 40, "owner": 24, "lifecycle": 14, "language": 14}
#: Shown once a metrics source answers for many services at once (Source.service_signals).
SIGNAL_COLUMNS = [("traffic", "Requests 15m"), ("errors", "Errors")]
#: Services whose signals are asked for (the first ones in name order).
MAX_SIGNAL_SERVICES = 500
SPARK_WIDTH = 10
#: An error ratio drawn in red from here.
ERROR_ALERT = 0.05
_HEALTH_ORDER = {Health.DOWN: 0, Health.DEGRADED: 1, Health.UNKNOWN: 2, Health.HEALTHY: 3}
#: Seconds the selection rests on a service before its detail is asked for (not for every
#: row the cursor passes).
DETAIL_DELAY = 0.25
#: Seconds of pause in typing the `/` filter before the selection follows the cursor's row.
SELECT_WHILE_TYPING = 0.4


def parse_filter(text: str) -> tuple[dict[str, set[str]], str]:
    """``owner:team-a tag:pci pay`` → ({"owner": {"team-a"}, "tag": {"pci"}}, "pay").

    Words ``field:value`` for a field of FACET_FIELDS (or ``level``, the scorecard level:
    ``catalog_levels.FIELD_WORDS``) filter on that field (any case; several
    values of one field: any of them; several fields: all of them; ``-field:value`` leaves
    the value out, keyed ``-field``); the rest is fuzzy text.
    """
    fields: dict[str, set[str]] = {}
    rest: list[str] = []
    for word in text.split():
        name, sep, value = word.partition(":")
        name = name.lower()
        if sep and value and catalog_levels.field_key(name):
            if name.removeprefix("-") == "tier":
                value = value.lstrip("tT")
            fields.setdefault(name, set()).add(value.lower())
        else:
            rest.append(word)
    return fields, " ".join(rest)


def matches_fields(service: Service, fields: dict[str, set[str]]) -> bool:
    return catalog_levels.matches_facets(facet_values(service), fields)


def _service_name(service: Service) -> str:
    return service.name


def filter_key(service: Service) -> tuple[str, ...]:
    """What the `/` filter searches: name, owner, language, lifecycle, system and tags."""
    return (service.name, service.owner, service.language, service.lifecycle, service.system,
            *service.tags)


class FilterInput(Input):
    BINDINGS = [Binding("escape", "clear_and_leave", "Clear filter", id="catalog.filter_clear")]

    def _watch_value(self, value: str) -> None:
        # Input sets its virtual size at every keystroke, which lays the whole screen out again
        # (a third of a keystroke's time over a big catalog); this one line never changes size.
        self.set_reactive(Input.virtual_size, Size(self.content_width, 1))
        self.refresh()
        super()._watch_value(value)
        # The pane filters now, not when the Changed message has bubbled up to it: the table
        # and the typed character are then drawn in the same frame.
        for ancestor in self.ancestors:
            if isinstance(ancestor, CatalogPane):
                ancestor.filter_typed(value)
                break

    def action_clear_and_leave(self) -> None:
        self.value = ""
        self.display = False
        for ancestor in self.ancestors:
            if isinstance(ancestor, Pane):
                ancestor.focus_main()
                if isinstance(ancestor, CatalogPane):
                    ancestor.flush_selection()
                break


class CatalogPane(Pane):
    pane_name = "catalog"  # its entry in ui/panelist.py: title, key, aliases

    BINDINGS = [
        Binding("slash", "filter", "Filter", id="catalog.filter"),
        Binding("v", "facets", "Fields", id="catalog.facets"),
        Binding("s", "sort", "Sort", id="catalog.sort"),
        Binding("S", "reverse", "Reverse", show=False, id="catalog.reverse"),
        Binding("u", "unhealthy_only", "Unhealthy only", id="catalog.unhealthy_only"),
        Binding("enter", "open_logs", "Logs", show=False, id="catalog.logs"),
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sort_column: str | None = None  # None: by name, or by rank while filtering
        self.sort_reverse = False
        self.query_text = ""
        #: Only the services whose deployment in the selected environment is not healthy (u).
        self.unhealthy_only = False
        self.shown: list[Service] = []
        self._drawn_environment: str | None = None
        self._cell_cache: dict[str, tuple[Service, Health, tuple[Text, ...]]] = {}
        self._cell_cache_for: object = None  # the services list the cache was built for
        self._by_name: dict[str, Service] = {}
        #: What the table's columns were last fitted to (see _redraw).
        self._fitted_for: tuple[object, ...] | None = None
        #: (service, signal) → points, from the signals topic of the selected environment.
        self.signals: dict[tuple[str, Signal], tuple[tuple[float, float], ...]] = {}
        self._signals_topic: Topic | None = None
        #: Whether the table has the signal columns (once a metrics source has answered).
        self.with_signals = False
        #: Teams by name (from the catalog sources that have them).
        self.teams: dict[str, Team] = {}
        #: The selected service's detail, once its sources answered (and for which service).
        self.detail: ServiceDetail | None = None
        self._detail_topic: Topic | None = None
        self._detail_timer: Any = None
        self.facets: list[Facet] | None = None
        self._select_timer: Any = None
        #: Each service's scorecard level (``catalog_levels``): None until counted.
        self.levels: dict[str, Any] | None = None
        self.levels_computing = False
        self.levels_error = ""
        #: The service names the levels were last counted for (counted again when they change).
        self._levels_for: frozenset[str] | None = None
        #: Sorted or filtered by level once (a large catalog's levels are counted from then).
        self._levels_wanted = False
        #: The columns shown: those that fit the table's width (COLUMN_PRIORITY).
        self.shown_columns: list[str] = [key for key, _ in COLUMNS]
        #: The `/` filter's index, with the catalog and field filters it is for (_fuzzy_index).
        self._index: tuple[list[Service], dict[str, set[str]], FuzzyIndex[Service]] | None = None

    def compose(self) -> ComposeResult:
        from .catalog_input import CatalogFilterInput  # noqa: PLC0415 (it extends FilterInput)

        yield ErrorBanner(id="catalog-errors")
        with Horizontal(classes="master-detail"):
            with Vertical(id="catalog-main"):
                yield CatalogFilterInput(
                    placeholder="/ filter: owner:NAME tier:1 level:gold…, other words fuzzy · "
                                "tab completes", id="catalog-filter")
                yield VirtualTable(id="catalog-table")
                yield Static(id="catalog-status", classes="pane-status")
            with VerticalScroll(id="catalog-detail"):
                yield Static(id="catalog-detail-body")

    @while_running
    def on_mount(self) -> None:
        self.query_one(VirtualTable).set_columns(COLUMNS, MAX_WIDTHS)
        self.query_one(FilterInput).display = False
        self.query_one(ErrorBanner).display = False
        if self.hub.has(Capability.CATALOG):
            self.subscribe(Topic.teams())

    def focus_main(self) -> None:
        self.query_one(VirtualTable).focus()

    # Data -----------------------------------------------------------------------------------

    def shared_data_changed(self) -> None:
        snapshot = self.idp.catalog_snapshot
        if snapshot is not None:
            self.query_one(ErrorBanner).show_errors(snapshot.errors, what="catalog",
                                                    kept=snapshot.kept)
        self._watch_signals()
        self._watch_levels()
        self._redraw()

    # Scorecard levels (the Level column, the level: filter word) ---------------------------------

    def _watch_levels(self, *, again: bool = False) -> None:
        """Count every service's scorecard level (off the UI thread) when the catalog's services
        first arrive, when they change, and again on ``r`` (``again``)."""
        names = frozenset(s.name for s in self.idp.services)
        if not names or (names == self._levels_for and not again):
            return
        if len(names) > catalog_levels.MAX_SERVICES and not self._levels_wanted:
            return  # (a large catalog's: once sorted or filtered by level)
        self._levels_for = names
        self.levels_computing = True
        self.run_worker(self._load_levels(), exclusive=True, group="catalog-levels",
                        exit_on_error=False)

    async def _load_levels(self) -> None:
        try:
            levels, _failures = await catalog_levels.compute_levels(
                self.hub, self.idp.clock.now(), self.idp.config)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bad rule file, a source's surprise: said, never raised
            self.levels_error = f"{type(exc).__name__}: {exc}"
        else:
            self.levels, self.levels_error = levels, ""
        self.levels_computing = False
        self._cell_cache_for = None  # every row's level cell changes
        self._redraw(detail=False)

    def is_settled(self) -> bool:
        return not self.levels_computing

    def refresh_now(self) -> None:
        super().refresh_now()
        self._watch_levels(again=True)

    def on_resize(self) -> None:
        self._fitted_for = None  # the columns that fit the new width
        if self.is_mounted and self.idp.services:
            self._redraw(detail=False)

    # Signals of every service (sparklines) -----------------------------------------------------

    def _watch_signals(self) -> None:
        """Ask the metrics sources for every listed service's traffic and errors at once."""
        env = self.idp.environment
        if env is None or not self.idp.services or not self.hub.has(Capability.METRICS):
            return
        names = sorted(s.name for s in self.idp.services)[:MAX_SIGNAL_SERVICES]
        topic = Topic.signals(env, names, Window.M15, 60.0)
        if topic == self._signals_topic:
            return
        self.unsubscribe("signals")
        self._signals_topic = topic
        self.signals = {}
        self.subscribe(topic)

    def show_snapshot(self, snapshot: Snapshot[Any]) -> None:
        kind = snapshot.topic.kind
        if kind == "teams":
            self.teams = {t.name: t for t in snapshot.data or ()}
            self._detail()
            return
        if kind == "service_detail":
            if snapshot.topic == self._detail_topic:
                self.detail = snapshot.data
                self._detail()
            return
        if kind == "facets":
            if snapshot.data:
                self.facets = snapshot.data
                for screen in self.app.screen_stack:
                    if getattr(screen, "pane", None) is self and hasattr(screen, "show_facets"):
                        screen.show_facets(self.facets)
            return
        if snapshot.topic != self._signals_topic or snapshot.data is None:
            return
        self.signals = {(s.service, s.signal): s.points for s in snapshot.data}
        if self.signals and any(self.signals.values()) and not self.with_signals:
            self.with_signals = True  # (the columns that fit are chosen again: _fit_columns)  # read for every row built: kept, not queried
        self._cell_cache_for = None  # every row's signal cells change
        self._redraw()

    def context_changed(self) -> None:
        self._watch_signals()
        table = self.query_one(VirtualTable)
        if self.idp.service and table.cursor_key != self.idp.service:
            table.select_key(self.idp.service)
        if self.idp.environment != self._drawn_environment:
            self._redraw()  # the health column shows the selected environment
        else:
            self._detail()  # only the selected service changed

    def _deployment(self, service: str) -> Deployment | None:
        platform = self.idp.platform
        env = self.idp.environment
        if platform is None or env is None:
            return None
        return platform.deployments.get((service, env))

    def _health(self, service: str) -> Health:
        dep = self._deployment(service)
        return dep.health if dep else Health.UNKNOWN

    def is_unhealthy(self, service: str) -> bool:
        """Deployed in the selected environment and not healthy there."""
        dep = self._deployment(service)
        return dep is not None and dep.health is not Health.HEALTHY

    def _redraw(self, detail: bool = True) -> None:
        """The table for the current data, filter and sort; and the selected service's detail
        unless only the filter changed (the selection is the same: a changed one redraws it)."""
        services = self.idp.services
        fields, text = parse_filter(self.query_text)
        shown = self._fuzzy_index(services, fields).filter(text)
        if self.unhealthy_only:
            shown = [s for s in shown if self.is_unhealthy(s.name)]
        if (self.sort_column == "level" or catalog_levels.wants_levels(fields)) \
                and not self._levels_wanted:
            self._levels_wanted = True
            if self.levels is None and not self.levels_computing:
                self._watch_levels(again=True)
        shown = catalog_levels.filter_levels(shown, self.levels, fields)
        if self.sort_column is not None or not text:
            column = self.sort_column or "name"
            shown.sort(key=self._sort_key(column), reverse=self.sort_reverse)
        elif self.sort_reverse:
            shown.reverse()
        self.shown = shown
        self._drawn_environment = self.idp.environment
        if self._cell_cache_for is not services:
            self._cell_cache, self._cell_cache_for = {}, services
            self._by_name = {s.name: s for s in services}
        table = self.query_one(VirtualTable)
        fitted_for = (id(self._cell_cache), self._drawn_environment, self.with_signals)
        if self._fitted_for != fitted_for:
            # The columns fit every service (not only those the filter shows: no jumps while
            # typing); the cells are built here once, then only for the rows drawn.
            self._fitted_for = fitted_for
            self._fit_columns(table, services)
            table.fit([self._cells(s) for s in services])
        table.fit([self._cells_of(n) for n in advised_services(self.idp) if n in self._by_name])
        table.show([s.name for s in shown], self._cells_of)
        if self.idp.service:
            table.select_key(self.idp.service)
        self._status(len(services))
        if detail:
            self._detail()

    def _fuzzy_index(self, services: list[Service],
                     fields: dict[str, set[str]]) -> FuzzyIndex[Service]:
        """The filter's index of the services the field filters let through (kept while the
        catalog and the field filters stay the same: the fuzzy text is typed over it)."""
        cached = self._index
        if cached is None or cached[0] is not services or cached[1] != fields:
            candidates = [s for s in services if matches_fields(s, fields)] if fields \
                else services
            cached = self._index = (services, fields, FuzzyIndex(candidates, filter_key,
                                                                 _service_name))
        return cached[2]

    def _sort_key(self, column: str) -> Any:
        if column == "tier":
            return lambda s: (s.tier or 9, s.name)
        if column == "health":
            return lambda s: (_HEALTH_ORDER[self._health(s.name)], s.name)
        if column == "level":
            return catalog_levels.level_sort_key(self.levels)
        return lambda s: (str(getattr(s, column)).lower(), s.name)

    def _cells_of(self, name: str) -> tuple[Text, ...]:
        """A row's cells, when the table draws it (the advisor's mark on the name)."""
        return marked(self.idp, name, self._cells(self._by_name[name]))

    def _cells(self, s: Service) -> tuple[Text, ...]:
        """The row of ``s`` (the same objects while the record and its health are unchanged, so
        that each keystroke of the filter does not rebuild every row)."""
        health = self._health(s.name)
        cached = self._cell_cache.get(s.name)
        if cached is not None and cached[0] is s and cached[1] is health:
            return cached[2]
        cells = self._make_cells(s, health)
        self._cell_cache[s.name] = (s, health, cells)
        return cells

    def _all_columns(self) -> list[tuple[str, str]]:
        return COLUMNS + SIGNAL_COLUMNS if self.with_signals else COLUMNS

    def _fit_columns(self, table: VirtualTable, services: list[Service]) -> None:
        """Show the columns that fit the table's width (the others leave by COLUMN_PRIORITY,
        never cut mid-word), measured over every service's row."""
        all_columns = self._all_columns()
        keys = [key for key, _ in all_columns]
        room = table.size.width - 2  # its vertical scrollbar
        shown = keys
        built: list[tuple[Service, Health, tuple[Text, ...]]] = []
        if room > 0:
            built = [(s, health, self._full_row(s, health))
                     for s in services for health in (self._health(s.name),)]
            advised = advised_services(self.idp)
            rows = [row for _s, _h, row in built]
            rows += [marked(self.idp, s.name, row) for s, _h, row in built if s.name in advised]
            widths = fit_columns.measure(all_columns, rows, MAX_WIDTHS)
            shown = fit_columns.fitting(keys, COLUMN_PRIORITY, widths, room)
        if shown != self.shown_columns or list(table.columns) != shown:
            self.shown_columns = shown
            labels = dict(all_columns)
            table.set_columns([(k, labels[k]) for k in shown], MAX_WIDTHS)
            self._cell_cache.clear()  # (the rows' cells are those of the columns shown)
        index = [keys.index(k) for k in shown]
        for s, health, row in built:  # (each row built once: the table's cells from it)
            self._cell_cache[s.name] = (s, health, row if shown == keys
                                        else tuple(row[i] for i in index))

    def _make_cells(self, s: Service, health: Health) -> tuple[Text, ...]:
        """The cells of the columns shown."""
        row = self._full_row(s, health)
        keys = [key for key, _ in self._all_columns()]
        if self.shown_columns == keys:
            return row
        return tuple(row[keys.index(k)] for k in self.shown_columns)

    def _full_row(self, s: Service, health: Health) -> tuple[Text, ...]:
        """The cells of every column (COLUMNS, and SIGNAL_COLUMNS once a source has them)."""
        cells = render.catalog_row(s.name, s.owner, s.tier, s.lifecycle, s.language, health)
        level = catalog_levels.level_cell(self.levels, s.name, computing=self.levels_computing)
        cells = (*cells, level)
        if not self.with_signals:
            return cells
        return (*cells, *self._signal_cells(s.name))

    def _signal_cells(self, name: str) -> tuple[Text, Text]:
        rate = self.signals.get((name, Signal.REQUEST_RATE), ())
        errors = self.signals.get((name, Signal.ERROR_RATIO), ())
        if not rate:
            traffic = Text("–", "dim")
        else:
            traffic = Text(sparkline([v for _t, v in rate], SPARK_WIDTH), "cyan")
            traffic.append(f" {format_value(rate[-1][1], 'req/s')}")
        if not errors:
            error_cell = Text("–", "dim")
        else:
            value = errors[-1][1]
            error_cell = Text(format_value(value, "ratio"),
                              "bold red" if value >= ERROR_ALERT else "")
        return traffic, error_cell

    def _status(self, total: int) -> None:
        out = Text(end="")
        out.append(f"{len(self.shown)} of {total} services", "bold")
        if self.idp.catalog_derived:
            out.append(" seen in the environments (no catalog source configured)", "italic")
        env = self.idp.environment
        if env is not None and self.idp.platform is not None:
            down = sum(1 for s in self.idp.services if self.is_unhealthy(s.name))
            out.append(f"  {down} not healthy in ", "red" if down else "dim")
            out.append_text(render.text(env, "red" if down else "dim", max_len=40))
        if self.unhealthy_only:
            out.append("  showing the not healthy only (u again: all)", "bold yellow")
        if self.query_text:
            out.append("  filter ")
            out.append_text(render.text(self.query_text, "bold yellow"))
        out.append_text(catalog_levels.status_note(
            parse_filter(self.query_text)[0], self.levels, self.levels_error,
            deferred=not self.levels_computing and total > catalog_levels.MAX_SERVICES))
        label = dict(COLUMNS).get(self.sort_column or "name", "")
        if parse_filter(self.query_text)[1] and self.sort_column is None:
            label = "best match"  # (fuzzy text; field filters alone keep the name order)
        out.append(f"  sorted by {label}{' ↓' if self.sort_reverse else ''}", "dim")
        out.append("   / filter · v by field · u unhealthy · s/S sort · enter logs", "dim")
        # (one line, no wrapping: nothing else moves, no layout of the screen a keystroke)
        self.query_one("#catalog-status", Static).update(out, layout=False)

    def _detail(self) -> None:
        body = self.query_one("#catalog-detail-body", Static)
        service = self.idp.service_record()
        if service is None:
            body.update(Text("No service selected.", "dim"))
            return
        topic = Topic.service_detail(service.name)
        if topic != self._detail_topic:
            # Another service: its detail is asked for once the selection rests on it.
            self.unsubscribe("service_detail")
            self._detail_topic, self.detail = topic, None
            if self._detail_timer is not None:
                self._detail_timer.stop()
            self._detail_timer = self.set_timer(DETAIL_DELAY, self._watch_detail)
        body.update(render.hanging(self.detail_text(service)))

    def _watch_detail(self) -> None:
        self._detail_timer = None
        if self.query_one(FilterInput).has_focus:
            # Asked for once typing in the filter pauses (its answer redraws the panel).
            self._detail_timer = self.set_timer(DETAIL_DELAY, self._watch_detail)
            return
        if self._detail_topic is not None and self.hub.has(Capability.CATALOG):
            self.subscribe(self._detail_topic)

    def detail_text(self, s: Service) -> Text:
        out = Text(end="")
        out.append_text(render.text(s.name, "bold underline", max_len=120))
        out.append("\n")
        if s.description:
            out.append_text(render.text(s.description, "italic", max_len=2000, multiline=True))
            out.append("\n")
        out.append("\n")
        detail = self.detail if self.detail is not None \
            and self.detail.service.name == s.name else None
        for label, value in (("Owner", s.owner), ("On call", s.on_call), ("System", s.system),
                             ("Type", s.type), ("Tier", f"T{s.tier}" if s.tier else ""),
                             ("Lifecycle", s.lifecycle), ("Language", s.language)):
            if value:
                out.append_text(render.label(label, 10))
                out.append_text(render.text(value))
                team = self.teams.get(value) if label == "Owner" else None
                if team is not None:
                    out.append_text(self._team_text(team))
                out.append("\n")
        if s.tags:
            out.append_text(render.label("Tags", 10))
            out.append_text(render.text(", ".join(s.tags)))
            out.append("\n")
        if s.links:
            out.append("\nLinks\n", "bold")
            for link in s.links:
                out.append("  ")
                out.append_text(render.text(link.title, "bold", max_len=60))
                out.append("  ")
                out.append_text(render.text(link.url, "underline blue", max_len=300))
                out.append("\n")
        depended_by = [o.name for o in self.idp.services if s.name in o.depends_on]
        out.append("\nDependencies\n", "bold")
        for label, names in (("depends on", s.depends_on), ("used by", depended_by),
                             ("provides", s.provides_apis), ("consumes", s.consumes_apis)):
            out.append_text(render.label(f"  {label}", 13))
            out.append_text(render.text(", ".join(names) if names else "–", max_len=1000))
            out.append("\n")
        if detail is not None and detail.apis:
            out.append("\nAPIs\n", "bold")
            provided = set(s.provides_apis)
            for api in detail.apis:
                out.append("  provides " if api.name in provided else "  consumes ", "dim")
                out.append_text(render.text(api.name, "bold", max_len=80))
                kind = " · ".join(x for x in (api.type, api.lifecycle) if x)
                if kind:
                    out.append(" (")
                    out.append_text(render.text(kind, max_len=60))
                    out.append(")")
                if api.owner and api.owner != s.owner:
                    out.append(" owned by ", "dim")
                    out.append_text(render.text(api.owner, max_len=60))
                if api.description:
                    out.append(" — ", "dim")
                    out.append_text(render.text(api.description, "italic", max_len=200))
                out.append("\n")
        if detail is not None and detail.facts:
            out.append("\n")
            for key, value in detail.facts.items():
                out.append_text(render.label(key, 14, max_len=30))
                out.append_text(render.text(value, max_len=500))
                out.append("\n")
        platform = self.idp.platform
        if platform is not None:
            out.append("\nVersions\n", "bold")
            # (each part padded to the widest of its kind: versions, health and replicas line up)
            rows = [(env.name, render.sanitize(env.name, max_len=24),
                     platform.deployments.get((s.name, env.name)))
                    for env in platform.environments]
            versions = {name: render.text(dep.version, "bold", max_len=40)
                        for name, _label, dep in rows if dep is not None}
            healths = {name: render.health(dep.health) for name, _label, dep in rows
                       if dep is not None}
            label_width = max((len(label) for _name, label, _dep in rows), default=0)
            version_width = max((v.cell_len for v in versions.values()), default=0)
            health_width = max((h.cell_len for h in healths.values()), default=0)
            for name, label, dep in rows:
                out.append(f"  {label:<{label_width}}  ",
                           "bold" if name == self.idp.environment else "dim")
                if dep is None:
                    out.append("not deployed\n", "dim")
                    continue
                out.append_text(versions[name])
                out.append(" " * (version_width - versions[name].cell_len) + "  ")
                out.append_text(healths[name])
                if dep.replicas_desired is not None:
                    out.append(" " * (health_width - healths[name].cell_len))
                    out.append(f"  {dep.replicas_ready or 0}/{dep.replicas_desired}")
                out.append("\n")
        cost = cost_detail(self.idp, s.name)  # per environment, waste, prices used
        if cost is not None:
            out.append_text(cost)
        resources = [r for r in getattr(self.idp, "resources", []) if r.service == s.name]
        if resources:
            out.append("\nResources\n", "bold")
            now = self.idp.clock.now()
            for r in sorted(resources, key=lambda r: (r.environment or "", r.kind, r.name)):
                out.append("  ")
                out.append_text(render.text(r.kind, "dim", max_len=20))
                out.append(" ")
                out.append_text(render.text(r.name, "bold", max_len=60))
                if r.environment:
                    out.append(" in ", "dim")
                    out.append_text(render.text(r.environment, max_len=40))
                out.append("  ")
                out.append_text(render.text(r.status, "green" if r.status == "ready" else "yellow",
                                            max_len=30))
                if r.expires_at is not None:
                    out.append(f"  expires {render.ago(r.expires_at, now)}", "dim")
                out.append("\n")
        # Which sources know this service: its catalog entry, and where it runs.
        deployed = sorted({dep.source for (name, _env), dep in platform.deployments.items()
                           if name == s.name and dep.source}) if platform is not None else []
        runs = self.hub.cached(Topic.pipelines())  # (known once the Pipelines pane has asked)
        pipelines = sorted({r.source for r in (runs.data or ()) if r.service == s.name
                            and r.source}) if runs is not None else []
        matched = [(label, names) for label, names in (("catalog", list(s.sources)),
                                                       ("deployments", deployed),
                                                       ("pipelines", pipelines)) if names]
        if matched:
            out.append("\nFrom ", "dim")
            for i, (label, names) in enumerate(matched):
                if i:
                    out.append(" · ", "dim")
                out.append(f"{label}: ", "dim")
                out.append_text(render.text(", ".join(names), "dim"))
        return out

    @staticmethod
    def _team_text(team: Team) -> Text:
        """`` — Payments · payments@example.com · in engineering · 3 people``."""
        parts = [render.text(x, max_len=80) for x in (team.title, team.email) if x]
        if team.parent:
            parts.append(Text("in ").append_text(render.text(team.parent, max_len=80)))
        if team.members:
            parts.append(Text(f"{len(team.members)} "
                              f"{'person' if len(team.members) == 1 else 'people'}"))
        out = Text(end="")
        for i, part in enumerate(parts):
            out.append(" — " if i == 0 else " · ", "dim")
            out.append_text(part)
        out.stylize("dim")
        return out

    # Events and actions -----------------------------------------------------------------------

    @on(VirtualTable.RowHighlighted, "#catalog-table")
    def _row_highlighted(self, event: VirtualTable.RowHighlighted) -> None:
        key = event.key
        if key != self.query_one(VirtualTable).cursor_key:
            return  # a highlight the table has moved on from (rows were re-synced)
        if not self.is_current:
            return  # rows drawn in a hidden pane: not the user's choice
        if self._select_timer is not None:
            self._select_timer.stop()
            self._select_timer = None
        if not key or key == self.idp.service:
            return
        if self.query_one(FilterInput).has_focus:
            # The filter moved the cursor: the selection (the header, the detail, every other
            # pane) follows once typing pauses, not at each keystroke.
            self._select_timer = self.idp.start_timer(self, SELECT_WHILE_TYPING,
                                                      self._select_cursor_row)
            return
        self.idp.service = key

    def _select_cursor_row(self) -> None:
        self._select_timer = None
        key = self.query_one(VirtualTable).cursor_key
        if key and key != self.idp.service and self.is_current:
            self.idp.service = key

    @on(VirtualTable.RowSelected, "#catalog-table")
    def _row_selected(self) -> None:
        self.action_open_logs()

    @on(VirtualTable.HeaderSelected, "#catalog-table")
    def _header_selected(self, event: VirtualTable.HeaderSelected) -> None:
        column = event.column_key
        if self.sort_column == column:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column, self.sort_reverse = column, False
        self._redraw()

    def filter_typed(self, value: str) -> None:
        """The `/` filter's text changed (from FilterInput, as it changes)."""
        if self._select_timer is not None:
            self._select_timer.reset()  # still typing: the selection follows later
        if value != self.query_text:
            self.query_text = value
            self._redraw(detail=False)

    @on(Input.Changed, "#catalog-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_typed(event.value)  # (done already, unless the value was set while unmounted)

    @on(Input.Submitted, "#catalog-filter")
    def _filter_submitted(self) -> None:
        self.query_one(VirtualTable).focus()
        table = self.query_one(VirtualTable)
        if table.keys and table.cursor_key is None:
            table.move_cursor(row=0)
        self.flush_selection()

    def flush_selection(self) -> None:
        """Typing is over (enter, escape): the selection follows the cursor now, not later."""
        if self._select_timer is not None:
            self._select_timer.stop()
            self._select_cursor_row()

    def action_filter(self) -> None:
        field = self.query_one(FilterInput)
        field.display = True
        focus_now(field)

    def action_facets(self) -> None:
        """Pick a value of a field (owner, lifecycle, type, system, tag…) to filter by."""
        from ..screens import FacetScreen  # noqa: PLC0415

        if self.hub.has(Capability.CATALOG):
            self.subscribe(Topic.facets())
        active, _rest = parse_filter(self.query_text)

        def chosen(token: str | None) -> None:
            if token:
                self.add_filter(token)

        self.app.push_screen(FacetScreen(self, active), chosen)

    def current_facets(self) -> list[Facet]:
        """The sources' counts, or (until they answer, or without a catalog source) the
        dashboard's own count of the services it lists."""
        return self.facets or count_facets(self.idp.services)

    def add_filter(self, token: str) -> None:
        """Filter by ``field:value`` too (replacing another value of the same field)."""
        name = token.partition(":")[0].lower()
        words = [w for w in self.query_text.split()
                 if w.partition(":")[0].lower() != name or ":" not in w]
        field = self.query_one(FilterInput)
        field.value = " ".join([*words, token])  # (Input.Changed redraws)
        field.display = True
        self.query_text = field.value
        self._redraw()

    def action_sort(self) -> None:
        keys = [k for k, _ in COLUMNS]
        current = self.sort_column or ("name" if not self.query_text else None)
        index = keys.index(current) + 1 if current in keys else 0
        self.sort_column = keys[index % len(keys)]
        self.sort_reverse = False
        self._redraw()

    def action_unhealthy_only(self) -> None:
        """Show only the services not healthy in the selected environment (again: all)."""
        self.unhealthy_only = not self.unhealthy_only
        self._redraw()

    def action_reverse(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self._redraw()

    def action_open_logs(self) -> None:
        self.idp.show_pane("logs")
