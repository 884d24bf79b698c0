"""Regenerate every screenshot in this folder: ``python screenshots/make.py``.

Each pane is shown on the seeded sandbox at the demo time (``idp_tui.demo``), 160×50, so the
pictures change only when the product does.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

from idp_tui.demo import DEMO_SIZE, PANE_KEYS, demo_app, steady_health, wait_settled

HERE = Path(__file__).resolve().parent

#: name → keys pressed after start-up.
SHOTS: dict[str, list[str]] = {
    **{pane: [key] for pane, key in PANE_KEYS.items()},
    "health": ["H"],
    "keys": ["?"],
    # The deploy modal on the selected service in production: versions, what changes, the policy.
    "deploy": ["d"],
    # The advisor's list: the sandbox's bad release first, with its evidence.
    "advisor": ["exclamation_mark"],
    # The PostgreSQL template's form, filled in (the password shows as dots) and dry-run.
    "provision": ["p", "down", "down", "enter", *["tab"] * 6, *"s3cret-Passw0rd", "ctrl+t"],
}


async def shoot(name: str, keys: list[str], folder: Path) -> Path:
    app = demo_app(folder / name)
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_settled(app)
        await pilot.press(*keys)
        await wait_settled(app)
        if name == "health":
            steady_health(app)
            await pilot.pause()
        return Path(app.save_screenshot(filename=f"{name}.svg", path=str(HERE)))


async def shoot_kubernetes(folder: Path) -> Path:
    """The Environments pane on a Kubernetes cluster: the kmock emulator from the tests (through
    the official client), seeded with a small shop in two namespaces and a preview namespace."""
    sys.path.insert(0, str(HERE.parent / "tests"))
    from kube import Cluster, deployment, namespace

    from idp_tui.api.clock import ManualClock
    from idp_tui.config import load_config
    from idp_tui.demo import DEMO_TIME
    from idp_tui.ui.app import IdpApp

    cluster = Cluster()
    try:
        shop = {"cart": ("1.4.0", "1.3.2", 3), "payments": ("2.1.0", "2.1.0", 4),
                "search": ("0.9.3", "0.9.1", 2), "orders": ("5.2.0", "5.2.0", 3),
                "mailer": ("1.0.4", "1.0.4", 1)}
        for service, (staging, production, replicas) in shop.items():
            for ns, version in (("shop-staging", staging), ("shop-prod", production)):
                ready = replicas - 1 if (service, ns) == ("search", "shop-prod") else replicas
                cluster.put("deployments", ns, service, deployment(
                    service, ns, image=f"registry.example/shop/{service}:{version}",
                    replicas=replicas, ready=ready))
        managed = {"app.kubernetes.io/managed-by": "idp-tui", "idp-tui.dev/preview": "pr-481"}
        cluster.put("namespaces", None, "preview-pr-481", namespace(
            "preview-pr-481", labels=managed,
            annotations={"idp-tui.dev/expires-at": "2026-11-26T02:00:00Z"}))
        cluster.put("deployments", "preview-pr-481", "cart", deployment(
            "cart", "preview-pr-481", image="registry.example/shop/cart:pr-481", replicas=1))
        kubeconfig = cluster.kubeconfig(folder / "kubeconfig", contexts=["eu-1"])
        config_path = folder / "config.toml"
        config_path.write_text(
            f'[sources.k8s]\ntype = "kubernetes"\nkubeconfig = "{kubeconfig}"\n'
            '[sources.k8s.environments]\n'
            'staging = { context = "eu-1", namespace = "shop-staging" }\n'
            'production = { context = "eu-1", namespace = "shop-prod" }\n'
            '[sources.k8s.previews]\ncontext = "eu-1"\n')
        data = folder / "kubernetes"
        data.mkdir()
        app = IdpApp(load_config(config_path, required=True), data_dir=data,
                     clock=ManualClock(DEMO_TIME))
        async with app.run_test(size=DEMO_SIZE) as pilot:
            await wait_settled(app)
            app.service, app.environment = "cart", "production"
            await pilot.press("2")
            await wait_settled(app)
            await pilot.pause(0.3)
            return Path(app.save_screenshot(filename="kubernetes.svg", path=str(HERE)))
    finally:
        cluster.close()


async def shoot_prometheus(folder: Path) -> Path:
    """The Metrics pane on a real Prometheus (needs the prometheus and promtool commands): the
    backfilled series of tests/prom.py, the catalog and environments from a small static source."""
    sys.path.insert(0, str(HERE.parent / "tests"))
    import prom
    from fakes import StaticSource, spec

    from idp_tui import Capability
    from idp_tui.api.clock import ManualClock
    from idp_tui.config import load_config
    from idp_tui.ui.app import IdpApp

    class Shop(StaticSource):
        capabilities = frozenset({Capability.CATALOG, Capability.ENVIRONMENTS})

    server = prom.Server(folder / "prometheus")
    try:
        config_path = folder / "prometheus.toml"
        config_path.write_text(f'[sources.prom]\ntype = "prometheus"\nurl = "{server.url}"\n')
        config = load_config(config_path, required=True)
        config.sources.insert(0, spec("shop", Shop, names=["cart", "payments"],
                                      environments=["staging", "production"]))
        data = folder / "prometheus-app"
        data.mkdir()
        app = IdpApp(config, data_dir=data, clock=ManualClock(prom.END))
        async with app.run_test(size=DEMO_SIZE) as pilot:
            await wait_settled(app)
            app.service, app.environment = "cart", "production"
            await pilot.press("5")
            await wait_settled(app)
            await pilot.pause(0.3)
            return Path(app.save_screenshot(filename="prometheus.svg", path=str(HERE)))
    finally:
        server.stop()


async def shoot_github(folder: Path) -> Path:
    """The Pipelines pane on GitHub Actions: the emulator of the tests (GitHub's published payloads)
    with three repositories, named by the catalog files' github.com/project-slug annotations."""
    sys.path.insert(0, str(HERE.parent / "tests"))
    from github_server import TOKEN, GithubServer

    from idp_tui.api.clock import ManualClock
    from idp_tui.config import load_config
    from idp_tui.demo import DEMO_TIME
    from idp_tui.ui.app import IdpApp

    clock = ManualClock(DEMO_TIME)
    with GithubServer(now=clock.now) as gh:
        catalog = folder / "github-catalog"
        for name, runs in (("cart", 8), ("payments", 12), ("search", 5)):
            gh.add_repo(f"shop/{name}", runs=runs)
            (catalog / name).mkdir(parents=True)
            (catalog / name / "catalog-info.yaml").write_text(
                "apiVersion: backstage.io/v1alpha1\nkind: Component\n"
                f"metadata: {{name: {name}, annotations: {{github.com/project-slug: shop/{name}}}}}\n"
                "spec: {type: service, lifecycle: production, owner: team-shop}\n")
        # A run part of the way through (held there: a live run would advance as often as it is
        # read, and the picture would change from one run of this script to the next).
        gh.add_run("shop/payments", held_at=4, message="Retry ledger calls with backoff")
        config_path = folder / "github.toml"
        config_path.write_text(
            f'[sources.files]\ntype = "catalog-files"\npaths = ["{catalog}"]\n\n'
            f'[sources.gh]\ntype = "github"\nurl = "{gh.api_url}"\ntoken = "{TOKEN}"\n'
            'environments = ["dev", "staging", "production"]\n'
            '[sources.gh.deploy]\nworkflow = "deploy.yml"\n')
        data = folder / "github"
        data.mkdir()
        app = IdpApp(load_config(config_path, required=True), data_dir=data, clock=clock)
        async with app.run_test(size=DEMO_SIZE) as pilot:
            await wait_settled(app)
            app.service = "payments"
            await pilot.press("3")
            await wait_settled(app)
            await pilot.pause(0.5)
            return Path(app.save_screenshot(filename="github.svg", path=str(HERE)))


async def shoot_instances(folder: Path) -> Path:
    """The instance view on the sandbox: the pods of a deployment in trouble (a crash loop where
    the seed has one, else the first deployment not healthy), its events and the first pod
    described."""
    from idp_tui.ui.instances import InstancesScreen

    app = demo_app(folder / "instances")
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_settled(app)
        deployments = sorted(app.platform.deployments.values(),
                             key=lambda d: ("CrashLoopBackOff" not in d.message,
                                            d.health.value == "healthy", d.service))
        chosen = deployments[0]
        app.service, app.environment = chosen.service, chosen.environment
        await pilot.pause()
        await pilot.press("I")
        for _ in range(200):
            if isinstance(app.screen, InstancesScreen) and app.screen.loaded:
                break
            await pilot.pause(0.05)
        await pilot.pause()
        return Path(app.save_screenshot(filename="instances.svg", path=str(HERE)))


async def shoot_approvals(folder: Path) -> Path:
    """The Approvals screen (``V``) on the sandbox with a four-eyes rule for production: alice
    and carol asked for changes 40 and 12 minutes before the demo time (erik approved alice's
    deploy once), and dana, one of the approvers, looks at them."""
    import dataclasses
    from datetime import timedelta

    from idp_tui.api.actions import ActionKind, ActionRequest
    from idp_tui.api.clock import ManualClock
    from idp_tui.approvals import ApprovalRule
    from idp_tui.demo import DEMO_TIME, demo_config
    from idp_tui.policy import PolicyConfig
    from idp_tui.runtime import build_runtime
    from idp_tui.ui.app import IdpApp
    from idp_tui.ui.approvals import ApprovalsScreen

    data = folder / "approvals"
    data.mkdir()
    rule = ApprovalRule(environments=["production"], approvals=2,
                        approvers=["dana", "erik", "femi"], valid_for="24h")

    def config(identity: str) -> Any:
        return dataclasses.replace(demo_config(data),
                                   policy=PolicyConfig(identity=identity, approval=[rule]))

    clock = ManualClock(DEMO_TIME - timedelta(minutes=40))

    async def session(identity: str, act: Any) -> None:
        runtime = build_runtime(config(identity), data_dir=data, clock=clock)
        try:
            await act(runtime.actions)
        finally:
            await runtime.close()

    async def deploy(actions: Any) -> None:
        version = (await actions.versions("cart-service", "production"))[0].version
        run = await actions.submit(ActionRequest(
            id="4f2a9c1e", kind=ActionKind.DEPLOY, service="cart-service",
            environment="production", version=version, reason="CHG-1234 new checkout flow",
            confirmation="production"))
        assert run.decision.needs_approval, run.decision.message

    async def restart(actions: Any) -> None:
        run = await actions.submit(ActionRequest(
            id="9b7d03a5", kind=ActionKind.RESTART, service="payments-api",
            environment="production", reason="INC-311 stuck connections",
            confirmation="production"))
        assert run.decision.needs_approval, run.decision.message

    await session("alice", deploy)
    clock.advance(timedelta(minutes=6))
    await session("erik", lambda actions: actions.vote("4f2a9c1e", "approved",
                                                       "diff reviewed, canary green"))
    clock.advance(timedelta(minutes=22))
    await session("carol", restart)
    clock.advance(timedelta(minutes=12))
    app = IdpApp(config("dana"), data_dir=data, clock=clock)
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_settled(app)
        await pilot.press("V")
        for _ in range(200):
            if isinstance(app.screen, ApprovalsScreen) and app.screen.requests \
                    and app.screen.selected is not None:
                break
            await pilot.pause(0.05)
        await pilot.press("down")
        await pilot.pause(0.3)
        return Path(app.save_screenshot(filename="approvals.svg", path=str(HERE)))


async def main(names: list[str]) -> None:
    extra = {"kubernetes": shoot_kubernetes, "prometheus": shoot_prometheus,
             "github": shoot_github, "instances": shoot_instances, "approvals": shoot_approvals}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names or [*SHOTS, *extra]:
            if name in extra:
                path = await extra[name](Path(tmp))
            else:
                path = await shoot(name, SHOTS[name], Path(tmp))
            print(path.relative_to(HERE.parent))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
