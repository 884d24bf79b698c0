"""The dashboard with one blank pane, for tests of what opens over it (the action dialogs, the
Activity screen).

``DialogHost`` is the real ``IdpApp`` (its keys, its read-only notices, its shared data: the
catalog, the environments, the selection, the notifications) on a real runtime; only its pane
list is one empty pane instead of Catalog, Environments, Pipelines, Logs and Metrics. A dialog is
a modal screen drawn over the dashboard, so with the panes gone every frame of the dialog costs
the dialog alone, and the test does not start five panes it never looks at. Tests of the panes,
of their keys and of layouts that involve them keep the whole dashboard.
"""

from __future__ import annotations

import dataclasses

from pathlib import Path
from typing import Any

from textual.app import ComposeResult

from idp_tui.ui.app import IdpApp
from idp_tui.ui.base import Pane
from idp_tui.ui.panelist import PaneInfo


class BlankPane(Pane):
    """A pane that watches nothing and draws nothing (settled from the start)."""

    pane_name = "blank"
    can_focus = True  # (the dashboard's keys reach the app through it, as through a pane's table)

    def compose(self) -> ComposeResult:
        return iter(())

    def focus_main(self) -> None:
        self.focus()


def without_advisor(config: Any) -> Any:
    """``config`` with the advisor off (its advice is no dialog's business; the tests of the
    advisor's remedies run the dashboard)."""
    return dataclasses.replace(
        config, advisor=config.advisor.model_copy(update={"enabled": False}))


class DialogHost(IdpApp):
    """``IdpApp`` with one blank pane (see the module's docstring), without the advisor
    (``without_advisor``)."""

    PANES = (PaneInfo("blank", "Blank", "1", (), BlankPane),)

    def __init__(self, config: Any, **kwargs: Any) -> None:
        super().__init__(without_advisor(config), **kwargs)


def host_app(config: Any, data_dir: Path, clock: Any) -> DialogHost:
    return DialogHost(config, data_dir=data_dir, clock=clock)


def sandbox_host(data_dir: Path, **settings: Any) -> DialogHost:
    """``DialogHost`` on the seeded sandbox (``idp_tui.demo``'s config and time)."""
    return _on_sandbox(DialogHost, data_dir, settings)  # type: ignore[return-value]


def sandbox_dashboard(data_dir: Path, **settings: Any) -> IdpApp:
    """The whole dashboard on the seeded sandbox (``idp_tui.demo``'s config and time), without
    the advisor: for a test of what an action changes in a pane."""
    return _on_sandbox(IdpApp, data_dir, settings)


def _on_sandbox(app_class: type[IdpApp], data_dir: Path, settings: dict[str, Any]) -> IdpApp:
    from idp_tui.api.clock import ManualClock
    from idp_tui.demo import DEMO_TIME, demo_config

    data_dir.mkdir(parents=True, exist_ok=True)
    return app_class(without_advisor(demo_config(data_dir, **settings)), data_dir=data_dir,
                     clock=ManualClock(DEMO_TIME))
