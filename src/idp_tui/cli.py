"""The ``idp-tui`` command."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import datetime
from pathlib import Path

from . import __version__
from .api.clock import Clock, ManualClock, SystemClock
from .config import AppConfig, ConfigError, load_config
from .paths import config_file, data_dir

EXIT_CONFIG = 2

log = logging.getLogger("idp_tui")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="idp-tui",
        description="A keyboard-driven terminal dashboard for your internal developer platform: "
                    "service catalog, environments, pipelines, live logs and metrics. With no "
                    "config file it runs on a built-in sandbox platform.",
        epilog="Config: $IDP_TUI_CONFIG or the user config dir (idp-tui/config.toml). "
               "State: $IDP_TUI_DATA_DIR or the user data dir. Keys: press ? in the app. "
               "Installed source types: idp-tui --list-sources.",
    )
    parser.add_argument("--version", action="version", version=f"idp-tui {__version__}")
    parser.add_argument("--config", metavar="PATH", type=Path,
                        help="config file (default: $IDP_TUI_CONFIG or %(default)s)",
                        default=None)
    parser.add_argument("--data-dir", metavar="PATH", type=Path, default=None,
                        help="where state is kept (default: $IDP_TUI_DATA_DIR or the user data dir)")
    parser.add_argument("--list-sources", action="store_true",
                        help="list the installed source types and exit")
    return parser


def list_sources() -> int:
    """Print every installed source type with its capabilities and description."""
    from .registry import PluginLoadError, available, load

    for name, entry in sorted(available().items()):
        try:
            cls = load(name)
        except PluginLoadError as exc:
            print(f"{name}  (broken: {exc})")
            continue
        caps = ", ".join(sorted(c.value for c in cls.capabilities)) or "nothing"
        print(f"{name}  [{caps}]  {entry.value}")
        if cls.description:
            print(f"    {cls.description}")
    return 0


def clock_from_env() -> Clock:
    """``IDP_TUI_CLOCK=2026-11-25T14:00:00Z`` freezes time: for demos and reproducible screenshots."""
    value = os.environ.get("IDP_TUI_CLOCK")
    if not value:
        return SystemClock()
    try:
        return ManualClock(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        raise ConfigError(f"IDP_TUI_CLOCK: expected an ISO date-time, got {value!r}") from None


def resolve_config(args: argparse.Namespace) -> AppConfig:
    if args.config is not None:
        return load_config(args.config.expanduser(), required=True)
    if os.environ.get("IDP_TUI_CONFIG"):
        return load_config(config_file(), required=True)
    return load_config(config_file())


def _setup_logging(folder: Path) -> None:
    handler = logging.FileHandler(folder / "idp-tui.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("idp_tui")
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.list_sources:
        return list_sources()
    try:
        if args.data_dir is not None:
            os.environ["IDP_TUI_DATA_DIR"] = str(args.data_dir)
        try:
            folder = data_dir()
        except OSError as exc:
            raise ConfigError(f"cannot use the data dir: {exc}") from None
        config = resolve_config(args)
        clock = clock_from_env()
    except ConfigError as exc:
        print(f"idp-tui: config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    _setup_logging(folder)
    from .ui.app import IdpApp  # Textual is imported only when the dashboard runs

    app = IdpApp(config=config, data_dir=folder, clock=clock)
    try:
        app.run()
    except Exception:  # noqa: BLE001 - the last line of defence: a log entry, never a traceback
        log.exception("idp-tui stopped on an unexpected error")
        print(f"idp-tui: unexpected error; details in {folder / 'idp-tui.log'}", file=sys.stderr)
        return 1
    return app.return_code or 0


if __name__ == "__main__":
    raise SystemExit(main())
