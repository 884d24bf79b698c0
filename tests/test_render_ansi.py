"""ANSI colour codes in log lines: drawn as colours through idp_tui.render, never as raw escapes nor
as literal ``␛[36;1m``; every other escape and control character stays a visible symbol."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from rich.console import Console
from rich.style import Style

from idp_tui import render
from idp_tui.api.models import LogLevel, LogLine
from idp_tui.logs.ansi import split_sgr, strip_sgr
from idp_tui.logs.buffer import LogBuffer, display_text
from idp_tui.safetext import LINE_MAX


def line(message: str, level: LogLevel = LogLevel.UNKNOWN) -> LogLine:
    return LogLine(ts=datetime(2024, 1, 1, tzinfo=UTC), service="s", environment="",
                   instance="build", level=level, message=message)


def test_colour_codes_become_styled_stretches() -> None:
    plain, spans = split_sgr("\x1b[36;1mnpm test\x1b[0m done")
    assert plain == "npm test done"
    assert spans == [(0, 8, "bold cyan")]
    plain, spans = split_sgr("a\x1b[1mb\x1b[31mc\x1b[22md\x1b[39me\x1b[mf")
    assert plain == "abcdef"
    assert spans == [(1, 2, "bold"), (2, 3, "bold red"), (3, 4, "red")]


def test_bright_256_and_true_colours_and_backgrounds() -> None:
    plain, spans = split_sgr("\x1b[92mok\x1b[38;5;208m o\x1b[48;2;16;32;48m bg\x1b[103m y\x1b[0m")
    assert plain == "ok o bg y"
    assert spans == [(0, 2, "bright_green"), (2, 4, "color(208)"),
                     (4, 7, "color(208) on #102030"), (7, 9, "color(208) on bright_yellow")]
    for _start, _end, style in spans:
        Style.parse(style)  # every style is one Rich reads


def test_malformed_and_unknown_codes_do_no_harm() -> None:
    # A 256-colour code without its number, a number past 255, blink and conceal: no style, no
    # error; the codes are gone from the text all the same.
    for text in ("\x1b[38;5mx", "\x1b[38;5;999mx", "\x1b[5mx", "\x1b[8mx", "\x1b[99999999mx",
                 "\x1b[;;mx"):
        plain, spans = split_sgr(text)
        assert plain == "x" and spans == [], text


def test_other_escapes_stay_in_the_text_and_are_drawn_visible() -> None:
    hostile = "\x1b]8;;http://x\x07link\x1b]8;;\x07 \x1b[2J\x1b[1A bell\x07 nul\x00 del\x7f"
    assert strip_sgr(hostile) == hostile
    text, spans = render.log_message("\x1b[31m" + hostile + "\x1b[0m")
    assert spans == [(0, len(text), "red")]
    assert text == "␛]8;;http://x␇link␛]8;;␇ ␛[2J␛[1A bell␇ nul␀ del␡"
    assert "\x1b" not in text and "\x07" not in text


@pytest.mark.parametrize("message", ["[/", "[@click=app.quit]x", "[bold]b[/bold]",
                                     "\x1b[36;1m[@click=app.quit]x\x1b[0m [/"])
def test_markup_is_text(message: str) -> None:
    text = render.log_line(line(message), instance_style="cyan")
    assert strip_sgr(message) in text.plain
    for segment in render.log_line_segments(line(message), base=Style(), instance_style="cyan"):
        assert not (segment.style and (segment.style.meta or segment.style.link))


def test_a_megabyte_line_is_cut_and_its_colours_with_it() -> None:
    huge = "\x1b[32m" + "A" * 1_000_000 + "\x1b[0mTHE-END"
    text, spans = render.log_message(huge)
    assert text.startswith("A" * 100) and text.endswith("… [+934,471 chars]")
    assert len(text) < LINE_MAX + 40 and spans == [(0, LINE_MAX, "green")]
    segments = render.log_line_segments(line(huge), base=Style(), instance_style="")
    assert sum(len(s.text) for s in segments) < LINE_MAX + 80


def test_the_buffer_measures_and_searches_the_text_as_drawn() -> None:
    messages = ["\x1b[36;1mnpm test\x1b[0m", "\x1b[31mred\x1b[0m \x1b]0;t\x07", "plain"]
    for message in messages:
        assert display_text(message, True) == render.log_message(message)[0]
    buffer = LogBuffer(100)
    buffer.append([line(m) for m in messages])
    buffer.set_include("npm test")  # matches the text, not the codes
    assert buffer.shown == 1
    buffer.set_include(r"\[36")
    assert buffer.shown == 0


def test_drawn_segments_are_what_rich_draws_for_coloured_text() -> None:
    console = Console(width=200, color_system="truecolor", legacy_windows=False)
    base = Style.parse("white on #101010")
    samples = [line("\x1b[36;1mRun npm test\x1b[0m and \x1b[41mbg\x1b[0m", LogLevel.INFO),
               line("\x1b[1m\x1b[31mError:\x1b[0m boom \x1b]8;;http://x\x07", LogLevel.ERROR),
               line("\x1b[2mdim\x1b[22m \x1b[38;2;1;2;3mrgb", LogLevel.UNKNOWN)]
    for item in samples:
        for search in (None, "n", "bg|boom"):
            regex = re.compile(search) if search else None
            text = render.log_line(item, instance_style="cyan", highlight=regex)
            text.stylize_before(base)
            expected = [(c, s.style) for s in text.render(console) for c in s.text]
            got = [(c, s.style) for s in render.log_line_segments(
                item, base=base, instance_style="cyan", highlight=regex) for c in s.text]
            assert got == expected, (item.message, search)
            drawn = "".join(char for char, _style in got)
            assert "␛[" not in drawn and "\x1b" not in drawn


def test_section_titles_say_folded_or_open() -> None:
    text, spans = render.section_title("Run \x1b[36mnpm test\x1b[0m", folded=True, lines=12)
    assert text == "▸ Run npm test  (12 lines)"
    assert (0, len("▸ Run npm test"), "bold") in spans
    assert (len("▸ Run "), len("▸ Run npm test"), "cyan") in spans
    text, _spans = render.section_title("[/", folded=False, lines=1)
    assert text == "▾ [/"
