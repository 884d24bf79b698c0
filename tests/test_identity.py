"""Confirmed identity: the sources that can say who the user is (GitHub's ``GET /user``, a
Kubernetes SelfSubjectReview) are asked once a run; the audit records keep the claimed actor and
carry the confirmed names beside it; a source that cannot say is "not confirmed", and a slow one
never holds an action up."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from github_server import TOKEN, GithubServer

from idp_tui import (
    ActionEvent,
    ActionKind,
    ActionPlan,
    ActionRequest,
    ActionState,
    Capability,
    Identity,
    Source,
)
from idp_tui.actions import ActionManager
from idp_tui.audit import AuditLog
from idp_tui.config import PolicyConfig
from idp_tui.hub import Hub, ManualTimer, SourceRunner, Topic
from idp_tui.identity import IdentityCheck, actor_text
from kube import Cluster
from test_cli_commands import Cli, fake_plugins  # noqa: F401 - the fixture
from test_cli_github_actions import OCTO, checkout_source

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


# GitHub ------------------------------------------------------------------------------------------

@pytest.fixture
def gh() -> Iterator[GithubServer]:
    with GithubServer() as server:
        server.add_repo(OCTO, runs=3)
        yield server


@pytest.fixture
def cli(tmp_path: Path, fake_plugins: Path, gh: GithubServer) -> Cli:  # noqa: F811
    return Cli(tmp_path, fake_plugins, '[policy]\nidentity = "alice"\n' + checkout_source(gh))


def _records(cli: Cli) -> list[dict[str, Any]]:
    return [json.loads(line) for line in cli.ok("audit", "--json", "--limit", "0").splitlines()]


def test_a_deploy_records_the_github_login_beside_the_claimed_actor(cli: Cli,
                                                                   gh: GithubServer) -> None:
    cli.ok("deploy", "checkout", "--env", "dev", "--version", "main", "--yes")
    records = [r for r in _records(cli) if r.get("action") == "deploy"]
    assert [r["phase"] for r in records] == ["started", "finished"]
    for record in records:
        assert record["actor"] == "alice"  # the claimed one stays the actor
        assert record["confirmed"] == {"gh": "octocat"}
    assert sum(1 for method, path, _ in gh.log if path == "/user") == 1  # asked once a run
    table = cli.ok("audit")
    assert "alice (gh: octocat)" in table


def test_a_token_of_no_user_confirms_nobody_and_the_action_runs(cli: Cli,
                                                               gh: GithubServer) -> None:
    gh.login = None  # an app's token: GitHub answers 403
    cli.ok("deploy", "checkout", "--env", "dev", "--version", "main", "--yes")
    records = [r for r in _records(cli) if r.get("action") == "deploy"]
    assert [r["phase"] for r in records] == ["started", "finished"]
    assert all(r["actor"] == "alice" and "confirmed" not in r for r in records)
    assert records[-1]["outcome"] == "succeeded"
    assert "alice (" not in cli.ok("audit")


async def test_the_github_source_says_whose_the_token_is(gh: GithubServer, tmp_path: Path
                                                         ) -> None:
    from idp_tui_github.source import GithubSource

    from idp_tui import ManualClock, SourceContext

    config = GithubSource.Config(url=gh.api_url, token=TOKEN,
                                 repos={"checkout": OCTO})
    source = GithubSource(config, SourceContext(name="gh", data_dir=tmp_path,
                                                clock=ManualClock(NOW)))
    await source.start()
    try:
        assert await source.whoami() == Identity(user="octocat",
                                                 note=f"the token's login at {gh.api_url}")
        gh.login = None
        source.api._etags.clear()
        found = await source.whoami()
        assert found.user is None and "GitHub does not say whose the token is" in found.note
    finally:
        await source.close()


# Kubernetes --------------------------------------------------------------------------------------

REVIEWS = "/apis/authentication.k8s.io/v1/selfsubjectreviews"


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    try:
        yield c
    finally:
        c.close()


def _kube_source(tmp_path: Path, cluster: Cluster) -> Any:
    from idp_tui_kubernetes.source import KubernetesSource

    from idp_tui import ManualClock, SourceContext

    kubeconfig = cluster.kubeconfig(tmp_path / "kubeconfig", ["eu-1"])
    config = KubernetesSource.Config(kubeconfig=str(kubeconfig),
                                     environments={"dev": {"context": "eu-1",
                                                           "namespace": "shop"}})
    return KubernetesSource(config, SourceContext(name="k8s", data_dir=tmp_path,
                                                  clock=ManualClock(NOW)))


async def test_kmock_answers_a_self_subject_review_without_a_user(tmp_path: Path,
                                                                  cluster: Cluster) -> None:
    """kmock 0.8 stores the review and sends it back as it came: no ``status.userInfo``, so
    nobody is confirmed, and it says why."""
    source = _kube_source(tmp_path, cluster)
    found = await source.whoami()
    assert found.user is None
    assert found.note == "context eu-1's SelfSubjectReview names no user"
    sent = cluster.requests("post", REVIEWS)
    assert len(sent) == 1 and sent[0].data == {"apiVersion": "authentication.k8s.io/v1",
                                               "kind": "SelfSubjectReview"}


async def test_a_cluster_that_names_the_user_confirms_it(tmp_path: Path, cluster: Cluster
                                                         ) -> None:
    cluster.handler[f"post {REVIEWS}"] << {  # what an API server of 1.28+ answers
        "apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview",
        "status": {"userInfo": {"username": "ann@example.org", "groups": ["dev"]}}}
    found = await _kube_source(tmp_path, cluster).whoami()
    assert found == Identity(user="ann@example.org", note="context eu-1")


async def test_an_older_cluster_without_the_review_confirms_nobody(tmp_path: Path,
                                                                   cluster: Cluster) -> None:
    cluster.refuse(REVIEWS, 404, "the server could not find the requested resource",
                   method="post")
    found = await _kube_source(tmp_path, cluster).whoami()
    assert found.user is None and "does not offer SelfSubjectReview" in found.note


# The runtime's question: once, bounded ---------------------------------------------------------

class Acting(Source):
    """A source that acts and says who the user is when ``answer`` is set (until then, waits)."""

    capabilities = frozenset({Capability.ACTIONS})
    actions = frozenset({ActionKind.RESTART})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.asked = 0
        #: Set: the answer may go (the source runs on a loop and thread of its own).
        self.answer: threading.Event | None = None
        self.user = "octocat"

    async def plan_action(self, request: ActionRequest) -> ActionPlan:
        return ActionPlan(summary=f"restart {request.service}")

    async def run_action(  # type: ignore[override]
            self, request: ActionRequest) -> AsyncIterator[ActionEvent]:
        yield ActionEvent(ts=NOW, message="restarted", state=ActionState.SUCCEEDED)

    async def whoami(self) -> Identity:
        self.asked += 1
        while self.answer is not None and not self.answer.is_set():
            await asyncio.sleep(0.01)
        return Identity(user=self.user)


def _hub(source: Source, timer: ManualTimer) -> Hub:
    return Hub([SourceRunner("gh", "fake", source, 30.0)], timer=timer)


def _source(tmp_path: Path) -> Acting:
    from idp_tui import ManualClock, SourceConfig, SourceContext

    return Acting(SourceConfig(), SourceContext(name="gh", data_dir=tmp_path,
                                                           clock=ManualClock(NOW)))


async def test_the_question_is_asked_once_and_a_slow_answer_never_holds_an_action_up(
        tmp_path: Path) -> None:
    source = _source(tmp_path)
    source.answer = threading.Event()
    timer = ManualTimer()
    hub = _hub(source, timer)
    check = IdentityCheck(hub, timer, wait=3.0)
    first = asyncio.create_task(check.confirmed())
    await timer.until(lambda t: 3.0 in t.deadlines)  # (not the hub's own call deadline)
    assert not first.done()
    timer.advance(3.0)  # the wait is over: the action goes on unconfirmed
    assert await first == {}
    source.answer.set()  # the answer comes later: the records written after carry it
    await asyncio.wait_for(check._done.wait(), 10)  # type: ignore[union-attr]
    assert await check.confirmed() == {"gh": "octocat"}
    assert source.asked == 1
    assert check.describe() == ["gh: octocat"]
    await hub.close()


async def test_the_records_of_an_action_carry_the_confirmed_user(tmp_path: Path) -> None:
    source = _source(tmp_path)
    timer = ManualTimer()
    hub = _hub(source, timer)
    log = AuditLog(tmp_path / "audit.jsonl")
    manager = ActionManager(hub, PolicyConfig(), log, actor="alice", timer=timer)
    manager.identity = IdentityCheck(hub, timer)
    run = await manager.submit(ActionRequest(id="r1", kind=ActionKind.RESTART, service="cart",
                                             environment="dev"))
    run = await manager.wait(run.id)
    assert run.state is ActionState.SUCCEEDED, run.error
    records = [r for r in log.records() if r["action_id"] == run.id]
    assert [r["phase"] for r in records] == ["started", "finished"]
    assert all(r["actor"] == "alice" for r in records)
    assert all(r["confirmed"] == {"gh": "octocat"} for r in records)
    assert actor_text(records[0]) == "alice (gh: octocat)"
    snapshot = hub.cached(Topic.identity())
    assert snapshot is not None and snapshot.data["gh"].user == "octocat"
    await hub.close()


class Reading(Source):
    """A source that does not act: never asked who the user is (its constructions counted)."""

    capabilities = frozenset({Capability.CATALOG})
    made = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        type(self).made += 1


async def test_a_command_that_only_asks_who_the_user_is_starts_only_the_sources_that_act(
        tmp_path: Path) -> None:
    """``identity.confirm`` (``idp-tui approve``/``deny``): a hub over the sources that act, no
    other source, no audit trail, no usage store (telemetry on all the same)."""
    from idp_tui import ManualClock
    from idp_tui.config import AppConfig
    from idp_tui.identity import confirm
    from idp_tui.usage import TelemetryConfig

    from fakes import spec

    Reading.made = 0
    config = AppConfig(path=None, sources=[spec("gh", Acting), spec("catalog", Reading)],
                       telemetry=TelemetryConfig(enabled=True))
    assert await confirm(config, data_dir=tmp_path, clock=ManualClock(NOW)) == {"gh": "octocat"}
    assert Reading.made == 0
    assert [p.relative_to(tmp_path).as_posix() for p in sorted(tmp_path.rglob("*"))] == [
        "sources", "sources/gh"]  # (no audit log, no store.db)


async def test_the_question_failing_is_the_hub_s_failure_in_words() -> None:
    class Failing:
        timer = None

        async def fetch(self, topic: Topic) -> Any:
            raise RuntimeError("the hub is closed")

        def runners_for(self, capability: Capability) -> Any:
            raise RuntimeError("no runners")

    check = IdentityCheck(Failing(), wait=5.0)  # type: ignore[arg-type]
    assert await check.confirmed() == {}
    assert check.asked and check.failures == {"hub": "the hub is closed"}
    assert check.errors["hub"].error_class == "error"
    (said,) = check.confirmations()
    assert said.failed and said.source == "hub"
    assert check.describe() == ["hub: not confirmed (error: the hub is closed)"]
