"""The policy judges what an action does: versions compared, what ran before, a rollback to a new
version judged as a deploy, and freeze windows that speak in dates (issue 14, item 1)."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta

import pytest

from idp_tui.api.actions import ActionKind, ActionRequest
from idp_tui.config import ConfigError, parse_config
from idp_tui.policy import (
    Effect,
    FreezeWindow,
    PolicyConfig,
    compare_versions,
    decide,
    judge,
    version_key,
    versions_run,
    when,
)

NOW = datetime(2026, 12, 23, 10, 0, tzinfo=UTC)
WINDOW = FreezeWindow(environments=["production"], start=datetime(2026, 12, 22, tzinfo=UTC),
                      end=datetime(2027, 1, 4, 9, tzinfo=UTC), reason="end-of-year freeze")


def rollback(version: str | None = None, env: str = "production") -> ActionRequest:
    return ActionRequest(id="rb-1", kind=ActionKind.ROLLBACK, service="billing-service",
                         environment=env, version=version, confirmation=env, reason="INC-7")


# Versions ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("a", "b", "order"), [
    ("1.10.0", "1.9.0", 1),
    ("1.9.0", "1.10.0", -1),
    ("v1.4.0", "1.4.0", 0),
    ("1.4", "1.4.0", 0),
    ("V2.0.0", "v1.99.99", 1),
    ("1.4.0-rc.1", "1.4.0", -1),
    ("1.4.0-rc.2", "1.4.0-rc.10", -1),
    ("1.4.0-beta", "1.4.0-alpha", 1),
    ("1.4.0+build.7", "1.4.0", 0),
    ("2026.12.01", "2026.11.30", 1),
])
def test_versions_compare_semantically(a: str, b: str, order: int) -> None:
    assert compare_versions(a, b) == order


@pytest.mark.parametrize("version", ["3f9c2ab", "main", "latest", "1.4.x", ""])
def test_versions_that_do_not_parse_cannot_be_ordered(version: str) -> None:
    assert version_key(version) is None
    assert compare_versions(version, "1.4.0") is None
    assert compare_versions("1.4.0", version) is None
    if version:
        assert compare_versions(version, version) == 0


# What ran before: the audit log ------------------------------------------------------------------

def record(phase: str = "finished", action: str = "deploy", *, env: str = "production",
           service: str = "billing-service", outcome: str = "succeeded",
           **extra: object) -> dict[str, object]:
    return {"phase": phase, "action": action, "service": service, "environment": env,
            "outcome": outcome, **extra}


def test_the_audit_log_shows_what_ran_in_an_environment() -> None:
    records = [
        record(version="1.5.0", previous_version="1.4.0"),
        record(action="rollback", version=None, previous_version="1.5.0",
               target_version="1.4.0"),
        # A failed deploy: what it replaced ran, what it went to did not.
        record(version="1.6.0", previous_version="1.4.0", outcome="failed"),
        # Started and denied records are not evidence; other services and environments neither.
        record(phase="started", version="1.7.0"),
        record(phase="denied", version="1.8.0", outcome="denied"),
        record(version="1.9.0", env="staging"),
        record(version="2.0.0", service="search-api"),
        record(action="restart", version="2.1.0"),
        record(version="", previous_version=None),
    ]
    assert versions_run(records, "billing-service", "production") == {"1.4.0", "1.5.0"}
    assert versions_run(records, "billing-service", "staging") == {"1.9.0"}
    assert versions_run([], "billing-service", "production") == set()


# Judging ----------------------------------------------------------------------------------------

def test_a_rollback_to_a_version_that_never_ran_there_is_a_deploy() -> None:
    effect = judge(ActionKind.ROLLBACK, "production", ["1.4.0"], "1.5.0", {"1.5.0", "1.3.0"})
    assert effect == Effect(ActionKind.DEPLOY, "rolling back to 1.4.0, which has never run in "
                                               "production, is a deploy")


def test_a_rollback_to_a_newer_version_is_a_deploy_even_if_it_ran_before() -> None:
    effect = judge(ActionKind.ROLLBACK, "production", ["1.10.0"], "1.9.0", {"1.9.0", "1.10.0"})
    assert effect.acts_as is ActionKind.DEPLOY
    assert effect.summary == ("rolling back to 1.10.0, newer than 1.9.0 running in production "
                              "now, is a deploy")


def test_a_true_rollback_stays_a_rollback() -> None:
    effect = judge(ActionKind.ROLLBACK, "production", ["1.9.0"], "1.10.0", {"1.10.0", "1.9.0"})
    assert effect == Effect(None, "rolling back to 1.9.0, which ran in production before, is a "
                                  "rollback")
    # A "v" prefix names the same version.
    assert judge(ActionKind.ROLLBACK, "production", ["v1.9.0"], "1.10.0",
                 {"1.10.0", "1.9.0"}).acts_as is None


def test_a_commit_sha_counts_as_newer_unless_it_ran_there_before() -> None:
    new = judge(ActionKind.ROLLBACK, "production", ["3f9c2ab"], "1.10.0", {"1.10.0"})
    assert new.acts_as is ActionKind.DEPLOY and "never run in production" in new.summary
    ran = judge(ActionKind.ROLLBACK, "production", ["3f9c2ab"], "8d1e0f4", {"8d1e0f4", "3f9c2ab"})
    assert ran.acts_as is None


def test_every_target_is_judged_and_an_unknown_one_is_a_deploy() -> None:
    # The version asked for and the one the source plans: either new makes it a deploy.
    both = judge(ActionKind.ROLLBACK, "production", ["1.3.0", "1.4.0"], "1.5.0", {"1.3.0", "1.5.0"})
    assert both.acts_as is ActionKind.DEPLOY and "1.4.0" in both.summary
    unknown = judge(ActionKind.ROLLBACK, "production", [], "1.5.0", {"1.5.0"})
    assert unknown.acts_as is ActionKind.DEPLOY
    assert "a version the source does not name" in unknown.summary


# Deciding ---------------------------------------------------------------------------------------

def test_a_rollback_that_is_a_deploy_is_frozen_and_the_decision_says_why() -> None:
    policy = PolicyConfig(freeze=[WINDOW])
    effect = judge(ActionKind.ROLLBACK, "production", ["1.4.0"], "1.3.0", {"1.3.0"})
    decision = decide(policy, rollback("1.4.0"), now=NOW, effect=effect)
    assert (decision.allowed, decision.rule) == (False, "freeze")
    assert decision.message == (
        "rolling back to 1.4.0, which has never run in production, is a deploy: production is "
        "frozen for deploys until 2027-01-04 09:00 UTC (end-of-year freeze).")
    assert decision.as_dict()["acts_as"] == "deploy"
    assert decision.as_dict()["effect"] == effect.summary


def test_a_true_rollback_is_allowed_in_a_freeze_and_says_what_it_does() -> None:
    policy = PolicyConfig(freeze=[WINDOW])
    effect = judge(ActionKind.ROLLBACK, "production", ["1.2.0"], "1.3.0", {"1.3.0", "1.2.0"})
    decision = decide(policy, rollback("1.2.0"), now=NOW, effect=effect)
    assert decision.allowed and decision.rule == "protected"
    assert (decision.acts_as, decision.effect) == ("", effect.summary)
    assert decision.as_dict()["acts_as"] is None


def test_a_rollback_judged_a_deploy_still_needs_the_protected_confirmation() -> None:
    effect = judge(ActionKind.ROLLBACK, "production", ["1.4.0"], "1.3.0", {"1.3.0"})
    unconfirmed = ActionRequest(id="rb-2", kind=ActionKind.ROLLBACK, service="billing-service",
                                environment="production", version="1.4.0")
    decision = decide(PolicyConfig(), unconfirmed, now=NOW, effect=effect)
    assert (decision.allowed, decision.rule, decision.acts_as) == (False, "protected", "deploy")
    # Outside a freeze, confirmed: allowed, and still said to be a deploy.
    allowed = decide(PolicyConfig(), rollback("1.4.0"), now=NOW, effect=effect)
    assert allowed.allowed and allowed.acts_as == "deploy"


def test_read_only_comes_before_what_an_action_does() -> None:
    effect = judge(ActionKind.ROLLBACK, "production", ["1.4.0"], "1.3.0", {"1.3.0"})
    decision = decide(PolicyConfig(freeze=[WINDOW]), rollback("1.4.0"), now=NOW, read_only=True,
                      effect=effect)
    assert decision.rule == "read-only"


# Freeze windows speak in dates ------------------------------------------------------------------

def test_a_freeze_window_end_is_a_date() -> None:
    assert when(datetime(2026, 12, 22, tzinfo=UTC)) == "2026-12-22 00:00 UTC"
    assert when(datetime.fromisoformat("2026-12-22T00:30:00-05:30")) == \
        "2026-12-22 00:30 UTC-05:30"


def config_error(body: str) -> ConfigError:
    text = f'[[policy.freeze]]\nenvironments = ["production"]\n{body}\n'
    with pytest.raises(ConfigError) as info:
        parse_config(tomllib.loads(text), path=None, text=text)
    return info.value


@pytest.mark.parametrize(("body", "field", "words"), [
    ("start = 2026-12-22T00:00:00Z\nend = 2026-12-21T00:00:00Z", "policy.freeze.0.end",
     "end must be after start, got start 2026-12-22 00:00 UTC and end 2026-12-21 00:00 UTC"),
    ("start = 2026-12-22T00:00:00Z\nend = 2026-12-22T00:00:00Z", "policy.freeze.0.end",
     "end must be after start, got start 2026-12-22 00:00 UTC and end 2026-12-22 00:00 UTC"),
    ("start = 2026-12-22T00:00:00\nend = 2027-01-04T09:00:00Z", "policy.freeze.0.start",
     "a time zone is needed (Z for UTC, e.g. 2026-12-22T00:00:00Z), got 2026-12-22 00:00:00 "
     "without one"),
    ("start = 2026-12-22\nend = 2027-01-04T09:00:00Z", "policy.freeze.0.start",
     "got 2026-12-22"),
    ("start = 2026-12-22T00:00:00Z\nend = 09:00:00", "policy.freeze.0.end", "got 09:00:00"),
    ('start = "soon"\nend = 2027-01-04T09:00:00Z', "policy.freeze.0.start", 'got "soon"'),
    ("start = 5\nend = 2027-01-04T09:00:00Z", "policy.freeze.0.start", "got 5"),
])
def test_freeze_window_errors_show_dates_never_python_reprs(body: str, field: str,
                                                            words: str) -> None:
    error = config_error(body)
    assert error.field == field
    assert words in str(error)
    assert "datetime." not in str(error) and "tzinfo" not in str(error)


def test_a_freeze_window_given_as_text_with_an_offset_is_read() -> None:
    window = FreezeWindow.model_validate({"environments": ["production"],
                                          "start": "2026-12-22T00:00:00+01:00",
                                          "end": "2027-01-04T09:00:00Z"})
    assert window.start == datetime(2026, 12, 21, 23, tzinfo=UTC)
    assert window.active(window.start + timedelta(minutes=1), "production")
