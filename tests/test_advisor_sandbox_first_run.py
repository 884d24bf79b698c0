"""Every built-in advisor rule fires on a new user's first run: ``idp-tui advise --json`` on a fresh
sandbox and data dir, run as the real command in a child process. The preview environments the
sandbox starts with (one about to expire, one idle) are made as a user's provisioning makes them:
``idp-tui extend`` and ``idp-tui delete-env`` work on them, and their advice goes once done."""

from __future__ import annotations

import json
from typing import Any

from idp_tui.advisor.builtin import BUILTIN_RULES
from idp_tui.cli.output import EXIT_OK

from test_cli_dora import Run, run  # noqa: F401 - the sandbox CLI fixture (actions at speed)


def _advice(run: Run) -> dict[str, Any]:
    result = run("advise", "--json")
    assert result.returncode == EXIT_OK, result.stderr
    return json.loads(result.stdout)


def _by_rule(data: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for rec in data["recommendations"]:
        found.setdefault(rec["rule"], []).append(rec)
    return found


def test_every_built_in_rule_fires_on_a_fresh_sandbox(run: Run) -> None:
    data = _advice(run)
    assert data["errors"] == []
    builtin = [rule.id for rule in BUILTIN_RULES]
    assert len(builtin) == 9 and set(builtin) <= set(data["rules"])
    found = _by_rule(data)
    assert [rule for rule in builtin if rule not in found] == []
    # Drift: a version waiting in staging while main moved on, promoted to production.
    (drift,) = found["drift"]
    figures = {f["name"]: f["value"] for f in drift["evidence"]["figures"]}
    assert figures["hours waiting"] >= 24 and figures["newer builds"] >= 3
    assert figures["version in staging"] != figures["version in production"]
    assert drift["remedy"]["kind"] == "deploy"
    assert (drift["remedy"]["environment"], drift["remedy"]["version"]) == (
        "production", figures["version in staging"])
    # The previews: one expires within hours (extend it), one idle for days (delete it).
    (expiring,) = found["preview-expiring"]
    (idle,) = found["preview-idle"]
    assert expiring["environment"] != idle["environment"]
    assert expiring["severity"] == "medium" and expiring["remedy"]["kind"] == "extend"
    assert idle["remedy"]["kind"] == "delete_environment"
    idle_figures = {f["name"]: f["value"] for f in idle["evidence"]["figures"]}
    assert idle_figures["hours idle"] >= 24 and idle_figures["services"] == 2
    # Seeded from the sandbox's seed: the same on every machine.
    assert (expiring["environment"], idle["environment"]) == ("pr-9870", "pr-3756")


def test_the_seeded_previews_are_extended_and_deleted_like_provisioned_ones(run: Run) -> None:
    found = _by_rule(_advice(run))
    expiring = found["preview-expiring"][0]["environment"]
    idle = found["preview-idle"][0]["environment"]
    listed = run("envs", "--json")
    assert listed.returncode == EXIT_OK, listed.stderr
    value = json.loads(listed.stdout)
    envs = {e["name"]: e for e in (value["environments"] if isinstance(value, dict) else value)}
    assert envs[expiring]["expires_at"].startswith("2026-11-25T18:00")
    assert envs[idle]["expires_at"].startswith("2026-11-30T10:00")
    # `idp-tui extend` names them where asked of a static environment.
    wrong = run("extend", "staging", "--by", "1d")
    assert f"preview environments: {', '.join(sorted((expiring, idle)))}" in wrong.stderr
    extended = run("extend", expiring, "--by", "2d")
    assert extended.returncode == EXIT_OK, extended.stderr
    deleted = run("delete-env", idle, "--yes", "--reason", "merged")
    assert deleted.returncode == EXIT_OK, deleted.stderr
    assert "2 deployment(s)" in deleted.stdout and "1 resource(s)" in deleted.stdout
    after = _by_rule(_advice(run))
    assert "preview-expiring" not in after and "preview-idle" not in after
    assert {"drift", "post-deploy-regression", "waste"} <= set(after)
