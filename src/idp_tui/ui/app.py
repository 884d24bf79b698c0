"""The dashboard application.

This module imports only Textual and what the first frame needs: the plugin API, the hub and the
panes load as the dashboard starts (``IdpApp.compose``), or right after the first frame when the
last run's catalog is drawn first (``idp_tui.ui.boot``).
"""

from __future__ import annotations

import gc
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import events, on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.actions import parse as parse_action
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Input, TabbedContent, TabPane

from .. import uistate
from ..actionspec import app_specs
from ..api.clock import Clock, SystemClock
from ..api.kinds import Capability
from ..commands import ArgKind, Command, CommandHistory, Registry, dashboard_commands
from ..gcpolicy import GC_THRESHOLDS
from ..paths import stylesheets
from . import advisor as advisor_ui
from . import approvals, boot, feedback, helprows, panelist
from .action_access import (ACTIVITY, binding_state, hidden_reason, open_action_by_name,
                            read_only_notice)
from .bars import ContextBar, HealthBar
from .base import Pane, SnapshotArrived
from .footer import KeysFooter
from .palette import IdpCommands
from .panelist import PaneInfo
from .prompt import CommandBar
from .screens import HealthScreen, HelpScreen
from .timers import TimerHandle, start_timer

if TYPE_CHECKING:
    from textual.timer import Timer

    from ..api.actions import Resource
    from ..api.models import Service
    from ..config import AppConfig
    from ..hub import Hub, Platform, PollTimer, Snapshot, SourceHealth
    from ..runtime import Runtime

__all__ = ["CommandBar", "ContextBar", "HealthBar", "IdpApp", "IdpCommands", "app_bindings"]


def app_bindings(panes: tuple[PaneInfo, ...]) -> list[Binding]:
    """The app's keys: one per pane (``pane.NAME``), the app's own, and one per app action of
    the action table (``action.deploy``…; hidden or disabled by ``IdpApp.check_action``)."""
    return [
        *(Binding(p.key, f"pane('{p.name}')", p.footer_label, id=p.binding_id) for p in panes),
        Binding("e", "cycle_environment(1)", "Env", id="app.env_next"),
        Binding("E", "cycle_environment(-1)", "Prev env", show=False, id="app.env_previous"),
        Binding("colon", "command_bar", ":cmd", id="app.command"),
        Binding("question_mark", "help", "Keys", id="app.help"),
        Binding("H", "health", "Sources", show=False, id="app.health"),
        Binding("ctrl+r", "refresh", "Refresh", show=False, id="app.refresh"),
        Binding("q", "quit", "Quit", id="app.quit"),
        *(Binding(s.key, f"act('{s.name}')", s.label, show=s.show, id=s.binding_id)
          for s in app_specs()),
        Binding("A", "activity", "Activity", id="app.activity"),
        Binding("V", "approvals", "Approvals", show=False, id="app.approvals"),
        Binding("I", "instances", "Instances", id="app.instances"),
        Binding("exclamation_mark", "advisor", "Advice", show=False, id="app.advisor"),
        *feedback.BINDINGS,
    ]


class PaneTabs(TabbedContent):
    """The panes' tabs, switched only by choosing a tab (keys, `:`, palette, mouse).

    TabbedContent also shows the tab of any pane a widget gets focused in, on a message handled
    later. With keys pressed in quick succession ("3" then "1") the focus given to the Pipelines
    table (directly, or by Textual moving focus off the hidden Catalog table) was reported after
    "1" and switched back to Pipelines. The dashboard never focuses a widget in a hidden pane to
    show it, so those messages are ignored.
    """

    def _on_tab_pane_focused(self, event: TabPane.Focused) -> None:
        event.stop()
        event.prevent_default()  # skip TabbedContent's handler


class IdpApp(approvals.ApprovalsKeys, feedback.FeedbackMixin, App[int]):
    """idp-tui: catalog, environments, pipelines, logs and metrics in one keyboard-driven app."""

    TITLE = "idp-tui"
    CSS_PATH = [str(p) for p in stylesheets()]
    COMMANDS = App.COMMANDS | {IdpCommands}
    #: The first focus is the catalog's table (IdpApp.on_mount), never the hidden `:` prompt: a
    #: key typed while the dashboard starts ("2"…) must reach the app's bindings.
    AUTO_FOCUS = None
    ENABLE_COMMAND_PALETTE = True
    #: Below 100 columns the detail panels go under their tables (styles/app.tcss), below 140 a
    #: provisioning form's labels go above their fields; below 40 lines the action dialogs take
    #: the whole screen and their forms scroll (actions.tcss).
    #: Seconds after the last change of the selection before it is kept for the next run.
    STATE_DELAY = 2.0
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-roomy"), (140, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (40, "-tall")]

    #: The panes, in tab order (``idp_tui.ui.panelist``). A subclass that sets its own list gets
    #: its bindings made from it.
    PANES: tuple[PaneInfo, ...] = panelist.check(panelist.PANES)
    BINDINGS = app_bindings(PANES)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        if "PANES" in cls.__dict__ and "BINDINGS" not in cls.__dict__:
            cls.PANES = panelist.check(tuple(cls.PANES))
            cls.BINDINGS = app_bindings(cls.PANES)
        super().__init_subclass__(**kwargs)

    service: reactive[str | None] = reactive(None, init=False)
    environment: reactive[str | None] = reactive(None, init=False)

    def __init__(self, config: AppConfig | None, data_dir: Path, clock: Clock | None = None,
                 runtime: Runtime | None = None, *, boot_key: str | None = None,
                 boot_view: boot.BootView | None = None,
                 start: Callable[[], Runtime] | None = None,
                 timer: PollTimer | None = None) -> None:
        """``config`` and its ``runtime`` (built from the config when not given), or, to draw the
        last run's catalog first, ``boot_view`` and ``start``: called right after the first frame,
        it validates the config and builds the runtime (what it raises ends the app:
        ``start_error``). ``boot_key`` names the configuration: with it the catalog is kept for
        the next start. ``timer``: what the app's one-shot timers wait on (``start_timer``;
        default: Textual's timers; a test's ``ManualTimer``)."""
        super().__init__()
        self.data_dir = data_dir
        self.clock = clock or SystemClock()
        self.boot_key = boot_key
        self.timer = timer
        self.boot_view = boot_view if config is None else None
        self._start = start
        #: What ``start`` raised (the app then exits): the caller reports it.
        self.start_error: BaseException | None = None
        self._boot_saved = False
        self.config: AppConfig = None  # type: ignore[assignment] - set by _adopt
        #: The hub and the action layer (``idp_tui.runtime.Runtime``), set by _adopt.
        self.runtime: Runtime = None  # type: ignore[assignment]
        self.hub: Hub = None  # type: ignore[assignment] - the runtime's, set by _adopt
        if config is None and (boot_view is None or start is None):
            raise ValueError("IdpApp needs a config, or a boot view and a start function")
        self.services: list[Service] = []
        self.platform: Platform | None = None
        self.catalog_snapshot: Snapshot[Any] | None = None
        self.platform_snapshot: Snapshot[Any] | None = None
        #: What provisioning created, from every source that provisions.
        self.resources: list[Resource] = []
        self._wanted_service: str | None = None
        self._wanted_environment: str | None = None
        self._subs: list[Any] = []
        #: Panes composed but not mounted yet (see ``_mount_deferred``), by key.
        self._deferred: dict[str, Pane] = {}
        #: The `:` commands (the prompt, the palette and the help screen read them).
        self.commands: Registry = dashboard_commands(self.PANES)
        #: What the last run kept: the selection and the `:` history (``ui-state.json``).
        self.ui_state = uistate.load(data_dir)
        self.command_history = CommandHistory(self.ui_state.history, limit=uistate.HISTORY_MAX)
        self._state_timer: Timer | None = None
        #: The advisor following the hub, and its latest advice (``idp_tui.ui.advisor``).
        self.advisor: Any = None
        self.advice: Any = None
        if config is not None:
            self._adopt(config, runtime)

    def _adopt(self, config: AppConfig, runtime: Runtime | None) -> None:
        """Take the validated config and its runtime (built here when not given)."""
        if runtime is None:
            from ..runtime import build_runtime

            runtime = build_runtime(config, data_dir=self.data_dir, clock=self.clock)
        self.config = config
        self.runtime = runtime
        self.hub = runtime.hub
        # The config's choice first, then the last run's (when they still exist).
        self._wanted_service = config.ui.service or self.ui_state.service
        self._wanted_environment = config.ui.environment or self.ui_state.environment
        if config.keys:
            self.set_keymap(dict(config.keys))

    @property
    def booting(self) -> bool:
        """The first frame shows the last run's catalog; the sources are not started yet."""
        return self.hub is None

    # Layout --------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield ContextBar(id="context-bar")
        first = self.PANES[0].name
        with PaneTabs(id="panes", initial=first):
            for info in self.PANES:
                with TabPane(f"{info.key} {info.title}", id=info.name):
                    if self.booting:
                        if info.name == first and self.boot_view is not None:
                            yield boot.BootCatalog(self.boot_view, id="boot-catalog")
                        continue
                    pane = self._make_pane(info)
                    if info.name == first:
                        yield pane
                    else:
                        self._deferred[info.name] = pane
        yield HealthBar(id="health-bar")
        bar = CommandBar(self.complete_command, self.command_history,
                         on_close=lambda: self.call_later(self.action_focus_pane),
                         id="command-bar", placeholder=self._prompt_placeholder())
        # Hidden from the start: shown, it would take the first focus, and keys typed while the
        # dashboard starts ("2"…) would land in it.
        bar.display = False
        yield bar
        yield KeysFooter()

    def _make_pane(self, info: PaneInfo) -> Pane:
        return info.load()(self.hub, info=info, id=f"{info.name}-pane")

    def _prompt_placeholder(self) -> str:
        words = []
        for command in self.commands:
            short = min(command.words, key=len) if command.arg is not ArgKind.NONE else command.name
            words.append(f":{short} NAME" if command.arg is not ArgKind.NONE else f":{short}")
        return "Tab completes · ↑↓ history · " + " ".join(words)

    def on_mount(self) -> None:
        # The dashboard allocates many short-lived objects (log records, strips, table cells): at
        # CPython's default thresholds the cyclic GC kept scanning the whole heap, up to half the
        # time of a busy log stream (see benchmarks/). Refcounting frees nearly all of it anyway.
        self._gc_thresholds = gc.get_threshold()
        gc.set_threshold(*GC_THRESHOLDS)
        # What exists by now (every module, the config, the hub, the first widgets) lives about as
        # long as the app: out of the collector's way, collections scan only what came after.
        gc.freeze()
        self.set_interval(1.0, self._update_context_bar)
        if self.booting:
            theme = self.boot_view.theme if self.boot_view is not None else None
            self.theme = theme if theme in self.available_themes else "textual-dark"
            self._update_context_bar()
            self.call_after_refresh(self._focus_boot)
            self.call_after_refresh(self._finish_boot)
            return
        self._start_dashboard()

    def _focus_boot(self) -> None:
        for view in self.query(boot.BootCatalog):
            view.focus_main()

    def _finish_boot(self) -> None:
        """After the first frame: the config, the hub and the panes (the slow imports)."""
        if self._exit or self._closing or self._start is None:
            return
        try:
            runtime = self._start()
        except Exception as exc:  # noqa: BLE001 - reported by the caller (exit 2 for a config error)
            self.start_error = exc
            self.exit(return_code=1)
            return
        self._adopt(runtime.config, runtime)
        for info in self.PANES:
            self._deferred[info.name] = self._make_pane(info)
        self._start_dashboard()
        # What exists now (the plugin API, the hub, the panes) lives as long as the app.
        gc.freeze()

    def _start_dashboard(self) -> None:
        self.theme = self.config.ui.theme if self.config.ui.theme in self.available_themes \
            else "textual-dark"
        self._update_context_bar()
        self.refresh_bindings()
        from ..hub import Topic

        self.hub.watch_health(self._health_changed)
        if not self.catalog_derived:  # else the environments' services (_derive_catalog)
            self._subs.append(self.hub.watch(Topic.catalog(),
                                             lambda s: self.post_message(SnapshotArrived(s))))
        self._subs.append(self.hub.watch(Topic.environments(),
                                         lambda s: self.post_message(SnapshotArrived(s))))
        if self.hub.has(Capability.PROVISION):
            self._subs.append(self.hub.watch(Topic.resources(),
                                             lambda s: self.post_message(SnapshotArrived(s))))
        self.start_timer(self, 1.0, self._mount_deferred)
        self.call_after_refresh(self.action_focus_pane)
        if self.config.advisor.enabled:
            advisor_ui.start(self)

    def on_advice_arrived(self, message: advisor_ui.AdviceArrived) -> None:
        advisor_ui.advice_arrived(self, message.advice)

    def action_advisor(self) -> None:
        advisor_ui.open_list(self)

    async def on_unmount(self) -> None:
        for sub in self._subs:
            sub.close()
        self.save_ui_state()
        if self._boot_saved:  # (not before the environments' health was known)
            self.save_boot_view()
        if self.runtime is not None:
            await self.runtime.close()
        gc.set_threshold(*getattr(self, "_gc_thresholds", gc.get_threshold()))
        gc.unfreeze()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for command in self.commands:
            if command.system and command.title:
                yield SystemCommand(command.title, command.help,
                                    lambda c=command: self.run_entry(c, None))

    def save_ui_state(self) -> bool:
        """Keep the selection and the `:` history for the next run (``ui-state.json``; written
        only when they changed). False if it could not be written."""
        state = self.ui_state
        kept = (state.service, state.environment, state.history)
        state.service = self.service or state.service
        state.environment = self.environment or state.environment
        state.history = list(self.command_history.entries)
        if (state.service, state.environment, state.history) == kept:
            return True
        return uistate.save(self.data_dir, state)

    # Shared data ---------------------------------------------------------------------------------

    def on_snapshot_arrived(self, message: SnapshotArrived) -> None:
        snapshot = message.snapshot
        if snapshot.topic.kind == "catalog":
            if self.catalog_snapshot is None:
                self.call_after_refresh(self._mount_deferred)
            self.catalog_snapshot = snapshot
            if snapshot.data is not None:
                self.services = snapshot.data
            if self.service is None and self.services:
                wanted = self._boot_cursor() or self._wanted_service
                names = {s.name for s in self.services}
                self.service = wanted if wanted in names else self.services[0].name
        elif snapshot.topic.kind == "resources":
            if snapshot.data is not None:
                self.resources = snapshot.data
        elif snapshot.topic.kind == "environments":
            self.platform_snapshot = snapshot
            if snapshot.data is not None:
                self.platform = snapshot.data
            if self.catalog_derived:
                self._derive_catalog(snapshot)
            names = self.environment_names()
            if self.environment is None and names:
                wanted = self._wanted_environment
                if wanted is not None and wanted not in names:
                    wanted = self.config.environments.resolve(wanted, names)
                self.environment = wanted if wanted in names else self._fallback_environment()
        for pane in self._live_panes():
            pane.shared_data_changed()
        if not self._boot_saved and self.boot_key is not None and self.services \
                and self.environment is not None:
            self._boot_saved = True
            self.call_after_refresh(self.save_boot_view)

    def _boot_cursor(self) -> str | None:
        """The service the user moved to in the last run's catalog while the sources started."""
        for view in self.query(boot.BootCatalog):
            return view.cursor_name
        return None

    def save_boot_view(self) -> bool:
        """Keep the catalog as the Catalog table shows it, for the next start's first frame."""
        if self.boot_key is None or not self.services:
            return False
        environment = self.environment
        platform = self.platform
        rows = []
        for service in sorted(self.services, key=lambda s: s.name)[:boot.MAX_ROWS]:
            dep = platform.deployments.get((service.name, environment)) \
                if platform is not None and environment is not None else None
            rows.append(boot.BootRow(service.name, service.owner, service.tier, service.lifecycle,
                                     service.language, dep.health.value if dep else "unknown"))
        view = boot.BootView(key=self.boot_key, saved_at=self.clock.now(), environment=environment,
                             theme=self.theme, rows=tuple(rows))
        return boot.save(self.data_dir, view)

    @property
    def catalog_derived(self) -> bool:
        """No source offers a catalog: the services shown are those running in the environments
        (a dashboard on Kubernetes alone, say)."""
        if self.hub is None:
            return False
        return not self.hub.has(Capability.CATALOG) and self.hub.has(Capability.ENVIRONMENTS)

    def _derive_catalog(self, environments: Snapshot[Any]) -> None:
        from ..api.models import Service
        from ..hub import Snapshot, Topic

        platform = self.platform
        names = sorted({service for service, _env in platform.deployments}) if platform else []
        known = {s.name: s for s in self.services}
        sources: dict[str, set[str]] = {}
        if platform is not None:
            for (service, _env), dep in platform.deployments.items():
                sources.setdefault(service, set()).add(dep.source)
        services = [known[n] if n in known and set(known[n].sources) == sources.get(n, set())
                    else Service(name=n, sources=tuple(sorted(sources.get(n, ()))))
                    for n in names]
        first = self.catalog_snapshot is None
        self.catalog_snapshot = Snapshot(topic=Topic.catalog(), data=services,
                                         fetched_at=environments.fetched_at,
                                         loading=environments.loading)
        self.services = services
        if self.service is None and services:
            wanted = self._wanted_service
            self.service = wanted if wanted in {s.name for s in services} else services[0].name
        if first:
            self.call_after_refresh(self._mount_deferred)

    def start_timer(self, owner: Any, seconds: float, callback: Callable[[], Any]) -> TimerHandle:
        """Run ``callback`` in ``owner`` (a widget, or the app) once, after ``seconds`` on the
        app's ``timer`` (``idp_tui.ui.timers``)."""
        return start_timer(self.timer, owner, seconds, callback)

    def _mount_deferred(self, key: str | None = None) -> None:
        """Mount the panes kept out of the first frame: ``key``'s, or all of them.

        Only the catalog is mounted at start-up; the other panes, hidden behind their tabs, are
        mounted once the catalog's first answer has been drawn (a second after start-up at the
        latest), or at once when the user asks for one of them. A pane draws the shared data the
        app holds as it mounts (``Pane.on_mount``).
        """
        if self._exit or self._closing:
            return
        first = self.PANES[0].name
        for k in [key] if key is not None else list(self._deferred):
            if k == first and self.catalog_snapshot is None and self.query(boot.BootCatalog):
                continue  # the last run's catalog stays until the sources answer
            pane = self._deferred.pop(k, None)
            if pane is not None:
                if k == first:
                    # The live catalog takes the place of the last run's.
                    for view in self.query(boot.BootCatalog):
                        view.remove()
                self.call_later(self._deferred_mounted, k, pane,
                                self.query_one(f"TabPane#{k}").mount(pane))

    async def _deferred_mounted(self, key: str, pane: Pane, mounted: Awaitable[None]) -> None:
        """Once ``pane`` is mounted: shown and focused if its tab is the one showing by now."""
        await mounted
        if pane.is_mounted and not (self._exit or self._closing) \
                and self.query_one("#panes", TabbedContent).active == key:
            pane.pane_shown()
            self.action_focus_pane()

    def _live_panes(self) -> list[Pane]:
        """Panes that can take an update: none once quitting has begun (a snapshot that arrives
        while the widgets are being removed must not reach them)."""
        if self._exit or self._closing:
            return []
        return [pane for pane in self.query(Pane) if pane.is_mounted and not pane._closing]

    def is_settled(self) -> bool:
        """Shared data and the visible pane's data have arrived."""
        if self.booting:
            return False
        if not (self.catalog_snapshot is not None and self.platform_snapshot is not None
                and self.service is not None and self.environment is not None
                and self.current_pane.is_settled() and advisor_ui.settled(self)):
            return False
        if self.screen is not self.screen_stack[0]:
            # A modal owns the focus; the action modals say when their data has arrived.
            return bool(getattr(self.screen, "is_settled", lambda: True)())
        focused = self.focused
        return focused is not None and self.current_pane in focused.ancestors_with_self

    def _fallback_environment(self) -> str | None:
        """The last environment in promotion order that is not a preview (production, as a
        rule), or the last one."""
        from ..api.kinds import EnvironmentKind

        envs = self.platform.environments if self.platform is not None else ()
        static = [e.name for e in envs if e.kind is not EnvironmentKind.PREVIEW]
        return static[-1] if static else (envs[-1].name if envs else None)

    def environment_names(self) -> list[str]:
        return self.platform.environment_names() if self.platform else []

    def service_record(self, name: str | None = None) -> Service | None:
        name = name or self.service
        for service in self.services:
            if service.name == name:
                return service
        return None

    def _health_changed(self, health: dict[str, SourceHealth]) -> None:
        try:
            self.query_one(HealthBar).show(health)
        except Exception:  # noqa: BLE001 - not mounted yet, or shutting down
            return
        if isinstance(self.screen, HealthScreen):
            self.screen.show(health)

    # Selection -----------------------------------------------------------------------------------

    def select_service(self, name: str) -> None:
        self.service = name

    def select_environment(self, name: str) -> None:
        self.environment = name

    def watch_service(self) -> None:
        self._context_changed()

    def watch_environment(self) -> None:
        self._context_changed()

    def _context_changed(self) -> None:
        self._update_context_bar()
        # Kept for the next run a moment after the selection settles (and again on quitting):
        # a cursor held down in the catalog writes the file once.
        if self._state_timer is not None:
            self._state_timer.stop()
        if not (self._exit or self._closing):
            self._state_timer = self.set_timer(self.STATE_DELAY, self.save_ui_state)
        for pane in self._live_panes():
            pane.context_changed()

    def _update_context_bar(self) -> None:
        try:
            environment = self.environment
            if environment is None and self.boot_view is not None and self.booting:
                environment = self.boot_view.environment
            self.query_one(ContextBar).show(self.service, environment, self.clock.now())
        except Exception:  # noqa: BLE001
            pass

    # Actions -------------------------------------------------------------------------------------

    def pane_title(self, pane: str) -> str:
        return next(info.title for info in self.PANES if info.name == pane)

    @property
    def current_pane(self) -> Pane:
        tabs = self.query_one("#panes", TabbedContent)
        return self.query_one(f"#{tabs.active}-pane", Pane)

    def show_pane(self, pane: str) -> None:
        self._mount_deferred(pane)
        tabs = self.query_one("#panes", TabbedContent)
        tabs.active = pane
        self.call_after_refresh(self.action_focus_pane)

    def action_pane(self, pane: str) -> None:
        self.show_pane(pane)

    def action_focus_pane(self) -> None:
        if self.query(boot.BootCatalog) and self.query_one("#panes", TabbedContent).active \
                == self.PANES[0].name:
            self._focus_boot()
            return
        try:
            self.current_pane.focus_main()
        except Exception:  # noqa: BLE001
            pass

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id is not None:
            self._mount_deferred(event.pane.id)  # chosen with the mouse before it was mounted
        for pane in self.query(Pane):
            if pane.id == f"{event.pane.id}-pane":
                pane.pane_shown()
            else:
                pane.pane_hidden()
        # A click on a tab leaves the focus on the tab strip, out of reach of the pane's keys:
        # give it to the pane, as choosing it with a key or a command does.
        self.call_after_refresh(self.action_focus_pane)

    def action_cycle_environment(self, step: int) -> None:
        names = self.environment_names()
        if not names:
            self.notify("No environments yet", severity="warning")
            return
        index = names.index(self.environment) if self.environment in names else -1
        self.environment = names[(index + step) % len(names)]

    def action_command_bar(self) -> None:
        self.query_one(CommandBar).open()

    @on(Input.Submitted, "#command-bar")
    def _command_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        line = self.query_one(CommandBar).take_line()
        if line:
            self.save_ui_state()
        self.run_command(line)
        self.call_after_refresh(self.action_focus_pane)

    # `:` commands (their registry: idp_tui.commands) ----------------------------------------------

    def argument_values(self, kind: ArgKind) -> list[str]:
        """What a command's argument of ``kind`` may be now."""
        if kind is ArgKind.SERVICE:
            return [service.name for service in self.services]
        if kind is ArgKind.ENVIRONMENT:
            return self.environment_names()
        if kind is ArgKind.PANE:
            return [info.name for info in self.PANES]
        return []

    def resolve_argument(self, kind: ArgKind, word: str) -> str | None:
        """The environment a source's name for it means (``prod-eu`` → ``production``)."""
        if kind is ArgKind.ENVIRONMENT and self.config is not None:
            return self.config.environments.resolve(word, self.environment_names())
        return None

    def complete_command(self, line: str) -> list[str]:
        """What Tab offers at the `:` prompt for ``line``."""
        return self.commands.complete(line, self.argument_values,
                                      available=lambda c: c.is_available(self))

    def run_command(self, line: str) -> None:
        """Run a `:` command line; a wrong one says what is wrong (and the closest command)."""
        parsed = self.commands.parse(line, self.argument_values, self.resolve_argument)
        if parsed is None:
            return
        if isinstance(parsed, str):
            self.notify(parsed, severity="warning", markup=False)
            return
        self.run_entry(parsed.command, parsed.argument)

    def run_entry(self, command: Command, argument: str | None) -> None:
        """Run ``command`` (from the prompt or the palette) with ``argument``."""
        if not command.is_available(self):
            self.notify(f":{command.name} is not available: no source offers it",
                        severity="warning", markup=False)
            return
        command.run(self, argument)

    async def _on_key(self, event: events.Key) -> None:
        """A key that bubbled up to the app unhandled (the focused widget's bindings and the
        app's are looked at here).

        Keys come in faster than the focus moves: typed in one go or pasted, "/ord" reaches the
        table before "/" has opened the filter, and "o", "r", "d" then bubble up here with the
        filter focused. A focused text field takes every character it is sent, so a character
        that arrives here while one has the focus was typed for it: it goes in, rather than
        being lost (or, had the focus not moved yet, taken as a command: "r" is restart).
        """
        focused = self.focused
        if event.is_printable and event.character and isinstance(focused, Input) \
                and focused.display:
            event.stop()
            event.prevent_default()  # (App._on_key, next in the MRO, looks for a binding)
            focused.insert_text_at_cursor(event.character)
        # else App._on_key runs next (Textual calls the handler of every class in the MRO)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self._binding_rows(), self._command_rows()))

    def _command_rows(self) -> list[tuple[str, str]]:
        return helprows.command_rows(self)

    def _binding_rows(self) -> list[tuple[str, str, str, str]]:
        return helprows.binding_rows(self)

    def _keys_for(self, binding: Binding) -> str:
        return helprows.keys_for(self, binding)

    def action_health(self) -> None:
        if self.booting:
            self.notify("The sources are starting", timeout=2)
            return
        if not isinstance(self.screen, HealthScreen):
            self.push_screen(HealthScreen(self.hub.health, self.clock))

    def action_instances(self) -> None:
        """The instances of the selected service in the selected environment."""
        from .instances import InstancesScreen  # noqa: PLC0415 - with the view, not at start-up

        if self.booting:
            self.notify("The sources are starting", timeout=2)
            return
        if isinstance(self.screen, InstancesScreen):
            return
        if not self.hub.runners_for(Capability.INSTANCES):
            self.notify("No configured source lists instances", severity="warning")
            return
        if not self.service:
            self.notify("Select a service first", severity="warning")
            return
        if not self.environment:
            self.notify("Select an environment first", severity="warning")
            return
        self.push_screen(InstancesScreen(self.service, self.environment))

    def action_refresh(self) -> None:
        if self.booting:
            return
        self.hub.retry_now()  # also a source waiting out a failure: the user asks now
        self.notify("Refreshing every source", timeout=2)
        self.current_pane.refresh_asked()

    # Self-service actions (the modals and the Activity screen live in ui/dialogs/) -----------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "act" and parameters:
            return binding_state(self, str(parameters[0]))
        if action == ACTIVITY:
            return binding_state(self, ACTIVITY)
        return True

    def action_available(self, name: str) -> bool:
        """Whether the app action ``name`` ("deploy"…, "activity") is offered (a source can)."""
        return binding_state(self, name) is not False

    async def run_action(self, action: Any, default_namespace: Any = None,
                         namespaces: Any = None) -> bool:
        # A read-only action binding is shown disabled, so Textual would ignore its key: say why.
        if isinstance(action, str):
            try:
                target, name, parameters = parse_action(action)
            except Exception:  # noqa: BLE001 - Textual reports a malformed action itself
                target, name, parameters = "", "", ()
            if default_namespace in (None, self) and target in ("", "app") and name == "act" \
                    and parameters and read_only_notice(self, str(parameters[0])):
                return True
            # A hidden binding's key pressed: say why it does nothing (never a silent key).
            if not target and self._said_why_not(default_namespace or self, name, parameters):
                return True
        return await super().run_action(action, default_namespace, namespaces)

    def _said_why_not(self, node: Any, name: str, parameters: tuple[object, ...]) -> bool:
        """A key whose binding ``check_action`` hides was pressed: say why it does nothing (the
        node's ``why_not``: a run's status, a source that cannot). True when it did."""
        why_not = getattr(node, "why_not", None)
        if why_not is None or not name or node.check_action(name, parameters) is not False:
            return False
        reason = why_not(name, parameters)
        if not reason:
            return False
        self.notify(reason, severity="warning", markup=False, timeout=6)
        return True

    def why_not(self, action: str, parameters: tuple[object, ...]) -> str | None:
        """Why the app's hidden action binding ``action`` does nothing (no source can)."""
        if action == "act" and parameters:
            return hidden_reason(self, str(parameters[0]))
        if action == ACTIVITY:
            return hidden_reason(self, ACTIVITY)
        return None

    def run_app_action(self, name: str) -> None:
        """Open the app action ``name`` ("deploy"…, "activity") as its key does (read-only says
        so): for the `:` prompt and the command palette."""
        if not read_only_notice(self, name):
            open_action_by_name(self, name)

    def action_act(self, name: str) -> None:
        """An action key of the action table (``run_action`` has said why when read-only)."""
        open_action_by_name(self, name)

    def action_activity(self) -> None:
        open_action_by_name(self, ACTIVITY)
