"""Small sources for tests: one with fixed data, and ones that fail in each way a plugin can."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from textual import events
from textual.keys import _character_to_key
from textual.pilot import Pilot

from idp_tui import (
    Capability,
    Deployment,
    Environment,
    Health,
    Job,
    Link,
    LogLevel,
    LogLine,
    LogQuery,
    MetricSeries,
    MetricsQuery,
    PipelineQuery,
    PipelineRun,
    RunStatus,
    Service,
    Signal,
    Source,
    SourceConfig,
    SourceContext,
    SourceUnavailable,
    Step,
)
from idp_tui.config import AppConfig, HubConfig, SourceSpec, UIConfig

ALL = frozenset({Capability.CATALOG, Capability.ENVIRONMENTS, Capability.PIPELINES,
                 Capability.LOGS, Capability.METRICS})


class StaticConfig(SourceConfig):
    names: list[str] = ["alpha", "beta", "gamma"]
    description: str = "a service"
    log_message: str = "hello"
    #: When set, every other text field of every record carries it: owner, lifecycle, language,
    #: system, on-call, tags, link titles and URLs, dependencies, APIs, annotations, deployment
    #: versions and messages, pipeline name/branch/commit/trigger/version/url, job and step
    #: names, log instances and the metric unit. Names, environments, the description (also the
    #: pipeline runs' message) and log messages have settings of their own.
    text: str | None = None
    environments: list[str] = ["dev", "prod"]
    unit: str = "req/s"


class StaticSource(Source):
    """Fixed data built from its settings, so tests can inject any text anywhere."""

    Config = StaticConfig
    capabilities = ALL
    config: StaticConfig

    def _t(self, default: str) -> str:
        return default if self.config.text is None else self.config.text

    async def services(self) -> list[Service]:
        t = self.config.text
        names = self.config.names
        out = []
        for i, n in enumerate(names):
            extra: dict[str, Any] = {}
            if t is not None:
                extra = dict(
                    system=t, on_call=t, tags=(t,),
                    links=(Link(title=t, url=t),),
                    depends_on=tuple(x for x in names if x != n) + (t,),
                    provides_apis=(t,), consumes_apis=(t,), annotations={t: t},
                )
            out.append(Service(name=n, owner=self._t("team-a"), tier=1 + i % 3,
                               lifecycle=self._t("production"), language=self._t("python"),
                               description=self.config.description, **extra))
        return out

    async def environments(self) -> list[Environment]:
        envs = self.config.environments
        return [Environment(name=e, order=i, protected=i == len(envs) - 1)
                for i, e in enumerate(envs)]

    async def deployments(self) -> list[Deployment]:
        out = []
        last = len(self.config.environments) - 1
        for n in self.config.names:
            for i, env in enumerate(self.config.environments):
                prod = i == last
                out.append(Deployment(
                    service=n, environment=env,
                    version=self._t("1.1.0" if prod else "1.2.0"),
                    replicas_ready=2 if prod else 1, replicas_desired=3 if prod else 1,
                    health=Health.DEGRADED if prod else Health.HEALTHY,
                    message=self._t("")))
        return out

    def _run(self, n: str, now: Any, *, jobs: bool) -> PipelineRun:
        t = self.config.text
        extra: dict[str, Any] = {}
        if t is not None:
            extra = dict(pipeline=t, version=t, url=t)
        if jobs:
            extra["jobs"] = (Job(name=self._t("build"), status=RunStatus.SUCCEEDED,
                                 started_at=now - timedelta(minutes=10),
                                 finished_at=now - timedelta(minutes=6),
                                 steps=(Step(name=self._t("compile"), status=RunStatus.SUCCEEDED,
                                             started_at=now - timedelta(minutes=10),
                                             finished_at=now - timedelta(minutes=8)),)),)
        return PipelineRun(id=f"{n}-1", service=n, branch=self._t("main"),
                           commit=self._t("abcdef1"), status=RunStatus.SUCCEEDED,
                           trigger=self._t("push"), started_at=now - timedelta(minutes=10),
                           finished_at=now - timedelta(minutes=5),
                           message=self.config.description, **extra)

    async def pipeline_runs(self, query: PipelineQuery) -> list[PipelineRun]:
        now = self.context.clock.now()
        runs = [self._run(n, now, jobs=False) for n in self.config.names]
        return [r for r in runs if query.service in (None, r.service)][: query.limit]

    async def pipeline_run(self, run_id: str) -> PipelineRun:
        now = self.context.clock.now()
        for n in self.config.names:
            if f"{n}-1" == run_id:
                return self._run(n, now, jobs=True)
        raise SourceUnavailable(f"no run {run_id}")

    async def logs(self, query: LogQuery) -> AsyncIterator[LogLine]:  # type: ignore[override]
        now = self.context.clock.now()
        for i in range(3):
            yield LogLine(ts=now, service=query.service, environment=query.environment,
                          instance=self._t(f"pod-{i}"), level=LogLevel.INFO,
                          message=self.config.log_message)
        while query.follow:
            await asyncio.sleep(3600)

    async def metrics(self, query: MetricsQuery) -> list[MetricSeries]:
        t0 = self.context.clock.now().timestamp()
        return [MetricSeries(signal=Signal.REQUEST_RATE, unit=self._t(self.config.unit),
                             points=tuple((t0 - 60 * i, 10.0 + i) for i in range(10, -1, -1)))]


#: Bytes that are not UTF-8, as a source reading them with ``errors="surrogateescape"`` gets them.
INVALID_UTF8 = b"svc-\xff\xfe-\xc3(".decode("utf-8", errors="surrogateescape")


class RawBytesSource(StaticSource):
    """A source that decodes invalid UTF-8 from its server with ``surrogateescape``: every name,
    description, message and label it returns carries lone surrogates (U+DC80..U+DCFF)."""

    def __init__(self, config: SourceConfig, context: SourceContext) -> None:
        raw = INVALID_UTF8
        config = StaticConfig(names=[raw, "alpha"], description=raw, log_message=raw, text=raw,
                              environments=[raw, "prod"], unit=raw)
        super().__init__(config, context)


class FailingSource(Source):
    """Raises on every call."""

    capabilities = ALL

    async def services(self) -> list[Service]:
        raise RuntimeError("boom")

    async def environments(self) -> list[Environment]:
        raise SourceUnavailable("connection refused", hint="is it running?")

    async def deployments(self) -> list[Deployment]:
        raise RuntimeError("boom")

    async def pipeline_runs(self, query: PipelineQuery) -> list[PipelineRun]:
        raise RuntimeError("boom")

    async def logs(self, query: LogQuery) -> AsyncIterator[LogLine]:  # type: ignore[override]
        raise RuntimeError("log boom")
        yield  # pragma: no cover

    async def metrics(self, query: MetricsQuery) -> list[MetricSeries]:
        raise RuntimeError("boom")


class HangingSource(Source):
    """Never answers: awaits forever, or blocks its whole thread when ``block`` is set."""

    capabilities = ALL
    release = threading.Event()

    class Config(SourceConfig):
        block: bool = False

    async def _hang(self) -> Any:
        if self.config.block:  # type: ignore[attr-defined]
            self.release.wait(30)  # blocks the source's own loop and thread
        await asyncio.sleep(3600)

    async def services(self) -> list[Service]:
        return await self._hang()

    async def environments(self) -> list[Environment]:
        return await self._hang()

    async def pipeline_runs(self, query: PipelineQuery) -> list[PipelineRun]:
        return await self._hang()

    async def metrics(self, query: MetricsQuery) -> list[MetricSeries]:
        return await self._hang()

    async def logs(self, query: LogQuery) -> AsyncIterator[LogLine]:  # type: ignore[override]
        await self._hang()
        yield  # pragma: no cover


class GarbageSource(Source):
    """Answers with things that are not records."""

    capabilities = ALL

    async def services(self) -> list[Service]:
        return [{"name": 42, "tier": "high"}]  # type: ignore[list-item]

    async def environments(self) -> list[Environment]:
        return "not a list"  # type: ignore[return-value]

    async def deployments(self) -> list[Deployment]:
        return []

    async def pipeline_runs(self, query: PipelineQuery) -> list[PipelineRun]:
        return [object()]  # type: ignore[list-item]

    async def logs(self, query: LogQuery) -> AsyncIterator[Any]:  # type: ignore[override]
        yield {"not": "a line"}
        yield LogLine(ts=self.context.clock.now(), service=query.service,
                      environment=query.environment, instance="pod-x", message="still here")

    async def metrics(self, query: MetricsQuery) -> list[MetricSeries]:
        return [None]  # type: ignore[list-item]


class ErrorTextSource(Source):
    """Fails every call with an error whose message (and hint) is its ``message`` setting."""

    capabilities = ALL

    class Config(SourceConfig):
        message: str = "boom"

    def _error(self, *, friendly: bool = False) -> Exception:
        message = self.config.message  # type: ignore[attr-defined]
        if friendly:
            return SourceUnavailable(message, hint=message)
        return RuntimeError(message)

    async def services(self) -> list[Service]:
        raise self._error(friendly=True)

    async def environments(self) -> list[Environment]:
        raise self._error(friendly=True)

    async def pipeline_runs(self, query: PipelineQuery) -> list[PipelineRun]:
        raise self._error()

    async def metrics(self, query: MetricsQuery) -> list[MetricSeries]:
        raise self._error()

    async def logs(self, query: LogQuery) -> AsyncIterator[LogLine]:  # type: ignore[override]
        raise self._error()
        yield  # pragma: no cover


class RaisingInitSource(Source):
    """Raises in its constructor (the hub stands a BrokenSource in for it)."""

    capabilities = ALL

    def __init__(self, config: SourceConfig, context: SourceContext) -> None:
        raise ValueError("bad [b]settings[/b] [@click=app.quit]x")


class RaisingStartSource(StaticSource):
    """Raises in ``start()``: every call to it fails with that error."""

    async def start(self) -> None:
        raise ConnectionRefusedError(111, "cannot reach [@click=app.quit]x \x1b[31mred\x1b[0m")


class NaiveTimeSource(StaticSource):
    """Like StaticSource, but its timestamps are naive (no time zone), as some APIs send them."""

    def _run(self, n: str, now: Any, *, jobs: bool) -> PipelineRun:
        run = super()._run(n, now, jobs=jobs)
        naive = run.model_copy(update={
            "started_at": run.started_at.replace(tzinfo=None),
            "finished_at": None, "status": RunStatus.RUNNING,
            "jobs": tuple(j.model_copy(update={"started_at": j.started_at.replace(tzinfo=None)
                                               if j.started_at else None, "finished_at": None,
                                               "status": RunStatus.RUNNING}) for j in run.jobs)})
        return naive

    async def deployments(self) -> list[Deployment]:
        naive = self.context.clock.now().replace(tzinfo=None)
        return [d.model_copy(update={"updated_at": naive}) for d in await super().deployments()]


def spec(name: str, cls: type[Source], timeout: float = 5.0, **settings: Any) -> SourceSpec:
    return SourceSpec(name=name, type=name, cls=cls, config=cls.Config(**settings), timeout=timeout)


def app_config(*specs: SourceSpec, ui: dict[str, Any] | None = None, **hub: Any) -> AppConfig:
    """A config of ``specs``. ``ui`` is taken as given, unchecked: the hostile-text tests select a
    service a source named (any text, any length) as if chosen, which a config file could not."""
    return AppConfig(path=None, sources=list(specs), hub=HubConfig(**hub),
                     ui=UIConfig.model_construct(**(ui or {})))


def context(name: str, tmp: Any, clock: Any) -> SourceContext:
    return SourceContext(name=name, data_dir=tmp, clock=clock)


# Driving the whole app in Pilot tests ------------------------------------------------------------

def make_app(config: AppConfig, data_dir: Any, clock: Any) -> Any:
    """The full dashboard on ``config`` (Textual is imported only here)."""
    from idp_tui.ui.app import IdpApp

    return IdpApp(config, data_dir=data_dir, clock=clock)


async def poll_until(predicate: Any, what: str, timeout: float, between: Any) -> None:
    """Await ``between()`` until ``predicate()`` is true; fail naming ``what`` if it never is.

    The timeout only bounds a broken test; nothing asserts how long anything took.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    error: Exception | None = None
    while True:
        try:
            if predicate():
                return
            error = None
        except Exception as exc:  # noqa: BLE001 - e.g. a widget not mounted yet
            error = exc
        if loop.time() > deadline:
            raise AssertionError(f"gave up waiting for {what}") from error
        await between()


async def wait_until(pilot: Any, predicate: Any, what: str, timeout: float = 15.0) -> None:
    """Let the app run until ``predicate()`` is true (a pilot pause between two looks); fail
    naming ``what`` if it never is."""
    try:
        await poll_until(predicate, what, timeout, lambda: pilot.pause(0.02))
    except AssertionError as failure:
        try:  # what the screen showed, to tell a slow app from a wrong one
            shown = "\n".join(screen_lines(pilot.app))
        except Exception:  # noqa: BLE001 - no screen to show
            raise failure from None
        raise AssertionError(f"{failure}; the screen showed:\n{shown}") from failure.__cause__
    await pilot.pause()


def paint_on_demand(monkeypatch: Any) -> None:
    """Headless apps (``run_test``) make no frames while the test lasts; what the screen shows is
    drawn when a test reads it (``screen_lines``, ``widget_lines``, ``export_screenshot``).

    A headless app has no terminal: Textual draws every changed region of the active screen into
    a frame and drops it (``App._display``), and under a dialog that means the dashboard under
    it tinted again. The layout still follows every change (the screen's layout pass runs as
    before, with its resize, show and hide events); only the frame's text, which nothing reads,
    is left out. What a test reads is drawn from the same layout and the same widgets' lines.
    """
    from textual.screen import Screen

    full = Screen._compositor_refresh

    def refresh(screen: Any) -> None:
        app = screen.app
        if app.is_headless and not app.is_inline and screen is app.screen:
            screen._dirty_widgets.clear()
            screen._compositor._dirty_regions.clear()  # (what a frame would have cleared)
            app._update_mouse_over(screen)
            return
        full(screen)

    monkeypatch.setattr(Screen, "_compositor_refresh", refresh)


def data_settled(app: Any) -> bool:
    """The shared data and the visible pane's own data have arrived (focus aside)."""
    return (app.catalog_snapshot is not None and app.platform_snapshot is not None
            and app.service is not None and app.environment is not None
            and app.current_pane.is_settled())


def screen_strips(app: Any) -> list[Any]:
    """The active screen exactly as it would be drawn: one ``Strip`` per terminal row."""
    return list(app.screen._compositor.render_strips())


def screen_lines(app: Any) -> list[str]:
    return ["".join(segment.text for segment in strip) for strip in screen_strips(app)]


def widget_lines(app: Any, widget: Any) -> list[str]:
    """The rows of the screen that ``widget`` occupies, cut to its columns."""
    geometry = app.screen.find_widget(widget)
    region = geometry.region.intersection(geometry.clip)  # the part that is not scrolled away
    strips = screen_strips(app)
    return ["".join(segment.text for segment in strips[y].crop(region.x, region.right))
            for y in range(region.y, min(region.bottom, len(strips)))]


def widget_text(app: Any, widget: Any) -> str:
    return "\n".join(widget_lines(app, widget))


def click_actions(app: Any) -> list[tuple[str, Any]]:
    """Every drawn segment that would run an action when clicked (``@click`` in its style meta)."""
    found = []
    for strip in screen_strips(app):
        for segment in strip:
            style = segment.style
            if style is not None and style._meta is not None and "@click" in style.meta:
                found.append((segment.text, style.meta["@click"]))
    return found


#: Code points that must never reach the terminal: C0 controls (but the line breaks we join rows
#: with), DEL, C1 controls, bidirectional overrides and isolates, lone surrogates.
_UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def unsafe_chars(text: str) -> list[str]:
    """The unsafe code points in ``text`` (see ``_UNSAFE``), as hex, for an assertion message."""
    return sorted({hex(ord(c)) for c in _UNSAFE.findall(text)})


def assert_alive(app: Any) -> None:
    """The app is still running: it did not exit, crash or queue an error to print."""
    assert app.is_running
    assert app.return_code is None
    assert app._exception is None
    assert not app._exit_renderables


async def type_text(pilot: Pilot[Any], text: str) -> None:
    """Type ``text`` into the focused input, one key event per character.

    ``pilot.press`` waits for the app to go idle after every key; a user types without waiting, and
    the events are still handled one by one, in order. One wait at the end.
    """
    for character in text:
        pilot.app.post_message(events.Key(_character_to_key(character), character))
    await pilot.pause()


async def hold(pilot: Pilot[Any], key: str, times: int) -> None:
    """Press ``key`` ``times`` times as a held-down key does: no wait between the presses."""
    for _ in range(times):
        pilot.app.post_message(events.Key(key, None))
    await pilot.pause()
