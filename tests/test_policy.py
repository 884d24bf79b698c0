"""The policy: read-only, freeze windows and protected environments, decided the same for every caller."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from idp_tui.api.actions import ActionKind, ActionRequest
from idp_tui.config import ConfigError, parse_config
from idp_tui.policy import Decision, FreezeWindow, PolicyConfig, decide

NOW = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)


def request(kind: ActionKind = ActionKind.DEPLOY, env: str = "staging", *,
            confirmation: str = "", reason: str = "") -> ActionRequest:
    return ActionRequest(id="a-1", kind=kind, service="payments-api", environment=env,
                         version="1.2.3" if kind is ActionKind.DEPLOY else None,
                         replicas=3 if kind is ActionKind.SCALE else None,
                         confirmation=confirmation, reason=reason)


def freeze(*envs: str, start: datetime = NOW - timedelta(hours=1),
           end: datetime = NOW + timedelta(hours=2), reason: str = "") -> FreezeWindow:
    return FreezeWindow(environments=list(envs), start=start, end=end, reason=reason)


def test_an_ordinary_request_is_allowed() -> None:
    decision = decide(PolicyConfig(), request(), now=NOW)
    assert decision == Decision(True, "allowed", "allowed")
    assert decision.as_dict() == {"allowed": True, "rule": "allowed", "message": "allowed",
                                  "needs_confirmation": False}


@pytest.mark.parametrize("kind", list(ActionKind))
def test_read_only_denies_every_action(kind: ActionKind) -> None:
    decision = decide(PolicyConfig(), request(kind), now=NOW, read_only=True)
    assert not decision.allowed
    assert decision.rule == "read-only"
    assert "--read-only" in decision.message


def test_read_only_from_the_config_denies_too() -> None:
    decision = decide(PolicyConfig(read_only=True), request(), now=NOW)
    assert (decision.allowed, decision.rule) == (False, "read-only")


def test_a_read_only_source_is_named() -> None:
    decision = decide(PolicyConfig(), request(), now=NOW, source_read_only=True, source="k8s")
    assert (decision.allowed, decision.rule) == (False, "read-only")
    assert "'k8s'" in decision.message and "[sources.k8s] read_only = true" in decision.message


def test_read_only_comes_before_a_confirmed_protected_environment() -> None:
    confirmed = request(env="production", confirmation="production", reason="CHG-1")
    decision = decide(PolicyConfig(), confirmed, now=NOW, read_only=True)
    assert decision.rule == "read-only"


def test_an_active_freeze_denies_deploys_and_says_until_when() -> None:
    policy = PolicyConfig(freeze=[freeze("staging", "production", reason="Black Friday")])
    decision = decide(policy, request(env="staging"), now=NOW)
    assert (decision.allowed, decision.rule) == (False, "freeze")
    assert "until 2026-11-25 16:00 UTC" in decision.message
    assert "Black Friday" in decision.message


def test_a_freeze_in_another_time_zone_says_its_end_in_that_zone() -> None:
    end = datetime.fromisoformat("2026-11-25T18:30:00+01:00")
    policy = PolicyConfig(freeze=[freeze("staging", end=end)])
    decision = decide(policy, request(), now=NOW)
    assert "until 2026-11-25 18:30 UTC+01:00" in decision.message


@pytest.mark.parametrize(("start", "end"), [
    (NOW + timedelta(minutes=1), NOW + timedelta(hours=1)),  # not started yet
    (NOW - timedelta(hours=2), NOW - timedelta(minutes=1)),  # over
    (NOW - timedelta(hours=2), NOW),  # ends exactly now: the end is not frozen
])
def test_an_inactive_freeze_allows_deploys(start: datetime, end: datetime) -> None:
    policy = PolicyConfig(freeze=[freeze("staging", start=start, end=end)])
    assert decide(policy, request(), now=NOW).allowed


def test_a_freeze_starts_at_its_start() -> None:
    policy = PolicyConfig(freeze=[freeze("staging", start=NOW)])
    assert not decide(policy, request(), now=NOW).allowed


def test_a_freeze_of_another_environment_allows_deploys() -> None:
    policy = PolicyConfig(freeze=[freeze("production")])
    assert decide(policy, request(env="staging"), now=NOW).allowed


@pytest.mark.parametrize("kind", [ActionKind.ROLLBACK, ActionKind.RESTART, ActionKind.SCALE])
def test_fixing_an_incident_stays_possible_during_a_freeze(kind: ActionKind) -> None:
    policy = PolicyConfig(freeze=[freeze("staging")])
    decision = decide(policy, request(kind), now=NOW)
    assert decision.allowed, decision


def test_a_frozen_protected_environment_reports_the_freeze() -> None:
    policy = PolicyConfig(freeze=[freeze("production")])
    confirmed = request(env="production", confirmation="production", reason="CHG-1")
    decision = decide(policy, confirmed, now=NOW)
    assert decision.rule == "freeze"


def test_a_rollback_to_a_frozen_protected_environment_still_needs_confirmation() -> None:
    policy = PolicyConfig(freeze=[freeze("production")])
    decision = decide(policy, request(ActionKind.ROLLBACK, "production"), now=NOW)
    assert (decision.allowed, decision.rule) == (False, "protected")
    confirmed = request(ActionKind.ROLLBACK, "production", confirmation="production",
                        reason="incident 42")
    assert decide(policy, confirmed, now=NOW).allowed


@pytest.mark.parametrize(("confirmation", "reason", "words"), [
    ("", "", "type 'production' to confirm"),
    ("prod", "CHG-1", "type 'production' to confirm"),
    ("Production", "CHG-1", "type 'production' to confirm"),
    ("production", "", "a reason is required"),
    ("production", "   ", "a reason is required"),
])
def test_a_protected_environment_needs_its_name_and_a_reason(confirmation: str, reason: str,
                                                             words: str) -> None:
    decision = decide(PolicyConfig(), request(env="production", confirmation=confirmation,
                                              reason=reason), now=NOW)
    assert (decision.allowed, decision.rule) == (False, "protected")
    assert decision.needs_confirmation
    assert words in decision.message


def test_a_protected_environment_confirmed_by_name_with_a_reason_is_allowed() -> None:
    decision = decide(PolicyConfig(), request(env="production", confirmation="production",
                                              reason="CHG-1234"), now=NOW)
    assert (decision.allowed, decision.rule, decision.needs_confirmation) == (
        True, "protected", True)


def test_protected_environments_come_from_the_config_and_from_the_source() -> None:
    policy = PolicyConfig(protected=["staging"])
    assert decide(policy, request(env="staging"), now=NOW).rule == "protected"
    assert decide(policy, request(env="production"), now=NOW).allowed
    marked = decide(policy, request(env="dev"), now=NOW, environment_protected=True)
    assert (marked.allowed, marked.rule) == (False, "protected")


def test_provisioning_without_an_environment_needs_no_confirmation() -> None:
    provision = ActionRequest(id="p-1", kind=ActionKind.PROVISION, template="postgres")
    assert decide(PolicyConfig(), provision, now=NOW).allowed


def test_freeze_windows_are_validated() -> None:
    with pytest.raises(ValidationError, match="end must be after start"):
        freeze("staging", start=NOW, end=NOW)
    with pytest.raises(ValidationError):
        FreezeWindow(environments=["staging"], start=datetime(2026, 1, 1),  # naive: ambiguous
                     end=datetime(2026, 1, 2))
    with pytest.raises(ValidationError):
        FreezeWindow(environments=[], start=NOW, end=NOW + timedelta(hours=1))


def test_the_policy_table_is_read_from_the_config() -> None:
    text = """
[policy]
protected = ["production", "staging"]
identity = "ci-bot"
action_timeout = 60

[[policy.freeze]]
environments = ["production"]
start = 2026-11-27T00:00:00Z
end = 2026-11-30T23:59:00Z
reason = "Black Friday"
"""
    import tomllib

    config = parse_config(tomllib.loads(text), path=None, text=text)
    assert config.policy.protected == ["production", "staging"]
    assert config.policy.identity == "ci-bot"
    (window,) = config.policy.freeze
    assert window.reason == "Black Friday"
    assert window.active(datetime(2026, 11, 28, tzinfo=UTC), "production")


def test_a_mistake_in_the_policy_table_names_the_field() -> None:
    text = "[policy]\nprotected = \"production\"\n"
    import tomllib

    with pytest.raises(ConfigError) as info:
        parse_config(tomllib.loads(text), path=None, text=text)
    assert info.value.field == "policy.protected"
    assert info.value.line == 2


def test_an_approval_is_judged_as_the_deploy_it_lets_go_on() -> None:
    from idp_tui.policy import acting_as

    approve = ActionRequest(id="ap", kind=ActionKind.APPROVE, run_id="o/r:1",
                            environment="production")
    effect = acting_as(ActionKind.APPROVE, "production")
    assert effect is not None and effect.acts_as is ActionKind.DEPLOY
    frozen = decide(PolicyConfig(freeze=[freeze("production")]), approve, now=NOW, effect=effect)
    assert not frozen.allowed and frozen.rule == "freeze"
    assert frozen.message.startswith("approving a deployment to production lets a run deploy "
                                     "there: it is judged as a deploy: production is frozen "
                                     "for deploys until")
    assert frozen.as_dict()["acts_as"] == "deploy"
    protected = decide(PolicyConfig(), approve, now=NOW, effect=effect)
    assert not protected.allowed and protected.needs_confirmation
    # Rejecting stops a deploy: a freeze does not stop it (a protected environment still asks).
    assert acting_as(ActionKind.REJECT, "production") is None
    reject = approve.model_copy(update={"kind": ActionKind.REJECT, "confirmation": "production",
                                        "reason": "no"})
    assert decide(PolicyConfig(freeze=[freeze("production")]), reject, now=NOW).allowed
