"""The keyboard in every action dialog, on the sandbox: one confirm key shown in the footer
(``dialog.confirm``), focus starting at the first thing to decide, Tab stops in the visible order
and all in sight, the dialog's own keys in the footer (not the pane's underneath), a plan that
changes nothing refused, the confirm reachable without scrolling at 80×24; and the Pipelines
keys offered only on the runs they apply to (the action table's run-status rule).

The service dialogs and the provisioning form run over ``DialogHost`` (one blank pane); the run
dialogs and the job picker need the Pipelines pane, so the whole dashboard.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from textual.widget import Widget
from textual.widgets import Button, Input, Select, Switch

from idp_tui.actionspec import ACTION_SPECS, FINISHED, UNFINISHED, spec
from idp_tui.api.kinds import ActionKind, ActionState, RunStatus
from idp_tui.ui.dialogs import ActionModal, ProvisionModal, RunActionModal
from idp_tui.ui.dialogs.jobs import JobPicker
from idp_tui.ui.screens import HelpScreen
from idp_tui.ui.tables import KeyedTable

from dialog_host import sandbox_host
from fakes import assert_alive, data_settled, poll_until, screen_lines
from test_app_github import clock, gh  # noqa: F401 - fixtures: the GitHub emulator, its clock

SIZES = [pytest.param((160, 50), id="160x50"), pytest.param((80, 24), id="80x24")]


def still(app: Any) -> Any:
    app.animation_level = "none"
    return app


async def wait_until(pilot: Any, predicate: Any, what: str, timeout: float = 30.0) -> None:
    await poll_until(predicate, what, timeout, lambda: asyncio.sleep(0.01))
    await pilot.pause()


async def settled(pilot: Any, app: Any) -> None:
    await wait_until(pilot, lambda: data_settled(app), "the dashboard's data")


def footer(app: Any) -> str:
    return screen_lines(app)[-1]


def screen_text(app: Any) -> str:
    return "\n".join(screen_lines(app))


def in_sight(screen: Any, widget: Widget) -> bool:
    """Drawn, and whole inside the dialog (and inside the scrolling form it belongs to)."""
    region = widget.region
    if not widget.display or region.area == 0:
        return False
    box = screen.query_one(".action-dialog").region
    if not box.contains_region(region):
        return False
    for ancestor in widget.ancestors:
        if isinstance(ancestor, Widget) and ancestor.id in ("action-form", "provision-form"):
            if not ancestor.region.contains_region(region):
                return False
    return True


async def tab_cycle(pilot: Any, screen: Any, *, all_at_once: bool = True) -> list[Widget]:
    """Every Tab stop from the focused one round to it again, each in sight when it has the
    focus (the form scrolls to it) and, ``all_at_once``, all in sight together (no scrolling)."""
    start = screen.focused
    assert start is not None
    stops = [start]
    for _ in range(40):
        await pilot.press("tab")
        focused = screen.focused
        await wait_until(pilot, lambda w=focused: in_sight(screen, w),
                         f"the Tab stop {focused!r} in sight")
        if focused is start:
            break
        stops.append(focused)
    else:
        raise AssertionError(f"Tab never came back to {start}: {stops}")
    if all_at_once:
        for widget in stops:
            assert in_sight(screen, widget), f"{widget!r} out of sight at {widget.region}"
    return stops


def assert_visible_order(screen: Any, stops: list[Widget]) -> None:
    """The Tab stops, from the first one, go down the form (left to right in a row), then the
    side panel: the order the eye reads them."""
    form = screen.query_one("#action-form")

    def place(widget: Widget) -> tuple[int, int, int]:
        side = 0 if form in widget.ancestors else 1
        return side, widget.region.y, widget.region.x

    first = min(range(len(stops)), key=lambda i: place(stops[i]))
    cycle = stops[first:] + stops[:first]
    places = [place(w) for w in cycle]
    assert places == sorted(places), [(repr(w), place(w)) for w in cycle]


async def open_service_dialog(pilot: Any, app: Any, key: str, environment: str) -> ActionModal:
    app.environment = environment
    await pilot.pause()
    await pilot.press(key)
    await wait_until(pilot, lambda: isinstance(app.screen, ActionModal)
                     and app.screen.is_settled() and app.screen.plan_result is not None,
                     f"the dialog of {key} and its plan")
    return app.screen


async def close(pilot: Any, app: Any) -> None:
    await pilot.press("escape")
    await wait_until(pilot, lambda: app.screen is app.screen_stack[0], "the dialog closed")


def confirm_button(screen: Any) -> Button:
    return screen.query_one("#action-confirm", Button)


# Deploy, rollback, scale, restart ----------------------------------------------------------------

FIRST_STOP = {"d": "#action-versions", "R": "#action-env", "plus": "#action-replicas",
              "r": "#action-env"}


@pytest.mark.parametrize("size", SIZES)
async def test_each_service_dialog_starts_at_its_decision_tabs_in_sight_and_confirms_by_key(
        size: tuple[int, int], tmp_path: Path) -> None:
    app = still(sandbox_host(tmp_path / "demo", action_speed=100_000))
    async with app.run_test(size=size) as pilot:
        await settled(pilot, app)
        for key in ("d", "R", "plus", "r"):
            modal = await open_service_dialog(pilot, app, key, "staging")
            # Focus starts at the first thing to decide.
            assert modal.focused is modal.query_one(FIRST_STOP[key]), (key, modal.focused)
            # The footer is the dialog's: close and confirm, not the dashboard's keys.
            keys = footer(app)
            assert "esc Close" in keys and "^s Confirm" in keys, keys
            assert "1 Blank" not in keys and "d Deploy" not in keys, keys
            # Tab stops in the visible order, none hidden; the confirm in sight without scrolling.
            stops = await tab_cycle(pilot, modal)
            assert_visible_order(modal, stops)
            for selector in ("#action-status", "#action-close", "#confirm-reason"):
                assert in_sight(modal, modal.query_one(selector)), (key, selector)
            if key == "plus":
                # The replicas it has: nothing changes, nothing to confirm (and it says so).
                assert "nothing changes" in screen_text(app)
                assert "Version" not in modal.query_one("#action-plan").render().plain
                assert confirm_button(modal).disabled
                before = len(app.runtime.actions.runs)
                await pilot.press("ctrl+s")
                await pilot.pause()
                assert modal.run is None and len(app.runtime.actions.runs) == before
                replicas = modal.query_one("#action-replicas", Input)
                replicas.value = str(int(replicas.value) + 1)
            if key == "d":
                # A version that does not run there yet (the one running changes nothing).
                versions = modal.query_one("#action-versions")
                fresh = next(i for i, v in enumerate(modal.versions) if not v.current)
                versions.move_cursor(row=fresh)
            await wait_until(pilot, lambda: modal.plan_result is not None
                             and not confirm_button(modal).disabled, f"{key}: ready to confirm")
            assert "Ready: press ^s" in screen_text(app)
            assert in_sight(modal, confirm_button(modal))
            await pilot.press("ctrl+s")
            await wait_until(pilot, lambda: modal.run is not None and modal.run.state.finished,
                             f"{key}: the action ends")
            assert modal.run.state is ActionState.SUCCEEDED, modal.run.error
            assert modal.run.request.kind is spec(modal.kind).kind
            await wait_until(pilot, lambda: "^s Confirm" not in footer(app),
                             "the confirm key gone once sent")
            await close(pilot, app)
        assert len(app.runtime.actions.runs) == 4
        assert_alive(app)


async def test_after_R_in_production_typing_the_name_lands_in_the_box(tmp_path: Path) -> None:
    app = still(sandbox_host(tmp_path / "demo", action_speed=100_000))
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot, app)
        modal = await open_service_dialog(pilot, app, "R", "production")
        name = modal.query_one("#confirm-name", Input)
        await wait_until(pilot, lambda: modal.focused is name, "the focus on the name's box")
        await pilot.press(*"production")
        assert name.value == "production"
        await pilot.press("tab")
        assert modal.focused is modal.query_one("#confirm-reason", Input)
        await pilot.press(*"INC-7")
        await wait_until(pilot, lambda: not confirm_button(modal).disabled, "ready")
        assert in_sight(modal, confirm_button(modal))
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: modal.run is not None and modal.run.state.finished,
                         "the rollback ends")
        request = modal.run.request
        assert (request.kind, request.environment, request.reason) == \
            (ActionKind.ROLLBACK, "production", "INC-7")
        assert modal.run.decision.rule == "protected" and modal.run.decision.allowed
        assert modal.run.state is ActionState.SUCCEEDED, modal.run.error
        assert_alive(app)


async def test_a_deploy_of_the_running_version_cannot_be_confirmed(tmp_path: Path) -> None:
    app = still(sandbox_host(tmp_path / "demo"))
    async with app.run_test(size=(160, 50)) as pilot:
        await settled(pilot, app)
        modal = await open_service_dialog(pilot, app, "d", "staging")
        running = next(i for i, v in enumerate(modal.versions) if v.current)
        modal.query_one("#action-versions").move_cursor(row=running)
        current = modal.versions[running].version
        await wait_until(pilot, lambda: modal.plan_result is not None
                         and modal.plan_result.plan is not None
                         and modal.plan_result.plan.target_version == current,
                         "the plan of the running version")
        assert confirm_button(modal).disabled
        assert f"{current} already runs there: nothing changes." in screen_text(app)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not app.runtime.actions.runs
        assert_alive(app)


# Provisioning ------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", SIZES)
async def test_the_provisioning_form_keys_defaults_and_switches(size: tuple[int, int],
                                                                tmp_path: Path) -> None:
    app = still(sandbox_host(tmp_path / "demo", action_speed=100_000))
    async with app.run_test(size=size) as pilot:
        await settled(pilot, app)
        app.environment = "staging"
        await pilot.pause()
        await pilot.press("p")
        await wait_until(pilot, lambda: isinstance(app.screen, ProvisionModal)
                         and app.screen.templates is not None, "the templates")
        modal: ProvisionModal = app.screen
        # Choosing a template: enter picks it; nothing to confirm yet.
        assert modal.focused is modal.query_one("#provision-templates")
        keys = footer(app)
        assert "esc Close" in keys and "^s" not in keys and "p Provision" not in keys, keys
        entry = next(e for e in modal.templates if e.template.name == "postgres")
        modal.query_one("#provision-templates").move_cursor(row=modal.templates.index(entry))
        await pilot.press("enter")
        await wait_until(pilot, lambda: modal.entry is entry and modal.fields, "the form")
        fields = {f.spec.name: f for f in modal.fields}
        # Focus on the first field; Environment is the one selected, not the template's dev.
        assert modal.focused is modal.fields[0].control
        environment = fields["environment"].control
        assert isinstance(environment, Input) and environment.value == "staging"
        keys = footer(app)
        assert "^t Dry run" in keys and "^s Confirm" in keys and "esc Close" in keys, keys
        # A switch says on or off.
        switch_field = fields["high_availability"]
        switch = switch_field.control
        assert isinstance(switch, Switch) and not switch.value
        state = switch_field.query_one(".form-switch-state")
        assert state.render().plain == "off"
        switch.focus()
        await pilot.press("space")
        await wait_until(pilot, lambda: switch.value, "the switch on")
        assert state.render().plain == "on"
        # Every Tab stop comes into sight (the form scrolls to it).
        await tab_cycle(pilot, modal, all_at_once=False)
        assert in_sight(modal, confirm_button(modal))
        fields["admin_password"].control.value = "correct-horse-42-battery"
        await wait_until(pilot, lambda: not confirm_button(modal).disabled, "a valid form")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: modal.run is not None and modal.run.state.finished,
                         "the provisioning ends")
        assert modal.run.state is ActionState.SUCCEEDED, modal.run.error
        assert modal.run.request.params["environment"] == "staging"
        assert modal.run.request.params["high_availability"] is True
        assert_alive(app)


# Pipelines: the run dialogs, the job picker, the keys a run's status offers ----------------------

def test_every_run_action_names_the_statuses_it_applies_to() -> None:
    rules = {s.kind: s for s in ACTION_SPECS if s.run_statuses}
    assert set(rules) == {ActionKind.RERUN, ActionKind.RERUN_ALL, ActionKind.RERUN_JOB,
                          ActionKind.CANCEL, ActionKind.APPROVE, ActionKind.REJECT}
    assert all(s.run_rule.startswith("only ") for s in rules.values())
    assert spec(ActionKind.CANCEL).run_statuses == UNFINISHED
    assert spec(ActionKind.RERUN_ALL).run_statuses == FINISHED
    assert RunStatus.SUCCEEDED not in spec(ActionKind.RERUN).run_statuses
    assert spec(ActionKind.APPROVE).applies_to(RunStatus.WAITING)
    assert not spec(ActionKind.APPROVE).applies_to(RunStatus.FAILED)
    assert not spec(ActionKind.CANCEL).applies_to(RunStatus.SUCCEEDED)
    # The others apply to any run (or are not about one).
    assert spec(ActionKind.DISPATCH).applies_to(RunStatus.SUCCEEDED)
    assert spec(ActionKind.DEPLOY).applies_to(None)


async def select_run(pilot: Any, app: Any, pane: Any, wanted: Any) -> Any:
    """Put the Pipelines table's cursor on the first run ``wanted`` accepts."""
    from idp_tui.ui.panes.pipelines import run_key

    run = next(r for r in pane._visible_runs() if wanted(r))
    table = pane.query_one("#pipelines-table")
    table.focus()
    table.select_key(run_key(run))
    await wait_until(pilot, lambda: pane.selected == (run.source, run.id)
                     and pane.detail is not None and pane.detail.id == run.id,
                     f"run {run.id} selected")
    return pane.detail


async def test_the_pipeline_keys_follow_the_run_and_its_dialogs_confirm_by_key(
        tmp_path: Path) -> None:
    from idp_tui.demo import demo_app
    from idp_tui.ui.panes import PipelinesPane

    app = still(demo_app(tmp_path / "data", action_speed=100_000))
    async with app.run_test(size=(160, 50)) as pilot:
        await settled(pilot, app)
        await pilot.press("3")
        pane = app.query_one(PipelinesPane)
        await wait_until(pilot, lambda: app.current_pane is pane and pane.runs, "the runs")
        pane.only_service = False
        pane._redraw()
        await pilot.pause()

        def offered(name: str) -> bool:
            return pane.check_action("act", (name,)) is True

        # A failed run: re-runs, not cancel, not approve.
        run = await select_run(pilot, app, pane, lambda r: r.status is RunStatus.FAILED)
        assert offered("rerun") and offered("rerun_all") and offered("dispatch")
        assert not offered("cancel_run") and not offered("approve") and not offered("reject")
        assert "F Re-run failed" in footer(app) and "Y Approve" not in footer(app)
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), "the keys")
        listed = {str(app.screen.query_one("#help-table", KeyedTable).get_row(k)[3])
                  for k in app.screen.query_one("#help-table", KeyedTable).keys}
        assert "pipelines.rerun_all" in listed
        assert "pipelines.cancel" not in listed and "pipelines.approve" not in listed
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.screen_stack[0], "the keys closed")
        # X does nothing on it; F opens its dialog, focused on the button ^s stands for.
        await pilot.press("X")
        await pilot.pause()
        assert app.screen is app.screen_stack[0]
        await pilot.press("F")
        await wait_until(pilot, lambda: isinstance(app.screen, RunActionModal)
                         and app.screen.plan_result is not None, "the re-run dialog's plan")
        modal = app.screen
        await wait_until(pilot, lambda: not confirm_button(modal).disabled, "ready")
        assert modal.focused is confirm_button(modal)
        keys = footer(app)
        assert "^s Confirm" in keys and "esc Close" in keys and "F Re-run" not in keys, keys
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: modal.run is not None and modal.run.state.finished,
                         "the re-run ends")
        assert modal.run.state is ActionState.SUCCEEDED, modal.run.error
        assert modal.run.request.run_id == run.id
        await close(pilot, app)

        # A run that has not finished: cancel, not the re-runs.
        await select_run(pilot, app, pane, lambda r: not r.status.finished)
        assert offered("cancel_run") and not offered("rerun") and not offered("rerun_all")
        listed = {bid for _scope, _keys, _what, bid in app._binding_rows()}
        assert "pipelines.cancel" in listed and "pipelines.rerun" not in listed

        # The job picker: its own footer, ^s shows the highlighted job's log.
        await select_run(pilot, app, pane, lambda r: r.status.finished)
        await wait_until(pilot, lambda: pane.detail.jobs, "the run's jobs")
        await pilot.press("L")
        await wait_until(pilot, lambda: isinstance(app.screen, JobPicker), "the job picker")
        keys = footer(app)
        assert "esc Close" in keys and "^s Show the log" in keys, keys
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: app.screen is app.screen_stack[0]
                         and app.current_pane.pane_name == "logs", "the job's log")
        assert_alive(app)


async def test_the_confirm_key_follows_the_keys_setting(tmp_path: Path) -> None:
    from idp_tui.api.clock import ManualClock
    from idp_tui.demo import DEMO_TIME, demo_config

    from dialog_host import DialogHost

    (tmp_path / "demo").mkdir()
    config = demo_config(tmp_path / "demo")
    config.keys = {"dialog.confirm": "ctrl+o"}
    app = still(DialogHost(config, data_dir=tmp_path / "demo", clock=ManualClock(DEMO_TIME)))
    async with app.run_test(size=(160, 50)) as pilot:
        await settled(pilot, app)
        modal = await open_service_dialog(pilot, app, "r", "staging")
        await wait_until(pilot, lambda: not confirm_button(modal).disabled, "ready")
        assert "^o Confirm" in footer(app) and "Ready: press ^o" in screen_text(app)
        assert isinstance(modal.query_one("#action-env"), Select)
        assert_alive(app)


# On GitHub (the emulator): an approval and a workflow run, by the keyboard alone ----------------

async def test_an_approval_and_a_workflow_run_by_the_keyboard_alone(
        tmp_path: Path, gh: Any, clock: Any) -> None:
    from idp_tui.ui.dialogs import DispatchModal

    from test_app_github import PAY, app_for
    from test_app_github_actions import select_run as select_github_run
    from test_github_actions_more import RELEASE, RELEASE_INPUTS

    gh.add_workflow(PAY, "Release", "release.yml", RELEASE, inputs=RELEASE_INPUTS,
                    options={"level": ["patch", "minor", "major"]})
    release = gh.add_run(PAY, workflow="release.yml", event="workflow_dispatch")
    held = gh.add_run(PAY, outcome="waiting")
    app = still(app_for(tmp_path, gh, clock))
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await select_github_run(pilot, app, held.id)
        assert pane.check_action("act", ("approve",)) is True
        await pilot.press("Y")
        await wait_until(pilot, lambda: isinstance(app.screen, RunActionModal)
                         and app.screen.plan_result is not None, "the approval's plan")
        modal = app.screen
        # Only the environment's name and a reason are left: the focus is in the name's box.
        name = modal.query_one("#confirm-name", Input)
        await wait_until(pilot, lambda: modal.focused is name, "the focus on the name")
        keys = footer(app)
        assert "^s Confirm" in keys and "esc Close" in keys and "Y Approve" not in keys, keys
        await pilot.press(*"production", "tab", *"CHG-9")
        await wait_until(pilot, lambda: not confirm_button(modal).disabled, "ready")
        assert in_sight(modal, confirm_button(modal))
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: modal.run is not None and modal.run.state.finished,
                         "the approval ends")
        assert modal.run.state is ActionState.SUCCEEDED, modal.run.error
        assert gh.reviews == [(held.id, "production", "approved", "CHG-9")]
        await close(pilot, app)

        # The release workflow again: its inputs as a form, the first one focused, ^s runs it.
        await select_github_run(pilot, app, release.id)
        await pilot.press("W")
        await wait_until(pilot, lambda: isinstance(app.screen, DispatchModal)
                         and app.screen.fields and app.screen.is_settled(), "the inputs")
        dispatch = app.screen
        assert dispatch.focused is dispatch.fields[0].control
        assert "^s Confirm" in footer(app)
        target = next(f for f in dispatch.fields if f.spec.name == "target").control
        target.focus()
        await pilot.press(*"staging")
        await wait_until(pilot, lambda: not confirm_button(dispatch).disabled, "planned")
        assert in_sight(dispatch, confirm_button(dispatch))
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: dispatch.run is not None and dispatch.run.state.finished,
                         "the workflow run ends")
        assert dispatch.run.state is ActionState.SUCCEEDED, dispatch.run.error
        assert gh.repos[PAY].runs[0].inputs["target"] == "staging"
        assert_alive(app)
