"""Pieces shared by the panes and views: the pane base class, hub messages, the source-error
banner, the keys of a scrolling view and giving focus at once."""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static

from .. import render

if TYPE_CHECKING:
    from ..hub import Failure, Hub, Snapshot, Subscription, Topic
    from .app import IdpApp
    from .panelist import PaneInfo


class SnapshotArrived(Message):
    """The hub has a new answer for a topic a widget watches."""

    def __init__(self, snapshot: Snapshot[Any]) -> None:
        super().__init__()
        self.snapshot = snapshot


class ErrorBanner(Static):
    """One line per failing source, shown above a pane's content; hidden when all is well."""

    DEFAULT_CLASSES = "error-banner"

    def show_errors(self, errors: dict[str, Failure], *, what: str = "",
                    kept: Collection[str] = ()) -> None:
        """``kept``: the failing sources whose last answer (of ``what``) is still shown."""
        if not errors:
            self.display = False
            return
        out = Text(end="")
        for i, failure in enumerate(errors.values()):
            if i:
                out.append("\n")
            out.append("✖ ", "bold red")
            out.append_text(render.text(failure.source, "bold"))
            out.append(f" {failure.error_class}: ", "red")
            out.append_text(render.text(failure.message, max_len=300))
            if what and failure.source in kept:
                out.append(f" — showing the last {what} received", "dim")
            elif what and failure.source != "hub":
                out.append(f" — no {what} from it yet", "dim")
            if failure.hint:
                out.append("  ")
                out.append_text(render.text(failure.hint, "dim italic", max_len=300))
        self.update(out)
        self.display = True


def scroll_bindings(prefix: str) -> list[Binding]:
    """Keys that scroll a focusable view (ids ``PREFIX.up`` … ``PREFIX.last``, remappable)."""
    return [
        Binding("up", "scroll_up", "Up", show=False, id=f"{prefix}.up"),
        Binding("down", "scroll_down", "Down", show=False, id=f"{prefix}.down"),
        Binding("pageup", "page_up", "Page up", show=False, id=f"{prefix}.page_up"),
        Binding("pagedown", "page_down", "Page down", show=False, id=f"{prefix}.page_down"),
        Binding("home", "scroll_home", "First", show=False, id=f"{prefix}.first"),
        Binding("end", "scroll_end", "Last", show=False, id=f"{prefix}.last"),
    ]


def focus_now(widget: Any) -> None:
    """Give ``widget`` the focus at once (``Widget.focus`` waits for the messages already
    queued): the keys typed right after the one that opened a prompt are then the prompt's (see
    ``IdpApp._on_key``), not the table's and the app's bindings ("r": restart)."""
    widget.screen.set_focus(widget)


def while_running(method: Callable[[Any], None]) -> Callable[[Any], None]:
    """For a pane's ``on_mount``: skipped when the app is quitting. A pane mounted late (see
    IdpApp._mount_deferred) can get its Mount event after quitting began and its children were
    removed; querying them then would raise."""

    @functools.wraps(method)
    def guarded(self: Any) -> None:
        app = self.app
        if app._exit or app._closing or self._closing or not self.is_attached:
            return
        method(self)

    return guarded


class Pane(Vertical):
    """The content of one tab. Watches hub topics; subclasses handle the snapshots."""

    #: The name of this pane's entry in the pane list (``idp_tui.ui.panelist.PANES``): its
    #: `:` command and ids. The entry holds the rest (title, key, aliases).
    pane_name = ""
    #: The tab's title (from the pane's entry).
    title = ""

    def __init__(self, hub: Hub, *, info: PaneInfo | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hub = hub
        #: The pane's entry in the pane list (None for a pane built outside the dashboard).
        self.info = info
        if info is not None:
            self.title = info.title
        self._subscriptions: dict[Topic, Subscription] = {}

    @property
    def idp(self) -> IdpApp:
        return self.app  # type: ignore[return-value]

    @property
    def is_current(self) -> bool:
        """The pane is the visible tab (a cursor moving in another pane is not the user's doing)."""
        parent = self.parent
        return parent is not None and parent.id == self.idp.query_one("#panes").active  # type: ignore[attr-defined]

    def subscribe(self, topic: Topic) -> Subscription:
        """Watch ``topic``; snapshots arrive as :class:`SnapshotArrived` messages."""
        existing = self._subscriptions.get(topic)
        if existing is not None and existing.active:
            return existing
        sub = self.hub.watch(topic, lambda snap: self.post_message(SnapshotArrived(snap)))
        self._subscriptions[topic] = sub
        return sub

    def unsubscribe(self, kind: str | None = None) -> None:
        for topic in [t for t in self._subscriptions if kind is None or t.kind == kind]:
            self._subscriptions.pop(topic).close()

    @while_running
    def on_mount(self) -> None:
        # Runs after a subclass's own on_mount (Textual calls the handler of every class in the
        # MRO). A pane mounted after start-up (see IdpApp._mount_deferred) draws at once what the
        # app already holds; the ones mounted at start-up have nothing to draw yet.
        if self.idp.catalog_snapshot is not None or self.idp.platform_snapshot is not None:
            self.shared_data_changed()
            self.context_changed()

    def on_snapshot_arrived(self, message: SnapshotArrived) -> None:
        message.stop()
        topic = message.snapshot.topic
        sub = self._subscriptions.get(topic)
        if sub is None or not sub.active:
            return  # an answer for a topic we no longer watch
        self.show_snapshot(message.snapshot)

    def show_snapshot(self, snapshot: Snapshot[Any]) -> None:
        """Draw a new answer. Override."""

    def on_unmount(self) -> None:
        self.unsubscribe()

    # Called by the app when the selection or shared data change, and when the tab is shown.
    def context_changed(self) -> None:
        """The selected service or environment changed. Override."""

    def shared_data_changed(self) -> None:
        """The catalog or the environments changed. Override."""

    def pane_shown(self) -> None:
        """The pane became the visible tab. Override to start work only needed while visible."""

    def pane_hidden(self) -> None:
        """Another tab was chosen. Override to stop such work."""

    def refresh_now(self) -> None:
        for sub in self._subscriptions.values():
            sub.refresh()

    def refresh_asked(self) -> None:
        """ctrl+r while the pane is shown (the app has asked every source again). Override to
        count again what the pane derives from their answers."""

    def focus_main(self) -> None:
        """Give focus to the pane's main widget. Override."""

    def is_settled(self) -> bool:
        """True once the pane has drawn the data it asked for (tests and screenshots wait on it)."""
        return True
