"""The ``github`` source's delivery history (``Capability.DELIVERY``): GitHub Deployments, their
statuses, and the commits each one brought (the compare API).

* **Deployments** of each repository (``GET /repos/{o}/{r}/deployments``, newest first, with
  ``environment`` when one is asked for), paged by ``Link: rel="next"`` until the pages are older
  than the query's start (and one deployment before it per environment, the base of the first
  one's commits), at most :data:`MAX_PAGES` pages.
* **Outcome and end**: the newest status that settles it: ``success`` → succeeded,
  ``failure``/``error`` → failed, at that status's time; ``inactive`` (superseded), ``queued``,
  ``in_progress`` and ``pending`` do not settle it (no end: still running, or never said).
* **Commits** (lead time): ``GET /repos/{o}/{r}/compare/{base}...{head}`` from the last deployment
  that succeeded in the same environment to this one; each commit's time is its
  ``commit.committer.date`` (else its author date). A failed deployment lists none (the next one
  that succeeds brings them). When GitHub says the deployed commit is *behind* the one running
  (an ancestor of it), the deployment is a **rollback** and the deployment it undid is
  ``rolled_back``; the same commit again is a plain redeploy without commits.
* **Quota**: every GET is conditional (ETags, see ``client.py``); a comparison of two commits
  never changes, so its answer is kept in the data dir (:data:`CACHE_FILE`) across runs and asked
  once; so is a deployment's outcome once it is a day old.

The compare API needs the token's *Contents: read* permission (a classic token's ``repo``).

A repository shared by several services reports each deployment under each of them (under the one
its ``payload.service`` names, when it names one of them).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from idp_tui import (
    Commit,
    DeliveryEvent,
    DeliveryHistory,
    DeliveryKind,
    DeliveryOutcome,
    HistoryQuery,
    PartialAnswer,
    SourceDataError,
    SourceNotFound,
)

from .mapping import deployment_version, deployments_of, parse_time, statuses_of

if TYPE_CHECKING:
    from .client import GithubApi

log = logging.getLogger("idp_tui.github")

#: The file in the source's data folder that keeps comparisons and settled outcomes.
CACHE_FILE = "history.json"
_FORMAT = 1
#: Pages of a repository's deployments read for one query at most.
MAX_PAGES = 30
#: Pages of one comparison's commits read at most (100 commits a page).
MAX_COMPARE_PAGES = 10
#: Comparisons and outcomes kept in the file (the oldest go first).
MAX_COMPARES = 20_000
MAX_OUTCOMES = 50_000
#: A file larger than this is not read (not one this source wrote): it is started anew.
MAX_BYTES = 64 * 2**20
#: A deployment that started this long before the query's start may still end in it.
MARGIN = timedelta(days=1)
#: An outcome this old is kept in the file (a later status is not expected).
SETTLED = timedelta(days=1)
#: Older deployments of an environment looked at for the base of the first one's commits, and
#: pages read past the start at most to find them.
BASE_LOOKBACK = 5
EXTRA_PAGES = 2
#: A status state that settles a deployment.
_OUTCOMES = {"success": DeliveryOutcome.SUCCEEDED, "failure": DeliveryOutcome.FAILED,
             "error": DeliveryOutcome.FAILED}


def history_deployments_of(body: Any) -> list[dict[str, Any]]:
    """The fields of each deployment the history reads: the list's own, and who made it."""
    rows = deployments_of(body)
    creators = {d["id"]: d.get("creator") for d in body
                if isinstance(d, dict) and d.get("id") is not None}
    for row in rows:
        creator = creators.get(row["id"])
        creator = creator if isinstance(creator, dict) else {}
        row["actor"] = str(creator.get("login") or "")
        row["bot"] = creator.get("type") == "Bot"
    return rows


def comparison_of(body: Any) -> dict[str, Any]:
    """A comparison's status, its number of commits, and each commit's sha and time."""
    if not isinstance(body, dict) or not isinstance(body.get("status"), str):
        raise SourceDataError("a comparison without a status")
    commits = []
    for item in body.get("commits") or ():
        if not isinstance(item, dict) or not isinstance(item.get("sha"), str):
            continue
        inner = item.get("commit") if isinstance(item.get("commit"), dict) else {}
        at = None
        for who in ("committer", "author"):
            person = inner.get(who)
            if isinstance(person, dict) and parse_time(person.get("date")) is not None:
                at = person["date"]
                break
        if at is not None:
            commits.append([item["sha"], at])
    total = body.get("total_commits")
    return {"status": body["status"], "total": total if isinstance(total, int) else len(commits),
            "commits": commits}


class HistoryCache:
    """Comparisons (``owner/repo:base...head`` → status and commits) and settled outcomes
    (``owner/repo:id`` → state and time), kept in one JSON file, bounded."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._compares: OrderedDict[str, dict[str, Any]] | None = None
        self._outcomes: OrderedDict[str, list[Any]] = OrderedDict()
        self._dirty = False

    def _load(self) -> OrderedDict[str, dict[str, Any]]:
        if self._compares is None:
            self._compares = OrderedDict()
            try:
                if self.path.stat().st_size > MAX_BYTES:
                    raise ValueError(f"larger than {MAX_BYTES:,} bytes")
                value = json.loads(self.path.read_text(encoding="utf-8"))
                if isinstance(value, dict) and value.get("format") == _FORMAT:
                    for key, item in (value.get("compares") or {}).items():
                        if _well_formed(item):
                            self._compares[str(key)] = item
                    for key, item in (value.get("outcomes") or {}).items():
                        if isinstance(item, list) and len(item) == 2:
                            self._outcomes[str(key)] = item
            except FileNotFoundError:
                pass
            except (OSError, ValueError, AttributeError) as exc:
                log.warning("%s unreadable (%s): starting a new one", self.path, exc)
        return self._compares

    def compare(self, key: str) -> dict[str, Any] | None:
        return self._load().get(key)

    def put_compare(self, key: str, value: dict[str, Any]) -> None:
        compares = self._load()
        compares[key] = value
        while len(compares) > MAX_COMPARES:
            compares.popitem(last=False)
        self._dirty = True

    def outcome(self, key: str) -> list[Any] | None:
        self._load()
        return self._outcomes.get(key)

    def put_outcome(self, key: str, state: str, at: str) -> None:
        self._load()
        self._outcomes[key] = [state, at]
        while len(self._outcomes) > MAX_OUTCOMES:
            self._outcomes.popitem(last=False)
        self._dirty = True

    def save(self) -> None:
        """Write the file (atomically) if anything was added."""
        if not self._dirty or self._compares is None:
            return
        record = {"format": _FORMAT, "compares": self._compares, "outcomes": self._outcomes}
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_name(self.path.name + ".tmp")
            temporary.write_text(json.dumps(record), encoding="utf-8")
            os.replace(temporary, self.path)
            self._dirty = False


def _well_formed(item: Any) -> bool:
    """A kept comparison as :func:`comparison_of` makes them."""
    return isinstance(item, dict) and isinstance(item.get("status"), str) \
        and isinstance(item.get("total"), int) and isinstance(item.get("commits"), list) \
        and all(isinstance(c, list) and len(c) == 2 and all(isinstance(x, str) for x in c)
                for c in item["commits"])


@dataclass
class _Item:
    """A deployment as read, and what the history makes of it."""

    raw: dict[str, Any]
    created: datetime
    chain: tuple[str | None, str]
    outcome: DeliveryOutcome | None = None
    finished: datetime | None = None
    kind: DeliveryKind = DeliveryKind.DEPLOY
    base: str | None = None
    commits: tuple[Commit, ...] = field(default=())


class GithubHistory:
    """``delivery_history`` of the github source (mixed into ``GithubSource``)."""

    api: GithubApi

    def _history_cache(self) -> HistoryCache:
        cache = getattr(self, "_history_kept", None)
        if cache is None:
            cache = HistoryCache(self.context.data_dir / CACHE_FILE)  # type: ignore[attr-defined]
            self._history_kept = cache
        return cache

    async def delivery_history(self, query: HistoryQuery) -> DeliveryHistory:
        """The deployments of every repository (or of the service's) that ended in the query's
        range, or started in it and run still; some repositories failing, a
        :class:`PartialAnswer` with the others'."""
        if query.service is not None:
            repo = self.repo_of(query.service)  # type: ignore[attr-defined]
            known: dict[str, str] = self.repos()  # type: ignore[attr-defined]
            targets = {repo: [service for service, mapped in known.items()
                              if mapped.lower() == repo.lower()]} if repo is not None else {}
        else:
            targets = self._targets()  # type: ignore[attr-defined]
        if not targets:
            return DeliveryHistory()
        cache = self._history_cache()
        try:
            events, error = await self._each([  # type: ignore[attr-defined]
                self._repo_history(repo, services, query, cache)
                for repo, services in targets.items()])
        finally:
            cache.save()
        if query.service is not None:
            events = [e for e in events if e.service == query.service]
        events.sort(key=lambda e: (e.started, e.id))
        history = DeliveryHistory(deliveries=tuple(events))
        if error is not None:
            raise PartialAnswer(history, error)
        return history

    async def _repo_history(self, repo: str, services: list[str], query: HistoryQuery,
                            cache: HistoryCache) -> list[DeliveryEvent]:
        items = await self._history_items(repo, services, query)
        window = query.start - MARGIN
        chains: dict[tuple[str | None, str], list[_Item]] = {}
        for item in sorted(items, key=lambda i: (i.created, i.raw["id"])):
            chains.setdefault(item.chain, []).append(item)
        wanted: list[_Item] = []
        for chain in chains.values():
            older = [i for i in chain if i.created < window]
            wanted += [i for i in chain if i.created >= window and i.created < query.end]
            wanted += older[-BASE_LOOKBACK:]
        await asyncio.gather(*(self._settle(repo, item, cache) for item in wanted))
        compares: dict[tuple[str, str], None] = {}
        for chain in chains.values():
            base: str | None = None
            for item in chain:
                if item.outcome is DeliveryOutcome.SUCCEEDED:
                    sha = item.raw["sha"]
                    if base is not None and base != sha and item.created >= window \
                            and not item.raw["transient"]:
                        item.base = base
                        compares[(base, sha)] = None
                    base = sha
        found = dict(zip(compares, await asyncio.gather(*(
            self._compare(repo, base, head, cache) for base, head in compares)), strict=True))
        out: list[DeliveryEvent] = []
        for chain in chains.values():
            previous: _Item | None = None
            for item in chain:
                if item.base is not None:
                    comparison = found.get((item.base, item.raw["sha"]))
                    if comparison is not None and comparison["status"] == "behind":
                        item.kind = DeliveryKind.ROLLBACK
                        if previous is not None and previous.kind is DeliveryKind.DEPLOY:
                            previous.outcome = DeliveryOutcome.ROLLED_BACK
                    elif comparison is not None:
                        item.commits = tuple(
                            Commit(sha=sha[:64], at=at) for sha, at in
                            ((sha, parse_time(text)) for sha, text in comparison["commits"])
                            if at is not None)
                if item.outcome is DeliveryOutcome.SUCCEEDED:
                    previous = item
            out += [event for item in chain
                    for event in self._events(repo, services, item, query)]
        return out

    def _events(self, repo: str, services: list[str], item: _Item,
                query: HistoryQuery) -> list[DeliveryEvent]:
        if item.finished is not None:
            if not query.start <= item.finished < query.end:
                return []
        elif not query.start <= item.created < query.end:
            return []
        raw = item.raw
        named = item.chain[0]
        targets = [named] if named is not None else services
        # The service in the id: it stays the same when another service shares the repository.
        base_id = f"{repo}:{raw['id']}"
        return [DeliveryEvent(
            service=service, environment=raw["environment"], started=item.created,
            finished=max(item.finished, item.created) if item.finished else None,
            outcome=item.outcome or DeliveryOutcome.SUCCEEDED, kind=item.kind,
            version=deployment_version(raw), commits=item.commits,
            trigger="pipeline" if raw["bot"] else "api", actor=raw["actor"],
            id=f"{base_id}:{service}")
            for service in targets]

    async def _history_items(self, repo: str, services: list[str],
                             query: HistoryQuery) -> list[_Item]:
        """The deployments from the newest back to the query's start, and a few before it for
        each environment seen (the base of the first one's commits)."""
        # ``page=1`` (GitHub's default) keeps this URL apart from the environments' read of the
        # same list: the client keeps each URL's answer in the shape of the one that asked.
        url: str | None = self.api.url(f"/repos/{repo}/deployments", {
            "environment": query.environment,
            "per_page": self.config.per_page, "page": 1})  # type: ignore[attr-defined]
        window = query.start - MARGIN
        out: list[_Item] = []
        before: dict[tuple[str | None, str], int] = {}
        extra = 0  # pages read past the start
        for _ in range(MAX_PAGES):
            if url is None or extra > EXTRA_PAGES:
                break
            page, url = await self.api.get(url, what=f"{repo}: deployments",
                                           shape=history_deployments_of)
            for raw in page:
                created = parse_time(raw["created_at"])
                if created is None or not raw["environment"]:
                    continue
                named = raw["service"] if raw["service"] in services else None
                item = _Item(raw, created, (named, raw["environment"]))
                out.append(item)
                if created < window:
                    before[item.chain] = before.get(item.chain, 0) + 1
            if page and (parse_time(page[-1]["created_at"]) or window) < window:
                extra += 1
                recent = {i.chain for i in out if i.created >= window}
                if all(before.get(chain, 0) >= BASE_LOOKBACK for chain in recent):
                    break
        return out

    async def _settle(self, repo: str, item: _Item, cache: HistoryCache) -> None:
        """The deployment's outcome and end from its statuses (kept once settled a while)."""
        key = f"{repo.lower()}:{item.raw['id']}"
        kept = cache.outcome(key)
        if kept is not None and kept[0] in _OUTCOMES and parse_time(kept[1]) is not None:
            item.outcome, item.finished = _OUTCOMES[kept[0]], parse_time(kept[1])
            return
        statuses, _ = await self.api.get(self.api.url(
            f"/repos/{repo}/deployments/{item.raw['id']}/statuses", {"per_page": 100}),
            what=f"{repo}: statuses of deployment {item.raw['id']}", shape=statuses_of)
        for status in statuses:  # newest first
            at = parse_time(status["created_at"])
            if status["state"] in _OUTCOMES and at is not None:
                item.outcome, item.finished = _OUTCOMES[status["state"]], at
                now = self.context.clock.now()  # type: ignore[attr-defined]
                if now - at >= SETTLED:
                    cache.put_outcome(key, status["state"], status["created_at"])
                return

    async def _compare(self, repo: str, base: str, head: str,
                       cache: HistoryCache) -> dict[str, Any] | None:
        """What ``head`` brought since ``base`` (None: GitHub knows one of them no more)."""
        key = f"{repo.lower()}:{base}...{head}"
        kept = cache.compare(key)
        if kept is not None:
            return kept
        what = f"{repo}: commits from {base[:7]} to {head[:7]}"
        url: str | None = self.api.url(f"/repos/{repo}/compare/{base}...{head}",
                                       {"per_page": 100})
        found: dict[str, Any] | None = None
        try:
            for _ in range(MAX_COMPARE_PAGES):
                if url is None:
                    break
                page, url = await self.api.get(url, what=what, shape=comparison_of)
                if found is None:
                    found = {**page, "commits": list(page["commits"])}  # the page is kept
                else:
                    found["commits"] += page["commits"]
                if len(found["commits"]) >= found["total"]:
                    break
        except SourceNotFound:
            return None
        if found is None:
            return None
        cache.put_compare(key, found)
        return found
