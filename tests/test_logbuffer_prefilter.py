"""The log buffer's text: JSON lines as fields, the user's patterns (smart case) and the include
filter's prefilter on raw JSON lines (idp_tui.logs.fields, idp_tui.logs.prefilter), through the
Textual-free LogBuffer."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from idp_tui import render
from idp_tui.api.models import LogLevel, LogLine
from idp_tui.logs import LogBuffer, compile_pattern

T0 = datetime(2024, 5, 1, 12, 30, 45, 123456, tzinfo=UTC)


def line(message: str, *, i: int = 0, instance: str = "pod-a",
         level: LogLevel = LogLevel.INFO) -> LogLine:
    return LogLine(ts=T0 + timedelta(milliseconds=i), service="svc", environment="dev",
                   instance=instance, level=level, message=message)


def test_compile_pattern_smart_case() -> None:
    assert compile_pattern(None) is None and compile_pattern("") is None
    assert compile_pattern("abc").flags & re.IGNORECASE  # type: ignore[union-attr]
    assert compile_pattern(r"\Sabc\W").flags & re.IGNORECASE  # type: ignore[union-attr]
    assert not compile_pattern("Abc").flags & re.IGNORECASE  # type: ignore[union-attr]



@pytest.mark.parametrize("message", [
    '{"msg":"hi","a":1}', '{"msg":"hi"} \t\r\n', '{"msg":"hi"}\u3000', '{"msg":"hi"} \u00a0}',
    '{"a":1}{"b":2}', '{"a":1} }', '{"a":1,}', '{"a"', '{}', '[1]', '{"a":NaN,"b":-Infinity}',
    '{"a":"x y","b":true,"c":false,"d":null,"e":1.25,"f":[1],"g":"","h":7,"i":{"j":2}}',
    '{"message":"m","level":"warn","msg":3}', '{"event":"e","lvl":1,"severity":2}',
])
def test_json_fields_is_what_json_loads_gives(message: str) -> None:
    import json

    from idp_tui.logs.fields import field_value

    try:
        value = json.loads(message)
        expected = value if isinstance(value, dict) and message.rstrip().endswith("}") else None
    except ValueError:
        expected = None
    got = render.json_fields(message)
    assert json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True)
    if expected is not None:
        plain = render.log_message_plain(message)
        fields = dict(expected)
        head = next((fields.pop(k) for k in ("msg", "message", "event")
                     if isinstance(fields.get(k), str)), "")
        for key in ("level", "lvl", "severity"):
            fields.pop(key, None)
        rest = " ".join(f"{k}={field_value(v)}" for k, v in fields.items())
        assert plain == (f"{head} {rest}".strip() if head else rest)


def test_json_fields_decode_as_the_json_module_does() -> None:
    import json

    from idp_tui.render import json_fields

    for message in ('{"msg":"ok","n":12345678901234567890123,"f":1E2,"x":NaN,"z":-0.0}',
                    '{"a":1,"a":2}', '{"a":"x\\u0000y"}  ', '{"nested":{"b":[1,{"c":null}]}}',
                    '{"lone":"\\ud800"}'):  # a lone surrogate: only Python's json accepts it
        fields = json_fields(message)
        assert repr(fields) == repr(json.loads(message)), message
    for message in ('{"a":1} x', '{"a":', '["not", "an object"]', '{' * 5000 + '}' * 5000):
        assert json_fields(message) is None, message[:20]


# The include filter's prefilter on raw JSON lines ------------------------------------------------

def _truth(lines: list[LogLine], pattern: str, as_fields: bool = True) -> list[str]:
    """The messages an include filter shows, worked out the slow way (display text, then regex)."""
    regex = compile_pattern(pattern)
    assert regex is not None
    fold = bool(regex.flags & re.IGNORECASE)
    test = re.compile(pattern) if fold else regex
    out = []
    for item in lines:
        shown = render.sanitize(render.log_message_plain(item.message, as_fields=as_fields),
                                max_len=render.LINE_MAX)
        if test.search(shown.lower() if fold else shown) or \
                test.search(item.instance.lower() if fold else item.instance):
            out.append(item.message)
    return out


def _shown_messages(buffer: LogBuffer) -> list[str]:
    return [e.line.message for e in buffer.entries(shown=True)]


def test_required_literals_of_patterns() -> None:
    from idp_tui.logs import Pattern as _Pattern

    assert _Pattern("GET|POST|created").literals == ("GET", "POST", "created")
    assert _Pattern("(?:GET|POST) /api").literals == ("/api",)  # (the longest, without " ")
    assert _Pattern("timeout").literals == ("timeout",)
    assert _Pattern("Timeout").literals == ("Timeout",)  # (smart case: as typed)
    assert _Pattern("(?i)Timeout").literals == ("timeout",)
    assert _Pattern("status=500").literals == ("status",)
    # No usable literal: the prefilter stays off (numbers, alternatives without one, non-ASCII).
    for pattern in (r"5\d\d", "1e3", "inf", "timeout|", "a|.x", "é", r"\w+", "x*"):
        assert _Pattern(pattern).literals is None, pattern


EDGE_MESSAGES = [
    '{"msg":"GET /a","level":"info"}',
    '{"msg":"x","level":"error"}',            # the level field is not shown: "error" is not there
    '{"msg":"\\u0047ET /escaped"}',            # escapes: the decoded text matches, the raw not
    '{"msg":"ok","n":1e3}',                    # a number written another way: 1000.0
    '{"msg":"ok","n":1E2,"m":Infinity}',       # (Infinity is not JSON: shown raw)
    '{"msg":"ok","v":"created by x"}',
    '{"msg":"ok","nested":{"a":"POST"}}',
    '{"message":"plain key"}',
    '{"msg":"ok",',                            # not JSON: shown raw
    '{"level":"warn","msg":"updated","error":null}',
    "GET /plain line",
    "{not json GET}",
]


@pytest.mark.parametrize("pattern", ["GET|POST|created|updated|error", "error", "ERROR",
                                     "1000", "Infinity", "created by", "n=1000", "a.: .POST",
                                     "(?i)get", "plain", "escaped", "pod-b"])
def test_the_prefilter_shows_exactly_what_the_filter_would(pattern: str) -> None:
    lines = [line(m, i=i, instance="pod-b" if i == 3 else "pod-a")
             for i, m in enumerate(EDGE_MESSAGES)]
    buffer = LogBuffer()
    buffer.set_include(pattern)
    buffer.append(lines)
    assert _shown_messages(buffer) == _truth(lines, pattern)
    # Lines it ruled out get their text when a filter needs it later.
    buffer.set_include(pattern.lower())
    assert _shown_messages(buffer) == _truth(lines, pattern.lower())
    buffer.set_include(None)
    assert _shown_messages(buffer) == [item.message for item in lines]
    assert all(e.text is not None for e in buffer.entries(shown=True))
    # Found by the search too, and its text then worked out as drawn.
    buffer.set_include(pattern)
    buffer.set_search(pattern)
    found = []
    while (index := buffer.find(forward=True)) is not None:
        found.append(buffer.entry(index).line.message)
    assert found == _truth(lines, pattern)


def test_the_prefilter_agrees_with_the_filter_on_random_json_lines() -> None:
    import json
    import random

    rnd = random.Random(20261126)
    words = ["GET", "get", "POST", "created", "error", "Error", "ok", "a b", "", "x=y", "1000",
             "1e3", "timeout", "é", "\u212a", "ſ", "tab\tbed", "q\"uote", "back\\slash"]

    def value() -> object:
        kind = rnd.randrange(7)
        if kind == 0:
            return rnd.choice(words)
        if kind == 1:
            return rnd.randrange(-5000, 5000)
        if kind == 2:
            return rnd.choice([1e3, 0.5, -2.25e-7, 1e16, 123.0])
        if kind == 3:
            return rnd.choice([True, False, None])
        if kind == 4:
            return [rnd.choice(words), rnd.randrange(10)]
        if kind == 5:
            return {"k": rnd.choice(words)}
        return " ".join(rnd.choice(words) for _ in range(3))

    lines = []
    for i in range(1500):
        fields = {rnd.choice(["msg", "message", "level", "path", "status", "user", "GET",
                              "err"]): value() for _ in range(rnd.randrange(1, 6))}
        text = json.dumps(fields, ensure_ascii=rnd.random() < 0.3,
                          separators=rnd.choice([(",", ":"), (", ", ": ")]))
        lines.append(line(text, i=i, instance=rnd.choice(["pod-a", "pod-get"])))
    ruled_out: dict[str, int] = {}
    buffer = LogBuffer()
    for pattern in ["GET|POST|created", "error", "(?i)ERROR", "timeout|1000", "get",
                    "a b", "x=y", "é", "k", "s", "status|user"]:
        buffer.clear()
        buffer.set_include(pattern)
        for start in range(0, len(lines), 250):
            buffer.append(lines[start:start + 250])
        ruled_out[pattern] = sum(e.text is None for e in buffer.entries())
        assert _shown_messages(buffer) == _truth(lines, pattern), pattern
    # The prefilter did rule lines out (their text never worked out), where it can.
    assert ruled_out["GET|POST|created"] > 100 and ruled_out["timeout|1000"] == 0
