"""The github source against the GitHub API emulator (tests/github_server.py, built from GitHub's
published example payloads): runs paged by Link headers, jobs, logs behind a 302, deployments,
conditional requests and the quota, rate limits, errors in GitHub's words, and deploys, re-runs
and cancels followed to their end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from github_server import TOKEN, GithubServer
from pydantic import ValidationError

from conftest import T0
from idp_tui import (
    ActionKind,
    ActionRequest,
    ActionState,
    Health,
    JobLogQuery,
    LogLevel,
    LogLine,
    ManualClock,
    PartialAnswer,
    PipelineQuery,
    RunStatus,
    Service,
    SourceAuthError,
    SourceContext,
    SourceError,
    SourceNotFound,
    SourceRateLimited,
    SourceUnavailable,
)
from idp_tui_github import GithubSource
from idp_tui_github.client import next_link
from idp_tui_github.config import GithubConfig
from idp_tui_github.mapping import parse_log, run_status, version_of

OCTO, PAY = "octo-org/octo-repo", "acme/payments"
PUBLISHED_RUN = f"{OCTO}:30433642"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def gh(clock: ManualClock) -> Iterator[GithubServer]:
    with GithubServer(now=clock.now) as server:
        server.add_repo(OCTO, runs=25, published=True)
        server.add_repo(PAY, runs=5)
        yield server


class Made:
    """A started source with what it told the hub."""

    def __init__(self, source: GithubSource) -> None:
        self.source = source
        self.status: dict[str, str] = {}
        self.changed: list[str] = []


@pytest.fixture
async def make(gh: GithubServer, clock: ManualClock, tmp_path: Path) -> AsyncIterator[Any]:
    made: list[GithubSource] = []

    async def factory(*, data_dir: Path | None = None, **settings: Any) -> Made:
        settings.setdefault("url", gh.api_url)
        settings.setdefault("token", TOKEN)
        settings.setdefault("repos", {"checkout": OCTO, "payments": PAY})
        settings.setdefault("environments", ["dev", "staging", "production"])
        settings.setdefault("poll_interval", 0.001)
        settings.setdefault("deploy", {"workflow": "deploy.yml"})
        holder: list[Made] = []
        context = SourceContext(
            name="gh", data_dir=data_dir or tmp_path / "gh", clock=clock,
            notify=lambda topic: holder[0].changed.append(topic),
            status=lambda key, text: holder[0].status.__setitem__(key, text))
        source = GithubSource(GithubConfig.model_validate(settings), context)
        holder.append(Made(source))
        await source.start()
        made.append(source)
        return holder[0]

    yield factory
    for source in made:
        await source.close()


async def events(source: GithubSource, request: ActionRequest) -> list[Any]:
    return [event async for event in source.run_action(request)]


def posts(gh: GithubServer, fragment: str) -> int:
    return sum(1 for method, path, _ in gh.log if method == "POST" and fragment in path)


def deploy(request_id: str = "d1", **fields: Any) -> ActionRequest:
    fields = {"service": "checkout", "environment": "staging", "version": "v1.2.0", **fields}
    return ActionRequest(id=request_id, kind=ActionKind.DEPLOY, **fields)


# Runs ---------------------------------------------------------------------------------------------

async def test_runs_of_every_repository_follow_the_link_pages(make: Any, gh: GithubServer) -> None:
    made = await make(per_page=10)
    runs = await made.source.pipeline_runs(PipelineQuery(limit=40))
    assert len(runs) == 26 + 5  # 25 generated + the published one; payments' 5
    assert len({r.id for r in runs}) == len(runs)
    assert [r.started_at for r in runs] == sorted((r.started_at for r in runs), reverse=True)
    pages = [path for _, path, _ in gh.log if path.startswith(f"/repos/{OCTO}/actions/runs?")]
    assert pages == [f"/repos/{OCTO}/actions/runs?per_page=10",
                     f"/repos/{OCTO}/actions/runs?page=2&per_page=10",
                     f"/repos/{OCTO}/actions/runs?page=3&per_page=10"]
    newest = runs[0]
    assert newest.id == f"{OCTO}:1000025" and newest.service == "checkout"
    assert (newest.pipeline, newest.branch, newest.trigger) == ("CI", "main", "push by octocat")
    assert newest.message == f"Change 1 of {OCTO}" and len(newest.commit) == 40
    assert newest.status is RunStatus.SUCCEEDED and newest.version == newest.commit[:7]
    assert newest.url == f"https://github.com/{OCTO}/actions/runs/1000025"
    assert newest.finished_at is not None and newest.finished_at > newest.started_at
    # The generated history's conclusions, newest first.
    octo = [r for r in runs if r.service == "checkout" and r.id != PUBLISHED_RUN]
    assert [r.status for r in octo[:12]] == [
        RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.SUCCEEDED, RunStatus.SUCCEEDED,
        RunStatus.CANCELLED, RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.SUCCEEDED,
        RunStatus.SKIPPED, RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.SUCCEEDED]
    tag = next(r for r in octo if r.branch == "v1.2.0")
    assert tag.version == "v1.2.0"
    assert octo[1].version is None and octo[1].finished_at is not None


def test_the_next_page_is_read_from_githubs_link_header(gh: GithubServer) -> None:
    import httpx

    url = f"{gh.url}/repos/{OCTO}/actions/runs?per_page=5&page=3"
    link = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}).headers["link"]
    base = f"{gh.url}/repos/{OCTO}/actions/runs"
    assert link == (f'<{base}?page=2&per_page=5>; rel="prev", '
                    f'<{base}?page=4&per_page=5>; rel="next", '
                    f'<{base}?page=6&per_page=5>; rel="last", '
                    f'<{base}?page=1&per_page=5>; rel="first"')
    assert next_link(link) == f"{base}?page=4&per_page=5"
    assert next_link(f'<{base}?page=5>; rel="prev", <{base}?page=1>; rel="first"') is None
    assert next_link(None) is None


async def test_the_limit_stops_the_paging(make: Any, gh: GithubServer) -> None:
    made = await make(per_page=10)
    runs = await made.source.pipeline_runs(PipelineQuery(service="checkout", limit=15))
    assert len(runs) == 15 and {r.service for r in runs} == {"checkout"}
    assert made.source.requests_sent == 2  # two pages of ten, no third
    filtered = await make(branch="main", status="failure")
    failures = await filtered.source.pipeline_runs(PipelineQuery(service="checkout"))
    assert failures and all(r.branch == "main" and r.status is RunStatus.FAILED
                            for r in failures)
    assert any("branch=main&status=failure" in path for _, path, _ in gh.log)
    capped = await make(per_page=10, max_pages=2)
    assert len(await capped.source.pipeline_runs(PipelineQuery(service="checkout"))) == 20
    assert await made.source.pipeline_runs(PipelineQuery(service="nobody")) == []


async def test_the_published_run_and_job_map_field_by_field(make: Any) -> None:
    made = await make()
    listed = next(r for r in await made.source.pipeline_runs(PipelineQuery(service="checkout"))
                  if r.id == PUBLISHED_RUN)
    assert listed.branch == "master"  # list-workflow-runs.json
    run = await made.source.pipeline_run(PUBLISHED_RUN)  # get-workflow-run.json
    assert (run.pipeline, run.branch, run.message) == ("Build", "main", "Create linter.yaml")
    assert run.commit == "acb5820ced9479c074f688cc328bf03f341a511d"
    assert run.status is RunStatus.QUEUED and run.finished_at is None and run.version is None
    assert run.trigger == "push by octocat"
    assert run.started_at == datetime(2020, 1, 22, 19, 33, 8, tzinfo=UTC)
    assert run.url == "https://github.com/octo-org/octo-repo/actions/runs/30433642"
    (job,) = run.jobs  # list-jobs-for-workflow-run.json
    assert (job.id, job.name, job.status) == ("399444496", "build", RunStatus.SUCCEEDED)
    assert job.started_at == datetime(2020, 1, 20, 17, 42, 40, tzinfo=UTC)
    assert job.finished_at == datetime(2020, 1, 20, 17, 44, 39, tzinfo=UTC)
    assert len(job.steps) == 10 and job.steps[-1].name == "Complete job"
    # "2020-01-20T09:42:40.000-08:00", in UTC.
    assert job.steps[0].started_at == datetime(2020, 1, 20, 17, 42, 40, tzinfo=UTC)
    assert all(step.status is RunStatus.SUCCEEDED for step in job.steps)


async def test_a_failed_runs_jobs_and_steps(make: Any) -> None:
    made = await make()
    run = await made.source.pipeline_run(f"{OCTO}:1000024")
    assert run.status is RunStatus.FAILED
    assert [(j.name, j.status) for j in run.jobs] == [("build", RunStatus.SUCCEEDED),
                                                       ("test", RunStatus.FAILED)]
    steps = {s.name: s.status for s in run.jobs[1].steps}
    assert steps["Run tests"] is RunStatus.FAILED and steps["Complete job"] is RunStatus.SKIPPED
    with pytest.raises(SourceNotFound, match="not a GitHub run"):
        await made.source.pipeline_run("1000024")


def test_status_and_conclusion_mapping() -> None:
    cases = {("queued", None): RunStatus.QUEUED, ("waiting", None): RunStatus.WAITING,
             ("pending", None): RunStatus.QUEUED, ("requested", None): RunStatus.QUEUED,
             ("in_progress", None): RunStatus.RUNNING,
             ("completed", "success"): RunStatus.SUCCEEDED,
             ("completed", "failure"): RunStatus.FAILED,
             ("completed", "timed_out"): RunStatus.FAILED,
             ("completed", "startup_failure"): RunStatus.FAILED,
             ("completed", "cancelled"): RunStatus.CANCELLED,
             ("completed", "skipped"): RunStatus.SKIPPED,
             ("completed", "neutral"): RunStatus.SKIPPED,
             ("completed", "action_required"): RunStatus.ACTION_REQUIRED,
             ("completed", "stale"): RunStatus.CANCELLED,
             ("completed", None): RunStatus.SKIPPED, ("completed", "new"): RunStatus.FAILED}
    assert {key: run_status(*key) for key in cases} == cases
    assert [version_of(ref, "0123456789abcdef") for ref in (
        "v1.2.0", "2024.06.1", "v7", "refs/tags/v2.0.0-rc.1", "main", "1234-fix-login",
        "0123456789abcdef0123456789abcdef01234567")] == [
        "v1.2.0", "2024.06.1", "v7", "v2.0.0-rc.1", "0123456", "0123456", "0123456"]


async def test_one_repository_failing_gives_a_partial_answer(make: Any,
                                                             gh: GithubServer) -> None:
    made = await make()
    gh.repo_errors[PAY] = 502
    with pytest.raises(PartialAnswer) as caught:
        await made.source.pipeline_runs(PipelineQuery())
    assert {r.service for r in caught.value.data} == {"checkout"}
    assert isinstance(caught.value.error, SourceUnavailable)
    assert "acme/payments: GitHub answered 502" in caught.value.error.message
    gh.repo_errors[OCTO] = 503
    with pytest.raises(SourceUnavailable,
                       match=r"answered 50\d: Server Error \(and 1 more repositories\)"):
        await made.source.pipeline_runs(PipelineQuery())


# Logs ---------------------------------------------------------------------------------------------

async def test_a_jobs_log_comes_from_the_redirect_without_the_token(make: Any,
                                                                    gh: GithubServer) -> None:
    made = await make()
    run = await made.source.pipeline_run(f"{OCTO}:1000024")
    test_job = run.jobs[1]
    lines: list[LogLine] = []
    async for batch in made.source.pipeline_logs(JobLogQuery(run_id=run.id, job_id=test_job.id)):
        lines += batch
    assert {(line.service, line.environment, line.instance) for line in lines} == {
        ("checkout", "", "test")}
    assert lines[0].message == "##[group]Set up job"  # the BOM gone, the section's title kept
    # "…T12:40:55.0000001Z": seven fractional digits, one tenth of a second per emulated line.
    assert lines[0].ts == test_job.steps[0].started_at
    assert lines[1].ts == test_job.steps[0].started_at + timedelta(seconds=0.1)
    assert lines[-1].level is LogLevel.ERROR
    assert lines[-1].message == "Process completed with exit code 1."
    assert lines[-2].level is LogLevel.ERROR and lines[-2].message == "Error: 1 test failed"
    warning = next(line for line in lines if line.level is LogLevel.WARN)
    assert warning.message == "Node.js 16 actions are deprecated."
    assert not any(line.message.startswith(("##[error]", "##[warning]", "\ufeff"))
                   for line in lines)
    assert "##[endgroup]" in {line.message for line in lines}  # the sections' ends (folding)
    assert [line.ts for line in lines] == sorted(line.ts for line in lines)
    # The API request carried the token, the download of the pre-signed URL did not.
    api = [auth for _, path, auth in gh.log if path.endswith(f"/jobs/{test_job.id}/logs")]
    blob = [auth for _, path, auth in gh.log if path.startswith(f"/_blob/logs/{test_job.id}")]
    assert api == [True] and blob == [False]


def test_log_lines_are_parsed_as_github_writes_them() -> None:
    make = LogLine.maker(service="s", environment="", instance="build")
    text = ("\ufeff2020-01-20T17:42:40.1234567Z ##[group]Run tests\n"
            "2020-01-20T17:42:40.2234567Z ERROR: boom\n"
            "a line without a time\n"
            "2020-01-20T17:42:41.0000000Z ##[endgroup]\n"
            "2020-01-20T17:42:42.5000000Z ##[warning]careful\n"
            "2020-01-20T17:42:43.0000000Z half a li").lstrip("\ufeff")
    lines, read = parse_log(text, make, final=False)
    assert read == 5  # the unfinished last line waits for the next read
    assert [(line.level, line.message) for line in lines] == [
        (LogLevel.INFO, "##[group]Run tests"), (LogLevel.ERROR, "ERROR: boom"),
        (LogLevel.UNKNOWN, "a line without a time"), (LogLevel.UNKNOWN, "##[endgroup]"),
        (LogLevel.WARN, "careful")]
    assert lines[0].ts == datetime(2020, 1, 20, 17, 42, 40, 123456, tzinfo=UTC)
    assert lines[2].ts == lines[1].ts  # a line without a time takes the one before
    rest, read = parse_log(text + "ne\n", make, skip=read)
    assert read == 6 and [line.message for line in rest] == ["half a line"]


async def test_the_log_of_every_job_in_order(make: Any) -> None:
    made = await make()
    instances = [line.instance async for batch in made.source.pipeline_logs(
        JobLogQuery(run_id=f"{OCTO}:1000025")) for line in batch]
    assert instances[0] == "build" and instances[-1] == "test"
    assert instances == sorted(instances)  # every build line before every test line


async def test_following_a_running_job_sends_only_new_lines(make: Any, gh: GithubServer) -> None:
    made = await make()
    live = gh.add_run(OCTO, live=True)
    batches = [batch async for batch in made.source.pipeline_logs(
        JobLogQuery(run_id=f"{OCTO}:{live.id}", follow=True))]
    messages = [line.message for batch in batches for line in batch]
    assert len(batches) > 4  # it came step by step
    sent = [(line.message, line.instance, line.ts) for batch in batches for line in batch]
    assert len(sent) == len(set(sent))
    assert messages[-1] == "Complete job: done"
    assert gh.run(live.id).status == "completed"
    assert [line.instance for line in batches[0]] == ["build"] * len(batches[0])


async def test_a_run_held_part_of_the_way_reads_the_same_each_time(make: Any,
                                                                   gh: GithubServer) -> None:
    # The emulator's held run (the screenshots use one): running, its finished steps shown, and
    # not advanced by being read.
    made = await make()
    held = gh.add_run(OCTO, held_at=4)
    first = await made.source.pipeline_run(f"{OCTO}:{held.id}")
    assert first.status is RunStatus.RUNNING
    steps = [(s.name, s.status) for s in first.jobs[0].steps]
    assert [status for _, status in steps[:3]] == [RunStatus.SUCCEEDED] * 3
    assert steps[3][1] is RunStatus.RUNNING
    for _ in range(3):
        again = await made.source.pipeline_run(f"{OCTO}:{held.id}")
        assert [(s.name, s.status) for s in again.jobs[0].steps] == steps
    assert gh.run(held.id).status == "in_progress"


# Environments and deployments ---------------------------------------------------------------------

async def test_deployments_give_versions_and_health(make: Any, gh: GithubServer) -> None:
    gh.add_repo("acme/shop", environments={"dev": "in_progress", "staging": "failure",
                                           "production": "success", "preview-42": "inactive",
                                           "qa": "error"})
    made = await make(repos={"shop": "acme/shop"})
    found = {d.environment: d for d in await made.source.deployments()}
    assert {e: (d.health, d.message) for e, d in found.items()} == {
        "dev": (Health.DEGRADED, "Deploying."), "staging": (Health.DOWN, "Deployment failed."),
        "production": (Health.HEALTHY, "Deployment finished successfully."),
        "preview-42": (Health.UNKNOWN, "Superseded."), "qa": (Health.DOWN, "Deployment errored.")}
    assert found["production"].version == "v1.2.0"  # a tag as the ref
    repo = gh.repos["acme/shop"]
    main_sha = next(d.sha for d in repo.deployments if d.ref == "main")
    assert found["dev"].version == main_sha[:7]  # a branch as the ref: its commit
    assert found["staging"].version == next(
        d.ref for d in repo.deployments if d.environment == "staging")[:7]  # a sha as the ref
    assert all(d.service == "shop" and d.updated_at is not None for d in found.values())
    environments = await made.source.environments()
    assert [(e.name, e.order, e.protected) for e in environments] == [
        ("dev", 0, False), ("staging", 1, False), ("production", 2, True),
        ("qa", 3, False), ("preview-42", 4, False)]  # a preview after the lasting ones


async def test_environments_are_read_from_deployments_when_asked_first(make: Any) -> None:
    made = await make(environments=[], protected=["production"])
    names = [e.name for e in await made.source.environments()]
    assert sorted(names) == ["dev", "production", "staging"]


async def test_versions_come_from_succeeded_builds(make: Any) -> None:
    made = await make()
    versions = await made.source.deploy_versions("checkout", "production")
    runs = {r.id: r for r in await made.source.pipeline_runs(PipelineQuery(service="checkout"))}
    assert versions and all(runs[v.run_id].status is RunStatus.SUCCEEDED for v in versions)
    assert all(runs[v.run_id].branch in ("main", "v1.2.0") for v in versions)  # no feature/…
    assert [v.built_at for v in versions] == sorted((v.built_at for v in versions), reverse=True)
    current = [v for v in versions if v.current]
    assert [(v.version, v.environments) for v in current] == [("v1.2.0", ("production",))]
    by_version = {v.version: v for v in versions}
    dev = next(d for d in await made.source.deployments()
               if d.service == "checkout" and d.environment == "dev")
    assert by_version[dev.version].environments == ("dev",)
    assert by_version[dev.version].commit.startswith(dev.version)
    with pytest.raises(SourceNotFound, match="no GitHub repository"):
        await made.source.deploy_versions("nobody", "dev")


# Conditional requests, the quota, rate limits -----------------------------------------------------

async def test_a_second_poll_costs_no_quota(make: Any, gh: GithubServer) -> None:
    made = await make()
    source = made.source
    await source.pipeline_runs(PipelineQuery())
    await source.deployments()
    first, counted = source.quota_requests, gh.counted
    assert first == counted > 0 and gh.not_modified == 0
    await source.pipeline_runs(PipelineQuery())
    await source.deployments()
    assert source.quota_requests == first and gh.counted == counted
    assert gh.not_modified == first and source.requests_sent == 2 * first
    gh.add_run(PAY)  # one repository changes
    runs = await source.pipeline_runs(PipelineQuery())
    assert source.quota_requests == first + 1
    assert sum(1 for r in runs if r.service == "payments") == 6
    plain = await make(conditional_requests=False)
    await plain.source.pipeline_runs(PipelineQuery())
    await plain.source.pipeline_runs(PipelineQuery())
    assert plain.source.quota_requests == plain.source.requests_sent == 4


async def test_the_quota_left_is_the_sources_status(make: Any, gh: GithubServer) -> None:
    made = await make()
    await made.source.pipeline_runs(PipelineQuery(service="payments"))
    assert made.status["quota"] == "4,999 of 5,000 left, resets 15:00 UTC"
    gh.limit = 12_000
    await made.source.pipeline_runs(PipelineQuery(service="checkout"))
    assert made.status["quota"] == "11,998 of 12,000 left, resets 15:00 UTC"


@pytest.mark.parametrize("status", [403, 429])
async def test_the_primary_limit_waits_for_the_reset(make: Any, gh: GithubServer,
                                                     clock: ManualClock, status: int) -> None:
    made = await make()
    gh.limit_status = status
    gh.exhaust()
    with pytest.raises(SourceRateLimited) as caught:
        await made.source.pipeline_runs(PipelineQuery())
    assert caught.value.retry_at == T0 + timedelta(hours=1)
    assert "API rate limit exceeded for user ID 1" in caught.value.message
    assert made.status["quota"] == "0 of 5,000 left, resets 15:00 UTC"
    sent = gh.requests
    clock.advance(timedelta(minutes=59))
    for call in (made.source.pipeline_runs(PipelineQuery()), made.source.deployments(),
                 made.source.pipeline_run(f"{OCTO}:1000024")):
        with pytest.raises(SourceRateLimited) as again:
            await call
        assert again.value.retry_at == T0 + timedelta(hours=1)
    assert gh.requests == sent  # nothing was sent while waiting
    clock.advance(timedelta(minutes=1, seconds=1))  # past the reset: a new window
    assert len(await made.source.pipeline_runs(PipelineQuery())) == 31
    assert made.status["quota"].startswith("4,99")


@pytest.mark.parametrize("status", [403, 429])
async def test_a_retry_after_is_honoured(make: Any, gh: GithubServer, clock: ManualClock,
                                         status: int) -> None:
    made = await make()
    gh.throttle(status=status, retry_after=30, secondary=status == 403)
    with pytest.raises(SourceRateLimited) as caught:
        await made.source.pipeline_runs(PipelineQuery(service="payments"))
    assert caught.value.retry_at == T0 + timedelta(seconds=30)
    sent = gh.requests
    clock.advance(29)
    with pytest.raises(SourceRateLimited):
        await made.source.pipeline_runs(PipelineQuery(service="payments"))
    assert gh.requests == sent
    clock.advance(2)
    assert len(await made.source.pipeline_runs(PipelineQuery(service="payments"))) == 5


async def test_a_secondary_limit_without_retry_after_waits_a_minute_then_longer(
        make: Any, gh: GithubServer, clock: ManualClock) -> None:
    made = await make()
    gh.throttle(status=403, count=2)
    with pytest.raises(SourceRateLimited, match="secondary rate limit") as first:
        await made.source.pipeline_runs(PipelineQuery(service="payments"))
    assert first.value.retry_at == T0 + timedelta(seconds=60)
    clock.advance(61)
    with pytest.raises(SourceRateLimited) as second:
        await made.source.pipeline_runs(PipelineQuery(service="payments"))
    assert second.value.retry_at == clock.now() + timedelta(seconds=120)
    clock.advance(121)
    assert len(await made.source.pipeline_runs(PipelineQuery(service="payments"))) == 5


# Errors in GitHub's words -------------------------------------------------------------------------

async def test_a_wrong_token(make: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    made = await make(token="ghp_wrong")
    with pytest.raises(SourceAuthError, match="Bad credentials") as caught:
        await made.source.pipeline_runs(PipelineQuery(service="payments"))
    assert "token" in (caught.value.hint or "") and "Actions" in (caught.value.hint or "")
    monkeypatch.setenv("IDP_GH_TEST_TOKEN", TOKEN)
    from_env = await make(token=None, token_env="IDP_GH_TEST_TOKEN")
    assert len(await from_env.source.pipeline_runs(PipelineQuery(service="payments"))) == 5
    # A token_env the config names, unset: said at the start, naming the variable.
    monkeypatch.delenv("IDP_GH_TEST_TOKEN")
    with pytest.raises(SourceAuthError, match="names the environment variable IDP_GH_TEST_TOKEN, "
                                              "which is not set") as unset:
        await make(token=None, token_env="IDP_GH_TEST_TOKEN")
    assert "[sources.gh]" in (unset.value.hint or "")
    # The default one (GITHUB_TOKEN), unset: unauthenticated, as the health view says.
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    anonymous = await make(token=None)
    assert anonymous.status["token"] == ("none (GITHUB_TOKEN is not set): unauthenticated, "
                                         "60 requests an hour")
    with pytest.raises(SourceAuthError):
        await anonymous.source.pipeline_runs(PipelineQuery(service="payments"))


async def test_an_unknown_repository(make: Any) -> None:
    made = await make(repos={"ghost": "nobody/ghost"})
    with pytest.raises(SourceNotFound) as caught:
        await made.source.pipeline_runs(PipelineQuery())
    assert caught.value.message == "nobody/ghost: not found or not visible to the token"
    assert "project-slug" in (caught.value.hint or "")


async def test_unreachable_github(make: Any) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    made = await make(url=f"http://127.0.0.1:{port}")
    with pytest.raises(SourceUnavailable, match="connection refused"):
        await made.source.pipeline_runs(PipelineQuery())


async def test_a_server_that_does_not_answer(make: Any) -> None:
    import socket

    with socket.socket() as listener:  # accepts connections, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        made = await make(url=f"http://127.0.0.1:{listener.getsockname()[1]}",
                          request_timeout=0.2)
        with pytest.raises(SourceUnavailable, match=r"did not answer within 0.2 s") as caught:
            await made.source.pipeline_runs(PipelineQuery(service="payments"))
        assert "request_timeout" in (caught.value.hint or "")


async def test_an_enterprise_server_base_url(clock: ManualClock, make: Any) -> None:
    with GithubServer(now=clock.now, prefix="/api/v3") as ghes:
        ghes.add_repo(OCTO, runs=12)
        made = await make(url=ghes.api_url + "/", repos={"checkout": OCTO}, per_page=5)
        assert made.source.config.url.endswith("/api/v3")
        assert len(await made.source.pipeline_runs(PipelineQuery())) == 12
        assert all(path.startswith("/api/v3/repos/") for _, path, _ in ghes.log)


async def test_a_dispatch_refused_with_422_in_githubs_words(make: Any, gh: GithubServer) -> None:
    made = await make(deploy={"workflow": "deploy.yml",
                              "inputs": {"service": "service", "environment": "environment",
                                         "version": "release"}})
    with pytest.raises(SourceError) as caught:
        await events(made.source, deploy("bad"))
    message = caught.value.message
    assert message.startswith(f"{OCTO}: workflow deploy.yml: Validation Failed")
    assert 'Unexpected inputs provided: ["release"]' in message
    assert 'Required inputs not provided: ["version"]' in message
    # The id is spent: sent again, it says how it ended instead of dispatching again.
    again = await events(made.source, deploy("bad"))
    assert again[-1].state is ActionState.FAILED and "Validation Failed" in again[-1].message
    assert posts(gh, "/dispatches") == 1


# Actions ------------------------------------------------------------------------------------------

async def test_a_deploy_plan_names_the_workflow_repo_ref_and_inputs(make: Any) -> None:
    made = await make()
    plan = await made.source.plan_action(deploy())
    assert plan.summary == (f"Run workflow Deploy (deploy.yml) of {OCTO} on main with "
                            "service=checkout, environment=staging, version=v1.2.0")
    assert plan.target_version == "v1.2.0" and plan.running_elsewhere == ("production",)
    assert plan.current_version is not None and len(plan.current_version) == 7
    odd = await made.source.plan_action(deploy(version="0000000"))
    assert any("not among the versions" in note for note in odd.notes)
    missing = await make(deploy={"workflow": "release.yml"})
    with pytest.raises(SourceNotFound, match="no workflow release.yml") as caught:
        await missing.source.plan_action(deploy())
    assert "ci.yml, deploy.yml" in (caught.value.hint or "")
    unset = await make(deploy={})
    with pytest.raises(SourceError, match="no deploy workflow set"):
        await unset.source.plan_action(deploy())
    with pytest.raises(SourceNotFound, match="not an environment"):
        await made.source.plan_action(deploy(environment="moon"))


@pytest.mark.parametrize(("answer", "outcome"), [(200, "success"), (204, "success"),
                                                 (200, "failure"), (204, "failure")])
async def test_a_deploy_is_dispatched_and_followed_to_its_end(
        make: Any, gh: GithubServer, answer: int, outcome: str) -> None:
    made = await make()
    gh.force_204 = answer == 204
    gh.outcomes = [outcome]
    seen = await events(made.source, deploy())
    assert seen[0].message.startswith("Dispatching deploy.yml of octo-org/octo-repo on main")
    assert (answer == 204) == any("looking for its run" in e.message for e in seen)
    run = gh.repos[OCTO].runs[0]
    assert run.event == "workflow_dispatch" and run.status == "completed"
    assert run.inputs == {"service": "checkout", "environment": "staging", "version": "v1.2.0"}
    assert any(f"Run {run.id} started" in e.message for e in seen)
    progress = [e for e in seen if "running step" in e.message]
    assert progress and all(e.total == 2 and e.state is ActionState.RUNNING for e in progress)
    assert [e.done for e in progress] == sorted(e.done for e in progress)
    assert all(not e.state.finished for e in seen[:-1])
    last = seen[-1]
    if outcome == "success":
        assert last.state is ActionState.SUCCEEDED and (last.done, last.total) == (2, 2)
        assert last.message == f"Deploy #{run.number} succeeded — " \
                               f"https://github.com/{OCTO}/actions/runs/{run.id}"
        staging = next(d for d in await made.source.deployments()
                       if d.service == "checkout" and d.environment == "staging")
        assert (staging.version, staging.health) == ("v1.2.0", Health.HEALTHY)
    else:
        assert last.state is ActionState.FAILED and last.level == "error"
        assert f"Deploy #{run.number} concluded failure: job deploy failure at step Deploy" \
            in last.message
    assert posts(gh, "/dispatches") == 1


async def test_a_deploy_waiting_for_approval_says_so_and_goes_on_once_approved(
        make: Any, gh: GithubServer) -> None:
    # A deploy job to an environment with required reviewers: GitHub holds the run ("waiting").
    made = await make(poll_interval=0.02)
    gh.outcomes = ["waiting"]
    events: list[Any] = []

    async def drive() -> None:
        async for event in made.source.run_action(deploy("approve")):
            events.append(event)

    task = asyncio.create_task(drive())
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not any("waiting for approval" in e.message for e in events):
            assert loop.time() < deadline, [e.message for e in events]
            await asyncio.sleep(0.02)
        run = gh.repos[OCTO].runs[0]
        waiting = next(e for e in events if "waiting for approval" in e.message)
        assert waiting.message == (
            f"Deploy #{run.number}: waiting for approval of job deploy (a protected "
            f"environment's reviewers, on GitHub) — https://github.com/{OCTO}/actions/runs/{run.id}")
        assert waiting.state is ActionState.RUNNING
        listed = await made.source.pipeline_run(f"{OCTO}:{run.id}")
        assert listed.status is RunStatus.WAITING and not listed.status.finished
        assert [j.status for j in listed.jobs] == [RunStatus.SUCCEEDED, RunStatus.WAITING]
        def reads() -> int:
            return sum(1 for method, path, _ in list(gh.log)
                       if method == "GET" and f"/actions/runs/{run.id}" in path)

        seen = reads()
        while reads() < seen + 3:  # the run read again a few times
            assert loop.time() < deadline, reads()
            await asyncio.sleep(0.02)
        assert not task.done() and gh.run(run.id).status == "waiting"  # held, however often read
        gh.approve(run.id)
        await asyncio.wait_for(task, 10)
    finally:
        task.cancel()
    assert events[-1].state is ActionState.SUCCEEDED
    assert gh.run(run.id).conclusion == "success"


async def test_stopping_a_deploy_cancels_its_run(make: Any, gh: GithubServer,
                                                 tmp_path: Path) -> None:
    made = await make(data_dir=tmp_path / "kept", poll_interval=0.05)
    assert (await made.source.plan_action(deploy("stop"))).cancellable
    started = asyncio.Event()

    async def drive() -> None:
        async for event in made.source.run_action(deploy("stop")):
            if " started" in event.message:
                started.set()

    task = asyncio.create_task(drive())
    await asyncio.wait_for(started.wait(), 10)
    run = gh.repos[OCTO].runs[0]
    assert run.event == "workflow_dispatch" and run.status != "completed"
    task.cancel()  # what the hub does when the user stops the action
    with pytest.raises(asyncio.CancelledError):
        await task
    assert posts(gh, f"/runs/{run.id}/cancel") == 1
    # The emulator ends a cancelled run when it is next read.
    await made.source.pipeline_run(f"{OCTO}:{run.id}")
    assert gh.run(run.id).conclusion == "cancelled"
    # Asked again with the same id: what happened, not another dispatch.
    again = await events(made.source, deploy("stop"))
    assert again[-1].state is ActionState.CANCELLED
    assert again[-1].message.endswith("stopped; the run was cancelled")
    assert posts(gh, "/dispatches") == 1


async def test_a_request_id_is_done_once(make: Any, gh: GithubServer, tmp_path: Path) -> None:
    made = await make(data_dir=tmp_path / "kept")
    first = await events(made.source, deploy("once"))
    assert first[-1].state is ActionState.SUCCEEDED
    again = await events(made.source, deploy("once"))
    assert len(again) == 1 and again[0].state is ActionState.SUCCEEDED
    assert again[0].message.startswith("Request once was done before: Deploy #")
    restarted = await make(data_dir=tmp_path / "kept")  # another process, the same data
    assert (await events(restarted.source, deploy("once")))[-1].state is ActionState.SUCCEEDED
    assert posts(gh, "/dispatches") == 1
    with pytest.raises(SourceError, match="already used for another action"):
        await events(made.source, deploy("once", version="0000000"))
    # Sent twice at once: one dispatch, the second request follows the first one's run.
    both = await asyncio.gather(events(made.source, deploy("twice")),
                                events(made.source, deploy("twice")))
    assert posts(gh, "/dispatches") == 2
    assert [b[-1].state for b in both] == [ActionState.SUCCEEDED, ActionState.SUCCEEDED]
    assert any("following its run" in e.message for b in both for e in b)


async def test_rerun_the_failed_jobs(make: Any, gh: GithubServer) -> None:
    made = await make()
    failed = f"{OCTO}:1000024"
    request = ActionRequest(id="r1", kind=ActionKind.RERUN, run_id=failed, service="checkout")
    plan = await made.source.plan_action(request)
    assert plan.summary == f"Re-run the failed jobs of CI #24 of {OCTO} (main @ " \
                           f"{gh.run(1000024).sha[:7]}): test"
    seen = await events(made.source, request)
    assert seen[0].message == "Re-running the failed jobs of CI #24 (attempt 2)"
    assert seen[-1].state is ActionState.SUCCEEDED and "CI #24 succeeded" in seen[-1].message
    assert gh.run(1000024).attempt == 2 and gh.run(1000024).conclusion == "success"
    assert posts(gh, "/rerun-failed-jobs") == 1
    for run_id, why in ((f"{OCTO}:1000025", "no failed job"), (PUBLISHED_RUN, "still queued")):
        with pytest.raises(SourceError, match=why):
            await made.source.plan_action(request.model_copy(update={"run_id": run_id}))
        with pytest.raises(SourceError, match=why):
            await events(made.source, request.model_copy(update={"run_id": run_id, "id": run_id}))
    assert posts(gh, "/rerun-failed-jobs") == 1


async def test_cancel_a_running_run(make: Any, gh: GithubServer) -> None:
    made = await make()
    live = gh.add_run(OCTO, live=True)
    request = ActionRequest(id="c1", kind=ActionKind.CANCEL, run_id=f"{OCTO}:{live.id}")
    plan = await made.source.plan_action(request)
    assert plan.summary.startswith(f"Cancel CI #{live.number} of {OCTO} (in_progress, main @ ")
    seen = await events(made.source, request)
    assert seen[-1].state is ActionState.SUCCEEDED
    assert seen[-1].message.startswith(f"CI #{live.number} cancelled")
    assert gh.run(live.id).conclusion == "cancelled"
    with pytest.raises(SourceError, match="already completed"):
        await made.source.plan_action(request.model_copy(update={"id": "c2"}))
    # GitHub's own refusal (409) in its words.
    with pytest.raises(SourceError, match="Cannot cancel a workflow run that is completed"):
        await made.source.api.post(f"/repos/{OCTO}/actions/runs/{live.id}/cancel", None,
                                   what=f"{OCTO}: run {live.id}")


# The catalog and the config -----------------------------------------------------------------------

async def test_repositories_from_the_catalog(make: Any) -> None:
    made = await make(repos={"checkout": OCTO})
    catalog = [Service(name="payments", annotations={"github.com/project-slug": PAY}),
               Service(name="checkout", annotations={"github.com/project-slug": "other/repo"}),
               Service(name="broken", annotations={"github.com/project-slug": "not a slug"}),
               Service(name="plain")]
    await made.source.use_catalog(catalog)
    assert made.changed == ["pipelines", "environments"]
    assert made.source.repos() == {"payments": PAY, "checkout": OCTO}  # the config wins
    runs = await made.source.pipeline_runs(PipelineQuery(service="payments"))
    assert len(runs) == 5 and runs[0].id.startswith(f"{PAY}:")
    await made.source.use_catalog(catalog)  # nothing new: nothing to say
    assert made.changed == ["pipelines", "environments"]
    await made.source.use_catalog(catalog[1:])
    assert made.changed == ["pipelines", "environments"] * 2
    assert await made.source.pipeline_runs(PipelineQuery(service="payments")) == []


@pytest.mark.parametrize(("settings", "words"), [
    ({"repos": {"shop": "just-a-name"}}, 'shop: expected "owner/repo"'),
    ({"status": "done"}, "unknown run status 'done'"),
    ({"per_page": 101}, "less than or equal to 100"),
    ({"url": "api.github.com"}, "expected an http:// or https:// URL"),
    ({"deploy": {"inputs": {"colour": "c"}}}, "unknown key(s) colour"),
    ({"deploy": {"workflow": "deploy"}}, 'expected a workflow file name such as "deploy.yml"'),
    ({"environments": ["dev", "dev"]}, "'dev' is listed twice"),
    ({"environments": ["dev"], "protected": ["prod"]}, "protected environment(s) prod not in"),
    ({"tokn": "x"}, "Extra inputs are not permitted"),
    ({"poll_interval": 0}, "greater than 0"),
])
def test_config_errors_say_what_is_wrong(settings: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        GithubConfig.model_validate(settings)
    assert words in str(caught.value)


def test_config_defaults_and_accepted_spellings() -> None:
    config = GithubConfig.model_validate({
        "url": "https://ghe.example.com/api/v3/",
        "repos": {"shop": "https://github.com/acme/shop.git"},
        "deploy": {"workflow": ".github/workflows/deploy.yml", "workflows": {"shop": "1234"}}})
    assert config.url == "https://ghe.example.com/api/v3"
    assert config.repos == {"shop": "acme/shop"}
    assert (config.deploy.workflow, config.deploy.workflows) == ("deploy.yml", {"shop": "1234"})
    assert config.deploy.inputs == {"service": "service", "environment": "environment",
                                    "version": "version"}
    assert (config.deploy.ref, config.protected, config.per_page) == ("main", ["production"], 100)
    assert config.conditional_requests and config.token_env == "GITHUB_TOKEN"
