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
