"""The footer: the keys of what has the focus, with the help and quit keys always in sight.

Textual's footer lists the focused widget's keys first and the app's last, and a narrow terminal
cuts the row wherever it ends (``? Keys`` and ``q Quit`` gone at 80 columns, ``A Activi`` at 160).
Here the keys come in the order of their use — help and quit, then the keys of what has the focus
(the pane's, the dialog's), then the dashboard's (environment, `:`, the actions), and last the
pane keys (the tabs show them too) — and a key that does not fit whole is left out, never cut.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

#: The actions whose keys are shown first, in this order.
PINNED = ("help", "quit")
#: The pane keys (``pane('catalog')``…): shown last, as the tabs name them with their keys.
PANE_ACTION = "pane("


def _action(widget: object) -> str:
    action = getattr(widget, "action", None) if isinstance(widget, FooterKey) else None
    return str(action or "").removeprefix("app.")


def _rank(widget: object, app_actions: frozenset[str]) -> int:
    """Where a key comes: the pinned ones, what has the focus, the dashboard's, the panes'."""
    action = _action(widget)
    if action in PINNED:
        return PINNED.index(action)
    if action.startswith(PANE_ACTION):
        return len(PINNED) + 2
    return len(PINNED) + (1 if action in app_actions else 0)


def key_width(widget: Widget) -> int:
    """The cells a footer key takes, shown or not."""
    return widget.get_content_width(widget.app.size, widget.app.size) \
        + widget.styles.gutter.width


class KeysFooter(Footer):
    """A ``Footer`` with its keys in the order of their use, each shown whole or not at all."""

    def compose(self) -> ComposeResult:
        app_actions = frozenset(b.action.removeprefix("app.") for b in self.app.BINDINGS
                                if isinstance(b, Binding))
        # A stable sort: the keys of one rank keep their order.
        yield from sorted(super().compose(), key=lambda w: _rank(w, app_actions))

    #: What the keys shown were made from (see ``_made_from``).
    _made: tuple[object, ...] | None = None

    def _made_from(self) -> tuple[object, ...]:
        """Everything ``compose`` reads: the screen's active bindings (each key, action, label,
        state and tooltip) and the footer's settings."""
        bindings = tuple((b.key, b.action, b.description, b.show, b.group, enabled, tooltip)
                         for _node, b, enabled, tooltip in self.screen.active_bindings.values())
        return (self._bindings_ready, self.show_command_palette, self.compact, bindings)

    async def recompose(self) -> None:
        """Make the keys again when what they are made from changed (the screen asks after every
        focus change and every key, and the keys are mostly the same)."""
        made = self._made_from()
        if made == self._made and self.children:
            return
        self._made = made
        await super().recompose()
        self.fit_keys()

    def on_resize(self) -> None:
        self.fit_keys()

    def fit_keys(self) -> None:
        """Show the keys that fit whole, in order, up to the first that does not (that one and
        the rest left out)."""
        width = self.size.width
        if not width:
            return
        keys = [w for w in self.children if isinstance(w, FooterKey)]
        room = width - sum(key_width(w) for w in keys if w.has_class("-command-palette"))
        used = sum(key_width(w) for w in self.children if not isinstance(w, FooterKey))
        full = False
        for key in keys:
            if key.has_class("-command-palette"):
                continue
            fits = not full and used + key_width(key) <= room
            full = not fits
            if key.display != fits:
                key.display = fits
            if fits:
                used += key_width(key)

    def shown_keys(self) -> list[str]:
        """The keys shown now, left to right, as ``"? Keys"`` (the palette's key aside)."""
        return [f"{w.key_display} {w.description}".strip() for w in self.children
                if isinstance(w, FooterKey) and w.display
                and not w.has_class("-command-palette")]
