"""The table of topic kinds: one row per kind drives fetching, routing, merging, the optional
methods, the refresh intervals and the ``[hub.refresh]`` settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes import StaticSource, context

import idp_tui
from idp_tui import Capability, ManualClock, Source, TopicKind
from idp_tui.hub import (
    DEFAULT_INTERVALS,
    KIND_CAPABILITY,
    OPTIONAL_METHODS,
    REFRESH_SETTINGS,
    TOPICS,
    Hub,
    SourceRunner,
    Topic,
)


def test_every_kind_has_one_row_naming_a_method_sources_have() -> None:
    assert set(TOPICS) == set(TopicKind)
    for kind, spec in TOPICS.items():
        assert spec.kind is kind
        assert callable(getattr(Source, spec.method)), kind  # a method of the plugin API
        assert spec.interval > 0
    assert idp_tui.TopicKind is TopicKind


def test_the_derived_tables_say_what_they_said_before() -> None:
    assert DEFAULT_INTERVALS == {
        "catalog": 60.0, "environments": 5.0, "pipelines": 5.0, "pipeline_run": 2.0,
        "metrics": 15.0, "alerts": 15.0, "signals": 30.0, "resources": 10.0, "teams": 300.0,
        "facets": 60.0, "service_detail": 60.0, "instances": 5.0, "delivery": 300.0,
        "identity": 3600.0, "cost_prices": 600.0}
    assert OPTIONAL_METHODS == {"service_signals", "alerts", "teams", "service_detail",
                                "catalog_facets", "use_catalog", "pipeline_logs", "delivery_history",
                                "whoami", "cost_prices"}
    assert KIND_CAPABILITY == {
        "catalog": Capability.CATALOG, "environments": Capability.ENVIRONMENTS,
        "pipelines": Capability.PIPELINES, "pipeline_run": Capability.PIPELINES,
        "metrics": Capability.METRICS, "alerts": Capability.METRICS,
        "signals": Capability.METRICS, "resources": Capability.PROVISION,
        "teams": Capability.CATALOG, "facets": Capability.CATALOG,
        "service_detail": Capability.CATALOG, "instances": Capability.INSTANCES,
        "delivery": Capability.DELIVERY, "identity": Capability.ACTIONS,
        "cost_prices": Capability.METRICS}


def test_the_refresh_settings_come_from_the_table() -> None:
    from idp_tui.config import ConfigError, RefreshConfig, parse_config

    assert RefreshConfig().model_dump() == REFRESH_SETTINGS == {
        "catalog": 60.0, "environments": 5.0, "pipelines": 5.0, "pipeline_run": 2.0,
        "metrics": 15.0, "alerts": 15.0, "signals": 30.0, "resources": 10.0, "instances": 5.0}
    config = parse_config({"hub": {"refresh": {"metrics": 5}}}, path=None, text="")
    assert config.hub.refresh.model_dump()["metrics"] == 5.0
    with pytest.raises(ConfigError, match=r"hub\.refresh\.metric: unknown key 'metric' "
                                          r"\(expected one of: catalog, environments"):
        parse_config({"hub": {"refresh": {"metric": 5}}}, path=None, text="")
    with pytest.raises(ConfigError, match="greater than 0"):
        parse_config({"hub": {"refresh": {"catalog": 0}}}, path=None, text="")


def test_topics_take_a_kind_or_its_value_and_refuse_anything_else() -> None:
    assert Topic("catalog") == Topic.catalog() == Topic(TopicKind.CATALOG)
    assert hash(Topic("catalog")) == hash(Topic.catalog())
    assert Topic.catalog().kind is TopicKind.CATALOG and Topic.catalog().kind == "catalog"
    assert Topic.metrics("cart", "dev", "1h", 60).service == "cart"
    assert Topic.alerts("cart", "dev").service == Topic.service_detail("cart").service == "cart"
    # A service's pipeline runs still come from every pipelines source (a CI system knows the
    # repositories, not the services a catalog lists).
    assert Topic.pipelines().service is None and Topic.pipelines("cart").service is None
    assert Topic.environments().service is None
    with pytest.raises(ValueError, match=r"unknown topic kind 'catalogue' \(known: catalog, "):
        Topic("catalogue")
    assert TopicKind.parse("teams") is TopicKind.TEAMS


async def test_the_hub_refuses_an_interval_for_an_unknown_kind(tmp_path: Path,
                                                              clock: ManualClock) -> None:
    with pytest.raises(ValueError, match="unknown topic kind 'catalogs'"):
        Hub([], clock=clock, intervals={"catalogs": 1.0})
    hub = Hub([SourceRunner("s", "static", StaticSource(StaticSource.Config(),
                                                        context("s", tmp_path, clock)), 2.0)],
              clock=clock, intervals={TopicKind.CATALOG: 7.0})
    try:
        assert hub.intervals["catalog"] == 7.0 and hub.intervals["metrics"] == 15.0
        with pytest.raises(ValueError, match="unknown topic kind"):
            hub.source_changed("s", "catalogs")
    finally:
        await hub.close()


def test_changed_without_a_hub_checks_the_kind_too(tmp_path: Path, clock: ManualClock) -> None:
    seen: list[str] = []
    ctx = idp_tui.SourceContext(name="s", data_dir=tmp_path, clock=clock, notify=seen.append)
    ctx.changed(TopicKind.RESOURCES)
    ctx.changed("catalog")
    assert seen == ["resources", "catalog"]
    with pytest.raises(ValueError, match="known: catalog, environments, pipelines"):
        ctx.changed("enviroments")
    assert seen == ["resources", "catalog"]


async def test_a_large_answer_is_checked_off_the_event_loop(tmp_path: Path, clock: ManualClock,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # A year of delivery history takes a tenth of a second to check: never on the loop (the
    # dashboard's keys would wait); a catalog is checked where it arrives. The history's
    # environments renamed to the platform's, and the comparison with the source's last answer,
    # happen in that thread too: on the loop, the hub only sees that the answer is the last one.
    import threading
    from datetime import UTC, datetime

    import idp_tui.hub.reuse as reuse
    import idp_tui.hub.validation as validation
    from idp_tui.api.delivery import DeliveryHistory
    from idp_tui.environments import EnvironmentDecl, EnvironmentMap
    from idp_tui.hub import Topic

    class History(StaticSource):
        capabilities = StaticSource.capabilities | {Capability.DELIVERY}

        async def delivery_history(self, query: object) -> dict[str, object]:
            return {"deliveries": [{"service": "a", "environment": "prod",
                                    "started": "2026-11-01T10:00:00", "id": "d1"}],
                    "incidents": [{"service": "a", "environment": "prod",
                                   "started": "2026-11-02T10:00:00"}]}

    threads: dict[str, set[str]] = {}
    seen, renaming, equal = validation.aware, EnvironmentMap.rename_records, reuse._equal

    def aware(record: object) -> object:
        threads.setdefault(type(record).__name__, set()).add(threading.current_thread().name)
        return seen(record)  # type: ignore[type-var]

    def rename_records(self: EnvironmentMap, source: str, records: object) -> object:
        threads.setdefault("rename", set()).add(threading.current_thread().name)
        return renaming(self, source, records)  # type: ignore[arg-type]

    compared: list[tuple[str, bool]] = []  # (thread, whether the two were one object)

    def _equal(new: object, old: object) -> bool:
        if isinstance(new, DeliveryHistory):
            compared.append((threading.current_thread().name, new is old))
        return equal(new, old)

    monkeypatch.setattr(validation, "aware", aware)
    monkeypatch.setattr(EnvironmentMap, "rename_records", rename_records)
    monkeypatch.setattr(reuse, "_equal", _equal)
    hub = Hub([SourceRunner("s", "static", History(StaticSource.Config(names=["a"]),
                                                   context("s", tmp_path, clock)), 2.0)],
              clock=clock, environments=EnvironmentMap(
                  {"production": EnvironmentDecl(names={"s": "prod"})}))
    loop_thread = threading.current_thread().name
    topic = Topic.delivery(datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    try:
        history = await hub.fetch(topic)
        again = await hub.fetch(topic)  # the same answer, checked again
        await hub.fetch(Topic.catalog())
    finally:
        await hub.close()
    assert [(e.id, e.source, e.environment, e.started.tzinfo)
            for e in history.data.deliveries] == [("d1", "s", "production", UTC)]
    assert [i.environment for i in history.data.incidents] == ["production"]
    assert threads["DeliveryHistory"] and loop_thread not in threads["DeliveryHistory"]
    assert threads["rename"] and loop_thread not in threads["rename"]
    assert threads["Service"] == {loop_thread}
    # The second answer was compared with the first in the thread, and found equal: the hub
    # kept the first (one identity check on the loop), and handed over the same data.
    assert [where for where, same in compared if not same] \
        and all(same for where, same in compared if where == loop_thread)
    assert loop_thread not in {where for where, same in compared if not same}
    assert again.data is history.data
