"""The footer: the keys of what has the focus, with the help and quit keys always in sight.

Textual's footer lists the focused widget's keys first and the app's last, so a narrow terminal
(80 columns) cut ``? Keys`` and ``q Quit`` off; here they come first.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

#: The actions whose keys are shown first, in this order.
PINNED = ("help", "quit")


def _rank(widget: object) -> int:
    action = getattr(widget, "action", None) if isinstance(widget, FooterKey) else None
    action = str(action or "").rpartition(".")[2]
    return PINNED.index(action) if action in PINNED else len(PINNED)


class KeysFooter(Footer):
    """A ``Footer`` whose help and quit keys come before the others."""

    def compose(self) -> ComposeResult:
        # A stable sort: the other keys keep their order.
        yield from sorted(super().compose(), key=_rank)
