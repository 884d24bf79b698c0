"""The github source's delivery history against the GitHub API emulator (``tests/github_server.py``,
over sockets): deployments and their statuses as outcomes, the commits each one brought from the
compare API (lead time), rollbacks, paging bounded by the query's start, conditional requests,
the comparisons kept in the data dir across source instances, and ``idp-tui dora`` on a
github-only config with hand-computed numbers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from github_server import TOKEN, GithubServer

from conftest import T0
from test_cli_github import catalog
from idp_tui import (
    Capability,
    DeliveryKind,
    DeliveryOutcome,
    HistoryQuery,
    ManualClock,
    SourceContext,
)
from idp_tui.config import load_config
from idp_tui.hub import ManualTimer, Topic
from idp_tui.runtime import build_runtime
from idp_tui_github import GithubSource
from idp_tui_github.config import GithubConfig
from idp_tui_github.history import CACHE_FILE

REPO, EMPTY = "acme/history", "acme/empty"
DAY, HOUR = timedelta(days=1), timedelta(hours=1)
#: Every status comes 30 s after its deployment was created (the emulator's way).
TOOK = timedelta(seconds=30)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


def production_history(gh: GithubServer, now: datetime) -> dict[str, Any]:
    """Commits c0…c5 and deployments to production: D0 (c0, the base), D1 (c2: brings c1, c2),
    D2 (c4, fails), D3 (c4: brings c3, c4), D4 (back to c2: a rollback of D3), D5 (c5, still
    deploying); one staging deployment that errored; eight older ones of c0 before D0."""
    gh.add_repo(REPO, runs=1, environments={})
    gh.add_repo(EMPTY, runs=1, environments={})
    times = [now - 10 * DAY, now - 5 * DAY, now - 4 * DAY, now - 3 * DAY, now - 2 * DAY,
             now - DAY - 2 * HOUR]
    c = gh.add_commits(REPO, times)
    for k in range(8):
        gh.add_deployment(REPO, "production", sha=c[0], at=now - (28 - k) * DAY)
    d = {
        "D0": gh.add_deployment(REPO, "production", sha=c[0], at=now - 9 * DAY),
        "staging": gh.add_deployment(REPO, "staging", "error", sha=c[1], at=now - 6 * DAY),
        "D1": gh.add_deployment(REPO, "production", sha=c[2], at=now - 4 * DAY + HOUR),
        "D2": gh.add_deployment(REPO, "production", "failure", sha=c[4],
                                at=now - 2 * DAY + HOUR),
        "D3": gh.add_deployment(REPO, "production", sha=c[4], at=now - 2 * DAY + 2 * HOUR),
        "D4": gh.add_deployment(REPO, "production", sha=c[2], at=now - DAY),
        "D5": gh.add_deployment(REPO, "production", "in_progress", sha=c[5], at=now - HOUR),
    }
    return {"commits": c, "times": times, "deployments": d}


@pytest.fixture
def gh(clock: ManualClock) -> Iterator[GithubServer]:
    with GithubServer(now=clock.now) as server:
        yield server


@pytest.fixture
def world(gh: GithubServer) -> dict[str, Any]:
    return production_history(gh, T0)


@pytest.fixture
async def make(gh: GithubServer, clock: ManualClock, tmp_path: Path) -> AsyncIterator[Any]:
    made: list[GithubSource] = []

    async def factory(**settings: Any) -> GithubSource:
        settings.setdefault("url", gh.api_url)
        settings.setdefault("token", TOKEN)
        settings.setdefault("repos", {"payments": REPO, "ledger": EMPTY})
        context = SourceContext(name="gh", data_dir=tmp_path / "gh", clock=clock)
        source = GithubSource(GithubConfig.model_validate(settings), context)
        await source.start()
        made.append(source)
        return source

    yield factory
    for source in made:
        await source.close()


def query(start: datetime = T0 - 7 * DAY, end: datetime = T0, **fields: Any) -> HistoryQuery:
    return HistoryQuery(start=start, end=end, **fields)


def requests(gh: GithubServer, fragment: str) -> int:
    return sum(1 for method, path, _ in gh.log if method == "GET" and fragment in path)


def by_deployment(history: Any, world: dict[str, Any]) -> dict[str, Any]:
    ids = {f"{REPO}:{d.id}:payments": name for name, d in world["deployments"].items()}
    return {ids[e.id]: e for e in history.deliveries}


async def test_outcomes_commits_and_a_rollback(make: Any, world: dict[str, Any]) -> None:
    source = await make()
    assert Capability.DELIVERY in source.capabilities
    history = await source.delivery_history(query())
    events = by_deployment(history, world)
    assert sorted(events) == ["D1", "D2", "D3", "D4", "D5", "staging"]  # D0 ended before
    c, times = world["commits"], world["times"]
    d1 = events["D1"]
    assert (d1.service, d1.environment, d1.outcome, d1.kind) == (
        "payments", "production", DeliveryOutcome.SUCCEEDED, DeliveryKind.DEPLOY)
    assert d1.started == T0 - 4 * DAY + HOUR and d1.finished == d1.started + TOOK
    assert [(x.sha, x.at) for x in d1.commits] == [(c[1], times[1]), (c[2], times[2])]
    assert d1.version == c[2][:7] and d1.actor == "octocat" and d1.trigger == "api"
    assert events["D2"].outcome is DeliveryOutcome.FAILED and events["D2"].commits == ()
    assert events["staging"].outcome is DeliveryOutcome.FAILED  # "error"
    # D3 is compared with the last deployment that succeeded (D1), not with the failed D2.
    assert [x.sha for x in events["D3"].commits] == [c[3], c[4]]
    assert events["D3"].outcome is DeliveryOutcome.ROLLED_BACK
    assert (events["D4"].kind, events["D4"].outcome, events["D4"].commits) == (
        DeliveryKind.ROLLBACK, DeliveryOutcome.SUCCEEDED, ())
    assert events["D5"].finished is None  # still deploying


async def test_paging_stops_at_the_query_start(make: Any, gh: GithubServer,
                                               world: dict[str, Any]) -> None:
    """Two deployments a page: 8 pages in all; the pages older than the start (less a day)
    are read only for the bases of the first deployments (five per environment), not to the
    end of the list."""
    source = await make(per_page=2)
    history = await source.delivery_history(query())
    assert len(history.deliveries) == 6
    pages = requests(gh, f"/repos/{REPO}/deployments?")
    assert 0 < pages < 8
    # The base of D1 (D0, before the start) was found: its commits are there.
    assert len(by_deployment(history, world)["D1"].commits) == 2


async def test_the_time_range_and_the_environment(make: Any, gh: GithubServer,
                                                  world: dict[str, Any]) -> None:
    source = await make()
    late = await source.delivery_history(query(start=T0 - 2 * DAY + timedelta(minutes=90)))
    events = by_deployment(late, world)
    assert sorted(events) == ["D3", "D4", "D5"]
    assert len(events["D3"].commits) == 2  # its base (D1) is before the start, still read
    early = await source.delivery_history(query(end=T0 - 3 * DAY))
    assert sorted(by_deployment(early, world)) == ["D1", "staging"]
    staging = await source.delivery_history(query(environment="staging"))
    assert sorted(by_deployment(staging, world)) == ["staging"]
    assert any("environment=staging" in path for _, path, _ in gh.log)
    one = await source.delivery_history(query(service="ledger"))
    assert one.deliveries == ()


async def test_a_repository_without_deployments_and_a_service_without_one(
        make: Any, gh: GithubServer) -> None:
    gh.add_repo(EMPTY, runs=1, environments={})
    source = await make(repos={"ledger": EMPTY})
    assert (await source.delivery_history(query())).deliveries == ()
    assert (await source.delivery_history(query(service="ledger"))).deliveries == ()
    assert (await source.delivery_history(query(service="payments"))).deliveries == ()
    assert requests(gh, f"/repos/{EMPTY}/deployments?") == 2


async def test_asked_again_costs_no_quota(make: Any, gh: GithubServer,
                                          world: dict[str, Any]) -> None:
    source = await make()
    first = await source.delivery_history(query())
    counted, spent = gh.counted, source.quota_requests
    assert counted == spent > 0 and gh.not_modified == 0
    again = await source.delivery_history(query())
    assert again == first
    assert gh.counted == counted and source.quota_requests == spent  # 304s and kept answers
    assert gh.not_modified > 0


async def test_the_comparisons_are_kept_for_the_next_source(make: Any, gh: GithubServer,
                                                            world: dict[str, Any],
                                                            tmp_path: Path) -> None:
    first = await make()
    before = await first.delivery_history(query())
    compares = requests(gh, "/compare/")
    assert compares == 3  # D1 (c0...c2), D3 (c2...c4), D4 (c4...c2: behind, a rollback)
    assert (tmp_path / "gh" / CACHE_FILE).is_file()
    settled = requests(gh, "/statuses")
    second = await make()
    after = await second.delivery_history(query())
    assert after == before
    assert requests(gh, "/compare/") == compares  # none asked again
    # Outcomes a day old are kept too: only the recent deployments' statuses are asked again.
    assert requests(gh, "/statuses") - settled < settled



async def test_a_repository_of_two_services(make: Any, gh: GithubServer,
                                            world: dict[str, Any]) -> None:
    """Each deployment under each service (ids apart), or under the one its payload names."""
    named = gh.add_deployment(REPO, "production", sha=world["commits"][5],
                              at=T0 - timedelta(minutes=20), payload={"service": "ledger"})
    source = await make(repos={"payments": REPO, "ledger": REPO})
    history = await source.delivery_history(query())
    ids = [e.id for e in history.deliveries]
    assert len(ids) == len(set(ids)) == 2 * 6 + 1
    mine = [e for e in history.deliveries if e.id.startswith(f"{REPO}:{named.id}:")]
    assert [(e.service, e.id) for e in mine] == [("ledger", f"{REPO}:{named.id}:ledger")]
    d1 = world["deployments"]["D1"].id
    assert sorted(e.service for e in history.deliveries if f":{d1}:" in e.id) == [
        "ledger", "payments"]
    payments = await source.delivery_history(query(service="payments"))
    assert len(payments.deliveries) == 6 and named.id not in {
        int(e.id.split(":")[1]) for e in payments.deliveries}


async def test_a_damaged_cache_file_is_written_again(make: Any, gh: GithubServer,
                                                     world: dict[str, Any],
                                                     tmp_path: Path) -> None:
    path = tmp_path / "gh" / CACHE_FILE
    path.parent.mkdir(parents=True)
    path.write_text('{"format": 1, "compares": {"x": {"status": "ahead", "commits": [1]}}, '
                    '"outcomes": 3}', encoding="utf-8")
    source = await make()
    history = await source.delivery_history(query())
    assert len(by_deployment(history, world)["D3"].commits) == 2
    kept = json.loads(path.read_text(encoding="utf-8"))
    assert "x" not in kept["compares"] and len(kept["compares"]) == 3


async def test_a_comparison_github_cannot_make_leaves_the_commits_out(
        make: Any, gh: GithubServer, world: dict[str, Any]) -> None:
    """A deployed commit GitHub no longer knows (a force-push): no commits, no failure."""
    gh.add_deployment(REPO, "production", sha="f" * 40, at=T0 - timedelta(minutes=30))
    source = await make()
    history = await source.delivery_history(query())
    unknown = [e for e in history.deliveries if e.version == "f" * 7]
    assert len(unknown) == 1 and unknown[0].commits == ()
    assert unknown[0].outcome is DeliveryOutcome.SUCCEEDED


async def test_through_the_hub_under_the_platforms_environment_names(
        gh: GithubServer, clock: ManualClock, tmp_path: Path) -> None:
    """GitHub's ``prod`` is the platform's ``production`` (``[environments] names``): a query
    about production reaches GitHub as ``prod``, and its deployments come back as production."""
    gh.add_repo(REPO, runs=1, environments={})
    c = gh.add_commits(REPO, [T0 - 3 * DAY, T0 - 2 * DAY])
    gh.add_deployment(REPO, "prod", sha=c[0], at=T0 - 3 * DAY + HOUR)
    gh.add_deployment(REPO, "prod", sha=c[1], at=T0 - 2 * DAY + HOUR)
    config = tmp_path / "config.toml"
    config.write_text(f'[environments.production]\ntype = "production"\n'
                      'names = { gh = "prod" }\n\n'
                      f'[sources.gh]\ntype = "github"\nurl = "{gh.api_url}"\n'
                      f'token = "{TOKEN}"\nrepos = {{ payments = "{REPO}" }}\n', encoding="utf-8")
    runtime = build_runtime(load_config(config, required=True), data_dir=tmp_path / "data",
                            clock=clock, timer=ManualTimer())
    try:
        snapshot = await runtime.hub.fetch(Topic.delivery(T0 - 7 * DAY, T0,
                                                          environment="production"))
    finally:
        await runtime.close()
    assert snapshot.errors == {}
    events = sorted(snapshot.data.deliveries, key=lambda e: e.started)
    assert [(e.environment, e.source, len(e.commits)) for e in events] == [
        ("production", "gh", 0), ("production", "gh", 1)]
    assert any("environment=prod&" in path for _, path, _ in gh.log)


# idp-tui dora ------------------------------------------------------------------------------------

CLOCK = "2026-11-25T14:00:00Z"


def test_dora_from_github_deployments(tmp_path: Path) -> None:
    """Production of acme/history at the CLOCK (T0): P0 (c0, T0-9d), P1 (c2 at T0-5d+2h: c1
    made T0-6d, c2 T0-5d), P2 (c3 at T0-2d, failed), P3 (c3 at T0-2d+1h: c3 made T0-3d), P4
    (back to c2 at T0-1d: a rollback of P3). Every deployment ends 30 s after it starts.

    Over 30 days: deployments P0, P1, P3 → 3/30 = 0.1 a day; lead times 2h30s, 1d2h30s
    (P1) and 1d1h30s (P3) → median 90,030 s; change failure rate P2 (failed) and P3 (rolled
    back) of four → 0.5; time to restore: P3 was rolled back, so P4 restores both, P2 after
    24 h and P3 after 23 h → median 23.5 h."""
    now = datetime.fromisoformat(CLOCK)
    with GithubServer(now=lambda: now) as gh:
        gh.add_repo(REPO, runs=1, environments={})
        c = gh.add_commits(REPO, [now - 10 * DAY, now - 6 * DAY, now - 5 * DAY, now - 3 * DAY])
        gh.add_deployment(REPO, "production", sha=c[0], at=now - 9 * DAY)
        gh.add_deployment(REPO, "production", sha=c[2], at=now - 5 * DAY + 2 * HOUR)
        gh.add_deployment(REPO, "production", "failure", sha=c[3], at=now - 2 * DAY)
        gh.add_deployment(REPO, "production", sha=c[3], at=now - 2 * DAY + HOUR)
        gh.add_deployment(REPO, "production", sha=c[2], at=now - DAY)
        config = tmp_path / "config.toml"
        folder = catalog(tmp_path, {"payments": None})
        config.write_text(f'[sources.files]\ntype = "catalog-files"\n'
                          f'paths = ["{folder.as_posix()}"]\n\n'
                          f'[sources.gh]\ntype = "github"\nurl = "{gh.api_url}"\n'
                          f'token = "{TOKEN}"\nrepos = {{ payments = "{REPO}" }}\n'
                          'environments = ["production"]\n', encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_TUI_")}
        env.update({"IDP_TUI_DATA_DIR": str(tmp_path / "data"), "IDP_TUI_CONFIG": str(config),
                    "IDP_TUI_CLOCK": CLOCK, "NO_COLOR": "1"})

        def dora(*args: str) -> dict[str, Any]:
            result = subprocess.run([sys.executable, "-m", "idp_tui", "dora", "--json",
                                     "--window", "30d", *args], capture_output=True, text=True,
                                    env=env, timeout=180, check=False,
                                    stdin=subprocess.DEVNULL)
            assert "Traceback" not in result.stderr + result.stdout, result.stderr
            assert result.returncode == 0, result.stderr
            return json.loads(result.stdout)

        service = dora("--service", "payments")
        team = dora("--team", "team-payments")  # the second run: the history kept, and since
    assert service["production"] == ["production"]
    keys = service["results"][0]["keys"]
    assert keys["deployment_frequency"]["value"] == pytest.approx(0.1)
    assert keys["lead_time"]["value"] == pytest.approx(90_030)
    assert keys["change_failure_rate"]["value"] == pytest.approx(0.5)
    assert keys["time_to_restore"]["value"] == pytest.approx(23.5 * 3600)
    assert keys["change_failure_rate"]["counted"] == 4
    results = team["results"]
    assert [(r["scope"], r["name"]) for r in results] == [("team", "team-payments"),
                                                          ("service", "payments")]
    for result in results:
        assert result["keys"]["change_failure_rate"]["value"] == pytest.approx(0.5)
        assert result["keys"]["lead_time"]["value"] == pytest.approx(90_030)


def test_dora_without_a_catalog_source_counts_the_organisation(tmp_path: Path) -> None:
    """Only a github source (its repositories mapped in the config, no catalog source): the
    organisation is counted from the deployments, and the command says that teams are unknown
    instead of failing on the catalog no source offers."""
    now = datetime.fromisoformat(CLOCK)
    with GithubServer(now=lambda: now) as gh:
        gh.add_repo(REPO, runs=1, environments={})
        c = gh.add_commits(REPO, [now - 10 * DAY, now - 6 * DAY])
        gh.add_deployment(REPO, "production", sha=c[0], at=now - 9 * DAY)
        gh.add_deployment(REPO, "production", "failure", sha=c[1], at=now - 5 * DAY)
        config = tmp_path / "config.toml"
        config.write_text(f'[sources.gh]\ntype = "github"\nurl = "{gh.api_url}"\n'
                          f'token = "{TOKEN}"\nrepos = {{ payments = "{REPO}" }}\n'
                          'environments = ["production"]\n', encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_TUI_")}
        env.update({"IDP_TUI_DATA_DIR": str(tmp_path / "data"), "IDP_TUI_CONFIG": str(config),
                    "IDP_TUI_CLOCK": CLOCK, "NO_COLOR": "1"})
        result = subprocess.run([sys.executable, "-m", "idp_tui", "dora", "--json", "--window",
                                 "30d"], capture_output=True, text=True, env=env, timeout=180,
                                check=False, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert "no source offers a catalog" in result.stderr and "Traceback" not in result.stderr
    org = json.loads(result.stdout)["results"][0]
    assert (org["scope"], org["name"]) == ("organisation", "organisation")
    assert org["keys"]["deployment_frequency"]["value"] == pytest.approx(1 / 30)
    assert org["keys"]["change_failure_rate"]["value"] == pytest.approx(0.5)


async def test_two_readers_of_one_url_keep_their_own_shapes(gh: GithubServer, clock: ManualClock,
                                                            tmp_path: Path,
                                                            world: dict[str, Any]) -> None:
    """The same list read by two readers that shape it differently: each gets its own shape
    (a body kept for one reader is never given to the other on a 304), and a reader asking
    again gets its kept body back."""
    from idp_tui_github.client import GithubApi

    context = SourceContext(name="gh", data_dir=tmp_path / "gh", clock=clock)
    api = GithubApi(GithubConfig.model_validate({"url": gh.api_url, "token": TOKEN,
                                                 "repos": {"payments": REPO}}), context)
    url = api.url(f"/repos/{REPO}/deployments", {"environment": "production"})
    try:
        ids, _ = await api.get(url, what="ids", shape=lambda items: [i["id"] for i in items])
        shas, _ = await api.get(url, what="shas", shape=lambda items: [i["sha"] for i in items])
        asked = requests(gh, "/deployments")
        again_ids, _ = await api.get(url, what="ids", shape=ids_of)
        again_ids2, _ = await api.get(url, what="ids", shape=ids_of)
    finally:
        await api.close()
    assert ids and all(isinstance(i, int) for i in ids)
    assert shas and all(isinstance(s, str) for s in shas)
    assert again_ids == again_ids2 == ids
    assert requests(gh, "/deployments") == asked + 2


def ids_of(items: list[dict[str, Any]]) -> list[int]:
    return [item["id"] for item in items]
