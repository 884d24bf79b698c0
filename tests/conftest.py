"""Shared fixtures: a fixed clock, a temporary data dir, and apps on the seeded sandbox."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from idp_tui.api.clock import ManualClock

#: The reference time of every test and screenshot.
T0 = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("IDP_TUI_DATA_DIR", str(folder))
    monkeypatch.delenv("IDP_TUI_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    return folder


@pytest.fixture
async def make(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Start sandbox sources at ``T0``; each gets its own database file unless one is named."""
    from idp_tui import SourceContext
    from idp_tui_sandbox import SandboxConfig, SandboxSource

    started: list[SandboxSource] = []

    async def factory(*, db: str | None = None, clock: ManualClock | None = None,
                      **settings: object) -> SandboxSource:
        settings.setdefault("seed", 7)
        settings.setdefault("database", str(tmp_path / (db or f"s{len(started)}.db")))
        source = SandboxSource(SandboxConfig(**settings),  # type: ignore[arg-type]
                               SourceContext(name="sandbox", data_dir=tmp_path,
                                             clock=clock or ManualClock(T0)))
        await source.start()
        started.append(source)
        return source

    yield factory
    for source in started:
        await source.close()
