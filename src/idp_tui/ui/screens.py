"""Modal screens: source health and the list of every key binding."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from .. import render
from ..api.clock import Clock
from ..hub import SourceHealth
from .tables import KeyedTable


class HealthScreen(ModalScreen[None]):
    """Each source: type, capabilities, state, last refresh, latency, error class, message, hint."""

    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="health.close"),
        Binding("H", "dismiss", "Close", show=False, id="health.close_h"),
        Binding("ctrl+r", "refresh", "Refresh", id="health.refresh"),
    ]

    def __init__(self, health: dict[str, SourceHealth], clock: Clock) -> None:
        super().__init__()
        self._health = health
        self._clock = clock

    def compose(self) -> ComposeResult:
        with Vertical(id="health-dialog", classes="dialog"):
            yield Static(Text("Source health", "bold"), classes="dialog-title")
            yield KeyedTable(id="health-table", cursor_type="row")
            yield Static(id="health-detail")
            yield Static(Text("ctrl+r refresh · esc close", "dim"))

    def on_mount(self) -> None:
        table = self.query_one(KeyedTable)
        table.set_columns([("name", "Source"), ("type", "Type"), ("caps", "Capabilities"),
                           ("state", "State"), ("last", "Last answer"), ("latency", "Latency"),
                           ("calls", "Calls/failures"), ("error", "Error")])
        self.show(self._health)
        table.focus()

    def show(self, health: dict[str, SourceHealth]) -> None:
        self._health = health
        now = self._clock.now()
        rows = []
        for item in health.values():
            state_style = {"ok": "green", "error": "bold red", "waiting": "dim"}[item.state]
            rows.append((item.name, (
                render.text(item.name, "bold"),
                render.text(item.type),
                Text(", ".join(sorted(c.value for c in item.capabilities)), "dim"),
                Text(item.state, state_style),
                Text(render.ago(item.last_ok, now)),
                Text(f"{item.latency * 1000:.0f} ms" if item.latency is not None else "–"),
                Text(f"{item.calls}/{item.failures}"),
                render.text(item.failure.error_class if item.failure else "", "red"),
            )))
        self.query_one(KeyedTable).sync(rows)
        self._show_detail()

    def on_data_table_row_highlighted(self) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        key = self.query_one(KeyedTable).cursor_key
        item = self._health.get(key) if key else None
        out = Text(end="")
        if item is not None and item.description:
            out.append_text(render.text(item.description, "italic", max_len=300))
            out.append("\n")
        if item is None:
            pass
        elif item.failure is None:
            out.append("No errors.", "green")
        else:
            out.append(f"{item.failure.error_class}: ", "bold red")
            out.append_text(render.text(item.failure.message, max_len=1000, multiline=True))
            if item.failure.hint:
                out.append("\nHint: ", "bold")
                out.append_text(render.text(item.failure.hint, max_len=1000, multiline=True))
        self.query_one("#health-detail", Static).update(out)

    def action_refresh(self) -> None:
        self.app.action_refresh()  # type: ignore[attr-defined]


class HelpScreen(ModalScreen[None]):
    """Every binding reachable from where the user is, with its id for remapping."""

    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="help.close"),
        Binding("question_mark", "dismiss", "Close", show=False, id="help.close_q"),
    ]

    def __init__(self, rows: list[tuple[str, str, str, str]]) -> None:
        super().__init__()
        self._rows = rows

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog", classes="dialog"):
            yield Static(Text("Keys", "bold"), classes="dialog-title")
            yield KeyedTable(id="help-table", cursor_type="row")
            yield Static(Text("Remap any key in config.toml: [keys] \"<id>\" = \"<key>[,<key>]\" · "
                              "ctrl+p: command palette · esc close", "dim"))

    def on_mount(self) -> None:
        table = self.query_one(KeyedTable)
        table.set_columns([("scope", "Where"), ("keys", "Keys"), ("what", "Does"), ("id", "Id")])
        table.sync([(f"{i}", (Text(scope, "dim"), Text(keys, "bold cyan"), Text(what),
                              Text(bid, "dim")))
                    for i, (scope, keys, what, bid) in enumerate(self._rows)])
        table.focus()
