"""Where idp-tui keeps its configuration, state and bundled styles."""

from __future__ import annotations

import logging
import os
from pathlib import Path

APP_NAME = "idp-tui"


def config_file() -> Path:
    """``$IDP_TUI_CONFIG`` or ``<user config dir>/idp-tui/config.toml``."""
    env = os.environ.get("IDP_TUI_CONFIG")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_config_path

    return user_config_path(APP_NAME, appauthor=False) / "config.toml"


def data_dir() -> Path:
    """``$IDP_TUI_DATA_DIR`` or the platform's user data dir; created on first use."""
    env = os.environ.get("IDP_TUI_DATA_DIR")
    if env:
        path = Path(env).expanduser()
    else:
        from platformdirs import user_data_path

        path = user_data_path(APP_NAME, appauthor=False)
    path.mkdir(parents=True, exist_ok=True)
    return path


def styles_dir() -> Path:
    """The ``styles/`` folder: inside the installed package, or at the top of a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "styles", here.parent.parent / "styles"):
        if candidate.is_dir() and any(candidate.glob("*.tcss")):
            return candidate
    raise FileNotFoundError("idp-tui styles not found (is the package installed correctly?)")


def stylesheets() -> list[Path]:
    """Every bundled stylesheet, ``app.tcss`` first."""
    folder = styles_dir()
    sheets = sorted(folder.glob("*.tcss"), key=lambda p: (p.name != "app.tcss", p.name))
    return sheets


def write_atomically(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` so that a reader never sees half a file (a temporary file beside
    it, flushed to disk, then renamed over it). False, with a warning in the log, if it could not;
    nothing is left behind then."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        logging.getLogger("idp_tui").warning("could not save %s: %s", path, exc)
        try:
            tmp.unlink()
        except OSError:
            pass
        return False
    return True
