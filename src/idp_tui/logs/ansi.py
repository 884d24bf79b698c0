"""ANSI colour codes (SGR: ``ESC [ … m``) in log lines, read as styles without Textual or Rich.

CI logs colour their text (``\\x1b[36;1mnpm test\\x1b[0m``). :func:`split_sgr` takes those codes out
of a line and says which style each stretch of the rest has, as style strings Rich's
``Style.parse`` reads; :mod:`idp_tui.render` draws them. Only *select graphic rendition* codes are
read; every other escape or control character (cursor moves, screen clears, OSC hyperlinks, bells)
stays in the text, where :func:`idp_tui.safetext.sanitize` makes it a visible symbol. Blinking and
concealed text are not reproduced (concealed text is shown). Styles end with the line.
"""

from __future__ import annotations

import re

__all__ = ["SGR", "split_sgr", "strip_sgr"]

#: One SGR sequence: ESC [ parameters m (parameters: digits separated by ``;`` or ``:``).
SGR = re.compile(r"\x1b\[([0-9;:]{0,64})m")

_NAMES = ("black", "red", "green", "yellow", "blue", "magenta", "cyan", "white")
_ATTRS = {1: "bold", 2: "dim", 3: "italic", 4: "underline", 7: "reverse", 9: "strike",
          21: "underline", 53: "overline"}
_OFF = {22: ("bold", "dim"), 23: ("italic",), 24: ("underline",), 27: ("reverse",),
        29: ("strike",), 55: ("overline",)}


def strip_sgr(text: str) -> str:
    """``text`` without its SGR codes (everything else kept)."""
    if "\x1b[" not in text:
        return text
    return SGR.sub("", text)


def split_sgr(text: str) -> tuple[str, list[tuple[int, int, str]]]:
    """``text`` without its SGR codes, and the styled stretches of it: ``(start, end, style)``
    with ``style`` a Rich style string (``"bold cyan"``, ``"color(208) on #102030"``), in order,
    not overlapping; unstyled stretches are left out."""
    if "\x1b[" not in text:
        return text, []
    pieces: list[str] = []
    spans: list[tuple[int, int, str]] = []
    attrs: list[str] = []
    fg = bg = ""
    style = ""
    position = 0  # in the text without the codes
    last = 0  # in ``text``
    for match in SGR.finditer(text):
        piece = text[last:match.start()]
        if piece:
            pieces.append(piece)
            _add(spans, position, position + len(piece), style)
            position += len(piece)
        last = match.end()
        attrs, fg, bg = _apply(match.group(1), attrs, fg, bg)
        style = " ".join([*attrs, *([fg] if fg else []), *([f"on {bg}"] if bg else [])])
    piece = text[last:]
    if piece:
        pieces.append(piece)
        _add(spans, position, position + len(piece), style)
    return "".join(pieces), spans


def _add(spans: list[tuple[int, int, str]], start: int, end: int, style: str) -> None:
    if not style:
        return
    if spans and spans[-1][1] == start and spans[-1][2] == style:
        spans[-1] = (spans[-1][0], end, style)
    else:
        spans.append((start, end, style))


def _apply(params: str, attrs: list[str], fg: str, bg: str) -> tuple[list[str], str, str]:
    """The state after one SGR sequence's parameters."""
    attrs = list(attrs)
    codes = [_number(p) for p in params.replace(":", ";").split(";")] if params else [0]
    i = 0
    while i < len(codes):
        code = codes[i]
        i += 1
        if code == 0:
            attrs, fg, bg = [], "", ""
        elif code in _ATTRS:
            if _ATTRS[code] not in attrs:
                attrs.append(_ATTRS[code])
        elif code in _OFF:
            attrs = [a for a in attrs if a not in _OFF[code]]
        elif 30 <= code <= 37:
            fg = _NAMES[code - 30]
        elif 90 <= code <= 97:
            fg = "bright_" + _NAMES[code - 90]
        elif 40 <= code <= 47:
            bg = _NAMES[code - 40]
        elif 100 <= code <= 107:
            bg = "bright_" + _NAMES[code - 100]
        elif code == 39:
            fg = ""
        elif code == 49:
            bg = ""
        elif code in (38, 48):
            colour, i = _extended(codes, i)
            if colour is None:
                break  # malformed: the rest of the sequence means nothing
            if code == 38:
                fg = colour
            else:
                bg = colour
    return attrs, fg, bg


def _extended(codes: list[int], i: int) -> tuple[str | None, int]:
    """A 256-colour (``5;n``) or true-colour (``2;r;g;b``) argument at ``codes[i]``."""
    kind = codes[i] if i < len(codes) else -1
    if kind == 5 and i + 1 < len(codes) and 0 <= codes[i + 1] <= 255:
        return f"color({codes[i + 1]})", i + 2
    if kind == 2:
        rgb = codes[i + 1:i + 4]
        if len(rgb) == 4 - 1 and all(0 <= c <= 255 for c in rgb):
            return "#{:02x}{:02x}{:02x}".format(*rgb), i + 4
    return None, i


def _number(text: str) -> int:
    return int(text) if text.isdigit() and len(text) <= 5 else 0
