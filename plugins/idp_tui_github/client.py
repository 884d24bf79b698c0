"""The HTTP side of the ``github`` source: one httpx client, conditional requests, the quota.

* Every GET sends ``If-None-Match`` with the ETag last seen for its URL (``conditional_requests``);
  a ``304`` reuses what was kept of the last body, and GitHub does not count it against the quota.
  What is kept is the *shaped* body (the few fields the source reads), not the raw JSON.
* After every answer the ``x-ratelimit-*`` headers become the source's "quota" status line.
* A rate limit (403/429 with ``x-ratelimit-remaining: 0``, a ``retry-after``, or GitHub's
  "secondary rate limit" message) raises :class:`SourceRateLimited`; until its ``retry_at`` no
  request is sent at all, the same error is raised again at once. The wait is kept in the data
  folder (``quota.json``, with the last quota seen), so the next process (another ``idp-tui``
  command) sends nothing before GitHub's reset either. Answers to requests sent together that
  hit one secondary limit are one strike.
* Failures that will not fix themselves wait (``idp_tui.Backoff``: 30 s, doubling, at most
  10 min) instead of being sent again at every refresh: a repository that answers 404 (or 403
  without a rate limit) for its runs or deployments, on its own, while the other repositories are
  read as usual; a refused token (401), for every request — GitHub locks a user out after
  repeated bad credentials.
* A job's log is a 302 to a short-lived pre-signed URL, fetched without the token.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from idp_tui import (
    Backoff,
    HttpClient,
    SourceAuthError,
    SourceContext,
    SourceCredentialsRefused,
    SourceDataError,
    SourceError,
    SourceNotFound,
    SourceRateLimited,
)

from .config import GithubConfig
from .parts import RepoParts

#: URLs whose last answer is kept for conditional requests (least recently used go first).
MAX_CACHED = 4096
#: Without ``retry-after``, a secondary limit waits this long, doubled for each one in a row.
SECONDARY_WAIT = 60.0
SECONDARY_MAX_WAIT = 900.0
#: What a fine-grained token and a classic one need (said in auth hints).
PERMISSIONS = ("a fine-grained token needs access to the repositories with Actions read and "
               "write, Deployments read, Contents read (the commits a deployment brought) and "
               "Metadata read; a classic token the repo scope "
               "(public_repo for public repositories only)")
#: 403 messages that are about permissions (the others are GitHub refusing the action).
_PERMISSION = re.compile(r"not accessible|admin rights|permission|scope|saml|access restriction"
                         r"|forbidden|must have", re.IGNORECASE)
_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?([^",;]+)"?')
#: The lists of a repository whose 404 (or 403) means the repository itself is missing or hidden.
_REPO_LIST = re.compile(r"/repos/([^/?#]+/[^/?#]+)/(?:actions/runs|deployments)(?:[?#]|$)")
#: The file in the source's data folder that keeps a rate limit's end and the last quota seen.
QUOTA_FILE = "quota.json"
#: The key of the token's back-off (the repositories' keys are "owner/repo").
_TOKEN = ""


def next_link(header: str | None) -> str | None:
    """The ``rel="next"`` URL of a ``Link`` header."""
    for url, rel in _LINK.findall(header or ""):
        if "next" in rel.split():
            return url
    return None


class GithubApi:
    """Requests to GitHub's REST API for one source (used on the source's loop only)."""

    def __init__(self, config: GithubConfig, context: SourceContext) -> None:
        self.config = config
        self.context = context
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28",
                   "User-Agent": "idp-tui"}
        self._client = HttpClient(config, context, headers=headers, base_url=False,
                                  server="GitHub")
        # Log downloads go to pre-signed URLs: no token, no GitHub headers.
        self._blobs = HttpClient(config, context, headers={"User-Agent": "idp-tui"},
                                 base_url=False, credentials=False, follow_redirects=True,
                                 server="the log's download")
        self._gate = asyncio.Semaphore(config.concurrency)
        #: (URL, shape) → (ETag, shaped body, next page URL): a body kept as each reader shapes
        #: it (two readers of one URL never get each other's shape back on a 304).
        self._etags: OrderedDict[tuple[str, Any], tuple[str, Any, str | None]] = OrderedDict()
        self._blocked_until: datetime | None = None
        self._blocked_message = ""
        self._secondary_strikes = 0
        self._quota_text = ""
        #: Repositories (lowercase) whose lists failed for good, and the token once refused.
        self.backoff: Backoff[str] = Backoff()
        #: Each repository read, as a part of the source with its own health.
        self.parts = RepoParts(context)
        #: Every HTTP request sent (log downloads included); the API requests not answered 304
        #: (what counts against the quota); the 304 answers.
        self.requests_sent = 0
        self.quota_requests = 0
        self.not_modified = 0
        #: (limit, remaining, reset) from the last answer that had them.
        self.quota: tuple[int, int, datetime] | None = None

    @property
    def name(self) -> str:
        return self.context.name

    async def start(self) -> None:
        # A token_env named in the config but unset is an error (raised here); the default one
        # unset is not: the source reads unauthenticated.
        self._client.open()
        self._load_quota()
        if self.config.resolve_token(self.name) is None:
            unset = f" ({self.config.token_env} is not set)" if self.config.token_env else ""
            self.context.set_status("token", f"none{unset}: unauthenticated, 60 requests an hour")

    async def close(self) -> None:
        for client in (self._client, self._blobs):
            await client.aclose()

    def url(self, path: str, params: dict[str, Any] | None = None) -> str:
        query = urlencode({k: v for k, v in (params or {}).items() if v is not None})
        return f"{self.config.url}{path}" + (f"?{query}" if query else "")

    # Reading -------------------------------------------------------------------------------------

    async def get(self, url: str, *, what: str,
                  shape: Callable[[Any], Any] | None = None) -> tuple[Any, str | None]:
        """GET ``url``: its body as ``shape`` makes it, and the next page's URL."""
        key = (url, shape)
        cached = self._etags.get(key) if self.config.conditional_requests else None
        headers = {"If-None-Match": cached[0]} if cached is not None else None
        response = await self._send("GET", url, what=what, headers=headers)
        if response.status_code == 304 and cached is not None:
            self._etags.move_to_end(key)
            return cached[1], cached[2]
        if response.status_code != 200:
            raise SourceDataError(f"{what}: GitHub answered {response.status_code} to a GET")
        value = shape(self._json(response, what)) if shape else self._json(response, what)
        following = next_link(response.headers.get("link"))
        etag = response.headers.get("etag")
        if self.config.conditional_requests and etag:
            self._etags[key] = (etag, value, following)
            self._etags.move_to_end(key)
            while len(self._etags) > MAX_CACHED:
                self._etags.popitem(last=False)
        return value, following

    async def pages(self, path: str, params: dict[str, Any], *, what: str,
                    items: Callable[[Any], list[Any]], limit: int) -> list[Any]:
        """The items of a list, following ``Link: rel="next"`` until ``limit`` items or
        ``max_pages`` pages."""
        url: str | None = self.url(path, params)
        out: list[Any] = []
        for _ in range(self.config.max_pages):
            if url is None or len(out) >= limit:
                break
            page, url = await self.get(url, what=what, shape=items)
            out.extend(page)
        return out[:limit]

    async def job_log(self, repo: str, job_id: str, *, what: str) -> str | None:
        """The text of a job's log; None when there is none yet (a job that has not started)."""
        response = await self._send("GET", self.url(f"/repos/{repo}/actions/jobs/{job_id}/logs"),
                                    what=what, quiet=frozenset({404}))
        if response.status_code == 404:
            return None
        if response.status_code == 200:  # a server that answers with the log itself
            return response.text.lstrip("\ufeff")
        location = response.headers.get("location")
        if response.status_code not in (301, 302, 303, 307) or not location:
            raise SourceDataError(f"{what}: GitHub answered {response.status_code} without "
                                  "the log's location")
        self.requests_sent += 1
        async with self._gate:
            blob = await self._blobs.send("GET", str(response.url.join(location)), what=what,
                                          check=False)
        if blob.status_code in (404, 410):
            raise SourceNotFound(f"{what}: the log is no longer kept")
        if blob.status_code != 200:
            raise self._blobs.status_error(blob, what=what, message="")
        return blob.content.decode("utf-8", errors="replace").lstrip("\ufeff")

    # Writing -------------------------------------------------------------------------------------

    async def post(self, path: str, payload: dict[str, Any] | None, *, what: str) -> Any:
        """POST ``payload`` as JSON: (status, body or None)."""
        response = await self._send("POST", self.url(path), what=what, json=payload)
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        return response.status_code, body

    # The request ---------------------------------------------------------------------------------

    def check_quota(self) -> None:
        """Raise the rate limit again, without a request, while it lasts."""
        if self._blocked_until is None:
            return
        if self.context.clock.now() < self._blocked_until:
            raise SourceRateLimited(self._blocked_message, retry_at=self._blocked_until,
                                    hint="No request is sent to GitHub until then.")
        self._blocked_until = None

    def _now(self) -> float:
        return self.context.clock.now().timestamp()

    def check_backoff(self, part: str | None) -> None:
        """Raise, without a request, the failure of a refused token or of ``part`` (a
        repository) while its back-off lasts."""
        now = self._now()
        for key in (_TOKEN, part):
            waiting = self.backoff.waiting(key, now) if key is not None else None
            if waiting is not None:
                error = waiting.error
                raise type(error)(error.message, hint=error.hint, part=error.part)

    async def _send(self, method: str, url: str, *, what: str,
                    headers: dict[str, str] | None = None, json: Any = None,
                    quiet: frozenset[int] = frozenset()) -> Any:
        match = _REPO_LIST.search(url)
        part = match.group(1).lower() if match else None
        self.check_quota()
        self.check_backoff(part)
        async with self._gate:
            self.check_quota()  # another request may have hit the limit meanwhile
            self.check_backoff(part)
            self.requests_sent += 1
            started = time.perf_counter()
            response = await self._client.send(method, url, what=what, check=False,
                                               headers=headers, json=json)
            latency = time.perf_counter() - started
        if response.status_code == 304:
            self.not_modified += 1
        else:
            self.quota_requests += 1
        self._read_quota(response.headers)
        if response.status_code >= 400 and response.status_code not in quiet:
            try:
                self._raise(response, what)
            except SourceError as exc:
                key = _TOKEN if isinstance(exc, SourceCredentialsRefused) else part
                if exc.permanent and key is not None:
                    if key:
                        exc.part = self.parts.name(key)
                    self.backoff.failed(key, self._now(), exc)
                if part is not None and key == part and not isinstance(exc, SourceRateLimited):
                    self.parts.failed(part, exc, latency)
                raise
        self._secondary_strikes = 0
        if response.status_code < 400:
            self.backoff.succeeded(_TOKEN)
            if part is not None:
                self.backoff.succeeded(part)
                self.parts.answered(part, latency)
        return response

    # The quota, kept between processes -----------------------------------------------------------

    @property
    def _quota_path(self) -> Any:
        return self.context.data_dir / QUOTA_FILE

    def _load_quota(self) -> None:
        """A rate limit (and the quota) the last process saw, if its wait is not over."""
        try:
            kept = json.loads(self._quota_path.read_text(encoding="utf-8"))
            until = datetime.fromisoformat(kept["blocked_until"]) if kept.get("blocked_until") \
                else None
            reset = datetime.fromisoformat(kept["reset"]) if kept.get("reset") else None
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return
        now = self.context.clock.now()
        if until is not None and until.tzinfo is not None and until > now:
            self._blocked_until = until
            self._blocked_message = str(kept.get("message") or "GitHub's rate limit")
        if reset is not None and reset.tzinfo is not None and reset > now \
                and isinstance(kept.get("limit"), int) and isinstance(kept.get("remaining"), int):
            self.quota = (kept["limit"], kept["remaining"], reset)
            self._say_quota(kept["limit"], kept["remaining"], reset)

    def _save_quota(self) -> None:
        """Keep the rate limit's end and the last quota for the next process."""
        limit, remaining, reset = self.quota if self.quota is not None else (None, None, None)
        record = {"blocked_until": self._blocked_until.isoformat() if self._blocked_until
                  else None, "message": self._blocked_message, "limit": limit,
                  "remaining": remaining, "reset": reset.isoformat() if reset else None}
        path = self._quota_path
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(path.name + ".tmp")
            temporary.write_text(json.dumps(record), encoding="utf-8")
            os.replace(temporary, path)

    def _read_quota(self, headers: Any) -> None:
        try:
            limit = int(headers["x-ratelimit-limit"])
            remaining = int(headers["x-ratelimit-remaining"])
            reset = datetime.fromtimestamp(int(headers["x-ratelimit-reset"]), UTC)
        except (KeyError, ValueError, OverflowError, OSError):
            return
        changed = self.quota is None or self.quota[2] != reset
        if not changed and self.quota is not None and limit == self.quota[0] \
                and remaining > self.quota[1]:
            # An answer that left before a later one came back: within one window (and one
            # limit) the count only goes down, so the lower one is the newer.
            remaining = self.quota[1]
        self.quota = (limit, remaining, reset)
        self._say_quota(limit, remaining, reset)
        if changed or remaining == 0:
            self._save_quota()

    def _say_quota(self, limit: int, remaining: int, reset: datetime) -> None:
        text = f"{remaining:,} of {limit:,} left, resets {reset:%H:%M} UTC"
        if text != self._quota_text:
            self._quota_text = text
            self.context.set_status("quota", text)

    def _raise(self, response: Any, what: str) -> None:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        message = str(body.get("message") or "") if isinstance(body, dict) else ""
        message = message or response.text.strip()[:200] or response.reason_phrase
        if status in (403, 429):
            self._rate_limit(response, message)
            if _PERMISSION.search(message):
                raise SourceAuthError(f"{what}: {message} (403)",
                                      hint=f"The token lacks a permission: {PERMISSIONS}.")
            # A read GitHub refuses without a rate limit will not be allowed by asking again.
            raise SourceError(f"{what}: {message}", permanent=response.request.method == "GET")
        if status == 401:
            raise SourceCredentialsRefused(
                f"GitHub refused the token: {message} (401)",
                hint=f"Set token (or the {self.config.token_env or 'token_env'} variable) of "
                     f"[sources.{self.name}] to a valid token; {PERMISSIONS}.")
        if status == 404:
            raise SourceNotFound(
                f"{what}: not found or not visible to the token",
                hint="Check the repository's name (repos, or the github.com/project-slug "
                     "annotation) and that the token may read it.")
        if status == 410:
            raise SourceNotFound(f"{what}: gone ({message})")
        if status == 422:
            raise SourceError(f"{what}: {message}{_details(body)}")
        raise self._client.status_error(response, what=what, message=message)

    def _rate_limit(self, response: Any, message: str) -> None:
        """Raise SourceRateLimited if ``response`` is a rate limit; remember until when."""
        headers = response.headers
        now = self.context.clock.now()
        retry_after = headers.get("retry-after", "").strip()
        retry_at: datetime | None = None
        if retry_after.isdigit():
            retry_at = now + timedelta(seconds=int(retry_after))
        elif headers.get("x-ratelimit-remaining") == "0" \
                and headers.get("x-ratelimit-reset", "").isdigit():
            reset = datetime.fromtimestamp(int(headers["x-ratelimit-reset"]), UTC)
            retry_at = max(reset, now + timedelta(seconds=1))
        elif "secondary rate limit" in message.lower() or response.status_code == 429:
            if self._blocked_until is not None and now < self._blocked_until:
                retry_at = self._blocked_until  # sent before the first answer: the same strike
            else:
                wait = min(SECONDARY_WAIT * 2 ** self._secondary_strikes, SECONDARY_MAX_WAIT)
                self._secondary_strikes += 1
                retry_at = now + timedelta(seconds=wait)
        if retry_at is None:
            return
        self._blocked_until = retry_at
        self._blocked_message = f"GitHub's rate limit: {message}"
        self._save_quota()
        raise SourceRateLimited(self._blocked_message, retry_at=retry_at,
                                hint=f"Waiting until {retry_at:%H:%M:%S} UTC; conditional "
                                     "requests (ETags) keep unchanged lists free of quota.")

    def _json(self, response: Any, what: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise SourceDataError(f"{what}: GitHub answered {response.status_code} without "
                                  "JSON: is url the REST API (…/api/v3 on Enterprise Server)?"
                                  ) from None


def _details(body: Any) -> str:
    """The ``errors[]`` of a 422 in a few words."""
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list) or not errors:
        return ""
    parts = []
    for error in errors[:5]:
        if isinstance(error, str):
            parts.append(error)
        elif isinstance(error, dict):
            text = error.get("message")
            if not text:
                where = ".".join(str(error[k]) for k in ("resource", "field") if error.get(k))
                text = " ".join(p for p in (where, str(error.get("code") or "")) if p)
                if error.get("value") not in (None, ""):
                    text += f" ({error['value']})"
            parts.append(str(text))
    return " — " + "; ".join(parts)
