"""The action kinds' table: one row per kind, lookups, and what the app derives from it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from idp_tui.actionspec import (
    ACTION_SPECS,
    Target,
    action_names,
    app_specs,
    by_binding,
    by_name,
    pane_specs,
    spec,
)
from idp_tui.api.kinds import ActionKind, Capability
from idp_tui.ui.action_access import ACTION_KINDS, VERBS


def test_one_row_per_kind_with_distinct_names_keys_and_ids() -> None:
    assert [s.kind for s in ACTION_SPECS] == list(ActionKind)
    assert len({s.name for s in ACTION_SPECS}) == len(ActionKind)
    assert len({s.binding_id for s in ACTION_SPECS}) == len(ActionKind)
    for scope in {s.pane for s in ACTION_SPECS}:
        keys = [s.key for s in ACTION_SPECS if s.pane == scope]
        assert len(keys) == len(set(keys)), scope


def test_lookups() -> None:
    assert spec(ActionKind.DEPLOY).binding_id == "action.deploy"
    assert spec("rollback").verb == "Roll back"
    with pytest.raises(ValueError):
        spec("launch")
    assert by_name("cancel_run").kind is ActionKind.CANCEL
    assert by_name("nope") is None
    assert by_binding("pipelines.rerun").kind is ActionKind.RERUN
    assert by_binding("action.nope") is None
    assert action_names() == ("deploy", "rollback", "scale", "restart", "provision")
    assert [s.kind for s in pane_specs("pipelines")] == [
        ActionKind.RERUN, ActionKind.CANCEL, ActionKind.RERUN_ALL, ActionKind.RERUN_JOB,
        ActionKind.APPROVE, ActionKind.REJECT, ActionKind.DISPATCH]
    assert all(s.pane is None for s in app_specs())


def test_what_each_kind_needs() -> None:
    deploy, rollback, scale = spec("deploy"), spec("rollback"), spec("scale")
    assert deploy.needs_version and deploy.takes_version and deploy.frozen
    assert rollback.takes_version and not rollback.needs_version and not rollback.frozen
    assert scale.needs_replicas and not scale.takes_version
    assert spec("provision").target is Target.TEMPLATE
    assert spec("provision").capability is Capability.PROVISION
    assert {s.kind for s in ACTION_SPECS if s.target is Target.RUN} == \
        {ActionKind.RERUN, ActionKind.CANCEL, ActionKind.RERUN_ALL, ActionKind.RERUN_JOB,
         ActionKind.APPROVE, ActionKind.REJECT}
    assert spec("dispatch").target is Target.WORKFLOW and spec("dispatch").takes_inputs
    # Approving lets a deploy go on: the policy judges it as one; rejecting stops one.
    assert spec("approve").acts_as is ActionKind.DEPLOY and spec("approve").reviews
    assert spec("reject").acts_as is None and spec("reject").reviews
    assert spec("rerun_job").job and not spec("rerun_all").job
    assert spec("rerun").title_phrase == "re-run failed jobs of"
    assert spec("restart").title_phrase == "restart"


def test_the_app_tables_come_from_it() -> None:
    assert ACTION_KINDS == {s.name: s.kind for s in app_specs()}
    assert VERBS == {s.kind: s.verb for s in ACTION_SPECS}


def test_the_table_needs_neither_textual_nor_pydantic() -> None:
    code = ("import sys, idp_tui.actionspec; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'textual', 'pydantic', 'rich'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_service_commands_take_what_the_table_says() -> None:
    from idp_tui.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["deploy", "api", "--env", "staging", "--version", "1.2.0"])
    assert (args.command, args.version) == ("deploy", "1.2.0")
    assert parser.parse_args(["rollback", "api", "--env", "staging"]).version is None
    assert parser.parse_args(["scale", "api", "-e", "staging", "-r", "3"]).replicas == 3
    restart = parser.parse_args(["restart", "api", "-e", "staging"])
    assert not hasattr(restart, "version") and not hasattr(restart, "replicas")
    for missing in (["deploy", "api", "-e", "staging"], ["scale", "api", "-e", "staging"]):
        with pytest.raises(SystemExit):
            parser.parse_args(missing)
