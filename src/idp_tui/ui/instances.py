"""The instance view: the instances (pods) of one service in one environment, the workload's
recent events, and the selected instance described (or its YAML); ``x`` restarts it.

Opened from the Catalog and the Environments pane (``I``, binding id ``app.instances``) and the
``:instances`` command, on the selected service and environment. It watches
``Topic.instances`` like a pane watches its topics; every word from the source becomes text
through :mod:`idp_tui.render`, and the wording comes from :mod:`idp_tui.instancefmt`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Static

from .. import instancefmt as fmt
from .. import render
from ..actionspec import pane_specs
from ..api.kinds import ActionKind
from .action_access import manager_of, read_only_reason
from .tables import KeyedTable

if TYPE_CHECKING:
    from ..api.models import Instance, Instances
    from ..hub import Snapshot, Subscription

#: The view's action keys (restart instance), from the action table.
ACTIONS = pane_specs("instances")
_STYLE = {"error": "bold red", "warning": "yellow", "ok": "green"}
#: Events listed under the table.
EVENTS_SHOWN = 12


class InstancesArrived(Message):
    def __init__(self, snapshot: Snapshot[Any]) -> None:
        super().__init__()
        self.snapshot = snapshot


class InstancesScreen(ModalScreen[None]):
    """The instances of ``service`` in ``environment``."""

    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="instances.close"),
        Binding("q", "dismiss", "Close", show=False, id="instances.close_q"),
        Binding("y", "toggle_yaml", "YAML", id="instances.yaml"),
        *(Binding(s.key, f"act('{s.name}')", s.label, show=s.show, id=s.binding_id)
          for s in ACTIONS),
    ]

    def __init__(self, service: str, environment: str) -> None:
        super().__init__()
        self.service = service
        self.environment = environment
        self.data: Instances | None = None
        self.show_yaml = False
        self.loaded = False
        self._sub: Subscription | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="instances-dialog", classes="dialog"):
            yield Static(self._title(), id="instances-title", classes="dialog-title")
            yield Static(Text("Loading the instances…", "dim"), id="instances-status")
            with Horizontal(id="instances-body"):
                with Vertical(id="instances-left"):
                    yield KeyedTable(id="instances-table")
                    yield Static(Text("Events", "bold"), classes="instances-heading")
                    yield Static(id="instances-events")
                with VerticalScroll(id="instances-detail-box"):
                    yield Static(id="instances-detail")
            yield Static(Text("x restart instance · y YAML / describe · esc close", "dim"))
        yield Footer()  # (this screen's keys, not the pane's underneath)

    def _title(self) -> Text:
        title = Text("Instances of ", "bold", end="")
        title.append_text(render.text(self.service, "bold cyan", max_len=60))
        title.append(" in ", "bold")
        title.append_text(render.text(self.environment, "bold cyan", max_len=40))
        if self.data is not None and self.data.workload:
            title.append("  ")
            title.append_text(render.text(self.data.workload, "dim", max_len=100))
        return title

    def on_mount(self) -> None:
        table = self.query_one(KeyedTable)
        table.set_columns([("name", "Name"), ("ready", "Ready"), ("status", "Status"),
                           ("restarts", "Restarts"), ("node", "Node"), ("age", "Age"),
                           ("images", "Images")], max_widths={"name": 48, "images": 60})
        table.focus()
        hub = getattr(self.app, "hub", None)
        if hub is None:
            self._status(Text("The sources are still starting.", "yellow"))
            return
        from ..hub import Topic  # noqa: PLC0415 - the hub is loaded by now

        self._sub = hub.watch(Topic.instances(self.service, self.environment),
                              lambda snap: self.post_message(InstancesArrived(snap)))

    def on_unmount(self) -> None:
        if self._sub is not None:
            self._sub.close()
            self._sub = None

    def on_instances_arrived(self, message: InstancesArrived) -> None:
        message.stop()
        self.show(message.snapshot)

    # Drawing -------------------------------------------------------------------------------------

    def show(self, snapshot: Snapshot[Any]) -> None:
        self.data = snapshot.data
        self.loaded = not snapshot.loading
        self.query_one("#instances-title", Static).update(self._title())
        status = Text(end="")
        for failure in snapshot.errors.values():
            status.append(f"{failure.source}: {failure.error_class}: ", "bold red")
            status.append_text(render.text(failure.message, max_len=300))
            if failure.hint:
                status.append("  ")
                status.append_text(render.text(failure.hint, "dim", max_len=200))
            status.append("\n")
        now = self.app.clock.now()  # type: ignore[attr-defined]
        data = self.data
        rows = []
        if data is not None:
            for i in fmt.ordered(data.instances):
                style = _STYLE[fmt.severity(i)]
                rows.append((i.name, (
                    render.text(i.name, "bold", max_len=100),
                    Text(f"{i.ready}/{i.total}", style),
                    render.text(fmt.status(i), style, max_len=40),
                    Text(str(i.restarts), "yellow" if i.restarts else ""),
                    render.text(i.node or "–", max_len=60),
                    Text(fmt.age(i.created_at, now)),
                    render.text(", ".join(i.images), "dim", max_len=200),
                )))
            bad = sum(fmt.severity(i) != "ok" for i in data.instances)
            status.append(f"{len(data.instances)} instance(s)")
            if bad:
                status.append(f" · {bad} not ready or failing", "yellow")
        elif not snapshot.errors:
            status.append("Loading the instances…", "dim")
        self._status(status)
        self.query_one(KeyedTable).sync(rows)
        self._show_events(now)
        self._show_detail()

    def _status(self, text: Text) -> None:
        text.rstrip()
        self.query_one("#instances-status", Static).update(text)

    def _show_events(self, now: Any) -> None:
        out = Text(end="")
        events = self.data.events if self.data is not None else ()
        for event in events[:EVENTS_SHOWN]:
            style = "yellow" if event.type == "Warning" else "dim"
            out.append(f"{fmt.age(event.last_seen, now):>4} ", "dim")
            out.append_text(render.text(event.type, style, max_len=10))
            out.append(" ")
            out.append_text(render.text(event.reason, "bold", max_len=40))
            out.append(" ")
            out.append_text(render.text(event.object, "cyan", max_len=80))
            if event.count > 1:
                out.append(f" ×{event.count}", "dim")
            out.append(": ")
            out.append_text(render.text(event.message, max_len=300))
            out.append("\n")
        if self.data is not None and self.data.note:
            out.append_text(render.text(self.data.note, "yellow", max_len=300))
        elif not events:
            out.append("No recent events.", "dim")
        out.rstrip()
        self.query_one("#instances-events", Static).update(out)

    @property
    def selected(self) -> Instance | None:
        key = self.query_one(KeyedTable).cursor_key
        if self.data is None or key is None:
            return None
        return next((i for i in self.data.instances if i.name == key), None)

    def _show_detail(self) -> None:
        instance = self.selected
        out = Text(end="")
        if instance is None:
            out.append("No instance selected.", "dim")
        elif self.show_yaml:
            out.append_text(render.text(instance.manifest or "(the source gives no manifest)",
                                        max_len=100_000, multiline=True))
        else:
            now = self.app.clock.now()  # type: ignore[attr-defined]
            events = self.data.events if self.data is not None else ()
            lines = fmt.describe(instance, now, events)
            width = min(max((len(label) for label, _ in lines), default=0), 14)
            for label, value in lines:
                if label.endswith(":"):
                    out.append(label, "bold underline")
                else:
                    shown = render.text(label, "bold", max_len=60)
                    shown.pad_right(width - shown.cell_len)
                    out.append_text(shown)
                    out.append("  ")
                    style = "red" if any(r in value for r in fmt.FAILING_REASONS - {"Error"}) \
                        else ""
                    out.append_text(render.text(value, style, max_len=500))
                out.append("\n")
            out.rstrip()
        self.query_one("#instances-detail", Static).update(out)

    @on(DataTable.RowHighlighted, "#instances-table")
    def _highlighted(self) -> None:
        self._show_detail()

    # Keys ----------------------------------------------------------------------------------------

    def action_toggle_yaml(self) -> None:
        self.show_yaml = not self.show_yaml
        self._show_detail()

    def action_act(self, name: str) -> None:
        """Restart the selected instance (the action table's row for this view)."""
        kind = ActionKind.RESTART_INSTANCE
        instance = self.selected
        if instance is None:
            self.app.notify("Select an instance first", severity="warning")
            return
        manager = manager_of(self.app)
        if manager is None or not manager.can(kind):
            self.app.notify("No configured source can restart an instance", severity="warning")
            return
        reason = read_only_reason(manager, kind)
        if reason is not None:
            self.app.notify(f"read-only: {reason}", severity="warning", markup=False, timeout=6)
            return
        from .dialogs.opening import watch_outcomes  # noqa: PLC0415
        from .dialogs.service import ActionModal  # noqa: PLC0415

        watch_outcomes(self.app, manager)
        self.app.push_screen(ActionModal(kind, self.service, self.environment,
                                         instance=instance.name))

    def is_settled(self) -> bool:
        return self.loaded
