"""Provisioning in the sandbox: the templates it offers and what running them creates.

* ``preview-environment``: a short-lived environment with some services deployed into it; it (and
  everything in it) disappears when its time to live is over;
* ``service``: a new service from the golden-path template: catalog entry, pipelines, a first deploy
  to dev;
* ``postgres``: a PostgreSQL database and the secret holding its credentials;
* ``queue``: a Kafka topic, an SQS queue or a RabbitMQ queue, with a dead-letter queue;
* ``bucket``: an object-storage bucket.

Each template's parameters are a pydantic model (the dashboard renders its form from the JSON Schema;
titles and descriptions label the fields). Secrets (the database's admin password) are checked and then
dropped: they are never stored, logged or put in an event or a resource.
"""

from __future__ import annotations


import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, ValidationInfo, field_validator

from idp_tui import ActionEvent, ActionKind, ActionPlan, ActionRequest, Health, PlannedResource, SourceError
from idp_tui import SourceNotFound, Template

from .actions import Job, Work, human
from .preview_state import create_preview, deploy_into_preview
from .rand import hexid
from .store import DeploymentRow, ResourceRow, ServiceRow
from .world import TEAMS

if TYPE_CHECKING:
    from .actions import Operations

REGION = "eu-west-1"
LANGUAGES = ("go", "python", "java", "kotlin", "typescript", "rust")
#: Environments whose resources must be production-grade.
_PRODUCTION = "production"
_NAME = r"^[a-z][a-z0-9-]*[a-z0-9]$"
MAX_PREVIEW_SERVICES = 10


def _parameters(title: str) -> ConfigDict:
    return ConfigDict(extra="forbid", title=title, str_strip_whitespace=True)


# Parameters ----------------------------------------------------------------------------------------

class PreviewEnvironmentParams(BaseModel):
    model_config = _parameters("Preview environment")

    name: str = Field(title="Name", min_length=3, max_length=40, pattern=_NAME,
                      description="Name of the environment, e.g. pr-1234 or a branch name: lowercase "
                                  "letters, digits and dashes")
    services: str = Field(title="Services", min_length=1, max_length=400,
                          description="Services to deploy into it, separated by commas (at most 10); each "
                                      "runs the version dev runs now")
    ttl_hours: int = Field(default=24, ge=1, le=168, title="Time to live (hours)",
                           description="It is deleted, with everything in it, after this many hours (at most "
                                       "a week)")

    @field_validator("services")
    @classmethod
    def _service_list(cls, value: str) -> str:
        names = [name.strip() for name in value.split(",") if name.strip()]
        if not names:
            raise ValueError("name at least one service")
        if len(names) > MAX_PREVIEW_SERVICES:
            raise ValueError(f"at most {MAX_PREVIEW_SERVICES} services")
        for name in names:
            if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
                raise ValueError(f"{name!r} is not a service name")
        if len(set(names)) != len(names):
            raise ValueError("a service is named twice")
        return ", ".join(names)

    @property
    def service_names(self) -> list[str]:
        return [name.strip() for name in self.services.split(",")]


class NewServiceParams(BaseModel):
    model_config = _parameters("New service")

    name: str = Field(title="Name", min_length=3, max_length=40, pattern=_NAME,
                      description="Lowercase letters, digits and dashes, e.g. loyalty-points-api")
    team: Literal[TEAMS] = Field(  # type: ignore[valid-type]
        title="Owner team", description="The team that owns and runs it")
    language: Literal[LANGUAGES] = Field(default="go", title="Language")  # type: ignore[valid-type]
    kind: Literal["api", "worker"] = Field(default="api", title="Kind",
                                           description="An HTTP API, or a background worker")
    tier: int = Field(default=3, ge=1, le=3, title="Tier",
                      description="1: business critical, 2: important, 3: internal or best effort")
    description: str = Field(title="Description", min_length=10, max_length=200,
                             description="One sentence on what it does, shown in the catalog")


class _Placement(BaseModel):
    """Where a resource goes: shared by the database, queue and bucket templates."""

    model_config = _parameters("Resource")

    service: str = Field(title="Service", min_length=1, max_length=60,
                         description="The service that owns it (its name in the catalog)")
    environment: str = Field(default="dev", title="Environment", min_length=1, max_length=40,
                             description="dev, staging, production or a preview environment")


class PostgresParams(_Placement):
    model_config = _parameters("PostgreSQL database")

    size: Literal["small", "medium", "large", "xlarge"] = Field(
        default="small", title="Size",
        description="small: 2 vCPU, 4 GiB; medium: 2 vCPU, 8 GiB; large: 4 vCPU, 16 GiB; xlarge: 8 vCPU, 32 GiB")
    version: Literal["14", "15", "16", "17"] = Field(default="16", title="PostgreSQL version")
    storage_gb: int = Field(default=20, ge=10, le=2000, title="Storage (GB)",
                            description="Provisioned SSD storage, 10 to 2,000 GB; it can grow later")
    high_availability: bool = Field(default=False, title="High availability",
                                    description="A synchronous standby in a second zone (required in "
                                                "production)")
    admin_password: SecretStr = Field(title="Admin password", json_schema_extra={"minLength": 12},
                                      description="At least 12 characters mixing letters and digits; it goes "
                                                  "to the secret store only")

    @field_validator("high_availability")
    @classmethod
    def _ha_in_production(cls, value: bool, info: ValidationInfo) -> bool:
        if not value and info.data.get("environment") == _PRODUCTION:
            raise ValueError("production databases must be highly available")
        return value

    @field_validator("admin_password")
    @classmethod
    def _strong(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value()
        if len(text) < 12:
            raise ValueError("must be at least 12 characters long")
        if not (re.search(r"[A-Za-z]", text) and re.search(r"\d", text)):
            raise ValueError("must mix letters and digits")
        return value


class QueueParams(_Placement):
    model_config = _parameters("Message queue")

    kind: Literal["kafka", "sqs", "rabbitmq"] = Field(default="kafka", title="Kind",
                                                      description="A Kafka topic, an SQS queue or a RabbitMQ queue")
    retention_hours: int = Field(default=72, ge=1, le=336, title="Retention (hours)",
                                 description="How long unconsumed messages are kept, 1 hour to 14 days")
    dead_letter: bool = Field(default=True, title="Dead-letter queue",
                              description="Messages that fail 5 times go to a dead-letter queue")


class BucketParams(_Placement):
    model_config = _parameters("Object-storage bucket")

    versioning: bool = Field(default=True, title="Versioning", description="Keep every version of every object")
    public: bool = Field(default=False, title="Public read",
                         description="Anyone on the internet can read its objects; not allowed in production "
                                     "nor for tier-1 services")

    @field_validator("public")
    @classmethod
    def _not_public_in_production(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("environment") == _PRODUCTION:
            raise ValueError("buckets in production cannot be public")
        return value


TEMPLATES: dict[str, Template] = {t.name: t for t in (
    Template(name="preview-environment", title="Preview environment", kind="environment",
             description="A short-lived environment with the services you name, deleted after its time to live",
             params=PreviewEnvironmentParams),
    Template(name="service", title="New service", kind="service",
             description="A service from the golden-path template: repository, catalog entry, pipelines and a "
                         "first deployment to dev", params=NewServiceParams),
    Template(name="postgres", title="PostgreSQL database", kind="database",
             description="A managed PostgreSQL database for a service, with its credentials in the secret store",
             params=PostgresParams),
    Template(name="queue", title="Message queue", kind="queue",
             description="A Kafka topic, SQS queue or RabbitMQ queue for a service", params=QueueParams),
    Template(name="bucket", title="Object-storage bucket", kind="bucket",
             description="An S3-compatible bucket for a service", params=BucketParams),
)}




def _when(value: float) -> str:
    return f"{datetime.fromtimestamp(value, UTC):%Y-%m-%d %H:%M} UTC"


def prepare_provision(ops: Operations, request: ActionRequest) -> Work:
    template = TEMPLATES.get(request.template or "")
    if template is None:
        known = ", ".join(sorted(TEMPLATES))
        raise SourceNotFound(f"the sandbox has no template {request.template!r} (it has {known})")
    try:
        params = template.params.model_validate(request.params)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "params"
        raise SourceError(f"invalid parameter {where}: {first.get('msg')}") from None
    work = {"preview-environment": PreviewWork, "service": ServiceWork, "postgres": DatabaseWork,
            "queue": QueueWork, "bucket": BucketWork}[template.name]
    return work(ops, request, template, params)


def undo_provision(ops: Operations, undo: dict[str, Any]) -> str:
    """Remove what a stopped provisioning had created."""
    action_id = undo.get("action_id")
    if not action_id:
        return "nothing had changed"
    for name in undo.get("services", ()):
        ops.world.remove(name)
        ops.pipelines.forget(name)
    ops.store.delete_created_by(action_id)
    return "what it had created was removed"


class ProvisionWork(Work):
    kind = ActionKind.PROVISION
    cancellable = False
    #: Planned duration of the steps, in seconds.
    seconds = 10.0

    def __init__(self, ops: Operations, request: ActionRequest, template: Template, params: BaseModel) -> None:
        super().__init__(ops, request)
        self.template = template
        self.params = params
        self.model = template.params
        self.undo = {"kind": "provision", "action_id": request.id, "services": []}
        self.title = f"provision {template.name}"

    def _plan(self, summary: str, creates: list[PlannedResource], notes: list[str]) -> ActionPlan:
        return ActionPlan(summary=summary, creates=tuple(creates), notes=tuple(notes), cancellable=False,
                          estimated_duration=self.ops.duration(self.seconds))


class _ResourceWork(ProvisionWork):
    """Provisioning of something that belongs to a service in an environment."""

    params: _Placement

    def __init__(self, ops: Operations, request: ActionRequest, template: Template, params: BaseModel) -> None:
        super().__init__(ops, request, template, params)
        assert isinstance(params, _Placement)
        self.spec = ops.spec(params.service)
        self.env = ops.check_environment(params.environment)
        self.owner, self.where = self.spec.name, self.env.name
        self.title = f"provision {template.name} for {self.owner} in {self.where}"

    def _expiry_notes(self) -> list[str]:
        if self.env.expires_at is None:
            return []
        return [f"{self.where} is a preview environment: this is deleted with it at {_when(self.env.expires_at)}."]

    def _existing(self, kind: str, name: str) -> ResourceRow | None:
        for row in self.ops.store.resources():
            if row.kind == kind and row.name == name and row.environment == self.where:
                return row
        return None

    def _put(self, kind: str, name: str, status: str, details: dict[str, str], job: Job,
             created: float | None = None) -> float:
        created = self.ops.now() if created is None else created
        self.ops.store.put_resource(ResourceRow(kind, name, self.owner, self.where, status, created, details, job.id))
        return created


# Preview environment -------------------------------------------------------------------------------

class PreviewWork(ProvisionWork):
    params: PreviewEnvironmentParams

    def __init__(self, ops: Operations, request: ActionRequest, template: Template, params: BaseModel) -> None:
        super().__init__(ops, request, template, params)
        assert isinstance(params, PreviewEnvironmentParams)
        self.name = params.name
        self.title = f"provision preview environment {self.name}"
        existing = ops.store.environment(self.name)
        if existing is not None and (existing.expires_at is None or existing.expires_at > ops.now()):
            raise SourceError(f"an environment named {self.name!r} already exists",
                              hint="Choose another name, or wait for the preview environment to expire.")
        self.stale = existing is not None
        self.deploys: list[tuple[str, str]] = []
        for name in params.service_names:
            spec = ops.spec(name)
            dev = ops.store.deployment(spec.name, "dev")
            if dev is not None:
                version = ops.effective(dev).version
            else:
                latest = ops.pipelines.last_release(spec, ops.now())
                if latest is None:
                    raise SourceError(f"{spec.name} has no build to deploy yet")
                version = latest[0]
            self.deploys.append((spec.name, version))
        self.expires_at = ops.now() + params.ttl_hours * 3600.0
        self.starts = {name: ops.start_seconds(ops.spec(name)) for name, _ in self.deploys}
        self.seconds = 3.0 + sum(self.starts.values()) + 1.0

    def plan(self) -> ActionPlan:
        ttl = self.params.ttl_hours
        creates = [PlannedResource(kind="environment", name=self.name, details={
            "kind": "preview", "namespace": f"preview-{self.name}", "time to live": f"{ttl} h",
            "expires": _when(self.expires_at)})]
        creates += [PlannedResource(kind="deployment", name=f"{service} in {self.name}",
                                    details={"version": version, "replicas": "1", "same as": "dev"})
                    for service, version in self.deploys]
        notes = [f"It expires at {_when(self.expires_at)} (in {ttl} h): the environment, its deployments and "
                 "its resources are deleted then."]
        if self.stale:
            notes.append(f"The expired preview environment {self.name} is cleared first.")
        count = len(self.deploys)
        return self._plan(f"Create preview environment {self.name} with {count} service(s) for {ttl} h",
                          creates, notes)

    async def steps(self, job: Job) -> AsyncIterator[ActionEvent]:
        ops = self.ops
        total = len(self.deploys) + 1
        yield job.event(f"Creating namespace preview-{self.name}", done=0, total=total)
        if self.stale:
            ops.store.delete_environment(self.name)
        await ops.pause(3.0)
        now = ops.now()
        create_preview(ops.store, self.name, self.expires_at, self.params.ttl_hours,
                       [s for s, _ in self.deploys], now, job.id)
        yield job.event(f"Environment {self.name} created; it expires at {_when(self.expires_at)}", done=1)
        for i, (service, version) in enumerate(self.deploys, start=2):
            yield job.event(f"Deploying {service} {version} to {self.name}")
            await ops.pause(self.starts[service])
            deploy_into_preview(ops.store, self.name, service, version, ops.now(), job.id)
            yield job.event(f"{service} is ready in {self.name} (1/1 replicas)", done=i)
        await ops.pause(1.0)
        yield job.succeed(f"Preview environment {self.name} is ready with {len(self.deploys)} service(s); it "
                          f"expires at {_when(self.expires_at)}")


# New service -----------------------------------------------------------------------------------------

class ServiceWork(ProvisionWork):
    params: NewServiceParams
    seconds = 3.0 + 1.0 + 2.0 + 1.0

    def __init__(self, ops: Operations, request: ActionRequest, template: Template, params: BaseModel) -> None:
        super().__init__(ops, request, template, params)
        assert isinstance(params, NewServiceParams)
        self.name = params.name
        self.title = f"provision service {self.name}"
        ops.source._sync_world()
        existing = ops.world.get(self.name)
        if existing is not None:
            raise SourceError(f"a service named {self.name!r} already exists (owned by {existing.owner})",
                              hint="Choose another name.")
        self.repo = f"https://git.example.com/{params.team}/{self.name}"
        self.seconds += START_FALLBACK

    def plan(self) -> ActionPlan:
        p = self.params
        creates = [
            PlannedResource(kind="repository", name=f"{p.team}/{self.name}", details={
                "url": self.repo, "template": f"golden-path-{p.language}-{p.kind}"}),
            PlannedResource(kind="service", name=self.name, details={
                "owner": f"team-{p.team}", "tier": str(p.tier), "language": p.language, "kind": p.kind,
                "lifecycle": "experimental"}),
            PlannedResource(kind="pipeline", name=f"{self.name} release and ci", details={
                "release": "every push to main: build, test, package, deploy to dev",
                "ci": "every pull request: build and test"}),
            PlannedResource(kind="deployment", name=f"{self.name} in dev", details={
                "version": "0.0.1", "replicas": "1"}),
        ]
        notes = ["It starts as experimental at 0.0.1 in dev; every succeeded build of main is then deployed to "
                 "dev, as 0.1.x this week."]
        if p.tier == 1:
            notes.append(f"Tier 1: it gets the on-call rotation team-{p.team}-primary, and production deploys "
                         "need the environment typed and a reason.")
        return self._plan(f"Create service {self.name} for team-{p.team} ({p.language} {p.kind}, tier {p.tier})",
                          creates, notes)

    async def steps(self, job: Job) -> AsyncIterator[ActionEvent]:
        ops, p = self.ops, self.params
        yield job.event(f"Creating repository {self.repo} from golden-path-{p.language}-{p.kind}", done=0, total=4)
        await ops.pause(3.0)
        now = ops.now()
        job.save_undo(services=[self.name])
        ops.store.put_service(ServiceRow(self.name, p.team, p.tier, p.kind, p.language, p.description, now, job.id))
        ops.source._sync_world()
        yield job.event(f"Registered {self.name} in the catalog (owner team-{p.team}, tier {p.tier})", done=1)
        await ops.pause(1.0)
        yield job.event(f"Created the release and ci pipelines of {self.name}", done=2)
        await ops.pause(2.0)
        spec = ops.spec(self.name)
        yield job.event(f"Deploying {self.name} 0.0.1 to dev", done=3)
        await ops.pause(ops.start_seconds(spec))
        ops.store.put_deployment(DeploymentRow(self.name, "dev", "0.0.1", 1, 1, Health.HEALTHY.value, "",
                                               ops.now()), revision=hexid(f"service:{job.id}", 5))
        yield job.event(f"{self.name} is ready in dev (1/1 replicas)", done=4)
        await ops.pause(1.0)
        yield job.succeed(f"Service {self.name} created: {self.repo}, running 0.0.1 in dev")


#: Seconds the first instance of a new service takes (its language's start time is not known yet).
START_FALLBACK = 5.0


# Database --------------------------------------------------------------------------------------------

_SIZES = {"small": ("db.t4g.medium", "2 vCPU, 4 GiB", 60), "medium": ("db.m6g.large", "2 vCPU, 8 GiB", 130),
          "large": ("db.m6g.xlarge", "4 vCPU, 16 GiB", 260), "xlarge": ("db.m6g.2xlarge", "8 vCPU, 32 GiB", 520)}


class DatabaseWork(_ResourceWork):
    params: PostgresParams

    def __init__(self, ops: Operations, request: ActionRequest, template: Template, params: BaseModel) -> None:
        super().__init__(ops, request, template, params)
        self.name = f"{self.owner}-db"
        self.secret = f"{self.owner}-db-credentials"
        existing = self._existing("database", self.name)
        if existing is not None:
            raise SourceError(f"{self.owner} already has a database in {self.where}: {self.name} (created "
                              f"{_when(existing.created_at)})")
        p = self.params
        instance, shape, cost = _SIZES[p.size]
        self.instance, self.shape = instance, shape
        self.cost = cost * (2 if p.high_availability else 1) + 0.115 * p.storage_gb
        self.endpoint = f"{self.name}.{self.where}.pg.example.internal:5432"
        self.seconds = 8.0 + 5.0 + (8.0 if p.high_availability else 0.0) + 4.0 + 2.0
        row = ops.store.deployment(self.owner, self.where)
        self.unblocks = row is not None and row.health == Health.DOWN.value and f'secret "{self.secret}"' in row.message

    def _details(self) -> dict[str, str]:
        p = self.params
        return {"engine": f"PostgreSQL {p.version}", "instance": f"{self.instance} ({self.shape})",
                "storage": f"{p.storage_gb} GB gp3", "region": REGION,
                "high availability": "yes: synchronous standby in a second zone" if p.high_availability else "no",
                "endpoint": self.endpoint, "database": self.owner.replace("-", "_"),
                "credentials": f"secret {self.secret}"}

    def _secret_details(self) -> dict[str, str]:
        return {"keys": "username, password, host, port, database",
                "path": f"vault:secret/{self.where}/{self.owner}/db", "for": self.name}

    def plan(self) -> ActionPlan:
        p = self.params
        creates = [PlannedResource(kind="database", name=self.name, details=self._details()),
                   PlannedResource(kind="secret", name=self.secret, details=self._secret_details())]
        notes = [f"Costs about ${self.cost:,.0f} a month.",
                 "The admin password goes to the secret store only; it is not shown again."]
        if self.unblocks:
            notes.append(f"{self.owner} in {self.where} waits for the secret {self.secret}: its instances start once "
                         "it exists.")
        notes += self._expiry_notes()
        return self._plan(f"Create PostgreSQL {p.version} database {self.name} for {self.owner} in {self.where} "
                          f"({p.size}, {p.storage_gb} GB)", creates, notes)

    async def steps(self, job: Job) -> AsyncIterator[ActionEvent]:
        ops, p = self.ops, self.params
        total = 5 if p.high_availability else 4
        yield job.event(f"Allocating {self.instance} ({self.shape}) in {REGION}a for {self.name}", done=0,
                        total=total)
        created = self._put("database", self.name, "creating", self._details(), job)
        await ops.pause(8.0)
        yield job.event(f"Attached {p.storage_gb} GB of gp3 storage", done=1)
        await ops.pause(5.0)
        step = 2
        if p.high_availability:
            yield job.event(f"Started a synchronous standby in {REGION}b", done=step)
            await ops.pause(8.0)
            step += 1
        yield job.event(f"Initialised PostgreSQL {p.version}: database {self.owner.replace('-', '_')}, "
                        "admin user app_admin", done=step)
        await ops.pause(4.0)
        self._put("secret", self.secret, "ready", self._secret_details(), job)
        yield job.event(f"Stored the credentials in the secret {self.secret}", done=step + 1)
        await ops.pause(2.0)
        self._put("database", self.name, "ready", self._details(), job, created)
        message = f"Database {self.name} is ready at {self.endpoint}"
        row = ops.store.deployment(self.owner, self.where)
        if self.unblocks and row is not None:
            fixed = DeploymentRow(row.service, row.environment, row.version, row.replicas_desired,
                                  row.replicas_desired, Health.HEALTHY.value, "", ops.now())
            ops.store.put_deployment(fixed, revision=hexid(f"unblocked:{job.id}", 5))
            message += f"; {self.owner} in {self.where} found its credentials and started"
        job.done = total
        yield job.succeed(message)


# Queue -------------------------------------------------------------------------------------------------

class QueueWork(_ResourceWork):
    params: QueueParams
    seconds = 6.0 + 3.0 + 2.0

    def __init__(self, ops: Operations, request: ActionRequest, template: Template, params: BaseModel) -> None:
        super().__init__(ops, request, template, params)
        p = self.params
        self.name = {"kafka": f"{self.owner}.events", "sqs": f"{self.owner}-queue",
                     "rabbitmq": f"{self.owner}.work"}[p.kind]
        self.dead_letter = {"kafka": f"{self.name}.dlq", "sqs": f"{self.name}-dlq",
                            "rabbitmq": f"{self.name}.dlq"}[p.kind]
        existing = self._existing("queue", self.name)
        if existing is not None:
            raise SourceError(f"{self.owner} already has the {p.kind} queue {self.name} in {self.where}")

    def _details(self) -> dict[str, str]:
        p = self.params
        details = {"kind": p.kind, "retention": f"{p.retention_hours} h", "region": REGION,
                   "access": f"{self.owner}: produce and consume"}
        if p.kind == "kafka":
            partitions = 12 if self.where in ("staging", "production") else 3
            details |= {"partitions": str(partitions), "replication": "3",
                        "brokers": f"kafka.{self.where}.example.internal:9092"}
        elif p.kind == "sqs":
            details["url"] = f"https://sqs.{REGION}.amazonaws.com/123456789012/{self.where}-{self.name}"
        else:
            details["vhost"] = f"/{self.where}"
        if p.dead_letter:
            details["dead-letter queue"] = f"{self.dead_letter} (after 5 failed deliveries)"
        return details

    def plan(self) -> ActionPlan:
        p = self.params
        creates = [PlannedResource(kind="queue", name=self.name, details=self._details())]
        if p.dead_letter:
            creates.append(PlannedResource(kind="queue", name=self.dead_letter, details={
                "kind": p.kind, "retention": "336 h", "receives": f"messages {self.name} failed to deliver 5 times"}))
        notes = [f"Messages are kept {human(p.retention_hours * 3600.0)} when nobody consumes them."]
        notes += self._expiry_notes()
        return self._plan(f"Create {p.kind} queue {self.name} for {self.owner} in {self.where}", creates, notes)

    async def steps(self, job: Job) -> AsyncIterator[ActionEvent]:
        ops, p = self.ops, self.params
        what = {"kafka": "Kafka topic", "sqs": "SQS queue", "rabbitmq": "RabbitMQ queue"}[p.kind]
        yield job.event(f"Creating the {what} {self.name} (retention {p.retention_hours} h)", done=0, total=3)
        created = self._put("queue", self.name, "creating", self._details(), job)
        await ops.pause(6.0)
        if p.dead_letter:
            self._put("queue", self.dead_letter, "ready", {"kind": p.kind, "retention": "336 h",
                                                          "receives": f"failed messages of {self.name}"}, job)
            yield job.event(f"Created the dead-letter queue {self.dead_letter}", done=1)
        else:
            yield job.event("No dead-letter queue asked for", done=1)
        await ops.pause(3.0)
        yield job.event(f"Granted {self.owner} produce and consume access in {self.where}", done=2)
        await ops.pause(2.0)
        self._put("queue", self.name, "ready", self._details(), job, created)
        job.done = 3
        yield job.succeed(f"{what} {self.name} is ready for {self.owner} in {self.where}")


# Bucket ------------------------------------------------------------------------------------------------

class BucketWork(_ResourceWork):
    params: BucketParams
    seconds = 4.0 + 2.0 + 2.0

    def __init__(self, ops: Operations, request: ActionRequest, template: Template, params: BaseModel) -> None:
        super().__init__(ops, request, template, params)
        p = self.params
        if p.public and self.spec.tier == 1:
            raise SourceError(f"{self.owner} is a tier-1 service: its buckets cannot be public",
                              hint="Serve public files through the CDN instead.")
        self.name = f"example-{self.where}-{self.owner}"
        if self._existing("bucket", self.name) is not None:
            raise SourceError(f"the bucket {self.name} already exists")

    def _details(self) -> dict[str, str]:
        p = self.params
        return {"url": f"s3://{self.name}", "region": REGION, "versioning": "on" if p.versioning else "off",
                "access": "public read" if p.public else "private", "encryption": "SSE-KMS",
                "owner": self.owner}

    def plan(self) -> ActionPlan:
        notes = ["Storage costs about $0.023 per GB a month."]
        if self.params.public:
            notes.append("Anyone on the internet can read what is put in it.")
        notes += self._expiry_notes()
        return self._plan(f"Create bucket {self.name} for {self.owner} in {self.where}",
                          [PlannedResource(kind="bucket", name=self.name, details=self._details())], notes)

    async def steps(self, job: Job) -> AsyncIterator[ActionEvent]:
        ops, p = self.ops, self.params
        yield job.event(f"Creating bucket {self.name} in {REGION}", done=0, total=3)
        created = self._put("bucket", self.name, "creating", self._details(), job)
        await ops.pause(4.0)
        yield job.event(f"Versioning {'enabled' if p.versioning else 'disabled'}; default encryption SSE-KMS",
                        done=1)
        await ops.pause(2.0)
        policy = "public read" if p.public else "private, readable and writable by " + self.owner
        yield job.event(f"Bucket policy: {policy}", done=2)
        await ops.pause(2.0)
        self._put("bucket", self.name, "ready", self._details(), job, created)
        job.done = 3
        yield job.succeed(f"Bucket {self.name} is ready for {self.owner} in {self.where}")
