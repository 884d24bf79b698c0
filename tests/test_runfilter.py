"""The Pipelines pane's filter (idp_tui.runfilter): field terms, fuzzy text, completion, facets
and which run addresses may be opened."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from idp_tui.api.models import PipelineRun, RunStatus
from idp_tui.runfilter import apply, complete, facets, parse, web_url, with_term

T = datetime(2026, 3, 2, 12, tzinfo=UTC)


def run(n: int, *, status: RunStatus = RunStatus.SUCCEEDED, branch: str = "main",
        actor: str = "alice", event: str = "push", pipeline: str = "CI",
        service: str = "payments", pr: int | None = None, trigger: str = "",
        message: str = "", url: str = "") -> PipelineRun:
    return PipelineRun(id=f"r{n}", service=service, pipeline=pipeline, branch=branch,
                       status=status, started_at=T, number=n, actor=actor, event=event,
                       pull_request=pr, trigger=trigger, message=message, url=url)


RUNS = [
    run(1),
    run(2, status=RunStatus.FAILED, branch="feature/x", actor="bob", event="pull_request",
        pr=42),
    run(3, status=RunStatus.CANCELLED, pipeline="Deploy", event="workflow_dispatch"),
    run(4, status=RunStatus.RUNNING, branch="release/1.2", actor="dependabot[bot]",
        service="ledger"),
    run(5, status=RunStatus.FAILED, pipeline="Deploy", actor="Alice", message="Fix payments"),
    run(6, status=RunStatus.WAITING, actor="", event="", trigger="schedule", service="ledger"),
]


def numbers(query: str) -> list[int]:
    return [r.number for r in apply(query, RUNS) if r.number is not None]


def test_no_filter_keeps_every_run_in_order() -> None:
    assert numbers("") == [1, 2, 3, 4, 5, 6]
    assert not parse("  ").active


@pytest.mark.parametrize(("query", "expected"), [
    ("status:failed", [2, 5]),
    ("status:failure", [2, 5]),  # GitHub's conclusion
    ("status:in_progress", [4]),
    ("status:action_required", [6]),
    ("status:completed", [1, 2, 3, 5]),
    ("status:active", [4, 6]),
    ("status:failed,cancelled", [2, 3, 5]),
    ("status:failed status:cancelled", [2, 3, 5]),
    ("Status:FAILED", [2, 5]),
    ("status:fail*", [2, 5]),
    ("branch:main", [1, 3, 5, 6]),
    ("branch:release/*", [4]),
    ("b:feature/x", [2]),
    ("actor:alice", [1, 3, 5]),  # any case
    ("actor:dependabot[bot]", [4]),
    ("event:pull_request", [2]),
    ("event:schedule", [6]),  # no event: the trigger's
    ("workflow:deploy", [3, 5]),
    ("service:ledger", [4, 6]),
    ("pr:42", [2]),
    ("pr:#42", [2]),
    ("-branch:main", [2, 4]),
    ("-actor:alice -status:running", [2, 6]),
])
def test_one_field(query: str, expected: list[int]) -> None:
    assert numbers(query) == expected


def test_fields_together_all_of_them() -> None:
    assert numbers("status:failed branch:main actor:alice workflow:Deploy") == [5]
    assert numbers("status:failed event:pull_request actor:alice") == []


def test_fields_and_fuzzy_text() -> None:
    assert numbers("status:failed fix") == [5]
    assert numbers("#42") == [2]  # the pull request's number
    assert numbers("#3") == [3]  # the run's number
    assert numbers("ledger") == [4, 6]


def test_words_that_are_not_fields_are_text_and_said() -> None:
    parsed = parse("stauts:failed")
    assert parsed.terms == () and parsed.text == "stauts:failed"
    assert parsed.errors and "stauts: is not a field" in parsed.errors[0]
    assert numbers("stauts:failed") == []
    # A colon at the end (a commit message's "fix:") is plain text, nothing to say.
    assert parse("fix:").errors == ()


def test_an_unknown_status_is_said_and_matches_nothing() -> None:
    parsed = parse("status:borked")
    assert parsed.errors and "no status 'borked'" in parsed.errors[0]
    assert apply(parsed, RUNS) == []


def test_describe_says_the_active_filters() -> None:
    parsed = parse("status:failed,cancelled -actor:bob branch:main pay")
    assert parsed.describe() == 'status failed or cancelled · branch main · not actor bob · pay'
    assert parsed.chosen() == {"status": {"failed", "cancelled"}, "branch": {"main"}}


def test_with_term_replaces_the_field_keeps_the_rest() -> None:
    assert with_term("status:failed pay", "status:running") == "pay status:running"
    assert with_term("is:failed branch:main", "status:queued") == "branch:main status:queued"
    assert with_term("", "actor:bob") == "actor:bob"


def test_complete_field_names_and_values() -> None:
    assert complete("st", RUNS) == "status:"
    assert complete("pay br", RUNS) == "pay branch:"
    assert complete("-ac", RUNS) == "-actor:"
    assert complete("status:fa", RUNS) == "status:failed"
    assert complete("status:failed,ca", RUNS) == "status:failed,cancelled"
    # Values the runs have, the most common first.
    assert complete("branch:", RUNS) == "branch:main"
    assert complete("branch:f", RUNS) == "branch:feature/x"
    assert complete("actor:d", RUNS) == "actor:dependabot[bot]"
    assert complete("b:rel", RUNS) == "b:release/1.2"
    # Nothing to complete.
    assert complete("", RUNS) is None
    assert complete("status:failed ", RUNS) is None
    assert complete("status:failed", RUNS) is None
    assert complete("zz:", RUNS) is None
    assert complete("branch:zzz", RUNS) is None


def test_facets_count_the_values_of_each_field() -> None:
    found = {f.field: {v.value: v.count for v in f.values} for f in facets(RUNS)}
    assert found["status"] == {"succeeded": 1, "failed": 2, "cancelled": 1, "running": 1,
                               "waiting": 1}
    assert found["branch"]["main"] == 4
    assert found["event"] == {"push": 3, "pull_request": 1, "workflow_dispatch": 1,
                              "schedule": 1}
    assert found["pr"] == {"42": 1}
    assert [v.value for v in next(f.values for f in facets(RUNS) if f.field == "branch")] \
        == ["main", "feature/x", "release/1.2"]
    # At most so many values of each field, the most common.
    assert [v.value for v in facets(RUNS, 1)[1].values] == ["main"]


def test_values_that_cannot_be_a_word_of_the_filter_are_not_offered() -> None:
    odd = [run(1, actor="evil\x1b[2J"), run(2, actor="two words"), run(3, actor="eve\u202e")]
    found = {f.field: [v.value for v in f.values] for f in facets(odd)}
    assert "actor" not in found
    assert complete("actor:e", odd) is None


@pytest.mark.parametrize(("url", "opened"), [
    ("https://github.com/acme/payments/actions/runs/5", True),
    ("http://ci.example.com/x/1", True),
    ("", False),
    ("javascript:alert(1)", False),
    ("file:///etc/passwd", False),
    ("https://", False),
    ("https://example.com/\x1b[2J", False),
    ("https://example.com/\u202egpj.exe", False),
    ("https://example.com/a b", False),
])
def test_only_web_addresses_are_opened(url: str, opened: bool) -> None:
    assert (web_url(run(1, url=url)) is not None) is opened
