"""The ``catalog-files`` source: Backstage's catalog format read from files.

Every ``catalog-info.yaml`` (several entities per file, separated by ``---``) found under the
configured directories, or matching the configured globs — a checkout of the organisation's
repositories, say — becomes catalog entries: Components by default, with owner, system, lifecycle,
tags, links, description, annotations, and dependencies and APIs from ``spec``. A file that is not
valid YAML, or an entity that is not a valid one, is reported with its file and line; the others
load. Files are looked at again every few seconds, and the dashboard told when one changed.
"""

from __future__ import annotations

import asyncio
import glob
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field

from idp_tui import (
    Capability,
    Link,
    PartialAnswer,
    Service,
    Source,
    SourceConfig,
    SourceContext,
    SourceDataError,
    SourceNotFound,
    Team,
)

log = logging.getLogger("idp_tui.catalog_files")

#: Seconds between two looks at the files for changes.
WATCH_EVERY = 2.0


class CatalogFilesConfig(SourceConfig):
    """``type = "catalog-files"``."""

    #: Directories (searched for ``filename`` at any depth) and globs (``~/src/*/catalog-info.yaml``).
    paths: list[str] = Field(min_length=1)
    filename: str = "catalog-info.yaml"
    #: Entity kinds listed as services (any case).
    kinds: list[str] = Field(default_factory=lambda: ["Component"], min_length=1)
    #: Seconds between two looks at the files for changes (0: only when the catalog refreshes).
    watch_interval: float = Field(default=WATCH_EVERY, ge=0)


@dataclass
class _Problem:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass
class _File:
    stamp: tuple[float, int]
    services: list[Service] = field(default_factory=list)
    problems: list[_Problem] = field(default_factory=list)
    teams: list[Team] = field(default_factory=list)


def entity_ref_name(ref: Any, default_kind: str) -> tuple[str, str] | None:
    """``component:default/payments`` → ("component", "payments"); a bare name gets
    ``default_kind``."""
    if not isinstance(ref, str) or not ref.strip():
        return None
    text = ref.strip()
    kind, sep, rest = text.partition(":")
    if not sep:
        kind, rest = default_kind, text
    name = rest.rpartition("/")[2]
    return (kind.lower(), name) if name else None


def _names(refs: Any, default_kind: str, want: str | None = None) -> tuple[str, ...]:
    if not isinstance(refs, list):
        return ()
    out = []
    for ref in refs:
        parsed = entity_ref_name(ref, default_kind)
        if parsed is not None and (want is None or parsed[0] == want):
            out.append(parsed[1])
    return tuple(dict.fromkeys(out))


@dataclass
class _Entity:
    """The parts of a Backstage entity every mapping reads, checked once."""

    meta: dict[str, Any]
    spec: dict[str, Any]
    relations: list[dict[str, Any]]

    @classmethod
    def of(cls, entity: Any) -> _Entity:
        """ValueError says what is wrong with ``entity``."""
        if not isinstance(entity, dict):
            raise ValueError("an entity must be a mapping")
        meta = entity.get("metadata")
        if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) \
                or not meta["name"].strip():
            raise ValueError("metadata.name is missing")
        spec = entity.get("spec") if isinstance(entity.get("spec"), dict) else {}
        return cls(meta, spec, [r for r in entity.get("relations") or [] if isinstance(r, dict)])

    @property
    def name(self) -> str:
        return str(self.meta["name"]).strip()

    def related(self, kind: str) -> list[str]:
        """Targets of the entity's relations of ``kind`` (as a catalog API answers them)."""
        return [r["targetRef"] for r in self.relations
                if r.get("type") == kind and isinstance(r.get("targetRef"), str)]

    def links(self) -> tuple[Link, ...]:
        return tuple(Link(title=str(item.get("title") or item["url"]), url=item["url"],
                          kind=str(item.get("type") or item.get("icon") or "other"))
                     for item in self.meta.get("links") or []
                     if isinstance(item, dict) and isinstance(item.get("url"), str))


def service_from_entity(entity: Any) -> Service:
    """A Backstage entity as a catalog entry; ValueError says what is wrong with it."""
    e = _Entity.of(entity)
    meta, spec, related = e.meta, e.spec, e.related
    annotations = meta.get("annotations") if isinstance(meta.get("annotations"), dict) else {}
    # A catalog API gives relations (the owner is the ownedBy relation, not spec.owner); a file
    # has only spec.
    owner = entity_ref_name((related("ownedBy") or [spec.get("owner")])[0], "group")
    system = entity_ref_name((related("partOf") or [spec.get("system")])[0], "system")
    tags = tuple(str(t) for t in meta.get("tags") or [] if isinstance(t, str | int))
    tier = annotations.get("idp-tui.dev/tier")
    return Service(
        name=e.name,
        owner=owner[1] if owner else "",
        lifecycle=str(spec.get("lifecycle") or ""),
        language=str(annotations.get("idp-tui.dev/language") or ""),
        description=str(meta.get("description") or ""),
        system=system[1] if system else "",
        type=str(spec.get("type") or ""),
        on_call=str(annotations.get("idp-tui.dev/on-call") or ""),
        tier=int(tier) if isinstance(tier, str) and tier in ("1", "2", "3") else None,
        links=e.links(), tags=tags,
        depends_on=_names(related("dependsOn") or spec.get("dependsOn"), "component",
                          "component"),
        provides_apis=_names(related("providesApi") or spec.get("providesApis"), "api"),
        consumes_apis=_names(related("consumesApi") or spec.get("consumesApis"), "api"),
        annotations={str(k): str(v) for k, v in annotations.items()},
    )


def team_from_entity(entity: Any) -> Team:
    """A Backstage Group as a team; ValueError says what is wrong with it.

    Parent, children and members come from the relations where a catalog API gives them
    (``childOf``, ``parentOf``, ``hasMember``), from ``spec`` in a file.
    """
    e = _Entity.of(entity)
    meta, spec, related = e.meta, e.spec, e.related
    profile = spec.get("profile") if isinstance(spec.get("profile"), dict) else {}
    parent = entity_ref_name((related("childOf") or [spec.get("parent")])[0], "group")
    return Team(
        name=e.name,
        title=str(profile.get("displayName") or meta.get("title") or ""),
        description=str(meta.get("description") or ""),
        type=str(spec.get("type") or ""),
        email=str(profile.get("email") or ""),
        parent=parent[1] if parent else "",
        children=_names(related("parentOf") or spec.get("children"), "group"),
        members=_names(related("hasMember") or spec.get("members"), "user"),
        links=e.links(),
    )


def read_file(path: Path, kinds: Iterable[str],
              teams: list[Team] | None = None) -> tuple[list[Service], list[_Problem]]:
    """The services of one catalog file, and what is wrong in it (with lines).

    With ``teams`` given, the file's Groups are appended to it.
    """
    import yaml  # noqa: PLC0415 - only when the source is used

    wanted = {k.lower() for k in kinds}
    services: list[Service] = []
    problems: list[_Problem] = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [], [_Problem(str(path), 1, f"cannot read it: {exc}")]
    # libyaml's loader where PyYAML was built with it (several times faster), the same marks.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        while True:
            try:
                if not loader.check_node():
                    break
                node = loader.get_node()
                line = node.start_mark.line + 1 if node is not None else 1
                entity = loader.construct_document(node) if node is not None else None
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
                problem = getattr(exc, "problem", None) or str(exc)
                problems.append(_Problem(str(path), mark.line + 1 if mark else 1,
                                         f"not valid YAML: {problem}"))
                break  # the rest of the file cannot be read reliably
            if entity is None:
                continue  # an empty document
            kind = entity.get("kind") if isinstance(entity, dict) else None
            if not isinstance(kind, str):
                problems.append(_Problem(str(path), line, "an entity without a kind"))
                continue
            if kind.lower() == "group" and teams is not None:
                try:
                    teams.append(team_from_entity(entity))
                except ValueError as exc:
                    problems.append(_Problem(str(path), line, f"invalid Group: "
                                                              f"{str(exc).splitlines()[0]}"))
            if kind.lower() not in wanted:
                continue
            try:
                services.append(service_from_entity(entity))
            except ValueError as exc:  # pydantic's ValidationError is one too
                problems.append(_Problem(str(path), line, f"invalid {kind}: "
                                                          f"{str(exc).splitlines()[0]}"))
    finally:
        loader.dispose()
    return services, problems


class CatalogFilesSource(Source):
    """The catalog from catalog-info.yaml files in directories and globs."""

    Config = CatalogFilesConfig
    capabilities = frozenset({Capability.CATALOG})
    description = "catalog-info.yaml files (Backstage's format) from directories and globs"

    config: CatalogFilesConfig

    def __init__(self, config: CatalogFilesConfig, context: SourceContext) -> None:  # type: ignore[override]
        super().__init__(config, context)
        self._files: dict[str, _File] = {}
        self._watcher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await asyncio.to_thread(self._scan)
        if self.config.watch_interval > 0:
            self._watcher = asyncio.get_running_loop().create_task(self._watch())

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None

    def _paths(self) -> list[Path]:
        found: set[str] = set()
        for entry in self.config.paths:
            expanded = os.path.expanduser(entry)
            if os.path.isdir(expanded):
                for root, _dirs, files in os.walk(expanded):
                    if self.config.filename in files:
                        found.add(os.path.join(root, self.config.filename))
            else:
                found.update(p for p in glob.glob(expanded, recursive=True) if os.path.isfile(p))
        return [Path(p) for p in sorted(found)]

    def _scan(self) -> bool:
        """Read new and changed files, forget removed ones; True if anything changed."""
        changed = False
        seen: set[str] = set()
        for path in self._paths():
            key = str(path)
            seen.add(key)
            try:
                st = path.stat()
            except OSError:
                continue
            stamp = (st.st_mtime, st.st_size)
            known = self._files.get(key)
            if known is not None and known.stamp == stamp:
                continue
            teams: list[Team] = []
            services, problems = read_file(path, self.config.kinds, teams)
            self._files[key] = _File(stamp, services, problems, teams)
            changed = True
        for key in [k for k in self._files if k not in seen]:
            del self._files[key]
            changed = True
        return changed

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.config.watch_interval)
            try:
                if await asyncio.to_thread(self._scan):
                    self.context.changed("catalog")
            except Exception:  # noqa: BLE001 - the watch goes on
                log.exception("looking at the catalog files failed")

    async def teams(self) -> list[Team]:
        """The Groups found in the files."""
        await asyncio.to_thread(self._scan)
        out: dict[str, Team] = {}
        for key in sorted(self._files):
            for team in self._files[key].teams:
                out.setdefault(team.name, team)
        return list(out.values())

    async def services(self) -> list[Service]:
        await asyncio.to_thread(self._scan)
        if not self._files:
            raise SourceNotFound(  # a local scan costs nothing: look again at every refresh
                f"no {self.config.filename} under {', '.join(self.config.paths)}",
                hint=f"Check paths in [sources.{self.name}].", permanent=False)
        by_name: dict[str, Service] = {}
        problems: list[_Problem] = []
        for key in sorted(self._files):
            entry = self._files[key]
            problems.extend(entry.problems)
            for service in entry.services:
                if service.name in by_name:
                    problems.append(_Problem(key, 1, f"{service.name} is defined twice; the "
                                                     "first one is kept"))
                    continue
                by_name[service.name] = service
        out = list(by_name.values())
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            error = SourceDataError(f"{problems[0]}{more}",
                                    hint="The other entities are shown; fix the file to see "
                                         "this one.")
            if not out:
                raise error
            raise PartialAnswer(out, error)
        return out
