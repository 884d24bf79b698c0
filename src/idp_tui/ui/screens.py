"""Modal screens: source health and the list of every key binding."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from .. import render
from . import columns
from .action_access import manager_of
from .tables import KeyedTable

if TYPE_CHECKING:
    from ..api.clock import Clock
    from ..api.models import Facet
    from ..hub import SourceHealth


class HealthScreen(ModalScreen[None]):
    """Each source: type, capabilities, state, last refresh, latency, error class, message, hint."""

    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="health.close"),
        Binding("q", "dismiss", "Close", show=False, id="health.close_q"),
        Binding("ctrl+r", "refresh", "Refresh", id="health.refresh"),
        Binding("r", "retry", "Retry now", id="health.retry"),
    ]

    def __init__(self, health: dict[str, SourceHealth], clock: Clock) -> None:
        super().__init__()
        self._health = health
        self._clock = clock
        #: The columns shown (set again once mounted; a change of health may come before).
        self._shown = [key for key, _ in self.COLUMNS]

    def compose(self) -> ComposeResult:
        with Vertical(id="health-dialog", classes="dialog"):
            yield Static(Text("Source health", "bold"), classes="dialog-title")
            yield KeyedTable(id="health-table", cursor_type="row")
            yield Static(id="health-detail")
            yield Static(id="health-retry")
            yield Static(id="health-you")
            yield Static(Text("ctrl+r refresh · r retry now · esc close", "dim"))
        yield Footer()  # (this screen's keys, not the pane's underneath)

    #: What each row says, the most telling first; the columns that do not fit the width leave
    #: by priority (the highest number first); the capabilities are in the detail too.
    COLUMNS = [("name", "Source"), ("state", "State"), ("latency", "Latency"), ("error", "Error"),
               ("last", "Last answer"), ("calls", "Calls/failures"), ("type", "Type"),
               ("caps", "Capabilities")]
    PRIORITY = {"name": 0, "state": 0, "error": 0, "latency": 1, "last": 2, "calls": 3,
                "type": 4, "caps": 5}
    MAX_WIDTHS = {"caps": 40, "error": 30, "name": 30, "type": 20}

    def on_mount(self) -> None:
        table = self.query_one(KeyedTable)
        table.set_columns(self.COLUMNS, self.MAX_WIDTHS)
        self._shown = [key for key, _ in self.COLUMNS]
        self.show(self._health)
        table.focus()
        self._show_you()
        check = self._identity()
        if check is not None and not check.asked:
            self.run_worker(self._ask_you(check), group="health-you", exit_on_error=False)

    # You: the claimed identity, and who the sources that act confirm ---------------------------

    def _manager(self) -> Any:
        """The runtime's action layer (None before the sources started)."""
        return manager_of(self.app)

    def _identity(self) -> Any:
        return getattr(self._manager(), "identity", None)

    async def _ask_you(self, check: Any) -> None:
        """The question an action asks (once a run), waited for: then the lines are shown."""
        await check.settled()
        if self.is_attached:  # (not closed meanwhile)
            self._show_you()

    def _show_you(self) -> None:
        self.query_one("#health-you", Static).update(you_text(self._manager()))

    def on_resize(self) -> None:
        self.show(self._health)

    def show(self, health: dict[str, SourceHealth]) -> None:
        self._health = health
        now = self._clock.now()
        rows = []
        for item in health.values():
            state_style = {"ok": "green", "error": "bold red", "waiting": "dim"}[item.state]
            if item.retry_at is not None:
                state_style = "yellow"
            rows.append((item.name, (
                render.text(item.name, "bold"),
                Text(item.state, state_style),
                Text(f"{item.latency * 1000:.0f} ms" if item.latency is not None else "–"),
                render.text(item.failure.error_class if item.failure else "",
                            "yellow" if item.retry_at is not None else "red"),
                Text(render.ago(item.last_ok, now)),
                Text(f"{item.calls}/{item.failures}"),
                render.text(item.type),
                Text(", ".join(sorted(c.value for c in item.capabilities)), "dim"),
            )))
            rows.extend(self._part_rows(item))
        table = self.query_one(KeyedTable)
        keys = [key for key, _ in self.COLUMNS]
        room = table.size.width - 2
        if room > 0:
            widths = columns.measure(self.COLUMNS, [cells for _, cells in rows], self.MAX_WIDTHS)
            shown = columns.fitting(keys, self.PRIORITY, widths, room)
            if shown != self._shown:
                self._shown = shown
                labels = dict(self.COLUMNS)
                table.set_columns([(k, labels[k]) for k in shown], self.MAX_WIDTHS)
        index = [keys.index(k) for k in self._shown]
        table.sync([(key, tuple(cells[i] for i in index)) for key, cells in rows])
        self._show_detail()

    #: Between a source's name and a part's in a part's row key.
    PART_KEY = "\x00"

    def _part_rows(self, item: SourceHealth) -> list[tuple[str, tuple[Text, ...]]]:
        """A row for each part the source reports (a cluster, a namespace), under the source."""
        from ..hub.parts import part_rows  # noqa: PLC0415 - the hub is loaded by now

        rows = []
        for depth, part in part_rows(item.parts):
            name = Text("  " * depth + "└ ", "dim")  # (its kind is said in the detail)
            name.append_text(render.text(part.name, max_len=120))
            style = {"ok": "green", "error": "bold red", "waiting": "dim"}.get(part.state, "")
            rows.append((f"{item.name}{self.PART_KEY}{part.name}", (
                name, Text(part.state, style),
                Text(f"{part.latency * 1000:.0f} ms" if part.latency is not None else "–"),
                render.text(part.error_class or "", "red"),
                Text(""), Text(""), Text(""), Text(""))))
        return rows

    def on_data_table_row_highlighted(self) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        key = self.query_one(KeyedTable).cursor_key
        source, _, part_name = (key or "").partition(self.PART_KEY)
        item = self._health.get(source) if source else None
        part = item.parts.get(part_name) if item is not None and part_name else None
        out = Text(end="")
        if part is not None:  # a part's row: its own state and error
            out.append_text(render.text(f"{item.name}: {part.kind} {part.name}".replace("  ", " "),
                                        "bold", max_len=300))
            if part.error_class:
                out.append(f"\n{part.error_class}: ", "bold red")
                out.append_text(render.text(part.message or "", max_len=1000, multiline=True))
                if part.hint:
                    out.append("\nHint: ", "bold")
                    out.append_text(render.text(part.hint, max_len=1000, multiline=True))
            else:
                out.append(f"\n{part.state}", "green" if part.state == "ok" else "dim")
            self.query_one("#health-detail", Static).update(out)
            self.query_one("#health-retry", Static).display = False
            return
        if item is not None and item.description:
            out.append_text(render.text(item.description, "italic", max_len=300))
            out.append("\n")
        if item is None:
            pass
        elif item.failure is None:
            out.append("No errors.", "green")
        elif item.failure.error_class == "rate limited":
            out.append("Waiting: ", "bold yellow")
            out.append_text(render.text(item.failure.message, max_len=1000, multiline=True))
        else:
            out.append(f"{item.failure.error_class}: ", "bold red")
            out.append_text(render.text(item.failure.message, max_len=1000, multiline=True))
            if item.failure.hint:
                out.append("\nHint: ", "bold")
                out.append_text(render.text(item.failure.hint, max_len=1000, multiline=True))
        if item is not None:  # (the table leaves them out when it is narrow)
            out.append("\nCapabilities: ", "bold")
            out.append_text(render.text(", ".join(sorted(c.value for c in item.capabilities)) or
                                        "none", "dim", max_len=300))
        for key, value in sorted(item.details.items()) if item is not None else ():
            out.append("\n")
            out.append_text(render.text(key, "bold", max_len=60))
            out.append(": ")
            out.append_text(render.text(value, max_len=300))
        self.query_one("#health-detail", Static).update(out)
        retry = Text(end="")
        if item is not None and item.next_try is not None:
            from ..hub.failures import in_words  # noqa: PLC0415 - the hub is loaded by now

            wait = (item.next_try - self._clock.now()).total_seconds()
            retry.append(f"Next try in {in_words(wait)}", "bold yellow")
            retry.append(" · r: retry now", "dim")
        shown = self.query_one("#health-retry", Static)
        shown.update(retry)
        shown.display = bool(retry.plain)

    def action_refresh(self) -> None:
        self.app.action_refresh()  # type: ignore[attr-defined]

    def action_retry(self) -> None:
        """Ask the highlighted source again now, whatever its back-off says."""
        key = self.query_one(KeyedTable).cursor_key
        hub = getattr(self.app, "hub", None)
        if key and hub is not None:
            hub.retry_now(key.partition(self.PART_KEY)[0])  # (a part's row: its source)


def you_text(manager: Any) -> Text:
    """The health view's "You": who the records name (and where that comes from), then what each
    source that acts confirms, or why not (``identity.IdentityCheck``, read from ``manager``)."""
    from ..identity import claimed  # noqa: PLC0415 - with the view, not at start-up

    out = Text(end="")
    if manager is None:
        return out
    me = claimed(manager.actor, manager.policy.identity)
    out.append("You ", "bold")
    out.append_text(render.text(me.user, "bold", max_len=256))
    out.append(f"  claimed: {me.where}", "dim")
    check = getattr(manager, "identity", None)
    if check is None:
        return out
    if not check.asked:
        out.append("\n  asking the sources that act who you are…", "dim")
        return out
    found = check.confirmations()
    for item in found:
        out.append("\n  ")
        out.append_text(render.text(item.source, "bold", max_len=60))
        out.append(": ")
        if item.user:
            out.append_text(render.text(item.user, "green", max_len=256))
        else:
            out.append("not confirmed", "red" if item.failed else "yellow")
        why = f"{item.error_class}: {item.note}" if item.failed else item.note
        if why:
            out.append(" — ", "dim")
            out.append_text(render.text(why, "dim", max_len=300))
    if not any(item.user for item in found) and not any(item.failed for item in found):
        out.append("\n  no source can confirm who you are: the records name you as claimed",
                   "dim")
    return out


class HelpScreen(ModalScreen[None]):
    """Every binding reachable from where the user is, with its id for remapping, then the `:`
    commands."""

    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="help.close"),
        Binding("q", "dismiss", "Close", show=False, id="help.close_q"),
    ]
    #: The "Where" of the `:` commands' rows.
    COMMAND_SCOPE = ": command"

    def __init__(self, rows: list[tuple[str, str, str, str]],
                 commands: Sequence[tuple[str, str]] = ()) -> None:
        """``rows``: (where, keys, what, binding id); ``commands``: (usage, what)."""
        super().__init__()
        self._rows = [*rows, *((self.COMMAND_SCOPE, usage, what, "") for usage, what in commands)]

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog", classes="dialog"):
            yield Static(Text("Keys", "bold"), classes="dialog-title")
            yield KeyedTable(id="help-table", cursor_type="row")
            yield Static(Text("Remap any key in config.toml: [keys] \"<id>\" = \"<key>[,<key>]\" · "
                              "ctrl+p: command palette · esc close", "dim"))
        yield Footer()  # (this screen's keys, not the pane's underneath)

    def on_mount(self) -> None:
        table = self.query_one(KeyedTable)
        table.set_columns([("scope", "Where"), ("keys", "Keys"), ("what", "Does"), ("id", "Id")],
                          {"what": 110})
        table.sync([(f"{i}", (Text(scope, "dim"), Text(keys, "bold cyan"), Text(what),
                              Text(bid, "dim")))
                    for i, (scope, keys, what, bid) in enumerate(self._rows)])
        table.focus()


class FacetScreen(ModalScreen[str | None]):
    """The values of the catalog's fields with how many services have each; choosing one
    filters the Catalog by it (``owner:team-payments``)."""

    BINDINGS = [Binding("escape", "dismiss", "Close", id="facets.close"),
                Binding("q", "dismiss", "Close", show=False, id="facets.close_q")]

    def __init__(self, pane: Any, active: dict[str, set[str]], title: str = "Filter the catalog by",
                 hint: str = "owner:NAME, tag:NAME…") -> None:
        super().__init__()
        #: The pane filtered (it hands over new counts while this is open).
        self.pane = pane
        self._active = active
        self._title, self._hint = title, hint

    def compose(self) -> ComposeResult:
        with Vertical(id="facets-dialog", classes="dialog"):
            yield Static(Text(self._title, "bold"), classes="dialog-title")
            yield OptionList(id="facets-list")
            yield Static(Text(f"enter filter · esc close · or type {self._hint} after /", "dim"))
        yield Footer()

    def on_mount(self) -> None:
        self.show_facets(self.pane.current_facets())
        self.query_one(OptionList).focus()

    def show_facets(self, facets: list[Facet]) -> None:
        options = self.query_one(OptionList)
        highlighted = options.highlighted_option.id if options.highlighted_option else None
        items: list[Option] = []
        shown = [[v for v in facet.values if v.value and not any(c.isspace() for c in v.value)]
                 for facet in facets]
        # (one width for every field: the counts line up across the groups)
        width = min(40, max((render.text(v.value).cell_len for values in shown
                             for v in values[:200]), default=0))
        for facet, values in zip(facets, shown, strict=True):
            if not values:
                continue
            items.append(Option(Text(facet.field, "bold underline"), disabled=True))
            for value in values[:200]:
                line = Text("  ")
                chosen = value.value.lower() in self._active.get(facet.field, set())
                name = render.text(value.value, "bold green" if chosen else "", max_len=40)
                line.append_text(name)
                line.append(" " * max(0, width - name.cell_len))
                line.append(f"  {value.count:>5}", "dim")
                items.append(Option(line, id=f"{facet.field}:{value.value}"))
        options.clear_options()
        options.add_options(items or [Option(Text("No values yet.", "dim"), disabled=True)])
        if highlighted is not None:
            try:
                options.highlighted = options.get_option_index(highlighted)
            except Exception:  # noqa: BLE001 - that value is gone
                pass
        if options.highlighted is None or options.highlighted_option is None \
                or options.highlighted_option.disabled:
            options.action_first()
            if options.highlighted_option is not None and options.highlighted_option.disabled:
                options.action_cursor_down()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)
