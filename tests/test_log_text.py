"""How a log line reads: the level said once (a Java or Python line's own level word is left out of
its message when it is the line's level)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from idp_tui import render
from idp_tui.api.models import LogLevel, LogLine

T0 = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)


def drawn(message: str, level: LogLevel) -> str:
    line = LogLine(ts=T0, service="svc", environment="dev", instance="pod", level=level,
                   message=message)
    text = render.log_line(line, instance_style="").plain
    segments = render.log_line_segments(line, base=render.Style(), instance_style="")
    assert "".join(s.text for s in segments) == text  # both ways of drawing agree
    return text.removeprefix("14:00:00.000 pod ")


@pytest.mark.parametrize(("message", "level", "expected"), [
    ("INFO  [http-nio-8080-exec-38] c.e.Svc - handled", LogLevel.INFO,
     "INFO  [http-nio-8080-exec-38] c.e.Svc - handled"),
    ("WARNING  payments.handlers: slow query", LogLevel.WARN, "WARN  payments.handlers: slow query"),
    (" INFO payments::service: ready", LogLevel.INFO, "INFO  payments::service: ready"),
    ("INFO:root:started", LogLevel.INFO, "INFO  root:started"),
    ("[ERROR] boom", LogLevel.ERROR, "ERROR boom"),
    # Kept: another level, a word that is not the level in capitals, nothing after it.
    ("DEBUG cache warm", LogLevel.INFO, "INFO  DEBUG cache warm"),
    ("Error connecting to db", LogLevel.ERROR, "ERROR Error connecting to db"),
    ("INFO", LogLevel.INFO, "INFO  INFO"),
    ("INFO x", LogLevel.UNKNOWN, "      INFO x"),
])
def test_the_level_is_said_once(message: str, level: LogLevel, expected: str) -> None:
    assert drawn(message, level) == expected


def test_colours_move_with_the_message() -> None:
    plain, spans = render.without_level("INFO  red rest", [(0, 4, "bold"), (6, 9, "red")],
                                        LogLevel.INFO)
    assert (plain, spans) == ("red rest", [(0, 3, "red")])
