"""The logs of the sandbox's pipeline runs: each step's output, as a pure function of the run.

Lines come in GitHub Actions' style (``##[group]`` / ``##[error]`` markers), spread over each step's
time, only up to the clock's now for a step still running; a failed step ends with its error.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from idp_tui import Job, LogLevel, LogLine, PipelineRun, RunStatus

from .rand import rng

#: Lines a step prints, by step name ({n}, {ms}, {pkg} filled per line).
_OUTPUT = {
    "checkout": ("Syncing repository: {repo}", "Fetching the repository", "HEAD is now at {sha}"),
    "setup": ("Restoring cache: deps-{sha}", "Cache restored ({n} MB)", "Toolchain ready"),
    "compile": ("Compiling {pkg}", "Compiling {pkg}", "Compiling {pkg}", "Built {n} targets in {ms} ms"),
    "unit tests": ("PASS {pkg} ({ms} ms)", "PASS {pkg} ({ms} ms)", "PASS {pkg} ({ms} ms)",
                   "ok {n} tests"),
    "lint": ("Checking {n} files", "No issues found in {pkg}"),
    "docker build": ("#{n} [build {n}/9] RUN make release", "#{n} exporting layers",
                     "naming to registry.example.com/{repo}:{sha}"),
    "push": ("Pushing registry.example.com/{repo}:{sha}", "digest: sha256:{sha}{sha} size: {n}"),
    "helm upgrade": ("Release \"{service}\" has been upgraded. Happy Helming!",
                     "REVISION: {n}", "STATUS: deployed"),
    "smoke test": ("GET /healthz 200 ({ms} ms)", "GET /readyz 200 ({ms} ms)", "smoke test passed"),
}
_PACKAGES = ("api", "handlers", "store", "clients", "config", "metrics", "events", "auth")
_FAILURES = {
    "unit tests": "FAIL {pkg}: expected 200, got 503 ({ms} ms)",
    "lint": "{pkg}/handler.go:{n}: unused variable (lint)",
    "compile": "{pkg}/service.go:{n}: undefined: NewClient",
}


def job_log(run: PipelineRun, job: Job, now: datetime) -> list[LogLine]:
    """Every line ``job`` of ``run`` has printed by ``now``."""
    make = LogLine.maker(service=run.service, environment="", instance=job.name)
    out: list[LogLine] = []
    for step in job.steps:
        if step.started_at is None or step.started_at > now:
            continue
        start = step.started_at
        end = min(step.finished_at or now, now)
        r = rng(f"{run.id}:{job.name}:{step.name}")
        fill = {"repo": f"example/{run.service}", "sha": (run.commit or "0" * 12)[:12],
                "service": run.service}

        def text(template: str) -> str:
            return template.format(n=r.randint(2, 400), ms=r.randint(3, 2400),
                                   pkg=f"{run.service}/{r.choice(_PACKAGES)}", **fill)

        out.append(make(start, LogLevel.INFO, f"##[group]Run {step.name}"))
        lines = _OUTPUT.get(step.name, ("{n} done",))
        span = max((end - start).total_seconds(), 0.001)
        for i, template in enumerate(lines):
            ts = start + timedelta(seconds=span * (i + 1) / (len(lines) + 1))
            if ts > now:
                break
            out.append(make(ts, LogLevel.INFO, text(template)))
        if step.status is RunStatus.FAILED and step.finished_at is not None:
            failure = _FAILURES.get(step.name, "{pkg}: step failed")
            out.append(make(step.finished_at, LogLevel.ERROR, "##[error]" + text(failure)))
            out.append(make(step.finished_at, LogLevel.ERROR,
                            "##[error]Process completed with exit code 1."))
        elif step.status is RunStatus.CANCELLED and step.finished_at is not None:
            out.append(make(step.finished_at, LogLevel.ERROR, "##[error]The operation was canceled."))
        if step.finished_at is not None and step.finished_at <= now:
            out.append(make(step.finished_at, LogLevel.INFO, "##[endgroup]"))
    return out
