"""The keyboard and layout seams of the dashboard, each as the user sees it: a hidden key says why
it does nothing, wrapped detail text continues indented, one key picks a field's value in every
pane, the footer keeps whole keys at every width, and a form's field error reads as a sentence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from idp_tui.api.kinds import RunStatus
from idp_tui.demo import demo_app, wait_settled
from idp_tui.ui.panes import PipelinesPane

from fakes import assert_alive, screen_lines, wait_until


def still(app: Any) -> Any:
    app.animation_level = "none"
    return app


def notifications(app: Any) -> list[str]:
    return [str(n.message) for n in app._notifications]


def footer(app: Any) -> str:
    return screen_lines(app)[-1]


async def select_run(pilot: Any, pane: PipelinesPane, wanted: Any) -> Any:
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


async def pipelines(pilot: Any, app: Any) -> PipelinesPane:
    await wait_settled(app)
    await pilot.press("3")
    pane = app.query_one(PipelinesPane)
    await wait_until(pilot, lambda: app.current_pane is pane and pane.runs, "the runs")
    pane.only_service = False
    pane._redraw()
    await pilot.pause()
    return pane


# 1. A run's key that does not apply says why -----------------------------------------------------

async def test_a_hidden_run_key_says_why_it_does_nothing(tmp_path: Path) -> None:
    app = still(demo_app(tmp_path / "data", action_speed=100_000))
    async with app.run_test(size=(160, 50)) as pilot:
        pane = await pipelines(pilot, app)
        run = await select_run(pilot, pane, lambda r: r.status is RunStatus.SUCCEEDED)
        name = f"#{run.number}"
        # Cancel is hidden on a finished run (footer and help); X says why, naming the run.
        assert "X Cancel" not in footer(app)
        assert pane.check_action("act", ("cancel_run",)) is False
        await pilot.press("X")
        await wait_until(pilot, lambda: any(name in n and "has succeeded" in n
                                            for n in notifications(app)), "cancel's reason")
        said = next(n for n in notifications(app) if "has succeeded" in n)
        assert "Cancel run applies only to a queued, running or waiting run" in said, said
        assert app.screen is app.screen_stack[0]  # nothing opened
        # Approve: the sandbox cannot approve at all; that is what Y says, naming the source.
        await pilot.press("Y")
        await wait_until(pilot, lambda: any(n.startswith("sandbox cannot approve")
                                            for n in notifications(app)), "approve's reason")
        # F on a running run: the re-run applies only to a finished run that did not succeed.
        running = await select_run(pilot, pane, lambda r: r.status is RunStatus.RUNNING)
        before = len(notifications(app))
        await pilot.press("F")
        await wait_until(pilot, lambda: len(notifications(app)) > before, "re-run's reason")
        said = notifications(app)[-1]
        assert f"#{running.number} is running" in said and "Re-run failed jobs" in said, said
        # The key that applies still opens its dialog (X on the running run).
        await pilot.press("X")
        await wait_until(pilot, lambda: app.screen is not app.screen_stack[0], "cancel's dialog")
        assert_alive(app)


async def test_a_logs_key_for_a_run_log_says_why_on_the_live_logs(tmp_path: Path) -> None:
    app = still(demo_app(tmp_path / "data"))
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_settled(app)
        await pilot.press("4")
        await wait_settled(app)
        await pilot.press("z")
        await wait_until(pilot, lambda: any("Only a pipeline run's log has sections" in n
                                            for n in notifications(app)), "fold's reason")
        await pilot.press("b")
        await wait_until(pilot, lambda: any("live logs already" in n
                                            for n in notifications(app)), "back's reason")
        assert_alive(app)


# 3. One key picks a field's value in every pane ---------------------------------------------------

async def test_v_picks_a_fields_value_in_the_catalog_and_pipelines(tmp_path: Path) -> None:
    from idp_tui.ui.screens import FacetScreen

    app = still(demo_app(tmp_path / "data"))
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_settled(app)
        for pane_key in ("1", "3"):
            await pilot.press(pane_key)
            await wait_settled(app)
            assert "v Fields" in footer(app), footer(app)
            await pilot.press("v")
            await wait_until(pilot, lambda: isinstance(app.screen, FacetScreen), "the fields")
            await pilot.press("escape")
            await wait_until(pilot, lambda: app.screen is app.screen_stack[0], "closed")
        # The help lists v as Fields in both panes, with the same binding ids as before.
        rows = {bid: (keys, what) for _scope, keys, what, bid in app._binding_rows()}
        assert rows["pipelines.facets"] == ("v", "Fields")
        await pilot.press("1")
        await wait_settled(app)
        rows = {bid: (keys, what) for _scope, keys, what, bid in app._binding_rows()}
        assert rows["catalog.facets"] == ("v", "Fields")
        status = str(app.query_one("#catalog-status").render())
        assert "v by field" in status and "f by field" not in status, status
        assert not [bid for bid, (keys, _w) in rows.items() if keys == "f"]  # f: nothing here
        assert_alive(app)


# 5. A form's field error reads as a sentence ---------------------------------------------------

async def test_a_provisioning_field_error_has_no_pydantic_prefix(tmp_path: Path) -> None:
    from textual.widgets import Input

    from idp_tui.ui.dialogs import ProvisionModal

    from dialog_host import sandbox_host
    from fakes import widget_lines

    app = still(sandbox_host(tmp_path / "demo", action_speed=100_000))
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_until(pilot, lambda: app.catalog_snapshot is not None
                         and app.service is not None, "the dashboard's data")
        await pilot.press("p")
        await wait_until(pilot, lambda: isinstance(app.screen, ProvisionModal)
                         and app.screen.templates is not None, "the templates")
        modal: ProvisionModal = app.screen
        entry = next(e for e in modal.templates if e.template.name == "postgres")
        modal.query_one("#provision-templates").move_cursor(row=modal.templates.index(entry))
        await pilot.press("enter")
        await wait_until(pilot, lambda: modal.entry is entry and modal.fields, "the form")
        row = next(f for f in modal.fields if f.spec.name == "admin_password")
        assert isinstance(row.control, Input)
        row.control.focus()
        await pilot.pause()
        row.control.value = "shor"
        row.control.action_end()
        await pilot.press("t")
        error = row.query_one(".field-error")
        await wait_until(pilot, lambda: error.display, "the field's error")
        modal.query_one("#provision-form").scroll_to_widget(row, animate=False, immediate=True)
        await pilot.pause()
        shown = " ".join(" ".join(line.split()) for line in widget_lines(app, error)).strip()
        assert "must be at least 12 characters long" in shown, shown
        assert "Value error" not in shown and "Value error" not in "\n".join(screen_lines(app))
        assert_alive(app)


def test_a_param_error_on_the_command_line_has_no_pydantic_prefix(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "IDP_TUI_CONFIG"}
    env.update(IDP_TUI_DATA_DIR=str(tmp_path / "data"), XDG_CONFIG_HOME=str(tmp_path / "xdg"),
               NO_COLOR="1", IDP_TUI_PARAM_ADMIN_PASSWORD="short")
    result = subprocess.run([sys.executable, "-m", "idp_tui", "provision", "postgres", "--param",
                             "service=api-gateway", "--dry-run"], capture_output=True, text=True,
                            env=env, timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 2, result.stderr
    assert "admin_password: must be at least 12 characters long" in result.stderr, result.stderr
    assert "Value error" not in result.stderr and "Traceback" not in result.stderr


# 2. Wrapped detail text continues indented ---------------------------------------------------

def test_a_wrapped_detail_line_continues_under_its_value() -> None:
    from rich.text import Text

    from idp_tui import render

    out = Text(end="")
    out.append_text(render.label("Message", 9))
    out.append_text(render.text("alpha beta gamma delta epsilon zeta eta theta"))
    out.append("\n✖ ", "red")
    out.append_text(render.text("SourceError: one two three four five six seven eight"))
    out.append("\nshort\n")
    rows = render.hanging(out).wrapped(30).plain.split("\n")
    assert rows[0] == "Message  alpha beta gamma"
    assert all(row.startswith(" " * 9) and row[9] != " " for row in rows[1:3]), rows
    error = rows.index(next(r for r in rows if r.startswith("✖")))
    assert rows[error + 1].startswith("  ") and rows[error + 1][2] != " ", rows  # under the text
    assert "short" in rows and rows[-1] == ""
    # Too narrow for the value's column: two cells in, as a wrapped log line.
    narrow = render.hanging(out).wrapped(24).plain.split("\n")
    assert narrow[1].startswith("  ") and narrow[1][2] != " ", narrow


async def test_the_catalog_and_pipelines_details_indent_wrapped_text(tmp_path: Path) -> None:
    from fakes import StaticSource, app_config, make_app, spec, widget_lines

    from idp_tui.api.clock import ManualClock
    from idp_tui.demo import DEMO_TIME

    words = " ".join(f"word{i}" for i in range(60))
    config = app_config(spec("static", StaticSource, names=["alpha"], description=words))
    app = still(make_app(config, tmp_path, ManualClock(DEMO_TIME)))
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_until(pilot, lambda: app.catalog_snapshot is not None
                         and app.service is not None, "the catalog")
        body = app.query_one("#catalog-detail-body")
        await wait_until(pilot, lambda: "word59" in "".join(widget_lines(app, body)),
                         "the description")
        rows = widget_lines(app, body)
        first = next(i for i, row in enumerate(rows) if row.startswith("word0 "))
        continued = rows[first + 1]
        assert continued.startswith("  word") and not continued.startswith("   "), rows
        await pilot.press("3")
        body = app.query_one("#pipelines-detail-body")
        await wait_until(pilot, lambda: "Message" in "".join(widget_lines(app, body)),
                         "the run's detail")
        rows = widget_lines(app, body)
        first = next(i for i, row in enumerate(rows) if row.startswith("Message  word0 "))
        continued = rows[first + 1]
        assert continued.startswith(" " * 9 + "word"), rows
        assert_alive(app)


# 4. The footer keeps whole keys, the most useful first ------------------------------------------

async def test_the_footer_shows_whole_keys_on_every_pane_at_160_and_80_columns(
        tmp_path: Path) -> None:
    import re

    from textual.widgets._footer import FooterKey

    from idp_tui.demo import PANE_KEYS
    from idp_tui.ui.footer import KeysFooter

    for size in ((160, 50), (80, 24)):
        app = still(demo_app(tmp_path / f"data{size[0]}"))
        async with app.run_test(size=size) as pilot:
            await wait_settled(app)
            for pane, key in PANE_KEYS.items():
                await pilot.press(key)
                await wait_settled(app)
                await pilot.pause()
                bar = app.query_one(KeysFooter)
                shown = bar.shown_keys()
                line = footer(app)
                # Every key shown is drawn whole, in order; the help and quit keys first.
                assert shown[:2] == ["? Keys", "q Quit"], (pane, size, shown)
                assert re.sub(r"\s+", " ", line).strip().startswith(" ".join(shown)), \
                    (pane, size, line, shown)
                # No key is drawn cut: every one left out is out whole.
                for widget in bar.query(FooterKey):
                    if widget.has_class("-command-palette"):
                        continue
                    if widget.display:
                        assert bar.region.contains_region(widget.region), (pane, widget.action)
                if size[0] == 160 and pane in ("catalog", "envs", "metrics", "insights"):
                    assert "A Activity" in shown and "d Deploy" in shown, (pane, shown)
                if size[0] == 80:
                    assert "1 Catalog" not in shown  # (the tabs name the pane keys)
            assert_alive(app)
