"""The last run's catalog in the first frame (idp_tui/ui/boot.py) while the sources start."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from idp_tui.configerror import ConfigError
from idp_tui.demo import DEMO_SIZE, DEMO_TIME, demo_app, demo_config, wait_settled
from idp_tui.ui import boot
from idp_tui.ui.app import IdpApp
from idp_tui.ui.vtable import VirtualTable

HOSTILE = ["[/", "[@click=app.quit]x", "[TODO]", "\x1b[31mred\x1b[0m", "ctl\x00\x07\x08x",
           "x" * 1_000_000]


def view_of(rows: list[boot.BootRow], key: str = "k", environment: str | None = "production"
            ) -> boot.BootView:
    return boot.BootView(key=key, saved_at=datetime(2026, 11, 24, 9, 30, tzinfo=UTC),
                         environment=environment, theme="textual-dark", rows=tuple(rows))


def row(name: str, health: str = "healthy") -> boot.BootRow:
    return boot.BootRow(name, "team-x", 2, "production", "go", health)


def booting_app(data_dir: Path, view: boot.BootView, calls: list[dict], *, fail: Exception | None = None
                ) -> IdpApp:
    """An app that draws ``view`` first; its start() records what was on screen when called."""
    app: IdpApp

    def start():  # type: ignore[no-untyped-def]
        table = app.query_one("#boot-catalog").query_one(VirtualTable)
        calls.append({"frames": frames[0], "rows": table.row_count,
                      "first": table.keys[:1]})
        if fail is not None:
            raise fail
        config = demo_config(data_dir)
        from idp_tui.runtime import build_runtime

        return build_runtime(config, data_dir=data_dir, clock=app.clock)

    from idp_tui.api.clock import ManualClock

    app = IdpApp(None, data_dir, ManualClock(DEMO_TIME), boot_key=view.key, boot_view=view,
                 start=start)
    frames = [0]
    display = app._display

    def counting(screen, renderable):  # type: ignore[no-untyped-def]
        frames[0] += 1
        display(screen, renderable)

    app._display = counting  # type: ignore[method-assign]
    return app


# Keeping the catalog -----------------------------------------------------------------------------

async def test_the_dashboard_keeps_its_catalog_once_the_environments_are_known(tmp_path: Path) -> None:
    app = demo_app(tmp_path)
    app.boot_key = "sandbox-key"
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_settled(app)
        await pilot.pause()
        saved = boot.load(tmp_path, "sandbox-key")
        assert saved is not None
        names = sorted(s.name for s in app.services)
        assert [r.name for r in saved.rows] == names
        assert saved.environment == app.environment
        for r in saved.rows:
            dep = app.platform.deployments.get((r.name, app.environment))
            assert r.health == (dep.health.value if dep else "unknown")
            service = app.service_record(r.name)
            assert (r.owner, r.tier, r.lifecycle, r.language) == \
                (service.owner, service.tier, service.lifecycle, service.language)
        assert boot.load(tmp_path, "another-config") is None


async def test_an_app_without_a_key_keeps_nothing(tmp_path: Path) -> None:
    app = demo_app(tmp_path)
    async with app.run_test(size=DEMO_SIZE):
        await wait_settled(app)
    assert not (tmp_path / boot.FILE).exists()


def test_a_kept_catalog_survives_a_round_trip_and_bad_files_are_ignored(tmp_path: Path) -> None:
    rows = [row("a"), boot.BootRow("b", "o", None, "experimental", "rust", "down")]
    assert boot.save(tmp_path, view_of(rows))
    loaded = boot.load(tmp_path, "k")
    assert loaded is not None and loaded.rows == tuple(rows)
    assert loaded.environment == "production"
    path = tmp_path / boot.FILE
    doc = json.loads(path.read_text())
    for bad in ("{", "[]", json.dumps({**doc, "format": 99}), json.dumps({**doc, "rows": []}),
                json.dumps({**doc, "rows": [["a", "o", 7, "l", "g", "h"]]}),
                json.dumps({**doc, "rows": [["a", "o"]]}),
                json.dumps({**doc, "rows": [[1, "o", 1, "l", "g", "h"]]}),
                json.dumps({**doc, "saved_at": "yesterday"}), "\udcff".encode("utf-8", "surrogatepass").decode("latin-1")):
        path.write_text(bad, encoding="latin-1")
        assert boot.load(tmp_path, "k") is None, bad
    path.write_bytes(b"\xff\xfe garbage")
    assert boot.load(tmp_path, "k") is None
    path.unlink()
    assert boot.load(tmp_path, "k") is None


def test_the_key_follows_the_config_file(tmp_path: Path) -> None:
    a = tmp_path / "a.toml"
    assert boot.config_key(None, None) == boot.NO_CONFIG
    assert boot.config_key(a, b"x = 1") == boot.config_key(a, b"x = 1")
    assert boot.config_key(a, b"x = 1") != boot.config_key(a, b"x = 2")
    assert boot.config_key(a, b"x = 1") != boot.config_key(tmp_path / "b.toml", b"x = 1")


# Starting from it --------------------------------------------------------------------------------

async def test_the_first_frame_shows_the_kept_catalog_then_the_live_one_takes_its_place(
        tmp_path: Path) -> None:
    kept = [row("zz-retired-service", "down"), row("api-gateway")]
    calls: list[dict] = []
    app = booting_app(tmp_path, view_of(kept), calls)
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_settled(app)
        await pilot.pause()
        # start() (config, hub, sources) ran once, after a frame with the kept rows was drawn.
        assert len(calls) == 1
        assert calls[0]["frames"] >= 1 and calls[0]["rows"] == 2
        assert calls[0]["first"] == ["zz-retired-service"]  # (the rows as kept)
        # The live catalog replaced it: the sandbox's services, not the kept ones.
        assert not app.query(boot.BootCatalog)
        table = app.query_one("#catalog-pane").query_one(VirtualTable)
        assert "zz-retired-service" not in table.keys
        assert sorted(table.keys) == sorted(s.name for s in app.services)
        assert app.service is not None and app.environment is not None
        # Every pane works as after an ordinary start.
        await pilot.press("2")
        await wait_settled(app)
        assert app.current_pane.id == "envs-pane"
    # It kept the live catalog for the next start, under the same key.
    saved = boot.load(tmp_path, "k")
    assert saved is not None and "zz-retired-service" not in [r.name for r in saved.rows]


async def test_the_kept_catalog_is_drawn_before_the_sources_start(tmp_path: Path) -> None:
    calls: list[dict] = []
    app = booting_app(tmp_path, view_of([row("svc-a"), row("svc-b")]), calls,
                      fail=ConfigError("boom", field="sources"))
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await pilot.pause()
        status = str(app.query_one("#boot-catalog #catalog-status").render())
        assert "2 services" in status and "as of the last run (2026-11-24 09:30 UTC)" in status
    assert calls and calls[0]["rows"] == 2
    # What start() raised ends the app and is left for the caller (the command says "config error").
    assert isinstance(app.start_error, ConfigError)


async def test_hostile_text_in_the_kept_catalog_is_shown_literally(tmp_path: Path) -> None:
    rows = [boot.BootRow(text, text, 1, text, text, text) for text in HOSTILE]
    assert boot.save(tmp_path, view_of(rows))
    loaded = boot.load(tmp_path, "k")
    assert loaded is not None
    calls: list[dict] = []
    app = booting_app(tmp_path, loaded, calls, fail=RuntimeError("stop here"))
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await pilot.pause()
        table = app.query_one("#boot-catalog").query_one(VirtualTable)
        assert table.row_count == len(HOSTILE)
        cells = [str(table.get_row(key)[0]) for key in table.keys]
        assert "[/" in cells and "[@click=app.quit]x" in cells and "[TODO]" in cells
        assert not any("\x1b" in c or "\x00" in c for c in cells)
        assert all(len(c) <= 500 for c in cells)
    # It ended on start()'s error, not on a click action drawn from the text.
    assert isinstance(app.start_error, RuntimeError) and app.return_code == 1


def test_every_pane_entry_names_its_class() -> None:
    """The pane list is read for the first frame; each entry's class, loaded by name, says it
    is that entry's pane."""
    from idp_tui.ui.base import Pane

    assert [p.name for p in IdpApp.PANES] == ["catalog", "envs", "pipelines", "logs", "metrics",
                                              "insights"]
    for info in IdpApp.PANES:
        cls = info.load()
        assert issubclass(cls, Pane) and cls.pane_name == info.name


def test_the_first_frame_needs_neither_pydantic_nor_the_hub() -> None:
    """What the command imports before drawing the kept catalog (a fresh interpreter)."""
    code = ("import sys\n"
            "import idp_tui.cli, idp_tui.ui.app, idp_tui.ui.boot\n"
            "heavy = [m for m in ('pydantic', 'pydantic_core', 'idp_tui.hub', 'idp_tui.config',"
            " 'idp_tui.api.models', 'idp_tui.ui.panes', 'idp_tui_sandbox') if m in sys.modules]\n"
            "print(','.join(heavy))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         check=True)
    assert out.stdout.strip() == ""


# The command -------------------------------------------------------------------------------------

def _headless(monkeypatch: pytest.MonkeyPatch, seen: list[IdpApp]) -> None:
    """Run the command's app headless, quitting once it has settled."""
    from textual.app import App

    def run(self: IdpApp, *args: object, **kwargs: object) -> None:
        seen.append(self)

        async def auto_quit() -> None:
            try:
                await wait_settled(self)
            finally:
                self.exit(0)

        self.call_later(lambda: self.run_worker(auto_quit(), exit_on_error=False))
        return App.run(self, headless=True, size=DEMO_SIZE)

    monkeypatch.setattr(IdpApp, "run", run)


def test_the_command_starts_from_the_kept_catalog_the_second_time(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from idp_tui.cli import main

    monkeypatch.setenv("IDP_TUI_CLOCK", "2026-11-25T14:00:00Z")
    seen: list[IdpApp] = []
    _headless(monkeypatch, seen)
    assert main([]) == 0
    assert seen[0].boot_view is None and (data_dir / boot.FILE).exists()
    assert main([]) == 0
    assert seen[1].boot_view is not None and seen[1].boot_view.key == boot.NO_CONFIG
    assert seen[1].start_error is None and seen[1].services


def test_a_config_that_fails_after_the_first_frame_exits_2(
        data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from idp_tui.cli import EXIT_CONFIG, main

    config = tmp_path / "config.toml"
    config.write_bytes(b"[sources.x]\ntype = \"no-such-source\"\n")
    # A catalog kept for exactly this file (say, from before its plugin was uninstalled).
    key = boot.config_key(config, config.read_bytes())
    assert boot.save(data_dir, view_of([row("svc")], key=key))
    seen: list[IdpApp] = []
    _headless(monkeypatch, seen)
    assert main(["--config", str(config)]) == EXIT_CONFIG
    assert seen[0].boot_view is not None
    err = capsys.readouterr().err
    assert "idp-tui: config: " in err and "no-such-source" in err and "Traceback" not in err


async def test_the_kept_catalog_stays_while_the_catalog_source_has_not_answered(
        tmp_path: Path) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from fakes import HangingSource, app_config, spec, wait_until

    from idp_tui.api.clock import ManualClock
    from idp_tui.hub import ManualTimer
    from idp_tui.runtime import build_runtime

    app: IdpApp

    def start():  # type: ignore[no-untyped-def]
        config = app_config(spec("hanging", HangingSource, timeout=30.0))
        return build_runtime(config, data_dir=tmp_path, clock=app.clock)

    view = view_of([row("svc-a"), row("svc-b")])
    timer = ManualTimer()  # the app's own timers (the sources' polls keep the loop's time)
    app = IdpApp(None, tmp_path, ManualClock(DEMO_TIME), boot_key="k", boot_view=view,
                 start=start, timer=timer)
    async with app.run_test(size=DEMO_SIZE) as pilot:
        # The sources started, the other panes wait for the catalog's answer or a second.
        await timer.until(lambda t: t.deadlines == [1.0])
        assert app.hub is not None and not app.query("#envs-pane")
        timer.advance(1.0)  # the second is past
        await wait_until(pilot, lambda: bool(app.query("#envs-pane")), "the other panes")
        assert app.hub is not None and app.catalog_snapshot is None
        assert app.query("#envs-pane")  # the other panes are there
        assert app.query_one("#boot-catalog").query_one(VirtualTable).keys == ["svc-a", "svc-b"]
        assert not app.query("#catalog-pane")
        await pilot.press("2")
        await pilot.press("1")  # back to the Catalog: still the kept rows
        await pilot.pause()
        assert app.query(boot.BootCatalog) and not app.query("#catalog-pane")
        assert app.query_one("#panes").active == "catalog"  # type: ignore[attr-defined]
        assert app.focused is app.query_one("#boot-catalog").query_one(VirtualTable)
        await pilot.press("question_mark")  # the keys, while the kept rows show
        await pilot.pause()
        assert type(app.screen).__name__ == "HelpScreen"
