"""Health per cluster: one kubernetes source over two contexts (kmock clusters behind gates, see
test_recovery), one of them down then back. The health view (H) and ``idp-tui sources`` (text and
--json) show each context and each environment's namespace with its own state, latency and error;
the parts are the plugin API's (``SourceContext.set_part_health``)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from github_server import TOKEN, GithubServer
from kube import Cluster, deployment, namespace
from test_recovery import (  # noqa: F401 - fixtures
    Gate,
    clusters,
    k8s_config,
    seed_two,
    slow_own_retries,
    two_cluster_dashboard,
)

from idp_tui import PartHealth, PartialAnswer, PipelineQuery, SourceContext, SourceUnavailable
from idp_tui.api.clock import ManualClock
from idp_tui.config import load_config
from idp_tui.hub import TRANSIENT_RETRY
from idp_tui.hub.parts import part_rows
from idp_tui.ui.app import IdpApp
from idp_tui.ui.screens import HealthScreen

from idp_tui_github import GithubSource
from idp_tui_github.config import GithubConfig
from idp_tui_kubernetes import KubernetesConfig, KubernetesSource

from conftest import T0
from fakes import screen_lines, wait_until


def test_a_part_says_its_state_error_and_latency() -> None:
    reported: list[PartHealth] = []

    class Relay:
        def __call__(self, key: str, text: str) -> None: ...

        def part(self, health: PartHealth) -> None:
            reported.append(health)

    context = SourceContext(name="k8s", data_dir=Path("."), status=Relay())
    context.set_part_health("eu-1", True, 0.012, kind="context")
    context.set_part_health("shop-prod (production)", False, kind="namespace", parent="us-1",
                            error=SourceUnavailable("cannot reach us-1", hint="VPN?"))
    context.set_part_health("us-1", None, kind="context")
    assert [(p.name, p.state, p.latency, p.error_class, p.message, p.hint) for p in reported] == [
        ("eu-1", "ok", 0.012, None, None, None),
        ("shop-prod (production)", "error", None, "unreachable", "cannot reach us-1", "VPN?"),
        ("us-1", "waiting", None, None, None, None)]
    # Listed under the part each belongs to.
    parts = {p.name: p for p in reported}
    assert [(d, p.name) for d, p in part_rows(parts)] == [
        (1, "eu-1"), (1, "us-1"), (2, "shop-prod (production)")]
    # Without a hub (a script, a test) it is a no-op.
    SourceContext(name="x", data_dir=Path(".")).set_part_health("a", True)


def row(lines: list[str], name: str) -> str:
    found = [line for line in lines if f"└ {name} " in line]
    assert found, f"no row of {name} in:\n" + "\n".join(lines)
    return found[0]


async def test_the_health_view_shows_each_cluster_and_namespace(
        tmp_path: Path, clusters: Any, slow_own_retries: None) -> None:  # noqa: F811
    us_gate = clusters[3]
    app, timer = two_cluster_dashboard(tmp_path, clusters)
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_until(pilot, lambda: app.platform is not None
                         and len(app.platform.deployments) == 2, "both clusters' workloads")
        await pilot.press("H")
        await wait_until(pilot, lambda: isinstance(app.screen, HealthScreen), "the health view")
        await wait_until(pilot, lambda: any("└ shop-prod (production) " in line
                                            for line in screen_lines(app)), "the parts")
        lines = screen_lines(app)
        for name in ("eu-1", "us-1", "shop-staging (staging)", "shop-prod (production)"):
            assert " ok " in row(lines, name) and " ms " in row(lines, name), name
        # The namespaces are under their context.
        names = [line for line in lines if "└ " in line]
        assert names.index(row(lines, "shop-prod (production)")) \
            == names.index(row(lines, "us-1")) + 1

        # us-1 goes down: its rows say so, eu-1's stay ok.
        us_gate.close()
        await wait_until(pilot, lambda: "unreachable" in row(screen_lines(app), "us-1"),
                         "us-1 unreachable")
        lines = screen_lines(app)
        assert " error " in row(lines, "us-1")
        assert " error " in row(lines, "shop-prod (production)")
        assert " ok " in row(lines, "eu-1") and " ok " in row(lines, "shop-staging (staging)")
        # The detail of a part's row: its error and hint.
        screen = app.screen
        assert isinstance(screen, HealthScreen)
        table = screen.query_one("#health-table")
        await wait_until(pilot, lambda: table.keys is not None, "the table")
        table.move_cursor(row=table.get_row_index(f"k8s{HealthScreen.PART_KEY}us-1"))
        await wait_until(pilot, lambda: "Is the cluster up" in "\n".join(screen_lines(app)),
                         "the part's hint")
        assert "k8s: context us-1" in "\n".join(screen_lines(app))

        # Back. "r" (retry now) on its row: its watches try again at once (their own pause is
        # ten minutes here), and its rows say so as soon as they answer.
        us_gate.open()
        await pilot.press("r")
        await wait_until(pilot, lambda: " ok " in row(screen_lines(app), "us-1"), "us-1 back")
        lines = screen_lines(app)
        assert " ok " in row(lines, "shop-prod (production)")
        # The source's own row follows at the hub's next refresh (its timer advanced).
        await timer.until_waiting()
        timer.advance(TRANSIENT_RETRY)
        await wait_until(pilot, lambda: app.hub.health["k8s"].state == "ok", "k8s ok")
        assert app.platform.deployments["cart", "production"].health.value == "healthy"


def run_cli(tmp_path: Path, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "IDP_TUI_DATA_DIR": str(tmp_path / "data"),
           "IDP_TUI_CONFIG": str(config), "IDP_TUI_CLOCK": "2026-11-25T14:00:00Z"}
    return subprocess.run([sys.executable, "-m", "idp_tui", *args], capture_output=True,
                          text=True, env=env, timeout=60, check=False)


def test_idp_tui_sources_shows_each_cluster_and_namespace(tmp_path: Path,
                                                          clusters: Any) -> None:  # noqa: F811
    eu, us, eu_gate, us_gate = clusters
    seed_two(eu, us)
    config = k8s_config(tmp_path, eu_gate, us_gate)
    us_gate.close()
    result = run_cli(tmp_path, config, "sources")
    assert result.returncode == 4, result.stderr  # a source failing (EXIT_SOURCE)
    lines = result.stdout.splitlines()
    assert "context" in row(lines, "eu-1") and " ok " in row(lines, "eu-1")
    assert " error " in row(lines, "us-1") and "unreachable" in row(lines, "us-1")
    assert "cannot reach" in row(lines, "us-1")
    assert "namespace" in row(lines, "shop-prod (production)")
    assert " error " in row(lines, "shop-prod (production)")
    assert " ok " in row(lines, "shop-staging (staging)")
    assert "Traceback" not in result.stderr

    result = run_cli(tmp_path, config, "sources", "--json")
    source = next(s for s in json.loads(result.stdout)["sources"] if s["name"] == "k8s")
    parts = {p["name"]: p for p in source["parts"]}
    assert [p["name"] for p in source["parts"]] == [
        "eu-1", "shop-staging (staging)", "us-1", "shop-prod (production)"]
    assert parts["eu-1"]["state"] == "ok" and parts["eu-1"]["latency"] is not None
    assert parts["us-1"]["state"] == "error" and parts["us-1"]["error_class"] == "unreachable"
    assert parts["shop-prod (production)"]["parent"] == "us-1"
    assert parts["shop-prod (production)"]["kind"] == "namespace"
    assert parts["us-1"]["hint"]

    us_gate.open()
    result = run_cli(tmp_path, config, "sources", "--json")
    assert result.returncode == 0, result.stderr
    source = next(s for s in json.loads(result.stdout)["sources"] if s["name"] == "k8s")
    assert {p["name"]: p["state"] for p in source["parts"]} == {
        "eu-1": "ok", "shop-staging (staging)": "ok", "us-1": "ok",
        "shop-prod (production)": "ok"}


# GitHub: one part per repository -----------------------------------------------------------------

OCTO, PAY, GONE = "octo-org/octo-repo", "acme/payments", "acme/gone"


class PartsSeen:
    """A source's status relay: the last health of each part it reported."""

    def __init__(self) -> None:
        self.parts: dict[str, PartHealth] = {}

    def __call__(self, key: str, text: str) -> None: ...

    def part(self, health: PartHealth) -> None:
        self.parts[health.name] = health

    def forget_part(self, name: str) -> None:
        self.parts.pop(name, None)


@pytest.fixture
def gh() -> Iterator[GithubServer]:
    with GithubServer(now=lambda: T0) as server:
        server.add_repo(OCTO, runs=3)
        server.add_repo(PAY, runs=2)
        yield server


async def test_github_reads_each_repository_as_a_part(tmp_path: Path, gh: GithubServer) -> None:
    seen = PartsSeen()
    config = GithubConfig.model_validate({
        "url": gh.api_url, "token": TOKEN,
        "repos": {"checkout": OCTO, "payments": PAY, "gone": GONE}})
    source = GithubSource(config, SourceContext(name="gh", data_dir=tmp_path,
                                                clock=ManualClock(T0), status=seen))
    await source.start()
    try:
        assert [(p.name, p.kind, p.state) for p in seen.parts.values()] == [
            (OCTO, "repository", "waiting"), (PAY, "repository", "waiting"),
            (GONE, "repository", "waiting")]
        with pytest.raises(PartialAnswer) as caught:
            await source.pipeline_runs(PipelineQuery())
        assert caught.value.part == GONE
        states = {name: (p.state, p.error_class) for name, p in seen.parts.items()}
        assert states == {OCTO: ("ok", None), PAY: ("ok", None),
                          GONE: ("error", "not found")}
        assert seen.parts[OCTO].latency is not None
        # A 403 on one repository: its own row, the others still answer.
        gh.repo_errors[OCTO] = 403
        with pytest.raises(PartialAnswer):
            await source.deployments()
        assert seen.parts[OCTO].state == "error" and OCTO in (seen.parts[OCTO].message or "")
        assert seen.parts[PAY].state == "ok"
        # A repository no longer read is no longer shown.
        await source.use_catalog([])
        config.repos.pop("gone")
        source._say_repositories()
        assert GONE not in seen.parts
    finally:
        await source.close()


def github_cli_config(tmp_path: Path, gh: GithubServer) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'''
[sources.gh]
type = "github"
url = "{gh.api_url}"
token = "{TOKEN}"
environments = ["staging", "production"]
repos = {{ checkout = "{OCTO}", payments = "{PAY}", gone = "{GONE}" }}
''')
    return path


def test_idp_tui_sources_one_repository_missing_is_not_the_whole_source(
        tmp_path: Path, gh: GithubServer) -> None:
    config = github_cli_config(tmp_path, gh)
    result = run_cli(tmp_path, config, "sources", "--json")
    assert result.returncode == 0, result.stderr
    source = next(s for s in json.loads(result.stdout)["sources"] if s["name"] == "gh")
    assert source["state"] == "ok" and source["error_class"] is None
    parts = {p["name"]: p for p in source["parts"]}
    assert [p["name"] for p in source["parts"]] == [OCTO, PAY, GONE]
    assert {n: (p["kind"], p["state"]) for n, p in parts.items()} == {
        OCTO: ("repository", "ok"), PAY: ("repository", "ok"), GONE: ("repository", "error")}
    assert parts[GONE]["error_class"] == "not found" and GONE in parts[GONE]["message"]
    assert parts[OCTO]["latency"] is not None
    text = run_cli(tmp_path, config, "sources")
    assert " error " in row(text.stdout.splitlines(), GONE)
    assert " ok " in row(text.stdout.splitlines(), PAY)
    assert "Traceback" not in text.stderr


def test_a_repository_down_for_a_while_still_makes_the_source_fail(
        tmp_path: Path, gh: GithubServer) -> None:
    """A part that fails for a while (GitHub answering 502 for one repository) is not a part's
    own matter for good: the source is in error too, as a cluster down makes it."""
    gh.repo_errors[PAY] = 502
    result = run_cli(tmp_path, github_cli_config(tmp_path, gh), "sources", "--json")
    source = next(s for s in json.loads(result.stdout)["sources"] if s["name"] == "gh")
    parts = {p["name"]: p["state"] for p in source["parts"]}
    assert parts[PAY] == "error" and parts[OCTO] == "ok"
    assert source["state"] == "error"


# Kubernetes: preview namespaces as parts ---------------------------------------------------------

@pytest.fixture
def kmock() -> Iterator[Cluster]:
    c = Cluster()
    yield c
    c.close()


async def test_a_preview_namespace_is_a_part_while_it_exists(tmp_path: Path,
                                                             kmock: Cluster) -> None:
    kmock.put("deployments", "shop-staging", "cart", deployment("cart", "shop-staging"))
    preview = "preview-pr-7"
    kmock.put("namespaces", None, preview, namespace(preview, labels={
        "app.kubernetes.io/managed-by": "idp-tui", "idp-tui.dev/preview": "true"}))
    kmock.put("deployments", preview, "cart", deployment("cart", preview))
    seen = PartsSeen()
    config = KubernetesConfig.model_validate({
        "kubeconfig": str(kmock.kubeconfig(tmp_path / "kubeconfig", contexts=["eu-1"])),
        "environments": {"staging": {"context": "eu-1", "namespace": "shop-staging"}},
        "previews": {"context": "eu-1"}})
    source = KubernetesSource(config, SourceContext(name="k8s", data_dir=tmp_path,
                                                    clock=ManualClock(T0), status=seen))
    await source.start()
    try:
        await source.environments()  # (the preview namespaces listed)
        deployments = await source.deployments()
        assert {(d.service, d.environment) for d in deployments} == {
            ("cart", "staging"), ("cart", preview)}
        part = seen.parts[f"{preview} (preview)"]
        assert (part.kind, part.parent) == ("namespace", "eu-1")
        assert [(p.name, p.state) for _d, p in part_rows(seen.parts)] == [
            ("eu-1", "ok"), ("shop-staging (staging)", "ok"), (f"{preview} (preview)", "ok")]
        # Deleted: no longer a part.
        kmock.delete("namespaces", None, preview)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while f"{preview} (preview)" in seen.parts:
            assert loop.time() < deadline, f"still {seen.parts}"
            await source.deployments()
            await asyncio.sleep(0.02)
        assert set(seen.parts) == {"eu-1", "shop-staging (staging)"}
    finally:
        await source.close()


async def test_the_health_view_shows_each_repository(tmp_path: Path, gh: GithubServer) -> None:
    data = tmp_path / "data"
    data.mkdir()
    app = IdpApp(load_config(github_cli_config(tmp_path, gh), required=True), data,
                 ManualClock(T0))
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("3")  # the pipelines: every repository asked
        await pilot.press("H")
        await wait_until(pilot, lambda: isinstance(app.screen, HealthScreen), "the health view")
        await wait_until(pilot, lambda: any(f"└ {GONE} " in line and " error " in line
                                            for line in screen_lines(app)), "the missing repo")
        lines = screen_lines(app)
        assert " ok " in row(lines, OCTO) and " ms " in row(lines, OCTO)
        assert " ok " in row(lines, PAY)
        assert "not found" in row(lines, GONE)
        # The source answers: its own row is ok, not in error for one repository.
        source_row = next(line for line in lines if " gh " in line and " github " in line)
        assert " ok " in source_row and "not found" not in source_row
        assert app.hub.health["gh"].state == "ok"
