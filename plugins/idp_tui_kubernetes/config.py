"""Settings of the ``kubernetes`` source (the ``[sources.NAME]`` table of ``config.toml``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from idp_tui import SourceConfig

#: Labels that name the service a workload belongs to, tried in this order.
DEFAULT_SERVICE_LABELS = ("app.kubernetes.io/name", "backstage.io/kubernetes-id")
#: Environment names that are protected unless the config says otherwise.
PROTECTED_NAMES = frozenset({"production", "prod", "live"})

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


class Target(BaseModel):
    """Where one environment runs: a kubeconfig context and a namespace."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: A context of the kubeconfig; none means its current context (or the in-cluster config).
    context: str | None = None
    namespace: str = Field(pattern=DNS_LABEL, max_length=63)
    #: Protected environments need the typed confirmation. Unset: production, prod and live are.
    protected: bool | None = None


class Previews(BaseModel):
    """Preview environments: one namespace each, removed when its time is up."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The context they are created in; none means the kubeconfig's current one.
    context: str | None = None
    #: Namespace names are the prefix and the name given in the form.
    prefix: str = Field(default="preview-", pattern=r"^[a-z0-9][-a-z0-9]*$", max_length=20)
    default_ttl_hours: int = Field(default=24, ge=1)
    max_ttl_hours: int = Field(default=168, ge=1)
    #: Delete preview namespaces whose time is up (any dashboard that sees one does).
    delete_expired: bool = True

    @model_validator(mode="after")
    def _ttl_bounds(self) -> Previews:
        if self.default_ttl_hours > self.max_ttl_hours:
            raise ValueError("default_ttl_hours is more than max_ttl_hours")
        return self


class KubernetesConfig(SourceConfig):
    """``type = "kubernetes"``: environments, workloads, logs and actions on real clusters."""

    #: The kubeconfig file; none means $KUBECONFIG, then ~/.kube/config.
    kubeconfig: str | None = None
    #: Use the service account of the pod the dashboard runs in instead of a kubeconfig.
    in_cluster: bool = False
    #: Environment name → where it runs, in promotion order (dev first, production last).
    environments: dict[str, Target] = Field(min_length=1)
    #: Labels that name a workload's service, first match wins.
    service_labels: list[str] = Field(default_factory=lambda: list(DEFAULT_SERVICE_LABELS),
                                      min_length=1)
    #: Label holding the version; without it the version is the image's tag.
    version_label: str = "app.kubernetes.io/version"
    #: The container whose image is the service's; none means the one named like the service,
    #: else the first.
    container: str | None = None
    #: Which containers the Logs pane follows: "main" (the one above), "all", or a name.
    log_containers: str = "main"
    workloads: list[Literal["deployments", "statefulsets"]] = Field(
        default_factory=lambda: ["deployments", "statefulsets"], min_length=1)
    #: Seconds a rollout may take before the action fails.
    rollout_timeout: float = Field(default=600.0, gt=0)
    #: Seconds for one API request (watches and log streams excepted).
    request_timeout: float = Field(default=15.0, gt=0)
    #: Seconds a watch stays open before it is renewed (from the last resourceVersion).
    watch_timeout: int = Field(default=300, ge=1)
    previews: Previews | None = None

    @field_validator("environments")
    @classmethod
    def _names(cls, value: dict[str, Target]) -> dict[str, Target]:
        for name in value:
            if not name or len(name) > 63 or not name.isprintable() or name != name.strip():
                raise ValueError(f"invalid environment name {name!r}")
        return value

    def protected(self, environment: str) -> bool:
        target = self.environments.get(environment)
        if target is not None and target.protected is not None:
            return target.protected
        return environment.lower() in PROTECTED_NAMES
