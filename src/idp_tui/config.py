"""Reading and validating ``config.toml``.

Every mistake in the file — a syntax error, a wrong type, an unknown key, an unknown source type — is a
:class:`ConfigError` naming the file, the line when it can be found, the field and what was expected.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from . import limits, uinames
from .api.source import Source, SourceConfig
from .configerror import ConfigError
from .hub.topics import REFRESH_SETTINGS
from .advisor.settings import AdvisorConfig, CostConfig
from .environments import EnvironmentDecl, EnvironmentMap
from .policy import PolicyConfig
from .registry import PluginLoadError, load
from .store import StoreConfig
from .usage import TelemetryConfig

#: The source used when the config names none.
DEFAULT_SOURCES: dict[str, dict[str, Any]] = {"sandbox": {"type": "sandbox"}}
#: Keys of a ``[sources.NAME]`` table that the hub takes; the rest go to the source.
HUB_SOURCE_KEYS = {"type", "timeout", "read_only", "owns"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UIConfig(_Strict):
    theme: str = "textual-dark"
    #: Lines kept by the Logs pane; older ones are dropped (and counted).
    log_buffer: int = Field(default=20_000, ge=100, le=5_000_000)
    #: Service and environment selected at start.
    service: str | None = Field(default=None, max_length=limits.NAME.size)
    environment: str | None = Field(default=None, max_length=limits.NAME.size)


#: ``[hub.refresh]``: seconds between two refreshes of a watched topic, a key per topic kind that
#: has the setting (``idp_tui.hub.topics.TOPICS``: the keys and defaults come from there).
RefreshConfig: type[_Strict] = create_model(  # type: ignore[call-overload]
    "RefreshConfig", __base__=_Strict, __module__=__name__,
    **{kind: (float, Field(default=seconds, gt=0)) for kind, seconds in REFRESH_SETTINGS.items()})


class HubConfig(_Strict):
    #: Seconds a source may take to answer one call (overridable per source with ``timeout``).
    timeout: float = Field(default=10.0, gt=0, le=3600)
    refresh: RefreshConfig = Field(default_factory=RefreshConfig)


class ScorecardsConfig(_Strict):
    """``[scorecards]``: rule files read after the built-in rules (and the config dir's
    ``scorecards.toml``); relative paths are from the config file's folder."""

    paths: list[str] = Field(default_factory=list, max_length=100)
    #: Start from idp-tui's built-in rules (false: only the files' rules).
    defaults: bool = True


class _FileModel(_Strict):
    ui: UIConfig = Field(default_factory=UIConfig)
    hub: HubConfig = Field(default_factory=HubConfig)
    #: Binding id → keys, e.g. ``"pane.catalog" = "1,f1"``.
    keys: dict[str, str] = Field(default_factory=dict)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    #: The organisation's environments in promotion order (``[environments.NAME]``).
    environments: dict[str, EnvironmentDecl] = Field(default_factory=dict)
    sources: dict[str, dict[str, Any]] = Field(default_factory=dict)
    scorecards: ScorecardsConfig = Field(default_factory=ScorecardsConfig)
    #: ``[store]``: the data dir's SQLite (default) or the organisation's PostgreSQL.
    store: StoreConfig = Field(default_factory=StoreConfig)
    #: ``[advisor]``: the advisor's thresholds and times.
    advisor: AdvisorConfig = Field(default_factory=AdvisorConfig)
    #: ``[cost]``: the prices of CPU and memory (the advisor's cost and `idp-tui cost`).
    cost: CostConfig = Field(default_factory=CostConfig)
    #: ``[telemetry]``: usage analytics in the store, off unless enabled.
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)


@dataclass
class SourceSpec:
    """One configured source, validated but not yet started."""

    name: str
    type: str
    cls: type[Source]
    config: SourceConfig
    timeout: float
    #: No mutating action goes to this source.
    read_only: bool = False
    #: The services this source is about (glob patterns, ``owns = ["payments-*"]``): per-service
    #: topics (metrics, alerts, detail, logs) of other services never go to it. Empty: what its
    #: own catalog and deployments list.
    owns: tuple[str, ...] = ()


@dataclass
class AppConfig:
    path: Path | None
    ui: UIConfig = field(default_factory=UIConfig)
    hub: HubConfig = field(default_factory=HubConfig)
    keys: dict[str, str] = field(default_factory=dict)
    sources: list[SourceSpec] = field(default_factory=list)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    #: The declared environments, and the names sources know them by.
    environments: EnvironmentMap = field(default_factory=EnvironmentMap)
    scorecards: ScorecardsConfig = field(default_factory=ScorecardsConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    advisor: AdvisorConfig = field(default_factory=AdvisorConfig)
    cost: CostConfig = field(default_factory=CostConfig)
    telemetry: TelemetryConfig = field(default_factory=TelemetryConfig)


def load_config(path: Path | None, *, required: bool = False) -> AppConfig:
    """Read ``path``. A missing file gives the defaults (the sandbox) unless ``required``."""
    if path is None or not path.exists():
        if required and path is not None:
            raise ConfigError("file not found", path=path)
        return parse_config({}, path=None, text="")
    if path.is_dir():
        raise ConfigError("is a folder, not a TOML file", path=path)
    try:
        # Read in chunks, never past the limit; a FIFO or a device is refused unread.
        raw = limits.read_bounded(path, limits.CONFIG_FILE)
    except limits.NotAFile as exc:
        raise ConfigError(f"{exc}; expected a TOML file", path=path) from None
    except limits.TooLarge as exc:
        raise ConfigError(f"the file is {exc}", path=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {(exc.strerror or str(exc)).lower()}",
                          path=path) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError("not valid UTF-8 text", path=path, line=line) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = re.search(r"\(at line (\d+), column (\d+)\)", message)
        line = int(match.group(1)) if match else None
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", message)
        if match:
            message += f" (column {match.group(2)})"
        raise ConfigError(f"TOML syntax error: {message}", path=path, line=line) from exc
    return parse_config(data, path=path, text=text)


def parse_config(data: dict[str, Any], *, path: Path | None, text: str) -> AppConfig:
    errors: list[ConfigError] = []
    try:
        model = _FileModel.model_validate(data)
    except ValidationError as exc:
        errors.append(_error_from_validation(exc, path, text, prefix=(), model=_FileModel))
        model = None
    # Every source's problems are reported with the file's, not only the first one found.
    raw_sources = model.sources if model is not None else data.get("sources")
    if model is not None and not raw_sources:
        raw_sources = DEFAULT_SOURCES
    specs = []
    sources_malformed = any((problem.field or "").split(".")[0] == "sources"
                            for error in errors for problem in error.problems)
    if isinstance(raw_sources, dict) and not sources_malformed:
        timeout = model.hub.timeout if model is not None else HubConfig().timeout
        for name, table in raw_sources.items():
            try:
                specs.append(_source_spec(name, table, timeout, path, text))
            except ConfigError as exc:
                errors.append(exc)
    errors.extend(_ui_name_problems(data, path, text))
    environments = EnvironmentMap(model.environments if model is not None else None)
    if model is not None and isinstance(raw_sources, dict):
        for where, message in environments.problems(raw_sources):
            errors.append(ConfigError(message, path=path, line=_locate(text, tuple(
                where.split("."))), field=where))
    if errors or model is None:
        raise ConfigError.combine(errors)
    return AppConfig(path=path, ui=model.ui, hub=model.hub, keys=model.keys, sources=specs,
                     policy=model.policy, environments=environments,
                     scorecards=model.scorecards, store=model.store,
                     advisor=model.advisor.priced(model.cost),
                     cost=model.cost, telemetry=model.telemetry)


def _ui_name_problems(data: dict[str, Any], path: Path | None, text: str) -> list[ConfigError]:
    """``[ui] theme`` and every ``[keys]`` binding id checked against the names the dashboard
    knows (:mod:`idp_tui.uinames`, without importing Textual); values of the wrong type are the
    model's to report."""
    problems = []
    ui = data.get("ui")
    theme = ui.get("theme") if isinstance(ui, dict) else None
    if isinstance(theme, str) and (message := uinames.unknown_theme(theme)) is not None:
        problems.append(ConfigError(message, path=path, line=_locate(text, ("ui", "theme")),
                                    field="ui.theme"))
    keys = data.get("keys")
    for binding_id, value in (keys.items() if isinstance(keys, dict) else ()):
        loc = ("keys", *binding_id.split("."))
        where = f"keys.{binding_id}" if binding_id.replace(".", "").replace("_", "").isalnum() \
            else f"keys.{binding_id[:80]!r}"
        message = uinames.unknown_binding_id(binding_id)
        if message is None and isinstance(value, str) and \
                not all(part.strip() for part in value.split(",")):
            message = (f"expected one or more keys separated by commas (e.g. \"1,f1\"), "
                       f"got {limits.shown(value)}")
        if message is not None:
            problems.append(ConfigError(message, path=path, line=_locate(text, loc), field=where))
    return problems


def _source_spec(name: str, table: Any, default_timeout: float, path: Path | None,
                 text: str) -> SourceSpec:
    where = ("sources", name)
    if not isinstance(table, dict):
        raise ConfigError(f"expected a table like [sources.{name}] with a `type` key",
                          path=path, line=_locate(text, where), field=".".join(where))
    type_name = table.get("type")
    if "type" in table and not (isinstance(type_name, str) and type_name):
        raise ConfigError(f"expected the kind of source as text (e.g. type = \"sandbox\"), "
                          f"got {type_name!r}", path=path, line=_locate(text, (*where, "type")),
                          field=f"sources.{name}.type")
    if not isinstance(type_name, str) or not type_name:
        raise ConfigError("missing `type` (the kind of source, e.g. type = \"sandbox\")",
                          path=path, line=_locate(text, where), field=f"sources.{name}.type")
    try:
        cls = load(type_name)
    except PluginLoadError as exc:
        raise ConfigError(str(exc), path=path, line=_locate(text, (*where, "type")),
                          field=f"sources.{name}.type") from None
    timeout = table.get("timeout", default_timeout)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise ConfigError(f"expected a number of seconds greater than 0, got {timeout!r}",
                          path=path, line=_locate(text, (*where, "timeout")),
                          field=f"sources.{name}.timeout")
    read_only = table.get("read_only", False)
    if not isinstance(read_only, bool):
        raise ConfigError(f"expected true or false, got {read_only!r}", path=path,
                          line=_locate(text, (*where, "read_only")),
                          field=f"sources.{name}.read_only")
    owns = table.get("owns", [])
    if not (isinstance(owns, list) and all(isinstance(p, str) and p.strip() for p in owns)):
        raise ConfigError(f"expected a list of service names or glob patterns (e.g. owns = "
                          f"[\"payments-*\", \"cart\"]), got {owns!r}", path=path,
                          line=_locate(text, (*where, "owns")), field=f"sources.{name}.owns")
    settings = {k: v for k, v in table.items() if k not in HUB_SOURCE_KEYS}
    try:
        config = cls.Config.model_validate(settings)
    except ValidationError as exc:
        raise _error_from_validation(exc, path, text, prefix=where, model=cls.Config) from None
    return SourceSpec(name=name, type=type_name, cls=cls, config=config, timeout=float(timeout),
                      read_only=read_only, owns=tuple(p.strip() for p in owns))


def _error_from_validation(exc: ValidationError, path: Path | None, text: str,
                           prefix: tuple[str, ...], model: type[BaseModel]) -> ConfigError:
    return ConfigError.combine(_problem(err, path, text, prefix, model) for err in exc.errors())


def _problem(err: Any, path: Path | None, text: str, prefix: tuple[str, ...],
             model: type[BaseModel]) -> ConfigError:
    inner = tuple(str(p) for p in err.get("loc", ()))
    loc = (*prefix, *inner)
    dotted = ".".join(loc)
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        message = f"unknown key {loc[-1]!r}"
        parent = _model_at(model, inner[:-1])
        if parent is not None:
            message += f" (expected one of: {', '.join(parent.model_fields)})"
    elif kind == "missing":
        message = "missing required key"
    else:
        got = err.get("input")
        message = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        if ", got " not in message:  # (a validator's own message may say it already)
            message += f", got {_shown_input(got)}"
    return ConfigError(message, path=path, line=_locate(text, loc), field=dotted)


def _shown_input(value: Any) -> str:
    """A value from the file as the error shows it: a TOML date as a date (not a Python repr),
    a long value cut (the file may be up to a megabyte)."""
    from datetime import date, time

    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, str):
        return limits.shown(value, 80)
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:80]}… ({len(text):,} characters)"


def _model_at(model: type[BaseModel], path: tuple[str, ...]) -> type[BaseModel] | None:
    """The nested settings model found by following ``path`` from ``model``."""
    for part in path:
        info = model.model_fields.get(part)
        annotation = info.annotation if info else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return model


_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")


def _locate(text: str, loc: tuple[str, ...]) -> int | None:
    """Best-effort line number of the key at ``loc`` in TOML ``text`` (1-based)."""
    if not text:
        return None
    lines = text.splitlines()
    table: tuple[str, ...] = ()
    best: int | None = None
    arrays: dict[tuple[str, ...], int] = {}  # [[name]] tables seen so far, by name
    for number, line in enumerate(lines, start=1):
        header = _HEADER.match(line)
        if header:
            table = tuple(part.strip().strip('"\'') for part in header.group(1).split("."))
            if line.lstrip().startswith("[["):  # the next element: NAME.INDEX, as pydantic says
                arrays[table] = arrays.get(table, -1) + 1
                table = (*table, str(arrays[table]))
            if table == loc and best is None:
                best = number
            continue
        match = re.match(r"^\s*(\"[^\"]*\"|'[^']*'|[A-Za-z0-9_.-]+)\s*=", line)
        if not match:
            continue
        key = tuple(part.strip().strip('"\'') for part in match.group(1).split("."))
        full = table + key
        if full == loc:
            return number
        if best is None and loc[: len(full)] == full:
            best = number  # e.g. an inline table holding the key
    if best is None and len(loc) > 1:
        return _locate(text, loc[:-1])
    return best
