"""The organisation's environments: declared once in the config, joined with what sources report.

An organisation has its environments whatever its tools call them: ``[environments]`` in
``config.toml`` lists them in promotion order, with their type (development, staging, production),
whether they are protected, and the name each source knows them by where it differs (Prometheus's
``namespace="prod-eu"`` label for ``production``, a GitHub environment named ``prod``)::

    [environments.dev]
    type = "development"

    [environments.staging]
    type = "staging"

    [environments.production]
    type = "production"
    protected = true
    names = { prom = "prod-eu", github = "prod" }   # source name = that source's name for it

The hub translates between the two vocabularies: records a source reports are renamed to the
platform's names before they are joined (:meth:`EnvironmentMap.to_platform`), and a query about
``production`` reaches the Prometheus source as ``prod-eu`` (:meth:`EnvironmentMap.to_source`).
Environments only a source reports (a preview environment, say) follow the declared ones.

Nothing here imports Textual; the records come from the plugin API.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .api.kinds import EnvironmentKind, EnvironmentType

if TYPE_CHECKING:
    from .api.models import Deployment, Environment

R = TypeVar("R", bound=BaseModel)

__all__ = ["EnvironmentDecl", "EnvironmentMap", "behind_cells", "guess_type", "in_promotion"]

#: Names that say an environment's type when the config does not (and a source does not either).
_TYPE_WORDS: tuple[tuple[EnvironmentType, tuple[str, ...]], ...] = (
    (EnvironmentType.PRODUCTION, ("production", "prod", "prd", "live")),
    (EnvironmentType.STAGING, ("staging", "stage", "stg", "preprod", "pre-prod", "uat", "qa")),
    (EnvironmentType.DEVELOPMENT, ("development", "dev", "test", "sandbox", "local")),
)


def guess_type(name: str) -> EnvironmentType | None:
    """The type a name says (``prod-eu`` → production), or None when it says none."""
    words = name.lower().replace("_", "-").split("-")
    for kind, spellings in _TYPE_WORDS:
        if words[0] in spellings or name.lower() in spellings:
            return kind
    return None


class EnvironmentDecl(BaseModel):
    """One ``[environments.NAME]`` table."""

    model_config = ConfigDict(extra="forbid")

    #: development, staging or production (what DORA's "production" means, for one).
    type: EnvironmentType | None = None
    #: Needs the name typed and a reason for every action (default: true for production).
    protected: bool | None = None
    #: Source name → that source's name for this environment, where it differs.
    names: dict[str, str] = Field(default_factory=dict)

    @field_validator("names")
    @classmethod
    def _names_not_empty(cls, value: dict[str, str]) -> dict[str, str]:
        for source, name in value.items():
            if not name.strip():
                raise ValueError(f"the name for source {source!r} is empty")
        return value


class EnvironmentMap:
    """Declared environments, and the translation of names between the platform and each source."""

    def __init__(self, declared: Mapping[str, EnvironmentDecl] | None = None) -> None:
        self.declared: dict[str, EnvironmentDecl] = dict(declared or {})
        #: (source, source's name) → platform name.
        self._inbound: dict[tuple[str, str], str] = {}
        #: (source, platform name) → source's name.
        self._outbound: dict[tuple[str, str], str] = {}
        for platform_name, decl in self.declared.items():
            for source, name in decl.names.items():
                self._inbound[(source, name)] = platform_name
                self._outbound[(source, platform_name)] = name

    def __bool__(self) -> bool:
        return bool(self.declared)

    @property
    def names(self) -> list[str]:
        """The declared environments, in promotion order."""
        return list(self.declared)

    def problems(self, sources: Iterable[str]) -> list[tuple[str, str]]:
        """What is wrong with the declarations given the configured ``sources``: (field, message).

        A ``names`` entry for a source that is not configured, and two environments that one
        source would know by the same name.
        """
        known = set(sources)
        out: list[tuple[str, str]] = []
        seen: dict[tuple[str, str], str] = {}
        for platform_name, decl in self.declared.items():
            for source, name in decl.names.items():
                where = f"environments.{platform_name}.names.{source}"
                if source not in known:
                    listed = ", ".join(sorted(known)) or "none"
                    out.append((where, f"no source named {source!r} is configured "
                                       f"(configured: {listed})"))
                other = seen.get((source, name))
                if other is not None:
                    out.append((where, f"source {source!r} already knows {name!r} as environment "
                                       f"{other!r}"))
                seen[(source, name)] = platform_name
        return out

    # Names -------------------------------------------------------------------------------------

    def to_platform(self, source: str, name: str) -> str:
        """The platform's name for what ``source`` calls ``name``."""
        return self._inbound.get((source, name), name)

    def to_source(self, source: str, name: str) -> str:
        """What ``source`` calls the platform's environment ``name``."""
        return self._outbound.get((source, name), name)

    def resolve(self, name: str, known: Iterable[str] = ()) -> str | None:
        """The platform environment a user means by ``name``: a platform name (declared or
        ``known`` from the sources), or any source's name for one (``prod-eu``); None if neither."""
        if name in self.declared or name in known:
            return name
        matches = {platform for (_source, alias), platform in self._inbound.items()
                   if alias == name}
        return matches.pop() if len(matches) == 1 else None

    def aliases(self, name: str) -> list[str]:
        """Every source's name for the platform environment ``name`` (for completion, help)."""
        decl = self.declared.get(name)
        return sorted(set(decl.names.values()) - {name}) if decl is not None else []

    # Records -----------------------------------------------------------------------------------

    def rename_environments(self, source: str, environments: Sequence[Environment]
                            ) -> list[Environment]:
        """``source``'s environments under the platform's names."""
        out = []
        for env in environments:
            name = self.to_platform(source, env.name)
            out.append(env if name == env.name else env.model_copy(update={"name": name}))
        return out

    def rename_records(self, source: str, records: Sequence[R]) -> Sequence[R]:
        """``source``'s records (deployments, incidents: anything with an ``environment``, None
        for none) under the platform's environment names; ``records`` itself when none is
        renamed (a year of delivery history is not copied for nothing)."""
        out: list[R] | None = None
        for index, record in enumerate(records):
            environment = record.environment
            name = environment if environment is None else self.to_platform(source, environment)
            if name != environment and out is None:
                out = list(records[:index])
            if out is not None:
                out.append(record if name == environment
                           else record.model_copy(update={"environment": name}))
        return records if out is None else tuple(out)

    def join(self, reported: Sequence[Environment]) -> list[Environment]:
        """The platform's environments: the declared ones in their order, then those only
        sources report (static ones in the sources' order, then previews), each with its type
        and protection.

        ``reported`` holds one record per name (already renamed and joined across sources).
        What a source says of a declared environment (an expiry, a protection) is kept; the
        declaration decides its order and type, and protects it when it says so.
        """
        from .api.models import Environment

        by_name = {env.name: env for env in reported}
        out: list[Environment] = []
        for index, (name, decl) in enumerate(self.declared.items()):
            env = by_name.pop(name, None) or Environment(name=name)
            kind = decl.type or env.type or guess_type(name)
            protected = decl.protected if decl.protected is not None else (
                env.protected or kind is EnvironmentType.PRODUCTION)
            out.append(env.model_copy(update={"order": index, "type": kind,
                                              "protected": protected}))
        rest = sorted(by_name.values(), key=lambda e: (e.kind is EnvironmentKind.PREVIEW,
                                                       e.order, e.name))
        base = len(out)
        for offset, env in enumerate(rest):
            kind = env.type or guess_type(env.name)
            out.append(env.model_copy(update={"order": base + offset, "type": kind}))
        return out

    def production(self, environments: Iterable[Environment]) -> list[str]:
        """The names of the production environments among ``environments``."""
        return [env.name for env in environments if env.type is EnvironmentType.PRODUCTION]


def in_promotion(env: Environment) -> bool:
    """Whether ``env`` is in the promotion chain: a preview environment is not (it is made from
    a pull request, not promoted into, so it is never behind nor ahead of another)."""
    return env.kind is not EnvironmentKind.PREVIEW


def behind_cells(services: Iterable[str], environments: Sequence[Environment],
                 deployments: Mapping[tuple[str, str], Deployment],
                 is_behind: Callable[[str, str], bool]) -> set[tuple[str, str]]:
    """The ``(service, environment)`` cells whose version is behind the one in the environment
    before it in promotion order (the nearest earlier one the service runs in), by
    ``is_behind(version, previous)``. Preview environments are left out of the chain: none of
    their cells is behind, and none is compared with."""
    chain = [env.name for env in environments if in_promotion(env)]
    out: set[tuple[str, str]] = set()
    for name in services:
        previous: Deployment | None = None
        for env in chain:
            dep = deployments.get((name, env))
            if dep is None:
                continue
            if previous is not None and is_behind(dep.version, previous.version):
                out.add((name, env))
            previous = dep
    return out
