"""GitHub's payloads as the dashboard's records: runs, jobs, deployments, log lines.

Lists are *trimmed* as they arrive (``trim_run``, ``trim_job``…): only the fields read here are
kept, so the bodies kept for conditional requests stay small (a run in GitHub's list carries two
repository objects, ~13 kB).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from idp_tui import (
    Health,
    Job,
    LogLevel,
    LogLine,
    PipelineRun,
    RunStatus,
    SourceDataError,
    SourceNotFound,
    Step,
)

from .config import check_repo

#: A run's or job's status while it is not completed.
_OPEN = {"queued": RunStatus.QUEUED, "waiting": RunStatus.WAITING, "pending": RunStatus.QUEUED,
         "requested": RunStatus.QUEUED, "in_progress": RunStatus.RUNNING}
#: A completed run's or job's conclusion.
_CONCLUSIONS = {
    "success": RunStatus.SUCCEEDED, "failure": RunStatus.FAILED, "timed_out": RunStatus.FAILED,
    "startup_failure": RunStatus.FAILED, "cancelled": RunStatus.CANCELLED,
    "skipped": RunStatus.SKIPPED, "neutral": RunStatus.SKIPPED,
    "action_required": RunStatus.ACTION_REQUIRED, "stale": RunStatus.CANCELLED}
#: A deployment status's state → health. A deploy under way is DEGRADED: the environment is
#: changing and its version is not settled; "inactive" (superseded, or torn down) is UNKNOWN.
HEALTH = {"success": Health.HEALTHY, "failure": Health.DOWN, "error": Health.DOWN,
          "in_progress": Health.DEGRADED, "queued": Health.DEGRADED,
          "pending": Health.DEGRADED, "inactive": Health.UNKNOWN}
#: A ref that names a version (a tag such as "v1.4.2", "2024.06.1", "v7", "v2.0.0-rc.1") rather
#: than a branch ("main", "1234-fix-login").
VERSION_REF = re.compile(r"(v\d+|\d+\.\d+)(\.\d+)*([-+][0-9A-Za-z.-]+)?")
_SHA = re.compile(r"[0-9a-f]{40}")
#: An environment name that says it is a preview (``preview-42``, ``pr-17``, ``app-pr-17``,
#: ``review/fix-login``) when GitHub does not mark it ``transient_environment``.
_PREVIEW_NAME = re.compile(r"(?i)(.*[-_/])?(preview|review|pr)([-_/]?\d+|[-_/][\w./-]+)?")
#: A deployment payload given as a string longer than this is not read (GitHub keeps what the
#: deployment was created with; a payload is a few settings).
_PAYLOAD_CHARS = 65_536
_MARKERS = {"error": LogLevel.ERROR, "warning": LogLevel.WARN, "notice": LogLevel.INFO,
            "debug": LogLevel.DEBUG, "group": LogLevel.INFO, "command": LogLevel.INFO,
            "section": LogLevel.INFO}
_LEVEL_WORDS = {"ERROR": LogLevel.ERROR, "ERR": LogLevel.ERROR, "FATAL": LogLevel.FATAL,
                "WARN": LogLevel.WARN, "WARNING": LogLevel.WARN, "INFO": LogLevel.INFO,
                "DEBUG": LogLevel.DEBUG, "TRACE": LogLevel.TRACE}


def run_status(status: Any, conclusion: Any) -> RunStatus:
    """A run's (or job's, or step's) status and conclusion as one RunStatus (a conclusion not
    known here counts as failed; none at all, as skipped)."""
    if status == "completed":
        return _CONCLUSIONS.get(str(conclusion), RunStatus.FAILED if conclusion else
                                RunStatus.SKIPPED)
    return _OPEN.get(str(status), RunStatus.QUEUED)


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time from the API (``Z``, an offset, up to seven fractional digits) in UTC."""
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


def version_of(ref: str | None, sha: str) -> str:
    """What a build of ``sha`` is called: the tag when ``ref`` is one (``v1.4.2``), else the
    short sha (a branch's build, or a ref that is a sha)."""
    if ref and not _SHA.fullmatch(ref) and VERSION_REF.fullmatch(ref.removeprefix("refs/tags/")):
        return ref.removeprefix("refs/tags/")
    return sha[:7] if sha else (ref or "")


def workflow_file(path: Any) -> str:
    """``.github/workflows/deploy.yml@main`` → ``deploy.yml``."""
    return str(path or "").split("@", 1)[0].rsplit("/", 1)[-1]


# Trimming ----------------------------------------------------------------------------------------

def trim_run(item: Any) -> dict[str, Any]:
    if not isinstance(item, dict) or not isinstance(item.get("id"), int):
        raise SourceDataError("a workflow run without an id")
    commit = item.get("head_commit") if isinstance(item.get("head_commit"), dict) else {}
    actor = item.get("triggering_actor") or item.get("actor")
    message = str(commit.get("message") or item.get("display_title") or "")
    return {
        "id": item["id"], "name": str(item.get("name") or workflow_file(item.get("path"))),
        "branch": str(item.get("head_branch") or ""), "sha": str(item.get("head_sha") or ""),
        "event": str(item.get("event") or ""), "status": item.get("status"),
        "conclusion": item.get("conclusion"), "workflow_id": item.get("workflow_id"),
        "file": workflow_file(item.get("path")), "url": str(item.get("html_url") or ""),
        "created_at": item.get("created_at"), "updated_at": item.get("updated_at"),
        "run_started_at": item.get("run_started_at"), "attempt": item.get("run_attempt") or 1,
        "number": item.get("run_number"), "message": message.strip().split("\n", 1)[0],
        "actor": str(actor.get("login") or "") if isinstance(actor, dict) else "",
        "pull_request": _pull_request(item)}


def _pull_request(item: dict[str, Any]) -> int | None:
    """The number of the first pull request a run was for (``pull_requests`` lists those of
    the run's own repository; a fork's are not listed)."""
    pulls = item.get("pull_requests")
    if isinstance(pulls, list):
        for pull in pulls:
            if isinstance(pull, dict) and isinstance(pull.get("number"), int):
                return int(pull["number"])
    return None


def runs_of(body: Any) -> list[dict[str, Any]]:
    """The trimmed runs of a runs list."""
    runs = body.get("workflow_runs") if isinstance(body, dict) else None
    if not isinstance(runs, list):
        raise SourceDataError("a runs list without workflow_runs")
    return [trim_run(item) for item in runs if isinstance(item, dict)]


def trim_job(item: Any) -> dict[str, Any]:
    if not isinstance(item, dict) or item.get("id") is None:
        raise SourceDataError("a job without an id")
    steps = [{"name": str(s.get("name") or f"step {s.get('number')}"), "status": s.get("status"),
              "conclusion": s.get("conclusion"), "number": s.get("number"),
              "started_at": s.get("started_at"), "completed_at": s.get("completed_at")}
             for s in item.get("steps") or () if isinstance(s, dict)]
    return {"id": str(item["id"]), "name": str(item.get("name") or item["id"]),
            "status": item.get("status"), "conclusion": item.get("conclusion"),
            "started_at": item.get("started_at"), "completed_at": item.get("completed_at"),
            "steps": steps}


def jobs_of(body: Any) -> list[dict[str, Any]]:
    jobs = body.get("jobs") if isinstance(body, dict) else None
    if not isinstance(jobs, list):
        raise SourceDataError("a jobs list without jobs")
    return [trim_job(item) for item in jobs]


def workflows_of(body: Any) -> list[dict[str, Any]]:
    flows = body.get("workflows") if isinstance(body, dict) else None
    if not isinstance(flows, list):
        raise SourceDataError("a workflows list without workflows")
    return [{"id": str(w.get("id")), "name": str(w.get("name") or ""),
             "file": workflow_file(w.get("path")), "state": str(w.get("state") or "active")}
            for w in flows if isinstance(w, dict)]


def deployments_of(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, list):
        raise SourceDataError("a deployments list that is not a list")
    out = []
    for d in body:
        if not isinstance(d, dict) or d.get("id") is None:
            continue
        payload = deployment_payload(d.get("payload"))
        out.append({"id": d["id"], "environment": str(d.get("environment") or ""),
                    "ref": str(d.get("ref") or ""), "sha": str(d.get("sha") or ""),
                    "created_at": d.get("created_at"), "updated_at": d.get("updated_at"),
                    "description": str(d.get("description") or ""),
                    "version": _named(payload.get("version")),
                    "service": _named(payload.get("service")),
                    "transient": d.get("transient_environment") is True,
                    "production": d.get("production_environment") is True})
    return out


def is_preview_name(name: str) -> bool:
    """True for an environment whose name says it is a preview (``preview-42``)."""
    return _PREVIEW_NAME.fullmatch(name) is not None


def deployment_payload(value: Any) -> dict[str, Any]:
    """A deployment's ``payload``: an object, or a string holding a JSON object (GitHub returns
    the string a deployment was created with as it was given); anything else is no payload."""
    if isinstance(value, str) and len(value) <= _PAYLOAD_CHARS:
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            return {}
    return value if isinstance(value, dict) else {}


def _named(value: Any) -> str | None:
    """A payload's name (a version, a service) when it is a non-blank string."""
    return value if isinstance(value, str) and value.strip() else None


def statuses_of(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, list):
        raise SourceDataError("a deployment statuses list that is not a list")
    return [{"state": str(s.get("state") or ""), "description": str(s.get("description") or ""),
             "created_at": s.get("created_at")} for s in body if isinstance(s, dict)]


# Records -----------------------------------------------------------------------------------------

def run_record(run: dict[str, Any], repo: str, service: str,
               jobs: tuple[Job, ...] = ()) -> PipelineRun:
    status = run_status(run["status"], run["conclusion"])
    started = parse_time(run["run_started_at"]) or parse_time(run["created_at"])
    if started is None:
        raise SourceDataError(f"{repo}: run {run['id']} has no start time")
    trigger = f"{run['event']} by {run['actor']}" if run["actor"] else run["event"]
    return PipelineRun(
        id=f"{repo}:{run['id']}", service=service, pipeline=run["name"] or "workflow",
        branch=run["branch"], commit=run["sha"], message=run["message"], status=status,
        trigger=trigger, started_at=started,
        finished_at=(parse_time(run["updated_at"]) or started) if status.finished else None,
        version=version_of(run["branch"], run["sha"]) if status is RunStatus.SUCCEEDED
        else None,
        url=run["url"], jobs=jobs, number=run["number"] if isinstance(run["number"], int)
        else None, attempt=run["attempt"] if isinstance(run["attempt"], int) else 1,
        event=run["event"], actor=run["actor"], pull_request=run.get("pull_request"),
        created_at=parse_time(run["created_at"]))


def job_record(job: dict[str, Any]) -> Job:
    status = run_status(job["status"], job["conclusion"])
    return Job(
        id=job["id"], name=job["name"], status=status,
        started_at=parse_time(job["started_at"]) if status is not RunStatus.QUEUED else None,
        finished_at=parse_time(job["completed_at"]) if status.finished else None,
        steps=tuple(Step(name=s["name"], status=run_status(s["status"], s["conclusion"]),
                         started_at=parse_time(s["started_at"]),
                         finished_at=parse_time(s["completed_at"])) for s in job["steps"]))


def deployment_version(deployment: dict[str, Any]) -> str:
    """The version a deployment put in its environment: ``payload.version`` when the workflow
    set one, else its ref when that is a tag, else the short sha (a branch's head then)."""
    return deployment["version"] or version_of(deployment["ref"], deployment["sha"])


def job_progress(job: dict[str, Any]) -> str:
    """"running step 3/8 Run tests" for a job in progress."""
    steps = job["steps"]
    running = next((i for i, s in enumerate(steps) if s["status"] == "in_progress"), None)
    if running is None:
        done = sum(1 for s in steps if s["status"] == "completed")
        return f"running ({done}/{len(steps)} steps done)" if steps else "running"
    return f"running step {running + 1}/{len(steps)} {steps[running]['name']}"


# Logs --------------------------------------------------------------------------------------------

def parse_log(text: str, make: Callable[[datetime, LogLevel, str], LogLine], *,
              skip: int = 0, final: bool = True,
              before: datetime | None = None) -> tuple[list[LogLine], int]:
    """The lines of a job's log after the first ``skip`` (raw lines), and how many raw lines were
    read in all. Each GitHub line starts with its time (``2020-01-20T17:42:40.1234567Z text``);
    ``##[error]``/``##[warning]``… markers give the level and are taken off; the sections'
    ``##[group]TITLE`` and ``##[endgroup]`` lines are passed on as they are (the Logs pane folds
    them: :mod:`idp_tui.logs.fold`). A BOM before the first line is not part of it. Without
    ``final`` a last line without its newline is left for the next read."""
    raw = text.split("\n")
    if raw and raw[-1] == "":
        raw.pop()
    elif raw and not final:
        raw.pop()  # not complete yet
    out: list[LogLine] = []
    last = before or datetime(1970, 1, 1, tzinfo=UTC)
    for line in raw[skip:]:
        line = line.rstrip("\r").lstrip("\ufeff")
        stamp, _, message = line.partition(" ")
        when = _stamp(stamp)
        if when is None:
            message = line
        else:
            last = when
        level = LogLevel.UNKNOWN
        if message.startswith("##["):
            end = message.find("]")
            marker = message[3:end] if end > 0 else ""
            if marker == "group":
                level = LogLevel.INFO
            elif marker == "endgroup":
                pass
            elif marker in _MARKERS:
                level, message = _MARKERS[marker], message[end + 1:]
        else:
            level = _guess(message)
        out.append(make(last, level, message))
    return out, max(len(raw), skip)


def _stamp(text: str) -> datetime | None:
    if len(text) < 20 or text[4:5] != "-" or text[10:11] != "T" or not text.endswith("Z"):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _guess(message: str) -> LogLevel:
    """The level of a plain line: a level word first (``ERROR …``, ``Error: …``, ``[warn]``)."""
    word = message.lstrip()[:12].split(" ", 1)[0].strip("[]:")
    level = _LEVEL_WORDS.get(word.upper())
    if level is None or not (word.isupper() or message.lstrip().startswith((word + ":",
                                                                           f"[{word}]"))):
        return LogLevel.UNKNOWN
    return level


def parse_run(run_id: str) -> tuple[str, str]:
    """``"owner/repo:123"`` → ("owner/repo", "123")."""
    repo, _, number = run_id.rpartition(":")
    try:
        repo = check_repo(repo)
    except ValueError:
        repo = ""
    if not repo or not number.isdigit():
        raise SourceNotFound(f"{run_id!r} is not a GitHub run (expected owner/repo:RUN_ID)")
    return repo, number
