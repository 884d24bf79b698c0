"""GitHub's data read right, against the GitHub API emulator (tests/github_server.py, over real
sockets): a deployment payload given as a string, tags and payload versions that differ by a ``v``,
a completed ``action_required`` run, a re-run of an old run, and a transient environment seen only
in Deployments — through the source, the hub, the command line and the dashboard."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import T0
from fakes import StaticSource, context, screen_lines, wait_until
from github_server import TOKEN, GithubServer
from test_cli_commands import Cli, fake_plugins  # noqa: F401 - the fixture

from idp_tui import (
    ActionKind,
    ActionRequest,
    EnvironmentKind,
    ManualClock,
    PipelineQuery,
    PipelineRun,
    RunStatus,
    SourceContext,
    same_version,
    version_name,
)
from idp_tui import render
from idp_tui.config import load_config
from idp_tui.environments import EnvironmentDecl, EnvironmentMap
from idp_tui.hub import Hub, SourceRunner, Topic
from idp_tui.hub.joins import merge_runs
from idp_tui_github import GithubSource
from idp_tui_github.config import GithubConfig
from idp_tui_github.mapping import deployment_payload, is_preview_name

PAY = "acme/payments"
ENVS = ["dev", "staging", "production"]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def gh(clock: ManualClock) -> Iterator[GithubServer]:
    with GithubServer(now=clock.now) as server:
        server.add_repo(PAY, runs=12)
        yield server


@pytest.fixture
async def source(gh: GithubServer, clock: ManualClock,
                 tmp_path: Path) -> AsyncIterator[Any]:
    made: list[GithubSource] = []

    async def factory(**settings: Any) -> GithubSource:
        settings = {"url": gh.api_url, "token": TOKEN, "repos": {"payments": PAY},
                    "environments": ENVS, "deploy": {"workflow": "deploy.yml"}, **settings}
        made.append(GithubSource(GithubConfig.model_validate(settings), SourceContext(
            name="gh", data_dir=tmp_path / f"gh{len(made)}", clock=clock)))
        await made[-1].start()
        return made[-1]

    yield factory
    for one in made:
        await one.close()


def cli(root: Path, plugins: Path, gh: GithubServer, *args: str, config: str = "",
        environments: list[str] | None = ENVS) -> Any:
    """``idp-tui ARGS --json`` (a real subprocess) on a config with the github source (and
    ``config`` before it): the JSON printed (the exit code is 0)."""
    listed = f"environments = {json.dumps(environments)}" if environments is not None else ""
    return Cli(root, plugins, f'''{config}
[sources.gh]
type = "github"
url = "{gh.api_url}"
token = "{TOKEN}"
repos = {{ payments = "{PAY}" }}
{listed}

[sources.gh.deploy]
workflow = "deploy.yml"
''').json(*args)


# Versions ----------------------------------------------------------------------------------------

def test_one_function_says_when_two_names_are_one_version() -> None:
    assert same_version("v1.4.2", "1.4.2") and same_version("1.4.2", "V1.4.2")
    assert same_version("v1.4.2", "v1.4.2") and same_version("4ea9b1c", "4ea9b1c")
    assert not same_version("1.4.2", "1.4.3") and not same_version("v1.4.2", "1.4")
    assert not same_version("very-1", "ery-1")  # a v that starts a word is part of it
    assert not same_version(None, "1.4.2") and not same_version("", "")
    assert [version_name(v) for v in ("v1.4.2", " 1.4.2 ", "vnext", "4ea9b1c")] == [
        "1.4.2", "1.4.2", "vnext", "4ea9b1c"]


def test_a_payload_is_an_object_or_a_string_holding_one() -> None:
    assert deployment_payload({"version": "1.4.2"}) == {"version": "1.4.2"}
    assert deployment_payload('{"version": "1.4.2"}') == {"version": "1.4.2"}
    for other in ('"1.4.2"', "[1, 2]", "not json", "{", "", None, 42, ["a"], "[" * 100_000):
        assert deployment_payload(other) == {}, other


async def test_a_string_payload_gives_the_version_and_anything_else_is_ignored(
        gh: GithubServer, source: Any) -> None:
    gh.add_tag(PAY, "v1.4.2", minutes_ago=30)
    gh.add_deployment(PAY, "dev", ref="main", payload='{"version": "1.4.2", "service": "x"}')
    gh.add_deployment(PAY, "staging", ref="v1.4.2", payload='"just text"')
    gh.add_deployment(PAY, "production", ref="main", payload='{"version": 7}')
    gh.add_deployment(PAY, "qa", ref="main", payload={"version": "v1.4.2"})
    made = await source()
    found = {d.environment: d.version for d in await made.deployments()}
    main_sha = gh.repos[PAY].refs["main"]
    assert found == {"dev": "1.4.2",  # as the payload wrote it
                     "staging": "v1.4.2",  # not an object: the ref, a tag
                     "production": main_sha[:7],  # no version string: the branch's commit
                     "qa": "v1.4.2"}


async def test_a_v_prefixed_tag_is_the_version_a_payload_names_without_it(
        gh: GithubServer, source: Any) -> None:
    gh.add_tag(PAY, "v1.4.2", minutes_ago=30)
    gh.add_deployment(PAY, "staging", ref="v1.4.2", payload='{"version": "1.4.2"}')
    gh.add_deployment(PAY, "dev", ref="v1.4.2", payload={"version": "v1.4.2"})
    made = await source()
    options = {o.version: o for o in await made.deploy_versions("payments", "staging")}
    tag = options["v1.4.2"]  # shown as the tag is written
    assert tag.current and set(tag.environments) == {"dev", "staging"}
    assert [v for v, o in options.items() if o.current] == ["v1.4.2"]
    plan = await made.plan_action(ActionRequest(
        id="p1", kind=ActionKind.DEPLOY, service="payments", environment="production",
        version="v1.4.2"))
    assert plan.current_version != "1.4.2" and set(plan.running_elsewhere) == {"dev", "staging"}
    again = await made.plan_action(ActionRequest(
        id="p2", kind=ActionKind.DEPLOY, service="payments", environment="staging",
        version="v1.4.2"))
    assert again.current_version == "1.4.2" and same_version(again.current_version,
                                                             again.target_version)


def test_the_command_line_says_where_a_tag_runs_as_its_payload_names_it(
        tmp_path: Path, fake_plugins: Path) -> None:  # noqa: F811 - the imported fixture
    with GithubServer() as gh:
        gh.add_repo(PAY, runs=6)
        gh.add_tag(PAY, "v1.4.2", minutes_ago=5)
        gh.add_deployment(PAY, "staging", ref="v1.4.2", payload='{"version": "1.4.2"}')
        data = cli(tmp_path, fake_plugins, gh, "versions", "payments", "--env", "staging")
        tag = next(v for v in data["versions"] if v["version"] == "v1.4.2")
        assert tag["current"] is True and tag["environments"] == ["staging"]
        data = cli(tmp_path, fake_plugins, gh, "envs")
        assert {(d["environment"], d["version"]) for d in data["deployments"]} >= {
            ("staging", "1.4.2")}


# Runs --------------------------------------------------------------------------------------------

async def test_a_completed_action_required_run_needs_action_and_has_ended(
        gh: GithubServer, source: Any, clock: ManualClock) -> None:
    run = gh.add_run(PAY, outcome="action_required", message="From a fork")
    made = await source()
    listed = next(r for r in await made.pipeline_runs(PipelineQuery(limit=20))
                  if r.id == f"{PAY}:{run.id}")
    detail = await made.pipeline_run(f"{PAY}:{run.id}")
    for record in (listed, detail):
        assert record.status is RunStatus.ACTION_REQUIRED and record.status.finished
        assert record.finished_at is not None and record.version is None
    first = listed.duration(clock.now())
    clock.advance(timedelta(hours=3))
    assert listed.duration(clock.now()) == first  # a fixed end: it does not keep growing
    shown = render.run_status(listed.status)
    assert shown.plain == "⚑ action_required" and "yellow" in str(shown.style)
    assert all(status in render.RUN_STYLES for status in RunStatus)


async def test_a_rerun_keeps_its_place_among_the_runs_by_creation(
        gh: GithubServer, source: Any, clock: ManualClock) -> None:
    made = await source()
    before = await made.pipeline_runs(PipelineQuery(limit=20))
    old = next(r for r in before[3:] if r.status is RunStatus.FAILED)
    clock.advance(timedelta(minutes=5))
    gh.rerun(int(old.id.rsplit(":", 1)[1]))
    after = await made.pipeline_runs(PipelineQuery(limit=20))
    again = next(r for r in after if r.id == old.id)
    assert again.attempt == 2 and again.started_at > before[0].started_at  # started last
    assert [r.id for r in after] == [r.id for r in before]  # GitHub's order: by creation
    assert again.created_at == old.created_at


def test_the_hub_merges_the_runs_of_several_sources_by_creation() -> None:
    def run(name: str, created: int, started: int, source: str) -> PipelineRun:
        return PipelineRun(id=name, service="s", status=RunStatus.SUCCEEDED, source=source,
                           created_at=T0 + timedelta(minutes=created),
                           started_at=T0 + timedelta(minutes=started))

    ours = [run("a3", 30, 31, "a"), run("a1-rerun", 10, 50, "a")]
    theirs = [run("b2", 20, 21, "b"), run("b0", 0, 1, "b")]
    without = PipelineRun(id="c", service="s", status=RunStatus.SUCCEEDED,
                          started_at=T0 + timedelta(minutes=25))  # no creation time: its start
    merged = merge_runs([ours, theirs, [without]], limit=10)
    assert [r.id for r in merged] == ["a3", "c", "b2", "a1-rerun", "b0"]
    assert [r.id for r in merge_runs([ours, theirs], limit=2)] == ["a3", "b2"]


def test_the_command_line_lists_runs_as_github_does(
        tmp_path: Path, fake_plugins: Path) -> None:  # noqa: F811 - the imported fixture
    with GithubServer() as gh:
        gh.add_repo(PAY, runs=8)
        before = cli(tmp_path, fake_plugins, gh, "pipelines")
        old = next(r for r in before["pipelines"][3:] if r["status"] == "failed")
        gh.rerun(int(old["id"].rsplit(":", 1)[1]))
        waiting = gh.add_run(PAY, outcome="action_required")
        after = cli(tmp_path, fake_plugins, gh, "pipelines")
        ids = [r["id"] for r in after["pipelines"]]
        assert ids[0] == f"{PAY}:{waiting.id}" and ids[1:] == [r["id"] for r in
                                                              before["pipelines"]][:len(ids) - 1]
        assert after["pipelines"][0]["status"] == "action_required"
        assert after["pipelines"][0]["finished_at"] is not None
        assert next(r for r in after["pipelines"] if r["id"] == old["id"])["attempt"] == 2


# Environments ------------------------------------------------------------------------------------

@pytest.mark.parametrize("marked", [True, False], ids=["transient", "named"])
async def test_an_environment_seen_only_in_deployments_follows_the_configured_ones(
        gh: GithubServer, source: Any, marked: bool) -> None:
    gh.add_deployment(PAY, "preview-42", transient=marked)
    gh.add_deployment(PAY, "qa")
    made = await source()
    envs = await made.environments()
    assert [(e.name, e.order, e.kind) for e in envs] == [
        ("dev", 0, EnvironmentKind.STATIC), ("staging", 1, EnvironmentKind.STATIC),
        ("production", 2, EnvironmentKind.STATIC), ("qa", 3, EnvironmentKind.STATIC),
        ("preview-42", 4, EnvironmentKind.PREVIEW)]
    bare = await source(environments=[])  # no promotion order configured: production last
    assert [e.name for e in await bare.environments()] == [
        "dev", "qa", "staging", "production", "preview-42"]


def test_preview_names() -> None:
    assert all(is_preview_name(n) for n in ("preview-42", "pr-17", "app-pr-17", "review/fix",
                                            "PR_9", "preview"))
    assert not any(is_preview_name(n) for n in ("production", "prod-eu", "pre-prod", "staging",
                                                "prerelease", "dev", "qa"))


DECLARED = """
[environments.dev]
[environments.staging]
[environments.production]
"""


@pytest.mark.parametrize("config, listed", [
    ("", ENVS), ("", None), (DECLARED, None), (DECLARED, ENVS)],
    ids=["github-order", "no-order", "declared", "declared-and-github-order"])
def test_the_command_line_shows_a_transient_environment_last(
        tmp_path: Path, fake_plugins: Path,  # noqa: F811 - the imported fixture
        config: str, listed: list[str] | None) -> None:
    with GithubServer() as gh:
        gh.add_repo(PAY, runs=6)
        gh.add_deployment(PAY, "preview-42", transient=True)
        data = cli(tmp_path, fake_plugins, gh, "envs", config=config, environments=listed)
    assert [(e["name"], e["kind"]) for e in data["environments"]] == [
        ("dev", "static"), ("staging", "static"), ("production", "static"),
        ("preview-42", "preview")]
    assert [e["order"] for e in data["environments"]] == [0, 1, 2, 3]


@pytest.mark.parametrize("first", ["gh", "static"])
@pytest.mark.parametrize("listed", [ENVS, []], ids=["github-order", "no-order"])
async def test_beside_a_second_source_the_promotion_order_holds(
        gh: GithubServer, clock: ManualClock, tmp_path: Path, first: str,
        listed: list[str]) -> None:
    gh.add_deployment(PAY, "preview-42", transient=True)
    github = GithubSource(GithubConfig.model_validate({
        "url": gh.api_url, "token": TOKEN, "repos": {"payments": PAY},
        "environments": listed}), SourceContext(name="gh", data_dir=tmp_path / "gh",
                                                clock=clock))
    static = StaticSource(StaticSource.Config.model_validate(
        {"names": ["cart"], "environments": ["dev", "uat", "staging", "production"]}),
        context("static", tmp_path, clock))
    runners = {"gh": SourceRunner("gh", "github", github, 30.0),
               "static": SourceRunner("static", "test-static", static, 30.0)}
    order = [first, *(name for name in runners if name != first)]
    hub = Hub([runners[name] for name in order], clock=clock)
    try:
        snapshot = await hub.fetch(Topic.environments())
        assert snapshot.errors == {}
        platform = snapshot.data
        assert [e.name for e in platform.environments] == [
            "dev", "uat", "staging", "production", "preview-42"]
        assert [e.order for e in platform.environments] == [0, 1, 2, 3, 4]
        assert platform.deployments[("payments", "preview-42")].version
    finally:
        await hub.close()


async def test_the_hub_puts_declared_environments_first_then_previews(
        gh: GithubServer, clock: ManualClock, tmp_path: Path) -> None:
    gh.add_deployment(PAY, "preview-42", transient=True)
    gh.add_deployment(PAY, "qa")
    github = GithubSource(GithubConfig.model_validate({
        "url": gh.api_url, "token": TOKEN, "repos": {"payments": PAY}}),
        SourceContext(name="gh", data_dir=tmp_path / "gh", clock=clock))
    declared = EnvironmentMap({"dev": EnvironmentDecl(), "staging": EnvironmentDecl(),
                               "production": EnvironmentDecl(names={"gh": "production"})})
    hub = Hub([SourceRunner("gh", "github", github, 30.0)], clock=clock, environments=declared)
    try:
        platform = (await hub.fetch(Topic.environments())).data
        assert [(e.name, e.kind) for e in platform.environments] == [
            ("dev", EnvironmentKind.STATIC), ("staging", EnvironmentKind.STATIC),
            ("production", EnvironmentKind.STATIC), ("qa", EnvironmentKind.STATIC),
            ("preview-42", EnvironmentKind.PREVIEW)]
    finally:
        await hub.close()


async def test_the_dashboard_keeps_the_promotion_order_and_a_lasting_environment(
        tmp_path: Path, gh: GithubServer, clock: ManualClock) -> None:
    gh.add_deployment(PAY, "preview-42", transient=True)
    gh.add_tag(PAY, "v1.4.2", minutes_ago=5)
    gh.add_deployment(PAY, "staging", ref="v1.4.2", payload='{"version": "1.4.2"}')
    path = tmp_path / "config.toml"
    path.write_text(f'''
[sources.gh]
type = "github"
url = "{gh.api_url}"
token = "{TOKEN}"
repos = {{ payments = "{PAY}" }}
''')
    from idp_tui.ui.app import IdpApp
    from idp_tui.ui.panes.envs import EnvironmentsPane

    data = tmp_path / "data"
    data.mkdir()
    app = IdpApp(load_config(path, required=True), data_dir=data, clock=clock)
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_until(pilot, lambda: app.platform is not None
                         and "preview-42" in app.environment_names(), "the environments")
        assert app.environment_names() == ["dev", "staging", "production", "preview-42"]
        assert app.environment == "production"  # the last lasting one, not the preview
        await pilot.press("2")
        pane = app.query_one(EnvironmentsPane)
        await wait_until(pilot, lambda: "1.4.2" in "\n".join(screen_lines(app)),
                         "the matrix")
        header = next(line for line in screen_lines(app) if "preview-42" in line
                      and "staging" in line)
        assert header.index("dev") < header.index("staging") < header.index("production") \
            < header.index("preview-42")
        assert ("payments", "staging") not in pane.drifted  # 1.4.2 is not behind dev's
