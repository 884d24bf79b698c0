"""The wheel ships the bundled plugin and the stylesheets, and registers the entry points."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_contains_styles_plugins_and_entry_points(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("idp_tui-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    styles = {Path(n).name for n in names if n.startswith("idp_tui/styles/")}
    assert {p.name for p in (ROOT / "styles").glob("*.tcss")} <= styles
    assert "app.tcss" in styles
    assert "idp_tui_sandbox/__init__.py" in names
    assert "idp_tui/api/source.py" in names
    assert "idp_tui/insights/scorecard_rules.toml" in names  # the built-in scorecard rules
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[idp_tui.sources]" in text
    assert "sandbox = idp_tui_sandbox:SandboxSource" in text
    assert "idp-tui = idp_tui.entry:main" in text


def test_styles_are_found_from_a_source_checkout() -> None:
    from idp_tui.paths import stylesheets

    sheets = stylesheets()
    assert sheets[0].name == "app.tcss"
    assert {p.name for p in sheets} == {p.name for p in (ROOT / "styles").glob("*.tcss")}
