"""GitHub's quota across processes and strikes: a rate limit's reset is kept in the source's data
folder, so the next runtime (the next ``idp-tui`` command) sends nothing before it; answers to
requests in flight together that hit one secondary limit are one strike; ``idp-tui sources
--json`` carries the quota the health view shows. Against the GitHub API emulator
(tests/github_server.py) over real sockets; the command line as real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from github_server import TOKEN, GithubServer

from conftest import T0
from idp_tui import ManualClock, PipelineQuery, SourceContext, SourceRateLimited
from idp_tui.config import load_config
from idp_tui.hub import ManualTimer, Topic
from idp_tui.runtime import build_runtime
from idp_tui_github import GithubSource
from idp_tui_github.client import QUOTA_FILE
from idp_tui_github.config import GithubConfig

OCTO, PAY = "octo-org/octo-repo", "acme/payments"
TESTS = Path(__file__).resolve().parent


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def gh(clock: ManualClock) -> Iterator[GithubServer]:
    with GithubServer(now=clock.now) as server:
        server.add_repo(OCTO, runs=4)
        server.add_repo(PAY, runs=3)
        yield server


def write_config(tmp_path: Path, gh: GithubServer) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'''
[sources.gh]
type = "github"
url = "{gh.api_url}"
token = "{TOKEN}"
environments = ["dev", "staging", "production"]

[sources.gh.repos]
checkout = "{OCTO}"
payments = "{PAY}"
''')
    return path


async def one_run(config: Path, data: Path, clock: ManualClock) -> tuple[Any, dict[str, str]]:
    """One runtime on ``data`` (as one command is): the pipelines, and the source's status."""
    runtime = build_runtime(load_config(config, required=True), data_dir=data, clock=clock,
                            timer=ManualTimer())
    try:
        snapshot = await runtime.hub.fetch(Topic.pipelines())
        return snapshot, dict(runtime.hub.health["gh"].details)
    finally:
        await runtime.close()


async def test_the_reset_is_kept_for_the_next_runtime(tmp_path: Path, gh: GithubServer,
                                                      clock: ManualClock) -> None:
    config, data = write_config(tmp_path, gh), tmp_path / "data"
    snapshot, status = await one_run(config, data, clock)
    assert len(snapshot.data) == 7 and status["quota"] == "4,998 of 5,000 left, resets 15:00 UTC"
    gh.exhaust()
    clock.advance(60)
    snapshot, status = await one_run(config, data, clock)
    assert snapshot.errors["gh"].error_class == "rate limited"
    assert "next try at 15:00:00 UTC" in snapshot.errors["gh"].message
    assert status["quota"] == "0 of 5,000 left, resets 15:00 UTC"
    kept = json.loads((data / "sources" / "gh" / QUOTA_FILE).read_text())
    assert kept["blocked_until"] == (T0 + timedelta(hours=1)).isoformat()
    # The next command, inside the window: nothing is sent, the wait and the quota are said.
    for step in (timedelta(minutes=1), timedelta(minutes=29), timedelta(minutes=28, seconds=58)):
        sent = gh.requests
        clock.advance(step)
        snapshot, status = await one_run(config, data, clock)
        assert gh.requests == sent
        assert snapshot.errors["gh"].error_class == "rate limited"
        assert "next try at 15:00:00 UTC" in snapshot.errors["gh"].message
        assert status["quota"] == "0 of 5,000 left, resets 15:00 UTC"
    # After GitHub's reset, the next command asks again.
    clock.set(T0 + timedelta(hours=1, seconds=1))
    sent = gh.requests
    snapshot, status = await one_run(config, data, clock)
    assert gh.requests > sent and snapshot.errors == {} and len(snapshot.data) == 7
    assert status["quota"].startswith("4,99")


async def test_a_kept_file_that_is_garbage_is_ignored(tmp_path: Path, gh: GithubServer,
                                                      clock: ManualClock) -> None:
    config, data = write_config(tmp_path, gh), tmp_path / "data"
    (data / "sources" / "gh").mkdir(parents=True)
    for garbage in ("{", "[]", '{"blocked_until": "soon"}', '{"blocked_until": 3}'):
        (data / "sources" / "gh" / QUOTA_FILE).write_text(garbage)
        snapshot, _status = await one_run(config, data, clock)
        assert snapshot.errors == {} and len(snapshot.data) == 7


async def test_two_answers_of_one_secondary_limit_are_one_strike(
        tmp_path: Path, gh: GithubServer, clock: ManualClock) -> None:
    settings = {"url": gh.api_url, "token": TOKEN, "repos": {"checkout": OCTO, "payments": PAY}}
    context = SourceContext(name="gh", data_dir=tmp_path / "gh", clock=clock)
    source = GithubSource(GithubConfig.model_validate(settings), context)
    await source.start()
    try:
        gh.throttle(status=403, count=2)
        gh.hold(2)  # both requests are in flight before either is answered
        with pytest.raises(SourceRateLimited) as caught:
            await source.pipeline_runs(PipelineQuery())
        assert gh.requests == 2
        assert caught.value.retry_at == T0 + timedelta(seconds=60)  # not 120: one strike
        clock.advance(61)
        gh.throttle(status=403, count=1)
        with pytest.raises(SourceRateLimited) as again:
            await source.pipeline_runs(PipelineQuery(service="payments"))
        assert again.value.retry_at == clock.now() + timedelta(seconds=120)  # the second
    finally:
        await source.close()


# The command line ----------------------------------------------------------------------------------

def idp(data: Path, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_TUI_")}
    env.update({"IDP_TUI_DATA_DIR": str(data), "IDP_TUI_CONFIG": str(config),
                "PYTHONPATH": str(TESTS)})
    env.pop("GITHUB_TOKEN", None)
    result = subprocess.run([sys.executable, "-m", "idp_tui", *args], capture_output=True,
                            text=True, env=env, timeout=120, stdin=subprocess.DEVNULL)
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    return result


def test_the_command_line_keeps_the_reset_and_says_the_quota(tmp_path: Path) -> None:
    with GithubServer() as gh:  # the wall clock: two processes
        gh.add_repo(OCTO, runs=4)
        gh.add_repo(PAY, runs=3)
        config, data = write_config(tmp_path, gh), tmp_path / "data"
        data.mkdir()
        result = idp(data, config, "sources", "--json")
        assert result.returncode == 0, result.stderr
        (row,) = json.loads(result.stdout)["sources"]
        assert row["quota"].startswith("4,99") and " of 5,000 left, resets " in row["quota"]
        assert row["status"]["quota"] == row["quota"] and row["state"] == "ok"
        gh.exhaust()
        first = idp(data, config, "pipelines", "--json")
        assert first.returncode == 4, first.stderr
        assert "rate limited" in first.stdout + first.stderr
        sent = gh.requests
        for args in (("pipelines", "--json"), ("envs", "--json"), ("sources", "--json")):
            again = idp(data, config, *args)
            assert again.returncode == 4, (args, again.stderr)
            assert gh.requests == sent, args  # nothing sent before GitHub's reset
        (row,) = json.loads(again.stdout)["sources"]
        assert row["quota"].startswith("0 of 5,000 left") and row["state"] == "waiting"
        assert row["error_class"] == "rate limited" and row["retry_at"]


async def test_answers_that_come_back_out_of_order_keep_the_lower_count(tmp_path: Path,
                                                                        clock: ManualClock) -> None:
    """Two requests in flight: the one sent first may answer last. Within one window GitHub's
    count only goes down, so the lower count is kept; a new window's count replaces it."""
    from idp_tui_github.client import GithubApi

    api = GithubApi(GithubConfig.model_validate({"url": "http://127.0.0.1:9", "token": TOKEN,
                                                 "repos": {"a": "o/a"}}),
                    SourceContext(name="gh", data_dir=tmp_path / "gh", clock=clock))
    reset = int((T0 + timedelta(hours=1)).timestamp())

    def answer(remaining: int, at: int = reset) -> None:
        api._read_quota({"x-ratelimit-limit": "5000", "x-ratelimit-remaining": str(remaining),
                         "x-ratelimit-reset": str(at)})

    try:
        answer(4998)
        answer(4999)  # sent before, answered after
        assert api.quota is not None and api.quota[1] == 4998
        answer(4997)
        assert api.quota[1] == 4997
        answer(5000, reset + 3600)  # the next window
        assert api.quota[1] == 5000
    finally:
        await api.close()
