"""Hostile text from sources, end to end through the whole dashboard.

Every text field a source fills (names, owners, descriptions, links, dependencies, environment
names, versions, pipeline fields, job and step names, log lines and instances, metric units, error
messages and hints) carries markup, ANSI escapes, control characters, bidi overrides, invalid UTF-8
or a very long value. The dashboard must keep running, show the text literally (controls as visible
pictures), never turn it into a clickable action, and cut very long values with a marker.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fakes import (
    INVALID_UTF8,
    ErrorTextSource,
    RawBytesSource,
    StaticSource,
    app_config,
    assert_alive,
    click_actions,
    data_settled,
    make_app,
    screen_lines,
    screen_strips,
    spec,
    unsafe_chars,
    wait_until,
    widget_text,
)
from textual.command import CommandInput, CommandList, CommandPalette

from idp_tui import LogLevel, LogLine, SourceError, render
from idp_tui.api.clock import ManualClock
from idp_tui.hub import Failure
from idp_tui.ui.app import CommandBar, ContextBar, HealthBar
from idp_tui.ui.screens import HealthScreen

CLICK = "[@click=app.quit]x"
ANSI = "\x1b[31mred\x1b[0m"
C0 = "".join(map(chr, range(0x20)))

#: name → a value put in every text field.
HOSTILE: dict[str, str] = {
    "unclosed-tag": "[/",
    "click-action": CLICK,
    "todo": "[TODO] fix",
    "bold-markup": "[b]bold[/b]",
    "ansi-escapes": f"{ANSI} \x1b]0;title\x07 \x1b[2J",  # colour, window title, clear screen
    "c0-controls": C0,
    "del-c1-bidi": "a\x7fb\x9bc\x85d \u202edcba\u2066x\u2069\u202a",
    "invalid-utf8": INVALID_UTF8,
    "long-name": "n" * 5000,
    # Digits int() refuses ("²") or reads ("٣"), in versions too; zero-width and separators.
    "unicode-digits": "v1.2² ٣.⑦ 𝟠 a\u200bb\u2028c\ufeff",
}

#: A 1 MB value.
MEGA = "y" * 1_000_000


def compact(text: str) -> str:
    """``text`` without whitespace: wrapping and padding must not hide a value that is shown."""
    return re.sub(r"\s+", "", text)


def shows(haystack: str, value: str, length: int = 10) -> bool:
    """True when the start of ``value`` as the dashboard must show it is in ``haystack``."""
    return compact(render.sanitize(value)[:length]) in compact(haystack)


def hostile_config(value: str) -> Any:
    return app_config(
        spec("static", StaticSource, names=[value, "alpha"], description=value,
             log_message=value, text=value, environments=[value, "prod"], unit=value),
        spec("bad", ErrorTextSource, message=value),
        ui={"service": value, "environment": value},
    )


def check_screen(app: Any) -> None:
    """Nothing unsafe reached the screen and nothing drawn is a clickable action."""
    assert_alive(app)
    text = "\n".join(screen_lines(app))
    assert unsafe_chars(text) == []
    assert click_actions(app) == []


def one(app: Any, selector: str) -> Any:
    return app.screen.query_one(selector)


async def show_pane(pilot: Any, key: str) -> None:
    """Press a pane's key and wait for its data (where focus lands is test_app_navigation's job)."""
    await pilot.press(key)
    await wait_until(pilot, lambda: data_settled(pilot.app), f"pane {key} to settle")


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
async def test_hostile_text_everywhere_is_shown_literally(value: str, data_dir: Path,
                                                          clock: ManualClock) -> None:
    app = make_app(hostile_config(value), data_dir, clock)
    async with app.run_test(size=(160, 50), notifications=True) as pilot:
        await wait_until(pilot, lambda: data_settled(app), "the catalog")
        assert app.service == value and app.environment == value
        await wait_until(pilot, lambda: app.hub.health["bad"].state == "error", "bad to fail")

        # Header context bar (service and environment) and the source health bar.
        context = widget_text(app, app.query_one(ContextBar))
        assert shows(context.split(" env ")[0], value) and shows(context.split(" env ")[1], value)
        health_bar = widget_text(app, app.query_one(HealthBar))
        assert re.search(r"✖ bad (unreachable|plugin error)", health_bar)

        # Catalog: table, detail panel (description, links, dependencies, versions), error banner.
        await show_pane(pilot, "1")
        check_screen(app)
        assert shows(widget_text(app, one(app, "#catalog-table")), value)
        detail = widget_text(app, one(app, "#catalog-detail-body"))
        assert shows(detail, value)
        if len(value) > render.CELL_MAX:  # cut with a marker, not dropped
            assert compact(f"… [+{len(value) - 120:,} chars]") in compact(detail)
        plain = one(app, "#catalog-detail-body").content.plain
        for label in ("Owner", "Links", "depends on", "provides", "Versions",
                      "From catalog: static · deployments: static"):
            assert label in plain
        assert plain.count(render.sanitize(value)[:40]) >= 8  # owner, lifecycle, links, tags…
        banner = widget_text(app, one(app, "#catalog-errors"))
        assert "bad unreachable:" in banner and shows(banner, value)

        # Environments matrix: the column header is the environment name, cells the versions.
        await show_pane(pilot, "2")
        check_screen(app)
        matrix = widget_text(app, one(app, "#envs-table"))
        assert shows(matrix.splitlines()[0], value)  # the header row
        assert shows("\n".join(matrix.splitlines()[1:]), value)

        # Pipelines: table and the selected run's detail with its jobs and steps.
        await show_pane(pilot, "3")
        check_screen(app)
        assert shows(widget_text(app, one(app, "#pipelines-table")), value)
        run_body = one(app, "#pipelines-detail-body")
        assert shows(widget_text(app, run_body), value)
        for label in ("Pipeline", "Branch", "Commit", "Message", "Trigger", "Jobs"):
            assert label in run_body.content.plain  # (with long values, some are below the fold)
        assert run_body.content.plain.count(render.sanitize(value, max_len=300)) >= 6
        banner = widget_text(app, one(app, "#pipelines-errors"))
        assert "bad plugin error:" in banner and shows(banner, value)

        # Logs: instance and message of every line, and the failing stream's error.
        await show_pane(pilot, "4")
        await wait_until(pilot, lambda: one(app, "#logs-errors").display, "the log error")
        check_screen(app)
        view = widget_text(app, one(app, "#logs-view"))
        assert view.count("INFO") == 3
        assert shows(view, value)
        assert shows(widget_text(app, one(app, "#logs-errors")), value)

        # Metrics: the header and the unit of every value.
        await show_pane(pilot, "5")
        check_screen(app)
        assert shows(widget_text(app, one(app, "#metrics-header")), value)
        assert shows(widget_text(app, one(app, "#metrics-grid")), value, length=4)

        # Health screen: the error class, message and hint of the failing source.
        await pilot.press("H")
        await wait_until(pilot, lambda: isinstance(app.screen, HealthScreen), "the health screen")
        await pilot.press("down")  # the failing source's row
        detail = one(app, "#health-detail")
        await wait_until(pilot, lambda: "Hint:" in widget_text(app, detail), "its error and hint")
        check_screen(app)
        message, hint = widget_text(app, detail).split("Hint:")
        # The source fails catalog calls as unreachable (its message as the hint), others raise.
        assert "unreachable:" in message or "plugin error: RuntimeError:" in message
        assert shows(message, value)
        if "unreachable:" in message:
            assert shows(hint, value)
        await pilot.press("escape")

        # A notification quoting the text: `:svc <text>` for a service that does not exist.
        await pilot.press("colon")
        bar = app.query_one(CommandBar)
        bar.value = f"svc {value}-missing"
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.query("Toast"), "the notification")
        check_screen(app)
        toast = widget_text(app, app.query_one("Toast"))
        assert "Unknown service" in toast and shows(toast, value)
        assert app.service == value  # unchanged

        # Command palette: the service, its description as help, the environment.
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
        palette = app.screen
        palette.query_one(CommandInput).value = "Service"
        await wait_until(pilot, lambda: palette.query_one(CommandList).option_count >= 2,
                         "the palette's hits")
        check_screen(app)
        prompts = [str(palette.query_one(CommandList).get_option_at_index(i).prompt)
                   for i in range(palette.query_one(CommandList).option_count)]
        assert any(shows(p, "Service: " + value) for p in prompts), prompts
        assert shows(widget_text(app, palette.query_one(CommandList)), value)
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, CommandPalette), "palette close")

        assert_alive(app)


async def test_markup_names_in_the_command_palette_are_literal_and_selectable(
        data_dir: Path, clock: ManualClock) -> None:
    config = app_config(spec("static", StaticSource, names=[CLICK, "[/", "alpha"],
                             description="[b]not bold[/b] [TODO]",
                             environments=[f"{CLICK}-env", "[/-env"]))
    app = make_app(config, data_dir, clock)
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_until(pilot, lambda: data_settled(app), "the catalog")
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
        await pilot.press(*"Service")
        command_list = app.screen.query_one(CommandList)
        await wait_until(pilot, lambda: command_list.option_count == 3, "three service hits")
        shown = widget_text(app, command_list)
        assert f"Service: {CLICK}" in shown
        assert "Service: [/" in shown
        assert "[b]not bold[/b] [TODO]" in shown
        check_screen(app)

        # Narrow to the one name with an action in it and pick it: it selects, it does not quit.
        app.screen.query_one(CommandInput).value = "Service: [@click=app"
        await wait_until(pilot, lambda: command_list.option_count == 1, "a single hit")
        assert f"Service: {CLICK}" in widget_text(app, command_list)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.service == CLICK, "the service to be selected")
        assert not isinstance(app.screen, CommandPalette)
        assert shows(widget_text(app, app.query_one(ContextBar)), CLICK)
        check_screen(app)

        # Environments too: listed literally, and picked without running anything.
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
        app.screen.query_one(CommandInput).value = "Environment:"
        command_list = app.screen.query_one(CommandList)
        await wait_until(pilot, lambda: "Environment: [/-env" in widget_text(app, command_list),
                         "the environments")
        assert f"Environment: {CLICK}-env" in widget_text(app, command_list)
        check_screen(app)
        app.screen.query_one(CommandInput).value = "Environment: [/"
        await wait_until(pilot, lambda: command_list.option_count >= 1, "the hit")
        assert "Environment: [/-env" in str(command_list.get_option_at_index(0).prompt)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.environment == "[/-env", "the environment")
        # And with the `:` prompt.
        await pilot.press("colon")
        app.query_one(CommandBar).value = f"env {CLICK}-env"
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.environment == f"{CLICK}-env", ":env")
        check_screen(app)


async def test_clicking_markup_text_runs_no_action(data_dir: Path, clock: ManualClock) -> None:
    app = make_app(hostile_config(CLICK), data_dir, clock)
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_until(pilot, lambda: data_settled(app), "the catalog")
        clicked = 0
        for key in "12345":
            await show_pane(pilot, key)
            hits = [(line.index("@click"), y) for y, line in enumerate(screen_lines(app))
                    if "@click" in line]
            assert hits, f"pane {key} shows the text"
            for x, y in hits[:4]:
                await pilot.click(offset=(x, y))
                clicked += 1
                assert_alive(app)
            await pilot.press("escape")
        assert clicked >= 12
        assert_alive(app)


class OddError(SourceError):
    """An error whose class a plugin built from what its server said."""

    error_class = f"{CLICK} \x1b[2J\u202e"


class OddErrorSource(StaticSource):
    async def services(self) -> Any:
        raise OddError("[TODO] \x1b]0;pwned\x07 message", hint="[b]hint[/b] [/")


async def test_a_hostile_error_class_message_and_hint(data_dir: Path, clock: ManualClock) -> None:
    config = app_config(spec("static", StaticSource), spec("odd", OddErrorSource))
    app = make_app(config, data_dir, clock)
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_until(pilot, lambda: one(app, "#catalog-errors").display, "the error")
        check_screen(app)
        banner = widget_text(app, one(app, "#catalog-errors"))
        assert f"✖ odd {CLICK} \ufffd[2J\ufffd: [TODO] ␛]0;pwned␇ message" in banner
        assert "[b]hint[/b] [/" in banner
        assert f"✖ odd {CLICK}" in widget_text(app, app.query_one(HealthBar))
        await pilot.press("H")
        await wait_until(pilot, lambda: isinstance(app.screen, HealthScreen), "health screen")
        await pilot.press("down")
        detail = one(app, "#health-detail")
        await wait_until(pilot, lambda: "Hint:" in widget_text(app, detail), "odd's error")
        assert "Hint: [b]hint[/b] [/" in widget_text(app, detail)
        check_screen(app)


async def test_invalid_utf8_from_a_source(data_dir: Path, clock: ManualClock) -> None:
    """A source decoding non-UTF-8 bytes with surrogateescape: lone surrogates everywhere."""
    config = app_config(spec("raw", RawBytesSource))
    app = make_app(config, data_dir, clock)
    shown = render.sanitize(INVALID_UTF8)
    assert shown == "svc-\ufffd\ufffd-\ufffd("
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_until(pilot, lambda: data_settled(app), "the catalog")
        for key in "12345":
            await show_pane(pilot, key)
            check_screen(app)
            assert shown in "\n".join(screen_lines(app))
        assert app.hub.health["raw"].state == "ok"


async def test_a_one_megabyte_value_is_cut_with_a_marker(data_dir: Path,
                                                         clock: ManualClock) -> None:
    config = app_config(spec("static", StaticSource, names=[MEGA, "alpha"], description=MEGA,
                             log_message=MEGA, text=MEGA, environments=["dev", MEGA], unit=MEGA),
                        spec("bad", ErrorTextSource, message=MEGA),
                        ui={"service": MEGA, "environment": MEGA})
    app = make_app(config, data_dir, clock)
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_until(pilot, lambda: data_settled(app), "the catalog")
        check_screen(app)
        body = one(app, "#catalog-detail-body")
        assert compact("… [+999,880 chars]") in compact(widget_text(app, body))  # the name
        assert "… [+998,000 chars]" in body.content.plain  # the description, below the fold
        banner = widget_text(app, one(app, "#catalog-errors"))
        assert "bad unreachable:" in banner and re.search(r"… \[\+[\d,]+ chars\]", banner)
        assert len(app.hub.health["bad"].failure.message) < 5_000  # the hub keeps it bounded
        for key in "2345":
            await show_pane(pilot, key)
            check_screen(app)
            assert {strip.cell_length for strip in screen_strips(app)} == {160}  # nothing spills
        # The log message is cut at render.LINE_MAX; wrapped, its end shows how much was cut.
        await show_pane(pilot, "4")
        view = one(app, "#logs-view")
        assert view.total == 3
        view.focus()
        await pilot.press("w")
        await wait_until(pilot, lambda: view.wrap, "wrapping")
        await pilot.press("end")
        cut = len(MEGA) - render.LINE_MAX
        await wait_until(pilot, lambda: f"… [+{cut:,} chars]" in widget_text(app, view),
                         "the cut marker at the end of the last line")
        check_screen(app)
        await pilot.press("H")
        await wait_until(pilot, lambda: isinstance(app.screen, HealthScreen), "the health screen")
        await pilot.press("down")
        await wait_until(pilot, lambda: "chars]" in widget_text(app, one(app, "#health-detail")),
                         "the cut error message")
        check_screen(app)


# render.py directly --------------------------------------------------------------------------

_PLAIN_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
VALUES = [*HOSTILE.values(), MEGA, "", "ok", "\n", "\r\n", "\t", "\x1b]0;t\x07\x1b[2J\x00\x7f\x9b",
          f"[/ {CLICK} [TODO] [b]b[/b] {ANSI}\u202e{INVALID_UTF8}",
          "{\"msg\": \"[b]x\\u001b[2J\"}", '{"msg": "a\\ud800b", "k": "\\u202e"}',
          '{"msg": ' + "[" * 100_000 + "]" * 100_000 + "}", "\ud800", "\udfff" * 300]


def _unsafe(plain: str, *, newline_ok: bool = False) -> list[str]:
    found = {c for c in _PLAIN_UNSAFE.findall(plain)}
    if newline_ok:
        found.discard("\n")
    return sorted(hex(ord(c)) for c in found)


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_every_render_function_is_safe(value: str) -> None:
    for max_len in (render.CELL_MAX, 10, 1, 0, None):
        for multiline in (False, True):
            plain = render.sanitize(value, max_len=max_len, multiline=multiline)
            assert _unsafe(plain, newline_ok=multiline) == []
            if max_len is not None:
                assert len(plain) <= max_len + len("… [+1,000,000 chars]")
            if max_len is None or len(value) <= max_len:
                assert len(plain) == len(value)  # one visible symbol per character
            text = render.text(value, "bold", max_len=max_len, multiline=multiline)
            assert text.plain == plain and text.style == "bold" and not text.spans
            content = render.content(value, "bold", max_len=max_len, multiline=multiline)
            assert content.plain == plain
    joined = render.joined([(value, "bold"), (value, "")], sep=" · ")
    assert _unsafe(joined.plain) == []
    entry = render.palette_entry(f"Service: {value}", range(0, 400, 3), value)
    assert _unsafe(entry.plain, newline_ok=True) == []
    assert entry.plain.count("\n") == (1 if render.sanitize(value, max_len=120) else 0)
    assert not any(span.style and "@click" in str(span.style) for span in entry.spans)
    for as_fields in (True, False):
        line = LogLine(ts=datetime(2026, 11, 25, 14, tzinfo=UTC),
                       service=value, environment=value, instance=value,
                       level=LogLevel.ERROR, message=value)
        out = render.log_line(line, instance_style="cyan", as_fields=as_fields,
                              highlight=re.compile("x"))
        assert _unsafe(out.plain) == []
        assert len(out.plain) <= 13 + 48 + 20 + 7 + render.LINE_MAX + 20
    assert render.health(value).plain == "? unknown"  # an unknown health value is not shown raw


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_markup_in_text_is_never_parsed(value: str) -> None:
    text = render.text(value)
    content = render.content(value)
    assert "[" not in value or "[" in text.plain
    assert text.plain == content.plain == render.sanitize(value)
    assert all(span.style in ("", None) for span in text.spans)
    assert not content.spans


def test_failure_text_from_the_hub_is_plain() -> None:
    failure = Failure("bad", "plugin error", f"RuntimeError: {CLICK} {ANSI}", CLICK)
    text = render.text(str(failure), max_len=None)
    assert CLICK in text.plain and "␛[31mred␛[0m" in text.plain
    assert _unsafe(text.plain) == []


def test_times_from_sources_without_a_time_zone_are_taken_as_utc() -> None:
    now = datetime(2026, 11, 25, 14, tzinfo=UTC)
    assert render.ago(datetime(2026, 11, 25, 13, 50), now) == "10m00s ago"
    assert render.ago(datetime(2026, 11, 25, 14, 5), now) == "in 5m00s"
    assert render.ago(datetime.min.replace(tzinfo=UTC), now).endswith(" ago")
    assert render.ago(None, now) == "–"


def test_control_pictures_and_replacements() -> None:
    assert render.sanitize("\x1b[31mred\x1b[0m") == "␛[31mred␛[0m"
    assert render.sanitize("\x00\x07\x7f") == "␀␇␡"
    assert render.sanitize("a\tb") == "a b"
    assert render.sanitize("a\nb") == "a␊b"
    assert render.sanitize("a\nb", multiline=True) == "a\nb"
    assert render.sanitize("a\r\nb", multiline=True) == "a␍\nb"
    assert render.sanitize("\x9b\u202e\u2066") == "\ufffd\ufffd\ufffd"
    assert render.sanitize(INVALID_UTF8) == "svc-\ufffd\ufffd-\ufffd("
    assert render.sanitize("z" * 300) == "z" * 200 + "… [+100 chars]"
    assert render.sanitize("z" * 205) == "z" * 200 + "…"

