"""The catalog of the last run, drawn in the first frame while the sources start.

Once the dashboard has its catalog and environments, and again when it quits, it keeps the Catalog
table as it looked (every service's name, owner, tier, lifecycle, language and health in the
selected environment) in ``catalog-view.json`` in the data dir, with a key of the configuration
it came from. The next start with the same configuration draws that table at once, before the
plugin API, the hub and the sources are imported; the live catalog takes its place as soon as the
sources answer, and the status line says meanwhile where the rows come from.

This module imports only Textual and the rendering module: it runs before everything else.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Static

from .. import render
from ..paths import write_atomically
from .vtable import VirtualTable

log = logging.getLogger(__name__)

FILE = "catalog-view.json"
FORMAT = 1
#: Rows kept (the first ones by name): enough for the first screens of any catalog.
MAX_ROWS = 20_000
#: The Catalog table's columns (the live pane's without the metrics columns).
COLUMNS = [("name", "Name"), ("owner", "Owner"), ("tier", "Tier"), ("lifecycle", "Lifecycle"),
           ("language", "Language"), ("health", "Health")]
NO_CONFIG = "no-config"


@dataclass(frozen=True)
class BootRow:
    name: str
    owner: str
    tier: int | None
    lifecycle: str
    language: str
    health: str


@dataclass(frozen=True)
class BootView:
    """What the first frame shows: the last run's catalog rows."""

    key: str
    saved_at: datetime
    environment: str | None
    theme: str | None
    rows: tuple[BootRow, ...]


def config_key(path: Path | None, data: bytes | None) -> str:
    """The key of a configuration: its file's path and content (or none: the sandbox)."""
    if data is None:
        return NO_CONFIG
    digest = hashlib.sha256(str(path).encode("utf-8", "surrogateescape") + b"\0" + data)
    return f"sha256:{digest.hexdigest()}"


def _text(value: Any, limit: int = 500) -> str:
    if not isinstance(value, str):
        raise ValueError("not a string")
    return value[:limit]


def _row(item: Any) -> BootRow:
    if not isinstance(item, list) or len(item) != 6:
        raise ValueError("a row is a list of 6 values")
    name, owner, tier, lifecycle, language, health = item
    if tier is not None and (type(tier) is not int or not 1 <= tier <= 3):
        raise ValueError("tier")
    return BootRow(_text(name), _text(owner), tier, _text(lifecycle), _text(language),
                   _text(health, 20))


def load(folder: Path, key: str) -> BootView | None:
    """The view saved for ``key``, or None (none saved, another configuration's, unreadable)."""
    path = folder / FILE
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    try:
        doc = json.loads(raw)
        if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("key") != key:
            return None
        rows = doc.get("rows")
        if not isinstance(rows, list) or not rows or len(rows) > MAX_ROWS:
            return None
        environment = doc.get("environment")
        theme = doc.get("theme")
        saved_at = datetime.fromisoformat(_text(doc.get("saved_at"), 64))
        if saved_at.tzinfo is None:
            saved_at = saved_at.replace(tzinfo=UTC)
        return BootView(key=key, saved_at=saved_at,
                        environment=_text(environment, 200) if environment is not None else None,
                        theme=_text(theme, 100) if theme is not None else None,
                        rows=tuple({r.name: r for r in map(_row, rows)}.values()))
    except (ValueError, TypeError, RecursionError) as exc:
        log.warning("ignoring %s: %s", path, exc)
        return None


def save(folder: Path, view: BootView) -> bool:
    """Write ``view`` (atomically: a reader never sees half a file). False if it could not."""
    doc = {
        "format": FORMAT, "key": view.key, "saved_at": view.saved_at.isoformat(),
        "environment": view.environment, "theme": view.theme,
        "rows": [[r.name, r.owner, r.tier, r.lifecycle, r.language, r.health]
                 for r in view.rows[:MAX_ROWS]],
    }
    try:
        data = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode(
            "utf-8", errors="surrogateescape")
    except (ValueError, UnicodeError) as exc:
        log.warning("could not save %s: %s", folder / FILE, exc)
        return False
    return write_atomically(folder / FILE, data)


class BootCatalog(Vertical):
    """The Catalog pane's place in the first frame: the last run's rows, until the live pane."""

    def __init__(self, view: BootView, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.view = view

    def compose(self) -> ComposeResult:
        with Horizontal(classes="master-detail"):
            with Vertical(id="catalog-main"):
                yield VirtualTable(id="catalog-table")
                yield Static(id="catalog-status", classes="pane-status")
            with VerticalScroll(id="catalog-detail"):
                yield Static(Text("Starting the sources…", "dim"), id="catalog-detail-body")

    def on_mount(self) -> None:
        table = self.query_one(VirtualTable)
        table.set_columns(COLUMNS)
        table.sync([(r.name, render.catalog_row(r.name, r.owner, r.tier, r.lifecycle, r.language,
                                                r.health))
                    for r in self.view.rows])
        status = Text(end="")
        status.append(f"{len(self.view.rows)} services", "bold")
        status.append(f"  as of the last run ({self.view.saved_at:%Y-%m-%d %H:%M} UTC)", "italic")
        status.append(" · starting the sources…", "dim")
        self.query_one("#catalog-status", Static).update(status)

    @property
    def cursor_name(self) -> str | None:
        """The row the user moved to while the sources started (None: still the first)."""
        table = self.query_one(VirtualTable)
        return table.cursor_key if table.cursor_row > 0 else None

    def focus_main(self) -> None:
        self.query_one(VirtualTable).focus()
