"""The organisation's environments: declared in the config, joined with what sources report."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from idp_tui.api.delivery import Incident
from idp_tui.api.kinds import EnvironmentKind, EnvironmentType
from idp_tui.api.models import Deployment, Environment
from idp_tui.config import load_config
from idp_tui.configerror import ConfigError
from idp_tui.environments import (EnvironmentDecl, EnvironmentMap, behind_cells, guess_type,
                                  in_promotion)

DECLARED = {
    "dev": EnvironmentDecl(type=EnvironmentType.DEVELOPMENT),
    "staging": EnvironmentDecl(),
    "production": EnvironmentDecl(names={"prom": "prod-eu", "gh": "prod"}),
}


def test_names_are_translated_both_ways_per_source() -> None:
    envs = EnvironmentMap(DECLARED)
    assert envs.to_platform("prom", "prod-eu") == "production"
    assert envs.to_source("prom", "production") == "prod-eu"
    assert envs.to_source("gh", "production") == "prod"
    # Another source keeps its own names; unknown names pass through unchanged.
    assert envs.to_platform("sandbox", "prod-eu") == "prod-eu"
    assert envs.to_source("sandbox", "production") == "production"
    assert envs.to_platform("prom", "qa") == "qa"


def test_a_user_may_name_an_environment_by_any_source_name() -> None:
    envs = EnvironmentMap(DECLARED)
    assert envs.resolve("prod-eu") == "production"
    assert envs.resolve("production") == "production"
    assert envs.resolve("preview-42", known=["preview-42"]) == "preview-42"
    assert envs.resolve("nowhere") is None
    assert envs.aliases("production") == ["prod", "prod-eu"]


def test_declared_environments_come_first_in_their_order_with_type_and_protection() -> None:
    envs = EnvironmentMap(DECLARED)
    reported = [
        Environment(name="preview-42", order=0, kind=EnvironmentKind.PREVIEW),
        Environment(name="production", order=5),
        Environment(name="qa", order=3),
    ]
    joined = envs.join(reported)
    assert [e.name for e in joined] == ["dev", "staging", "production", "qa", "preview-42"]
    assert [e.order for e in joined] == [0, 1, 2, 3, 4]
    by_name = {e.name: e for e in joined}
    assert by_name["dev"].type is EnvironmentType.DEVELOPMENT
    assert by_name["staging"].type is EnvironmentType.STAGING  # from its name
    assert by_name["production"].type is EnvironmentType.PRODUCTION
    assert by_name["production"].protected  # production is protected unless it says otherwise
    assert not by_name["dev"].protected
    assert by_name["qa"].type is EnvironmentType.STAGING
    assert envs.production(joined) == ["production"]


def test_a_declaration_can_unprotect_production_and_protect_another() -> None:
    envs = EnvironmentMap({"production": EnvironmentDecl(protected=False),
                           "perf": EnvironmentDecl(protected=True)})
    joined = {e.name: e for e in envs.join([])}
    assert not joined["production"].protected
    assert joined["perf"].protected and joined["perf"].type is None


def test_without_declarations_previews_follow_the_static_environments() -> None:
    joined = EnvironmentMap().join([
        Environment(name="preview-42", order=0, kind=EnvironmentKind.PREVIEW),
        Environment(name="staging", order=1), Environment(name="dev", order=0)])
    assert [e.name for e in joined] == ["dev", "staging", "preview-42"]


def test_previews_are_not_in_the_promotion_chain_nor_ever_behind() -> None:
    """A cell is behind the nearest earlier environment of the promotion order that the service
    runs in; a preview (last in the order, or anywhere) is neither behind nor compared with."""
    envs = [Environment(name="dev", order=0), Environment(name="staging", order=1),
            Environment(name="pr-8", order=2, kind=EnvironmentKind.PREVIEW),
            Environment(name="production", order=3),
            Environment(name="pr-7", order=4, kind=EnvironmentKind.PREVIEW)]
    assert [e.name for e in envs if in_promotion(e)] == ["dev", "staging", "production"]

    def dep(service: str, env: str, version: str) -> Deployment:
        return Deployment(service=service, environment=env, version=version)

    deployments = {(d.service, d.environment): d for d in (
        dep("a", "dev", "1.3.0"), dep("a", "staging", "1.2.0"),  # behind dev
        dep("a", "pr-8", "1.9.0"),  # newer than all: production is not compared with it
        dep("a", "production", "1.2.0"), dep("a", "pr-7", "1.0.0"),  # older: still not behind
        dep("b", "dev", "2.0.0"), dep("b", "pr-8", "1.0.0"),  # b runs nowhere else
        dep("c", "staging", "3.0.0"), dep("c", "production", "2.0.0"))}  # behind staging

    def older(version: str, previous: str) -> bool:
        return tuple(map(int, version.split("."))) < tuple(map(int, previous.split(".")))

    assert behind_cells(["a", "b", "c"], envs, deployments, older) == {
        ("a", "staging"), ("c", "production")}


def test_records_of_a_source_are_renamed_to_the_platform_names() -> None:
    envs = EnvironmentMap(DECLARED)
    deps = envs.rename_records("prom", [
        Deployment(service="a", environment="prod-eu", version="1"),
        Deployment(service="a", environment="dev", version="1")])
    assert [d.environment for d in deps] == ["production", "dev"]
    # Records without an environment keep none; nothing renamed: the same records, not a copy.
    incidents = (Incident(service="a", started=datetime(2026, 1, 1, tzinfo=UTC)),
                 Incident(service="a", environment="prod-eu",
                          started=datetime(2026, 1, 1, tzinfo=UTC)))
    assert [i.environment for i in envs.rename_records("prom", incidents)] \
        == [None, "production"]
    assert envs.rename_records("gh", incidents) is incidents
    assert [e.name for e in envs.rename_environments("gh", [Environment(name="prod")])] \
        == ["production"]


@pytest.mark.parametrize(("name", "kind"), [
    ("prod-eu", EnvironmentType.PRODUCTION), ("production", EnvironmentType.PRODUCTION),
    ("stg", EnvironmentType.STAGING), ("dev", EnvironmentType.DEVELOPMENT),
    ("preview-42", None), ("eu-west", None)])
def test_a_name_says_its_type_when_nothing_else_does(name: str, kind: EnvironmentType | None) -> None:
    assert guess_type(name) is kind


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_the_config_declares_environments_in_file_order(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, """
[environments.dev]
[environments.staging]
type = "staging"
[environments.production]
protected = true
names = { sb = "prod-eu" }

[sources.sb]
type = "sandbox"
"""))
    assert config.environments.names == ["dev", "staging", "production"]
    assert config.environments.to_platform("sb", "prod-eu") == "production"


def test_config_mistakes_in_environments_are_reported_together(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, """
[environments.production]
type = "prodution"
names = { nosuch = "prod" }
[environments.live]
colour = "red"

[sources.sb]
type = "sandbox"
"""))
    text = str(caught.value)
    problems = caught.value.problems
    assert len(problems) == 2, text
    assert "environments.production.type" in text and "'prodution'" in text
    assert "environments.live.colour" in text and "unknown key 'colour'" in text


def test_a_names_entry_for_an_unknown_source_or_a_name_taken_twice_is_an_error(
        tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, """
[environments.staging]
names = { sb = "shared", nosuch = "x" }
[environments.production]
names = { sb = "shared" }
[sources.sb]
type = "sandbox"
"""))
    lines = [str(p) for p in caught.value.problems]
    assert any("environments.staging.names.nosuch" in line and "no source named 'nosuch'" in line
               and "line 3" in line for line in lines), lines
    assert any("environments.production.names.sb" in line and "'shared'" in line
               and "'staging'" in line for line in lines), lines


def test_the_command_line_speaks_the_platform_names_and_takes_a_source_name(
        tmp_path: Path) -> None:
    """``[environments.live]`` is what the sandbox calls production: the commands list ``live``,
    ask the sandbox for ``production``, and take either name."""
    import json
    import os
    import subprocess
    import sys

    config = _write(tmp_path, f"""
[environments.dev]
[environments.staging]
[environments.live]
names = {{ sb = "production" }}

[sources.sb]
type = "sandbox"
database = "{(tmp_path / 'sandbox.sqlite3').as_posix()}"
action_speed = 10000
""")
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_TUI_")}
    env.update(IDP_TUI_CONFIG=str(config), IDP_TUI_DATA_DIR=str(tmp_path / "data"),
               IDP_TUI_CLOCK="2026-11-25T14:00:00Z")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([sys.executable, "-m", "idp_tui", *args], capture_output=True,
                                text=True, env=env, timeout=120, stdin=subprocess.DEVNULL)
        assert "Traceback" not in result.stderr, result.stderr
        return result

    envs = run("envs", "--json")
    assert envs.returncode == 0, envs.stderr
    listing = json.loads(envs.stdout)
    # (and the two preview environments a fresh sandbox starts with, their names unmapped)
    assert [e["name"] for e in listing["environments"]] == ["dev", "staging", "live",
                                                            "pr-3756", "pr-9870"]
    assert {d["environment"] for d in listing["deployments"]} == {"dev", "staging", "live",
                                                                 "pr-3756", "pr-9870"}
    live = [e for e in listing["environments"] if e["name"] == "live"][0]
    assert live["type"] == "production" and live["protected"]

    for name in ("live", "production"):  # the platform's name, or the source's
        metrics = run("metrics", "payments-api", "--env", name, "--json")
        assert metrics.returncode == 0, (name, metrics.stderr)
        assert json.loads(metrics.stdout.splitlines()[0])["environment"] == "live"

    # Actions: routed by the platform's name, run by the source under its own, audited as asked.
    versions = run("versions", "payments-api", "--env", "live", "--json")
    assert versions.returncode == 0, versions.stderr
    options = json.loads(versions.stdout)["versions"]
    assert "live" in options[0]["environments"] and "production" not in options[0]["environments"]
    restart = run("restart", "payments-api", "--env", "live", "--yes", "--reason", "CHG-1",
                  "--json")
    assert restart.returncode == 0, restart.stderr
    result = json.loads(restart.stdout.splitlines()[-1])
    assert result["type"] == "result" and result["state"] == "succeeded", result
    audit = [json.loads(line) for line in
             (tmp_path / "data" / "audit.jsonl").read_text().splitlines()]
    assert {(r["phase"], r["environment"]) for r in audit} == {("started", "live"),
                                                                ("finished", "live")}
