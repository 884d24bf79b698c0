"""Discovering source plugins through the ``idp_tui.sources`` entry-point group."""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

from .api.source import Source

GROUP = "idp_tui.sources"


class PluginLoadError(Exception):
    pass


def available() -> dict[str, EntryPoint]:
    """Every registered source type by name (nothing is imported)."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def load(type_name: str) -> type[Source]:
    """Import and return the source class registered as ``type_name``."""
    eps = available()
    if type_name not in eps:
        known = ", ".join(sorted(eps)) or "none"
        raise PluginLoadError(f"unknown source type {type_name!r} (installed: {known})")
    try:
        cls = eps[type_name].load()
    except Exception as exc:  # noqa: BLE001 - a broken plugin is reported, not raised
        raise PluginLoadError(f"source type {type_name!r} failed to load: "
                              f"{type(exc).__name__}: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Source)):
        raise PluginLoadError(f"source type {type_name!r} ({eps[type_name].value}) is not an "
                              "idp_tui.Source subclass")
    return cls
