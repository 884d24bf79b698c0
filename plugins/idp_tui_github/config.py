"""Settings of the ``github`` source (the ``[sources.NAME]`` table of ``config.toml``)::

    [sources.github]
    type = "github"
    repos = { checkout = "acme/checkout", payments = "acme/payments-api" }
    environments = ["dev", "staging", "production"]

    [sources.github.deploy]
    workflow = "deploy.yml"
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from idp_tui import HttpSettings

#: ``owner/repo`` as GitHub allows them.
REPO_PATTERN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")
#: What the ``status`` filter of the runs list accepts (a status or a conclusion).
RUN_STATUSES = frozenset({
    "completed", "action_required", "cancelled", "failure", "neutral", "skipped", "stale",
    "success", "timed_out", "in_progress", "queued", "requested", "waiting", "pending"})
#: The values a deploy passes to the workflow, by our names.
DEPLOY_VALUES = ("service", "environment", "version")


def check_repo(value: str) -> str:
    """``value`` as "owner/repo" (a github.com URL is accepted and cut down)."""
    text = value.strip().removesuffix(".git").rstrip("/")
    text = re.sub(r"^https?://[^/]+/", "", text)
    if not REPO_PATTERN.fullmatch(text) or text.endswith(("/.", "/..")):
        raise ValueError(f'expected "owner/repo", got {value!r}')
    return text


class DeployConfig(BaseModel):
    """``[sources.NAME.deploy]``: deploys run a workflow by ``workflow_dispatch``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The workflow's file name ("deploy.yml") or numeric id; none: the source cannot deploy.
    workflow: str | None = None
    #: The branch (or tag) whose version of the workflow file runs.
    ref: str = "main"
    #: Our values → the workflow's input names. A value left out is not sent.
    inputs: dict[str, str] = Field(default_factory=lambda: {v: v for v in DEPLOY_VALUES})
    #: Another workflow for some services (service name → file name or id).
    workflows: dict[str, str] = Field(default_factory=dict)

    @field_validator("inputs")
    @classmethod
    def _inputs(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(DEPLOY_VALUES))
        if unknown:
            raise ValueError(f"unknown key(s) {', '.join(unknown)}: the keys are our values "
                             f"({', '.join(DEPLOY_VALUES)}), the values the workflow's input "
                             "names")
        empty = sorted(k for k, v in value.items() if not v.strip())
        if empty:
            raise ValueError(f"empty input name for {', '.join(empty)}")
        if len(set(value.values())) != len(value):
            raise ValueError("two values are sent as the same input")
        return value

    @field_validator("workflow")
    @classmethod
    def _workflow(cls, value: str | None) -> str | None:
        return _workflow_ref(value) if value is not None else None

    @field_validator("workflows")
    @classmethod
    def _workflows(cls, value: dict[str, str]) -> dict[str, str]:
        return {service: _workflow_ref(ref) for service, ref in value.items()}

    @field_validator("ref")
    @classmethod
    def _ref(cls, value: str) -> str:
        if not value.strip() or any(c in value for c in " ~^:?*[\\"):
            raise ValueError(f"not a git ref: {value!r}")
        return value


def _workflow_ref(value: str) -> str:
    """A workflow as the API names it: a file name ("deploy.yml") or an id; a path
    (".github/workflows/deploy.yml") is cut to its file name."""
    text = value.strip().rsplit("/", 1)[-1]
    if not (text.isdigit() or text.endswith((".yml", ".yaml"))):
        raise ValueError(f'expected a workflow file name such as "deploy.yml" or a numeric id, '
                         f"got {value!r}")
    return text


class GithubConfig(HttpSettings):
    """``type = "github"``: GitHub Actions runs, their jobs and logs, GitHub Deployments, and
    deploys, re-runs and cancels through the REST API (github.com or GitHub Enterprise Server).

    The HTTP settings are those of :class:`idp_tui.HttpSettings`; ``token`` (see the module
    docstring of ``idp_tui_github.source`` for the permissions) is read from ``GITHUB_TOKEN``
    when not set, and the source runs unauthenticated when that is unset too.
    """

    #: The REST API: https://api.github.com, or "https://HOST/api/v3" for Enterprise Server.
    url: str = "https://api.github.com"
    token_env: str | None = "GITHUB_TOKEN"
    #: Service name → "owner/repo". Services with a ``github.com/project-slug`` annotation in the
    #: catalog are added; this table wins.
    repos: dict[str, str] = Field(default_factory=dict)
    #: Only runs of this branch; only runs with this status or conclusion ("success", …).
    branch: str | None = None
    status: str | None = None
    #: Items asked for per page (GitHub allows 100 at most) and pages read per list at most.
    per_page: int = Field(default=100, ge=1, le=100)
    max_pages: int = Field(default=5, ge=1, le=100)
    #: Requests in flight at once (GitHub asks integrations not to send many at once).
    concurrency: int = Field(default=4, ge=1, le=32)
    #: GitHub environment names in promotion order; those in ``protected`` ask for confirmation.
    #: Environments seen in deployments are added after them.
    environments: list[str] = Field(default_factory=list)
    protected: list[str] = Field(default_factory=lambda: ["production"])
    deploy: DeployConfig = Field(default_factory=DeployConfig)
    #: Seconds between two reads of a run being followed (a deploy, a re-run, a log).
    poll_interval: float = Field(default=5.0, gt=0)
    #: Seconds to wait for a dispatched run to show up (servers that answer a dispatch with 204).
    dispatch_timeout: float = Field(default=60.0, gt=0)
    #: Send If-None-Match with the last ETag of each URL: a 304 answer costs no quota.
    conditional_requests: bool = True

    @field_validator("repos")
    @classmethod
    def _repos(cls, value: dict[str, str]) -> dict[str, str]:
        out = {}
        for service, repo in value.items():
            try:
                out[service] = check_repo(repo)
            except ValueError as exc:
                raise ValueError(f"{service}: {exc}") from None
        return out

    @field_validator("status")
    @classmethod
    def _status(cls, value: str | None) -> str | None:
        if value is not None and value not in RUN_STATUSES:
            raise ValueError(f"unknown run status {value!r}; one of "
                             f"{', '.join(sorted(RUN_STATUSES))}")
        return value

    @field_validator("environments")
    @classmethod
    def _environments(cls, value: list[str]) -> list[str]:
        seen: set[str] = set()
        for name in value:
            if not name.strip():
                raise ValueError("an empty environment name")
            if name in seen:
                raise ValueError(f"{name!r} is listed twice")
            seen.add(name)
        return value

    @model_validator(mode="after")
    def _protected_known(self) -> GithubConfig:
        if self.environments and "protected" in self.model_fields_set:
            unknown = [p for p in self.protected if p not in self.environments]
            if unknown:
                raise ValueError(f"protected environment(s) {', '.join(unknown)} not in "
                                 f"environments ({', '.join(self.environments)})")
        return self
