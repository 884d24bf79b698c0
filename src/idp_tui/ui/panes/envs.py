"""Environments: service × environment matrix with versions, health, replicas and drift."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from ... import render
from ...actionspec import by_name, pane_specs
from ...api.models import Deployment, Health, Signal, Window
from ...api.source import Capability
from ...api.versions import same_version
from ...environments import behind_cells
from ...fuzzy import FuzzyIndex
from ...hub import Snapshot, Topic
from ..action_access import manager_of
from ..advisor import marked
from ..base import ErrorBanner, Pane, focus_now, while_running
from ..charts import format_value
from ..vtable import VirtualTable
from .catalog import ERROR_ALERT, MAX_SIGNAL_SERVICES, FilterInput, filter_key

_NUMBER = re.compile(r"\d+|[^\d.+-]+")
#: An error ratio shown in a cell from here (red from ERROR_ALERT).
ERROR_NOTE = 0.01


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Sortable form of a version: numeric parts compare as numbers (1.10 > 1.9)."""
    core = version.lstrip("vV").split("+", 1)[0]
    # isdecimal, not isdigit: "²" is a digit that int() refuses (versions are source text).
    return tuple((0, int(p)) if p.isdecimal() else (1, p) for p in _NUMBER.findall(core))


#: What can be ordered: "1.4.2", "v2.0.0-rc1", "2024.06.1", a build number "481"; not a commit
#: sha ("4ea9b1c"), a branch or a digest, which say nothing about which is older.
_ORDERABLE = re.compile(r"[vV]?(\d+(\.\d+)+|\d{1,6})([-+.~][0-9A-Za-z.+~-]*)?")


@lru_cache(maxsize=65536)  # a refresh asks again for the same pairs of every service
def is_behind(version: str, previous: str) -> bool:
    """True when ``version`` is older than ``previous`` (the environment before it); False when
    either is not a version that can be ordered (a commit sha)."""
    if same_version(version, previous) or not (_ORDERABLE.fullmatch(version)
                                   and _ORDERABLE.fullmatch(previous)):
        return False
    return version_key(version) < version_key(previous)


#: The widest a version is shown in a cell (a longer one ends in an ellipsis).
VERSION_MAX = 24
#: The widest these columns grow (the environments' columns: MAX_COLUMN_WIDTH).
MAX_WIDTHS = {"service": 40}


def replicas_text(dep: Deployment) -> str:
    """``ready/desired`` (empty when the source does not say)."""
    if dep.replicas_desired is None:
        return ""
    return f"{dep.replicas_ready or 0}/{dep.replicas_desired}"


def column_widths(deployments: Mapping[tuple[str, str], Deployment],
                  drifted: set[tuple[str, str]], envs: Sequence[str]
                  ) -> dict[str, tuple[int, int]]:
    """Each environment's widest version part (with its drift mark) and replica part: every
    cell of the column is padded to them, so versions, health and replicas line up."""
    widths = {env: (0, 0) for env in envs}
    measured: dict[str, int] = {}  # (many services run the same version)
    for (name, env), dep in deployments.items():
        if env not in widths:
            continue
        version = measured.get(dep.version)
        if version is None:
            version = measured[dep.version] = render.text(dep.version,
                                                          max_len=VERSION_MAX).cell_len
        version += (name, env) in drifted
        vw, rw = widths[env]
        widths[env] = (max(vw, version), max(rw, len(replicas_text(dep))))
    return widths


class EnvironmentsPane(Pane):
    pane_name = "envs"  # its entry in ui/panelist.py: title, key, aliases

    BINDINGS = [
        Binding("slash", "filter", "Filter", id="envs.filter"),
        Binding("D", "drift_only", "Drift only", id="envs.drift_only"),
        Binding("u", "unhealthy_only", "Unhealthy only", id="envs.unhealthy_only"),
        Binding("enter", "open_logs", "Logs", show=False, id="envs.logs"),
        # extend, delete a preview environment: rows of the action table
        *(Binding(s.key, f"act('{s.name}')", s.label, show=s.show, id=s.binding_id)
          for s in pane_specs("envs")),
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.drift_only = False
        #: Only the services with a deployment that is not healthy (u).
        self.unhealthy_only = False
        self.query_text = ""
        self.drifted: set[tuple[str, str]] = set()
        #: (service, environment) → the latest error ratio, from the metrics sources.
        self.error_ratios: dict[tuple[str, str], float] = {}
        #: Data arrived while another tab showed: drawn when this one is shown.
        self._stale = False
        #: The cells of the last redraw by what they show, so that an unchanged cell is the same
        #: object (the table skips it) and is not built again.
        self._cells: dict[tuple[Any, ...], Text] = {}
        self._names: dict[str, Text] = {}
        #: Every service's row (name → cells) as the data stands; the filter shows a part.
        self._rows: dict[str, tuple[Text, ...]] = {}
        #: The filter's index of the services (kept while they stay the same).
        self._index: tuple[tuple[str, ...], list[Any], FuzzyIndex[str]] | None = None

    def compose(self) -> ComposeResult:
        yield ErrorBanner(id="envs-errors")
        yield FilterInput(placeholder="/ fuzzy filter services", id="envs-filter")
        yield VirtualTable(id="envs-table", cursor_type="cell")
        yield Static(id="envs-status", classes="pane-status")

    @while_running
    def on_mount(self) -> None:
        self.query_one(FilterInput).display = False
        self.query_one(ErrorBanner).display = False

    def focus_main(self) -> None:
        self.query_one(VirtualTable).focus()

    def shared_data_changed(self) -> None:
        snapshot = self.idp.platform_snapshot
        if snapshot is not None:
            self.query_one(ErrorBanner).show_errors(snapshot.errors, what="deployments",
                                                    kept=snapshot.kept)
        self._watch_signals()
        self._redraw_when_seen()

    def _redraw_when_seen(self) -> None:
        """Redraw now if this is the tab showing, else once it is (a refresh of thousands of
        services costs a redraw nobody sees)."""
        if self.is_current or self.idp.platform is None:
            self._redraw()
        else:
            self._stale = True

    def pane_shown(self) -> None:
        if self._stale:
            self._redraw()

    def _watch_signals(self) -> None:
        """Each environment's error ratios, all services at once (as the Catalog asks them, so
        the selected environment's answer is shared)."""
        platform = self.idp.platform
        if platform is None or not self.hub.has(Capability.METRICS):
            return
        names = sorted({s.name for s in self.idp.services} | {k[0] for k in platform.deployments})
        wanted = {Topic.signals(env, names[:MAX_SIGNAL_SERVICES], Window.M15, 60.0)
                  for env in platform.environment_names()}
        for topic in [t for t in self._subscriptions if t.kind == "signals" and t not in wanted]:
            self._subscriptions.pop(topic).close()
        for topic in wanted:
            self.subscribe(topic)

    def show_snapshot(self, snapshot: Snapshot[Any]) -> None:
        if snapshot.topic.kind != "signals" or snapshot.data is None:
            return
        env = snapshot.topic.args[0]
        ratios = {(k, e): v for (k, e), v in self.error_ratios.items() if e != env}
        for series in snapshot.data:
            if series.signal is Signal.ERROR_RATIO and series.points:
                ratios[series.service, env] = series.points[-1][1]
        if ratios != self.error_ratios:
            self.error_ratios = ratios
            self._redraw_when_seen()

    def context_changed(self) -> None:
        self._move_cursor()
        self._status()

    def _redraw(self) -> None:
        """Every row again from the data, then the rows the filters let through."""
        platform = self.idp.platform
        table = self.query_one(VirtualTable)
        if platform is None:
            return
        self._stale = False
        envs = [e.name for e in platform.environments]
        table.set_columns([("service", "Service"), *[(e, e) for e in envs]], MAX_WIDTHS)
        names = sorted({s.name for s in self.idp.services} | {k[0] for k in platform.deployments})
        # (preview environments are not in the promotion chain: never behind)
        self.drifted = behind_cells(names, platform.environments, platform.deployments,
                                    is_behind)
        rows: dict[str, tuple[Text, ...]] = {}
        deployments, drifted, ratios = platform.deployments, self.drifted, self.error_ratios
        widths = column_widths(deployments, drifted, envs)
        old_cells, old_names = self._cells, self._names
        self._cells, self._names = cells_now, names_now = {}, {}
        for name in names:
            label = names_now[name] = old_names.get(name) or render.text(name, "bold")
            cells = [label]
            for env in envs:
                dep = deployments.get((name, env))
                errors = ratios.get((name, env))
                if errors is not None and errors < ERROR_NOTE:
                    errors = None  # not shown
                key = None if dep is None else (
                    dep.version, dep.health, dep.replicas_ready, dep.replicas_desired,
                    (name, env) in drifted, errors, widths[env], dep.rollout)
                cell = cells_now.get(key)
                if cell is None:
                    cell = old_cells.get(key)
                    if cell is None:
                        cell = self._cell(dep, key is not None and key[4], errors,
                                          widths[env])
                    cells_now[key] = cell
                cells.append(cell)
            rows[name] = marked(self.idp, name, tuple(cells))
        if rows != self._rows:
            # The columns fit every service, not only those shown (no jumps while filtering).
            table.fit(rows.values())
        self._rows = rows
        self._show()

    def _show(self) -> None:
        """The rows the drift toggle and the `/` filter let through, in the table."""
        table = self.query_one(VirtualTable)
        names = list(self._rows)
        if self.drift_only:
            drifted_services = {s for s, _ in self.drifted}
            names = [n for n in names if n in drifted_services]
        if self.unhealthy_only:
            unhealthy = self.unhealthy_services()
            names = [n for n in names if n in unhealthy]
        if self.query_text:
            names = self._fuzzy_index(tuple(names)).filter(self.query_text)
        table.show(names, self._rows.__getitem__)
        self._move_cursor()
        self._status()

    def unhealthy_services(self) -> set[str]:
        """The services with a deployment, in any environment, that is not healthy."""
        platform = self.idp.platform
        if platform is None:
            return set()
        return {name for (name, _env), dep in platform.deployments.items()
                if dep.health is not Health.HEALTHY}

    def _fuzzy_index(self, names: tuple[str, ...]) -> FuzzyIndex[str]:
        """The filter's index of ``names`` (kept while they and the catalog stay the same)."""
        services = self.idp.services
        cached = self._index
        if cached is None or cached[0] != names or cached[1] is not services:
            records = {s.name: s for s in services}
            cached = self._index = (names, services, FuzzyIndex(
                names, lambda n: filter_key(records[n]) if n in records else (n,),
                lambda n: n))
        return cached[2]

    def _cell(self, dep: Deployment | None, drift: bool, errors: float | None = None,
              widths: tuple[int, int] = (0, 0)) -> Text:
        """A deployment's cell; ``widths``: its column's widest version part and replica part,
        which this one's are padded to (the parts line up down the column)."""
        if dep is None:
            return Text("–", "dim")
        icon, style = render.deployment_icon(dep.health, dep.rollout)
        out = Text(end="")
        out.append_text(render.text(dep.version, "bold black on yellow" if drift else "bold",
                                    max_len=VERSION_MAX))
        if drift:
            out.append("↓", "bold yellow")
        out.append(" " * max(0, widths[0] - out.cell_len))
        out.append(f" {icon}", style)
        replicas = replicas_text(dep)
        if replicas or widths[1]:
            ready = dep.replicas_ready or 0
            ready_style = "" if dep.replicas_desired is None or ready >= dep.replicas_desired \
                else "bold red"
            out.append(" " + replicas.rjust(widths[1]), ready_style)
        if errors is not None and errors >= ERROR_NOTE:
            out.append(f" {format_value(errors, 'ratio')}✖",
                       "bold red" if errors >= ERROR_ALERT else "yellow")
        return out

    def _move_cursor(self) -> None:
        table = self.query_one(VirtualTable)
        service, env = self.idp.service, self.idp.environment
        if service is None or not table.select_key(service):
            return
        columns = list(table.columns)
        if env in columns and columns.index(env) != table.cursor_column:
            table.move_cursor(column=columns.index(env))

    def _status(self) -> None:
        platform = self.idp.platform
        out = Text(end="")
        if platform is None:
            out.append("waiting for environments…", "dim")
        else:
            services = {s for s, _ in self.drifted}
            out.append(f"{self.query_one(VirtualTable).row_count} services", "bold")
            out.append(f"  {len(self.drifted)} drifted cells in {len(services)} services", "yellow")
            down = sum(1 for d in platform.deployments.values() if d.health is not Health.HEALTHY)
            out.append(f"  {down} not healthy", "red" if down else "dim")
            limits = [(what, key) for what, key, on in (
                ("drifted", "D", self.drift_only),
                ("not healthy", "u", self.unhealthy_only)) if on]
            if limits:
                whats = " and ".join(what for what, _key in limits)
                keys = ", ".join(key for _what, key in limits)
                out.append(f"  showing {whats} services only ({keys} again: all)",
                           "bold yellow")
            dep = platform.deployments.get((self.idp.service or "", self.idp.environment or ""))
            if dep is not None and dep.message:
                out.append("  ")
                out.append_text(render.text(dep.message, "italic", max_len=120))
        out.append("   ", "dim")
        out.append("1.2.3↓", "bold black on yellow")
        out.append(" behind the env before it · D drift only · u unhealthy only · / filter · "
                   "enter logs", "dim")
        self.query_one("#envs-status", Static).update(out, layout=False)

    @on(VirtualTable.CellHighlighted, "#envs-table")
    def _cell_highlighted(self, event: VirtualTable.CellHighlighted) -> None:
        row_key, column_key = event.key, event.column_key
        table = self.query_one(VirtualTable)
        if (event.row, event.column) != (table.cursor_row, table.cursor_column):
            return  # a highlight the table has moved on from
        if not self.is_current:
            return  # rows drawn in a hidden pane: not the user's choice
        if row_key and row_key != self.idp.service:
            self.idp.service = row_key
        if column_key and column_key != "service" and column_key != self.idp.environment:
            self.idp.environment = str(column_key)
            self.refresh_bindings()  # (extend and delete apply to a preview environment only)

    @on(VirtualTable.CellSelected, "#envs-table")
    def _cell_selected(self) -> None:
        self.action_open_logs()

    @on(FilterInput.Changed, "#envs-filter")
    def _filter_changed(self, event: FilterInput.Changed) -> None:
        self.query_text = event.value
        self._show()

    @on(FilterInput.Submitted, "#envs-filter")
    def _filter_submitted(self) -> None:
        self.query_one(VirtualTable).focus()

    def action_filter(self) -> None:
        field = self.query_one(FilterInput)
        field.display = True
        focus_now(field)

    def action_drift_only(self) -> None:
        self.drift_only = not self.drift_only
        self._show()

    def action_unhealthy_only(self) -> None:
        """Show only the services not healthy somewhere (again: every service)."""
        self.unhealthy_only = not self.unhealthy_only
        self._show()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "act":
            return self._refusal(parameters) is None
        return True

    def why_not(self, action: str, parameters: tuple[object, ...]) -> str | None:
        """Why a key ``check_action`` hides does nothing now (the app says it when pressed)."""
        return self._refusal(parameters) if action == "act" else None

    def _refusal(self, parameters: tuple[object, ...]) -> str | None:
        """Why the action key named by ``parameters`` does not apply to the selected
        environment (no source can do it, or it is not a preview environment), or None."""
        spec = by_name(str(parameters[0])) if parameters else None
        if spec is None:
            return "No such action"
        manager = manager_of(self.app)
        if manager is None or not manager.can(spec.kind):
            return f"No configured source can {spec.label.lower()} an environment"
        name = self.idp.environment or ""
        platform = self.idp.platform
        env = next((e for e in platform.environments if e.name == name), None) \
            if platform is not None else None
        if env is None or env.kind.value != "preview":
            shown = render.sanitize(name, max_len=40) or "The selected environment"
            return f"{shown} is not a preview environment: {spec.label.lower()} applies to " \
                   "preview environments only"
        return None

    def action_act(self, name: str) -> None:
        """A key of the action table on this pane: the selected (preview) environment."""
        from ..dialogs import open_environment_action  # noqa: PLC0415 - loaded on first use

        spec = by_name(name)
        if spec is not None and spec.pane == "envs":
            open_environment_action(self.app, spec.kind, self.idp.environment)

    def action_open_logs(self) -> None:
        self.idp.show_pane("logs")
