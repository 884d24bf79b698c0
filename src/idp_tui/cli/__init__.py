"""The ``idp-tui`` command: the dashboard, and non-interactive commands for scripts and CI.

``idp-tui`` alone runs the dashboard. ``idp-tui COMMAND …`` runs one command on the same hub, policy
and audit log as the dashboard, prints text or ``--json`` and exits with a meaningful code (see
:mod:`idp_tui.cli.output`). Nothing here imports Textual unless the dashboard runs.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import limits
from ..api.clock import Clock, ManualClock, SystemClock
from ..configerror import ConfigError
from ..paths import config_file, data_dir
from .output import (
    EXIT_CONFIG,
    EXIT_DENIED,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_SOURCE,
    EXIT_USAGE,
    CliError,
    Output,
    SecretFilter,
)
from .parser import Parser, build_parser

__all__ = [
    "EXIT_CONFIG", "EXIT_DENIED", "EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_NOT_FOUND", "EXIT_OK",
    "EXIT_SOURCE", "EXIT_USAGE", "LogFile", "clock_from_env", "list_sources", "main", "open_log",
    "build_parser", "resolve_config",
]

if TYPE_CHECKING:
    from ..config import AppConfig
    from ..runtime import Runtime
    from ..ui.boot import BootView

log = logging.getLogger("idp_tui")

LOG_FILE = "idp-tui.log"


# Shared set-up -----------------------------------------------------------------------------------

def list_sources() -> int:
    """Print every installed source type with its capabilities and description."""
    from ..registry import PluginLoadError, available, load

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
        raise ConfigError(f"IDP_TUI_CLOCK: expected an ISO date-time, got "
                          f"{limits.shown(value)}") from None


def resolve_config(args: argparse.Namespace) -> AppConfig:
    from ..config import load_config

    if args.config is not None:
        return load_config(args.config.expanduser(), required=True)
    if os.environ.get("IDP_TUI_CONFIG"):
        return load_config(config_file(), required=True)
    return load_config(config_file())


def resolve_data_dir(args: argparse.Namespace) -> Path:
    if args.data_dir is not None:
        os.environ["IDP_TUI_DATA_DIR"] = str(args.data_dir)
    try:
        return data_dir()
    except OSError as exc:
        where = exc.filename or os.environ.get("IDP_TUI_DATA_DIR") or "the data dir"
        if isinstance(exc, FileExistsError | NotADirectoryError):
            why = "a file is in the way (it must be a folder); move it aside, or "
        elif isinstance(exc, PermissionError):
            why = "permission denied; make its parent folder writable, or "
        else:
            why = f"{(exc.strerror or type(exc).__name__).lower()}; "
        raise ConfigError(f"cannot use the data dir {where}: {why}{DATA_DIR_FIX}") from None


#: What to do about a data dir that cannot be used (the end of each such error's sentence).
DATA_DIR_FIX = "choose another data dir with --data-dir PATH or $IDP_TUI_DATA_DIR"


class LogFile(logging.FileHandler):
    """The log file. A record that cannot be written (a full disk) is dropped and counted:
    logging's own report ("--- Logging error ---" and a traceback) would land on the terminal or
    the dashboard."""

    #: Records that could not be written.
    failed = 0

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        self.failed += 1


def open_log(folder: Path) -> LogFile:
    """The log file's handler; a data dir where it cannot be written is a ``ConfigError`` saying
    which folder and what to do (never a traceback)."""
    path = folder / LOG_FILE
    try:
        if not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError(13, "permission denied", str(folder))
        return LogFile(path, encoding="utf-8")
    except OSError as exc:
        import errno

        if isinstance(exc, IsADirectoryError):
            raise ConfigError(f"cannot open the log file {path}: a folder is in its way; move it "
                              f"aside, or {DATA_DIR_FIX}") from None
        why = {errno.EACCES: "permission denied", errno.EPERM: "permission denied",
               errno.EROFS: "the file system is read-only",
               errno.ENOSPC: "no space left on the device"}.get(exc.errno or 0)
        fix = {errno.ENOSPC: "free some space, or "}.get(exc.errno or 0, "make it writable, or ")
        raise ConfigError(f"cannot write in the data dir {folder}: "
                          f"{why or (exc.strerror or 'error').lower()}; {fix}{DATA_DIR_FIX}"
                          ) from None


def _setup_logging(folder: Path) -> None:
    """Everything logged (ours, asyncio's, a plugin's) goes to the log file, never the terminal."""
    handler = open_log(folder)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SecretFilter())
    logging.getLogger().addHandler(handler)
    logging.getLogger("idp_tui").setLevel(logging.INFO)

    def thread_hook(info: threading.ExceptHookArgs) -> None:
        if info.exc_type is SystemExit:
            return
        log.error("uncaught error in thread %s", getattr(info.thread, "name", "?"),
                  exc_info=(info.exc_type, info.exc_value, info.exc_traceback))  # type: ignore[arg-type]

    def unraisable_hook(info: Any) -> None:
        log.warning("ignored error %s in %r", info.exc_type.__name__, info.object,
                    exc_info=(info.exc_type, info.exc_value, info.exc_traceback))

    threading.excepthook = thread_hook
    sys.unraisablehook = unraisable_hook


def _on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


# Entry point -------------------------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    Parser.json_errors = "--json" in argv
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    finally:
        Parser.json_errors = False
    if args.list_sources:
        return list_sources()
    if getattr(args, "command", None) is None:
        return run_dashboard(args)
    return run_command(args)


def run_dashboard(args: argparse.Namespace) -> int:
    from ..gcpolicy import GC_THRESHOLDS

    # The GC thresholds the dashboard runs with (see IdpApp.on_mount), from the start: at the
    # default ones, collections of the whole heap (every module just imported) slowed it down.
    previous = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        return _run_dashboard(args)
    finally:
        gc.set_threshold(*previous)


def _print_config_error(error: ConfigError) -> None:
    for problem in error.problems:
        print(f"idp-tui: config: {problem.own}", file=sys.stderr)


def _run_dashboard(args: argparse.Namespace) -> int:
    try:
        folder = resolve_data_dir(args)
        clock = clock_from_env()
        _setup_logging(folder)
        key, view = _boot_view(args, folder)
        # With the last run's catalog at hand the first frame shows it, and the config is
        # validated (and the sources started) right after: pydantic, the plugin API and the hub
        # are imported then. Without it (a first start, another config) all happens first.
        config = resolve_config(args) if view is None else None
    except ConfigError as exc:
        _print_config_error(exc)
        return EXIT_CONFIG

    def start() -> Runtime:
        valid = config if config is not None else resolve_config(args)
        from ..runtime import build_runtime

        runtime = build_runtime(valid, data_dir=folder, clock=clock, read_only=args.read_only)
        # The catalog sources start and answer on their own threads while the UI is imported
        # and composed: the first frame of the catalog comes that much sooner.
        runtime.hub.prefetch_catalog()
        return runtime

    try:
        if view is None:
            runtime = start()
            from ..ui.app import IdpApp  # Textual is imported only when the dashboard runs

            app = IdpApp(runtime.config, folder, clock, runtime, boot_key=key)
        else:
            from ..ui.app import IdpApp

            app = IdpApp(None, folder, clock, boot_key=key, boot_view=view, start=start)
        app.run()
    except Exception:  # noqa: BLE001 - the last line of defence: a log entry, never a traceback
        log.exception("idp-tui stopped on an unexpected error")
        print(f"idp-tui: unexpected error; details in {folder / LOG_FILE}", file=sys.stderr)
        return EXIT_FAILED
    error = app.start_error
    if isinstance(error, ConfigError):
        _print_config_error(error)
        return EXIT_CONFIG
    if error is not None:
        log.error("idp-tui stopped on an unexpected error", exc_info=error)
        print(f"idp-tui: unexpected error; details in {folder / LOG_FILE}", file=sys.stderr)
        return EXIT_FAILED
    return app.return_code or 0


def _boot_view(args: argparse.Namespace, folder: Path) -> tuple[str | None, BootView | None]:
    """The key of the configuration in use, and the last run's catalog kept for it (or None)."""
    explicit = args.config is not None or bool(os.environ.get("IDP_TUI_CONFIG"))
    path = args.config.expanduser() if args.config is not None else config_file()
    try:
        data: bytes | None = limits.read_bounded(path, limits.CONFIG_FILE)
    except FileNotFoundError:
        if explicit:
            return None, None  # resolve_config says what is wrong
        data = None  # no config: the sandbox
    except (OSError, ValueError):  # unreadable, too large, not a file: resolve_config says so
        return None, None
    from ..ui import boot

    key = boot.config_key(path, data)
    return key, boot.load(folder, key)


def run_command(args: argparse.Namespace) -> int:
    from .context import Context

    args.json = getattr(args, "json", False)
    out = Output(json=args.json, colour=getattr(args, "color", "auto"))
    folder: Path | None = None
    previous = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread (main() called from a test's thread)
        previous = None
    try:
        try:
            folder = resolve_data_dir(args)
            _setup_logging(folder)
            ctx = Context(args=args, out=out, folder=folder)
            return int(args.handler(ctx))
        except ConfigError as exc:
            first, *more = [problem.own for problem in exc.problems]
            raise CliError(EXIT_CONFIG, first, type="config", more=more) from None
    except CliError as exc:
        out.error(exc)
        return exc.code
    except KeyboardInterrupt:
        out.error(CliError(EXIT_INTERRUPTED, "stopped by Ctrl-C or SIGTERM"))
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`idp-tui logs … | head`): stop quietly.
        _silence_stdout()
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - the last line of defence: logged, never a traceback
        log.exception("idp-tui %s stopped on an unexpected error", args.command)
        where = f"; details in {folder / LOG_FILE}" if folder is not None else ""
        out.error(CliError(EXIT_FAILED, f"unexpected error ({type(exc).__name__}){where}",
                           type="internal"))
        return EXIT_FAILED
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    raise SystemExit(main())
