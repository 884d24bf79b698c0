"""JSON log lines as fields: ``{"msg":"user logged in","user":"bob"}`` shown as
``user logged in user=bob``.

Textual-free (the log buffer filters and measures this text; :mod:`idp_tui.render` draws it).
The decoding gives what ``json.loads`` gives; pydantic-core's parser is imported on the first JSON
line, not at start-up.
"""

from __future__ import annotations

import json
import json.scanner
import math

__all__ = ["field_value", "json_fields", "log_message_plain"]

_JSON_MESSAGE_KEYS = ("msg", "message", "event")
_JSON_LEVEL_KEYS = ("level", "lvl", "severity")


# Called for every JSON log line the Logs pane receives: bound once, dispatched on exact types.
# The decoder's scanner is called directly: JSONDecoder.decode() is that call plus two whitespace
# regex matches and a method call in Python, which cost as much as the decoding itself.
_json_scan = json.scanner.make_scanner(json.JSONDecoder())


def _from_json(message: str) -> object:
    """pydantic-core's ``from_json``, imported on the first JSON line (not at start-up)."""
    global _from_json
    from pydantic_core import from_json

    _from_json = from_json
    return from_json(message)


_json_string = json.JSONEncoder(ensure_ascii=False).encode
_JSON_SPACE = " \t\n\r"


def json_fields(message: str) -> dict[str, object] | None:
    """The fields of a JSON-object log line, or None when the line is not one."""
    if message[:1] != "{" or not (message[-1] == "}" or message.rstrip().endswith("}")):
        return None
    try:
        # pydantic-core's parser (Rust) decodes a log line in half the time of the json module's
        # scanner, to the same values; what it refuses (a lone surrogate escape, which Python's
        # json accepts) is left to the scanner, so the answer stays json.loads's.
        value = _from_json(message)
    except ValueError:
        try:
            value, end = _json_scan(message, 0)
        except (StopIteration, ValueError, RecursionError):
            return None
        # Like json.loads: only JSON whitespace may follow the object.
        if end != len(message) and message[end:].strip(_JSON_SPACE):
            return None
    return value if isinstance(value, dict) else None


def log_message_plain(message: str, *, as_fields: bool = True) -> str:
    """The text shown for a message: a JSON object as ``msg key=value …`` when ``as_fields``."""
    fields = json_fields(message) if as_fields else None
    if fields is None:
        return message
    head = ""
    for key in _JSON_MESSAGE_KEYS:
        value = fields.get(key)
        if isinstance(value, str):
            head = value
            del fields[key]
            break
    for key in _JSON_LEVEL_KEYS:
        fields.pop(key, None)
    value_text = field_value
    # The common values (ints, strings without spaces) are formatted inline, as field_value would.
    rest = " ".join([
        f"{k}={v}" if (t := type(v)) is int or (t is str and v and " " not in v)  # type: ignore[operator]
        else f"{k}={value_text(v)}"
        for k, v in fields.items()])
    return f"{head} {rest}".strip() if head else rest


def field_value(value: object) -> str:
    """A field's value as shown after ``key=``: strings bare unless empty or spaced, JSON else."""
    kind = type(value)  # what json decodes to: exact types, no subclasses
    if kind is str:
        text: str = value  # type: ignore[assignment]
        return text if text and " " not in text else _json_string(text)
    if kind is int:
        return repr(value)
    if kind is float:
        number: float = value  # type: ignore[assignment]
        return repr(number) if math.isfinite(number) else json.dumps(number)
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

