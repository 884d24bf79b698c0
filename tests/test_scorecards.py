"""Scorecards over crafted catalogs: each level boundary, the applies-to filters, the facts of the
registry, a rule that errors on an unknown fact, CEL expressions, and bad rule files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from idp_tui.api.kinds import EnvironmentType, RunStatus
from idp_tui.api.models import Deployment, Environment, Link, PipelineRun, Service
from idp_tui.configerror import ConfigError
from idp_tui.insights import dora
from idp_tui.insights.facts import FACTS, TYPES, Unknown, World, fact_value
from idp_tui.insights.rules import Level, load_rules, parse_rules
from idp_tui.insights.scorecards import (
    below,
    card,
    level_from,
    levels_by_service,
    parse_level,
    rollup,
    score,
)

NOW = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
ENVS = [Environment(name="staging", type=EnvironmentType.STAGING),
        Environment(name="production", type=EnvironmentType.PRODUCTION)]


def rules_from(text: str) -> list[Any]:
    return [rule for _, rule in parse_rules(text) if rule is not None]


def world(*services: Service, **kwargs: Any) -> World:
    return World(list(services), now=NOW.timestamp(), environments=ENVS, **kwargs)


LEVELS = """
[[rules]]
id = "owner"
title = "Has an owner"
level = "bronze"
check = { fact = "has_owner", equals = true }
fix = "Set the owner."

[[rules]]
id = "runbook"
title = "Has a runbook"
level = "silver"
check = { fact = "has_runbook", equals = true }
fix = "Link a runbook."

[[rules]]
id = "docs"
title = "Has docs"
level = "gold"
check = { fact = "has_docs", equals = true }
fix = "Add techdocs."
"""

RUNBOOK = Link(title="Runbook", url="https://r.example/x", kind="runbook")
DOCS = {"backstage.io/techdocs-ref": "dir:."}


@pytest.mark.parametrize(("service", "level"), [
    (Service(name="all", owner="a", links=(RUNBOOK,), annotations=DOCS), Level.GOLD),
    (Service(name="no-docs", owner="a", links=(RUNBOOK,)), Level.SILVER),
    (Service(name="no-runbook", owner="a", annotations=DOCS), Level.BRONZE),
    # A higher level's rules passing does not lift a service over a lower level's failure.
    (Service(name="no-owner", links=(RUNBOOK,), annotations=DOCS), None),
    (Service(name="nothing"), None),
])
def test_each_level_boundary(service: Service, level: Level | None) -> None:
    result = card(service, rules_from(LEVELS), world(service))
    assert result.level == level
    assert len(result.results) == 3
    # Failing rules come first.
    statuses = [r.status for r in result.results]
    assert statuses == sorted(statuses, key=("fail", "error", "pass").index)


def test_a_level_without_rules_for_a_service_is_passed() -> None:
    rules = rules_from(LEVELS.replace('level = "silver"\ncheck = { fact = "has_runbook"',
                                      'level = "silver"\napplies_to = { tier = [1] }\n'
                                      'check = { fact = "has_runbook"'))
    service = Service(name="s", owner="a", tier=2, annotations=DOCS)
    result = card(service, rules, world(service))
    assert [r.rule.id for r in result.results] == ["owner", "docs"]  # by level
    assert result.level is Level.GOLD


def test_level_from_no_results_is_gold_and_next_level() -> None:
    assert level_from([]) is Level.GOLD
    service = Service(name="s", owner="a")
    result = card(service, rules_from(LEVELS), world(service))
    assert result.level is Level.BRONZE and result.next_level is Level.SILVER
    assert [r.rule.id for r in result.failing] == ["runbook", "docs"]


def test_applies_to_type_lifecycle_tier_and_owner() -> None:
    rules = rules_from("""
[[rules]]
id = "r"
title = "Runbook"
level = "silver"
applies_to = { type = ["service", "website"], lifecycle = "production", tier = [1, 2], owner = ["team-a"] }
check = { fact = "has_runbook", equals = true }
fix = "Link one."
""")
    rule = rules[0]
    base = Service(name="s", owner="team-a", type="service", lifecycle="production", tier=1)
    assert rule.applies(base)
    assert rule.applies(base.model_copy(update={"type": "website", "tier": 2}))
    assert not rule.applies(base.model_copy(update={"type": "worker"}))
    assert not rule.applies(base.model_copy(update={"lifecycle": "experimental"}))
    assert not rule.applies(base.model_copy(update={"tier": 3}))
    assert not rule.applies(base.model_copy(update={"tier": None}))
    assert not rule.applies(base.model_copy(update={"owner": "team-b"}))
    other = base.model_copy(update={"name": "t", "owner": "team-b"})
    cards = {c.service: c for c in score(rules, world(base, other))}
    assert [r.rule.id for r in cards["s"].results] == ["r"]
    assert cards["s"].level is Level.BRONZE  # the silver rule fails
    assert cards["t"].results == () and cards["t"].level is Level.GOLD


# A fact that cannot be known -------------------------------------------------------------------

REPLICAS = """
[[rules]]
id = "replicas"
title = "Three replicas in production"
level = "bronze"
check = { fact = "production_replicas", at_least = 3 }
fix = "Scale up."
"""


def deployment(service: str, env: str, version: str, replicas: int | None = 3) -> Deployment:
    return Deployment(service=service, environment=env, version=version,
                      replicas_desired=replicas, replicas_ready=replicas)


def test_a_rule_errors_on_an_unknown_fact_and_does_not_pass() -> None:
    rules = rules_from(REPLICAS)
    s = Service(name="s", owner="a")
    # Nothing known of the environments.
    result = card(s, rules, world(s))
    assert result.results[0].status == "error"
    assert "production_replicas is unknown" in result.results[0].outcome.message
    assert result.level is None
    # Known, but the service runs only in staging.
    result = card(s, rules, world(s, deployments=[deployment("s", "staging", "1.0")]))
    assert result.results[0].status == "error"
    assert "no production environment" in result.results[0].outcome.message
    # In production: 2 fails, 3 passes (the boundary is inclusive).
    two = world(s, deployments=[deployment("s", "production", "1.0", 2)])
    assert card(s, rules, two).results[0].status == "fail"
    three = world(s, deployments=[deployment("s", "production", "1.0", 3)])
    passed = card(s, rules, three).results[0]
    assert passed.status == "pass" and passed.outcome.facts == {"production_replicas": 3}


# Facts -------------------------------------------------------------------------------------------

def test_every_fact_has_a_name_type_and_description() -> None:
    for name, spec in FACTS.items():
        assert spec.name == name and spec.type in TYPES and spec.description
        assert spec.origin in ("catalog", "runtime", "pipelines", "delivery")


def test_catalog_facts() -> None:
    s = Service(name="s", owner="a", description="Does things", lifecycle="production",
                type="service", tier=1, on_call="",
                links=(Link(title="Grafana", url="https://g", kind="dashboard"),),
                annotations={"pagerduty.com/service-id": "P1"})
    w = world(s)
    got = {name: fact_value(name, s, w) for name in
           ("has_owner", "has_description", "has_runbook", "has_dashboard", "has_docs",
            "has_on_call", "lifecycle", "type", "tier", "owner")}
    assert got == {"has_owner": True, "has_description": True, "has_runbook": False,
                   "has_dashboard": True, "has_docs": False, "has_on_call": True,
                   "lifecycle": "production", "type": "service", "tier": 1, "owner": "a"}
    bare = Service(name="b")
    assert not fact_value("has_owner", bare, w) and not fact_value("has_on_call", bare, w)
    with pytest.raises(Unknown, match="no tier"):
        fact_value("tier", bare, w)


def test_runtime_facts_version_drift() -> None:
    s = Service(name="s")
    w = world(s, deployments=[deployment("s", "dev", "1.2"), deployment("s", "staging", "1.1"),
                              deployment("s", "production", "1.0", 2),
                              deployment("t", "production", "9.9")])
    assert fact_value("version_drift", s, w) == 2
    assert fact_value("runs_in_production", s, w) is True
    assert fact_value("production_replicas", s, w) == 2
    same = world(s, deployments=[deployment("s", "staging", "1.0"),
                                 deployment("s", "production", "1.0")])
    assert fact_value("version_drift", s, same) == 0
    # A preview environment is out of the promotion chain: its version is no drift.
    from idp_tui.api.kinds import EnvironmentKind

    preview = Environment(name="pr-7", order=9, kind=EnvironmentKind.PREVIEW)
    with_preview = World([s], now=NOW.timestamp(), environments=[*ENVS, preview],
                         deployments=[deployment("s", "staging", "1.0"),
                                      deployment("s", "production", "1.0"),
                                      deployment("s", "pr-7", "0.9-pr.7")])
    assert fact_value("version_drift", s, with_preview) == 0
    only_preview = World([s], now=NOW.timestamp(), environments=[*ENVS, preview],
                         deployments=[deployment("s", "pr-7", "0.9-pr.7")])
    with pytest.raises(Unknown, match="but previews"):
        fact_value("version_drift", s, only_preview)


def run(service: str, branch: str, status: RunStatus, minutes: int) -> PipelineRun:
    at = NOW - timedelta(minutes=minutes)
    return PipelineRun(id=f"{service}-{branch}-{minutes}", service=service, branch=branch,
                       status=status, started_at=at, finished_at=at + timedelta(minutes=5))


def test_default_branch_green_is_the_newest_finished_run_on_it() -> None:
    s = Service(name="s")
    runs = [run("s", "main", RunStatus.SUCCEEDED, 60), run("s", "main", RunStatus.FAILED, 30),
            run("s", "main", RunStatus.RUNNING, 5), run("s", "feature", RunStatus.SUCCEEDED, 1)]
    assert fact_value("default_branch_green", s, world(s, runs=runs)) is False
    runs.append(run("s", "main", RunStatus.SUCCEEDED, 10))
    assert fact_value("default_branch_green", s, world(s, runs=runs)) is True
    # A service naming its default branch.
    named = Service(name="s", annotations={"idp-tui.dev/default-branch": "feature"})
    assert fact_value("default_branch_green", named, world(named, runs=runs[:4])) is True
    with pytest.raises(Unknown, match="no finished pipeline run on main"):
        fact_value("default_branch_green", s, world(s, runs=[runs[2]]))
    with pytest.raises(Unknown, match="no source told the pipeline runs"):
        fact_value("default_branch_green", s, world(s))


def test_delivery_facts_from_the_history() -> None:
    day = dora.DAY
    now = NOW.timestamp()
    deploys = [
        # Four deployments in the last 90 days, one in the last 30; one of the four failed.
        dora.Deploy("d1", "s", "production", now - 80 * day, commits=(now - 80 * day - 2 * 3600,)),
        dora.Deploy("d2", "s", "production", now - 60 * day, outcome="failed"),
        dora.Deploy("d3", "s", "production", now - 50 * day, commits=(now - 50 * day - 4 * 3600,)),
        dora.Deploy("d4", "s", "production", now - 10 * day, commits=(now - 10 * day - 6 * 3600,)),
    ]
    s, quiet = Service(name="s"), Service(name="quiet")
    w = world(s, quiet, delivery=dora.analyse(deploys))
    assert fact_value("deployments_30d", s, w) == 1
    assert fact_value("deployed_last_30_days", s, w) is True
    assert fact_value("change_failure_rate", s, w) == pytest.approx(0.25)
    assert fact_value("lead_time_hours", s, w) == pytest.approx(4.0)
    assert fact_value("deployed_last_30_days", quiet, w) is False
    with pytest.raises(Unknown, match="no deployment to production"):
        fact_value("change_failure_rate", quiet, w)
    with pytest.raises(Unknown, match="delivery history"):
        fact_value("deployed_last_30_days", s, world(s))


# CEL ---------------------------------------------------------------------------------------------

def cel_rule(expr: str) -> str:
    return f"""
[[rules]]
id = "cel"
title = "An expression"
level = "silver"
expr = '{expr}'
fix = "Fix it."
"""


def test_cel_rules_pass_fail_and_error() -> None:
    s = Service(name="s", owner="team-a", tier=1, lifecycle="production")
    deps = [deployment("s", "production", "1.0", 4)]
    w = world(s, deployments=deps)
    rule = rules_from(cel_rule('tier == 1 && production_replicas >= 3 && owner.startsWith("team-")'))[0]
    assert rule.facts == ("owner", "production_replicas", "tier") or set(rule.facts) == {
        "owner", "production_replicas", "tier"}
    assert rule.evaluate(s, w).status == "pass"
    assert rule.evaluate(s.model_copy(update={"owner": "bob"}), w).status == "fail"
    # A fact unknown for the service: an error naming it.
    outcome = rule.evaluate(s, world(s))
    assert outcome.status == "error" and "production_replicas is unknown" in outcome.message
    # A type error at run time, and a result that is not a bool.
    bad = rules_from(cel_rule('owner > 3'))[0].evaluate(s, w)
    assert bad.status == "error" and bad.message.startswith("the expression failed")
    text = rules_from(cel_rule("owner"))[0].evaluate(s, w)
    assert text.status == "error" and "not true or false" in text.message


# Rule files --------------------------------------------------------------------------------------

def test_the_built_in_rules_load_and_score() -> None:
    rules = load_rules()
    assert {r.level for r in rules} == set(Level)
    assert all(r.fix and r.title for r in rules)
    s = Service(name="s", owner="a", description="x", lifecycle="production")
    result = card(s, rules, world(s))
    assert result.level is Level.BRONZE  # silver needs a runbook, docs, on-call…


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_file_replaces_adds_and_turns_off_rules(tmp_path: Path) -> None:
    path = write(tmp_path, "mine.toml", """
[[rules]]
id = "owner"
title = "Owned by a team-* group"
level = "bronze"
expr = 'owner.startsWith("team-")'
fix = "Give it to a team."

[[rules]]
id = "docs"
enabled = false
""")
    yaml_path = write(tmp_path, "more.yaml", """
rules:
  - id: tier-set
    title: Has a tier
    level: bronze
    check: {fact: tier, one_of: [1, 2, 3]}
    fix: Set spec.tier.
""")
    rules = {r.id: r for r in load_rules([path, yaml_path])}
    assert "docs" not in rules and "tier-set" in rules
    assert rules["owner"].expr and rules["owner"].origin == str(path)
    only = load_rules([yaml_path], defaults=False)
    assert [r.id for r in only] == ["tier-set"]


@pytest.mark.parametrize(("text", "problem"), [
    ('[[rules]]\nid = "a"\ntitle = "t"\nlevel = "platinum"\ncheck = { fact = "has_owner", '
     'equals = true }\nfix = "f"\n', "(rule 'a'): `level`: unknown level 'platinum'"),
    ('[[rules]]\nid = "a"\ntitle = "t"\nlevel = "gold"\ncheck = { fact = "ownr", equals = true }'
     '\nfix = "f"\n', "(rule 'a'): unknown fact 'ownr' (known: owner,"),
    ('[[rules]]\nid = "a"\ntitle = "t"\nlevel = "gold"\ncheck = { fact = "tier", at_least = "1" }'
     '\nfix = "f"\n', "(rule 'a'): `at_least` on tier takes a number"),
    ('[[rules]]\nid = "a"\ntitle = "t"\nlevel = "gold"\ncheck = { fact = "owner", at_least = 1 }'
     '\nfix = "f"\n', "(rule 'a'): `at_least` does not apply to owner, a string"),
    ('[[rules]]\nid = "a"\ntitle = "t"\nlevel = "gold"\ncheck = { fact = "tier", '
     'about = 1 }\nfix = "f"\n', "needs exactly one operator of: equals"),
    ('[[rules]]\nid = "a"\ntitle = "t"\nlevel = "gold"\ncheck = { fact = "has_owner", '
     'equals = true }\n', "(rule 'a'): a rule needs a `title` and a `fix`"),
    ('[[rules]]\nid = "a"\ntitle = "t"\nlevel = "gold"\nfix = "f"\n',
     "(rule 'a'): give exactly one of `check` (declarative) and `expr` (CEL)"),
    ('[[rules]]\nid = "a"\ntitle = "t"\nlevel = "gold"\nexpr = "owner =="\nfix = "f"\n',
     "(rule 'a'): `expr` is not valid CEL: "),
    ('[[rules]]\nid = "a"\ntitle = "t"\nlevel = "gold"\nexpr = "replicas > 1"\nfix = "f"\n',
     "(rule 'a'): `expr` names unknown fact replicas"),
    ('[[rules]]\nid = "a"\ntitle = "t"\nlevel = "gold"\nexpr = "has_owner"\nfix = "f"\n'
     'applies_to = { team = ["x"] }\n', "`applies_to` has no key 'team'"),
    ('[[rules]]\nid = "a"\ntitle = "t"\nlevel = "gold"\nexpr = "has_owner"\nfix = "f"\n'
     'applies_to = { tier = ["1"] }\n', "`applies_to.tier` must be tier numbers"),
    ('[[rules]]\nid = "a"\ntitle = "t"\nlevel = "gold"\nexpr = "has_owner"\nfix = "f"\n'
     'severity = 1\n', "(rule 'a'): unknown key severity"),
    ('[[rules]]\nid = "has space"\n', "(rule 1): `id` must be letters"),
    ('[[rules]]\nid = "a"\ntitle = "t"\nlevel = "gold"\nexpr = "has_owner"\nfix = "f"\n'
     '[[rules]]\nid = "a"\ntitle = "t"\nlevel = "gold"\nexpr = "has_owner"\nfix = "f"\n',
     "(rule 'a'): the id is used by an earlier rule of this file"),
    ('[[rule]]\nid = "a"\n', "expected a list of rules under the key `rules` (unknown keys: rule)"),
    ('[[rules]]\nid = "a\n', ", line 2: TOML syntax error"),
])
def test_bad_rule_files_name_the_file_rule_and_problem(tmp_path: Path, text: str,
                                                       problem: str) -> None:
    path = write(tmp_path, "rules.toml", text)
    with pytest.raises(ConfigError) as caught:
        load_rules([path])
    assert str(path) in str(caught.value)
    assert problem in str(caught.value), str(caught.value)


def test_every_problem_of_every_file_at_once(tmp_path: Path) -> None:
    one = write(tmp_path, "one.toml", '[[rules]]\nid = "a"\nlevel = "x"\n\n[[rules]]\nid = "b"\n')
    two = write(tmp_path, "two.yml", "rules: [\n")
    missing = tmp_path / "missing.toml"
    with pytest.raises(ConfigError) as caught:
        load_rules([one, two, missing])
    lines = str(caught.value).splitlines()
    assert len(lines) == 4, lines
    assert any("one.toml (rule 'a')" in line for line in lines)
    assert any("one.toml (rule 'b')" in line for line in lines)
    assert any("two.yml" in line and "YAML syntax error" in line for line in lines)
    assert any("missing.toml: rule file not found" in line for line in lines)


# Levels and teams --------------------------------------------------------------------------------

def test_team_rollup_levels_and_fail_under() -> None:
    services = [Service(name="a1", owner="team-a", links=(RUNBOOK,), annotations=DOCS),
                Service(name="a2", owner="team-a", links=(RUNBOOK,)),
                Service(name="a3", owner="team-a"),
                Service(name="x")]
    cards = score(rules_from(LEVELS), world(*services))
    assert levels_by_service(cards) == {"a1": Level.GOLD, "a2": Level.SILVER,
                                        "a3": Level.BRONZE, "x": None}
    teams = {t.team: t for t in rollup(cards)}
    assert teams["team-a"].services == 3
    assert teams["team-a"].counts == {"none": 0, "bronze": 1, "silver": 1, "gold": 1}
    assert teams["team-a"].shares["gold"] == pytest.approx(1 / 3)
    assert teams[""].counts["none"] == 1
    assert [c.service for c in below(cards, Level.SILVER)] == ["a3", "x"]
    assert below(cards, Level.BRONZE)[0].service == "x"
    assert parse_level("none") is None and parse_level("Gold") is Level.GOLD
    with pytest.raises(ValueError, match="known: none, bronze, silver, gold"):
        parse_level("platinum")


def test_error_ratio_from_the_production_series() -> None:
    from idp_tui.api.kinds import Signal
    from idp_tui.api.models import ServiceSeries
    from idp_tui.insights.facts import error_ratios

    series = [ServiceSeries(service="s", signal=Signal.ERROR_RATIO, unit="ratio",
                            points=((0, 0.01), (60, 0.03), (120, float("nan")))),
              ServiceSeries(service="s", signal=Signal.ERROR_RATIO, unit="ratio",
                            points=((0, 0.05),)),  # a second production environment: worse
              ServiceSeries(service="t", signal=Signal.REQUEST_RATE, unit="req/s",
                            points=((0, 9.0),)),
              ServiceSeries(service="u", signal=Signal.ERROR_RATIO, unit="ratio", points=())]
    assert error_ratios(series) == {"s": pytest.approx(0.05)}
    s, t = Service(name="s"), Service(name="t")
    w = world(s, t, error_ratios={"s": 0.02})
    assert fact_value("error_ratio", s, w) == pytest.approx(0.02)
    with pytest.raises(Unknown, match="no error-ratio series of it"):
        fact_value("error_ratio", t, w)
    with pytest.raises(Unknown, match="no metrics source"):
        fact_value("error_ratio", s, world(s))
    rule = rules_from('[[rules]]\nid = "e"\ntitle = "Few errors"\nlevel = "gold"\n'
                      'check = { fact = "error_ratio", below = 0.02 }\nfix = "Fix them."\n')[0]
    assert rule.evaluate(s, w).status == "fail"
    assert rule.evaluate(s, world(s, error_ratios={"s": 0.019})).status == "pass"


def test_a_list_of_checks_must_all_hold() -> None:
    rule = rules_from("""
[[rules]]
id = "prod-ready"
title = "Production-ready entry"
level = "silver"
check = [{ fact = "lifecycle", one_of = ["production", "deprecated"] },
         { fact = "owner", not_empty = true },
         { fact = "type", not_equals = "library" }]
fix = "Complete the entry."
""")[0]
    good = Service(name="s", owner="a", lifecycle="production", type="service")
    w = world(good)
    assert rule.check_text == ("lifecycle one of ('production', 'deprecated') and owner is not "
                               "empty and type not equals 'library'")
    assert rule.evaluate(good, w).status == "pass"
    for change in ({"lifecycle": "experimental"}, {"owner": ""}, {"type": "library"}):
        outcome = rule.evaluate(good.model_copy(update=change), w)
        assert outcome.status == "fail", change
        assert set(outcome.facts) == {"lifecycle", "owner", "type"}
