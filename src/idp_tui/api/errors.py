"""Errors a source raises. The hub turns them into an error class and a hint in the health view.

A source may raise any exception: the hub never lets one reach the user as a traceback. Raising one of
these instead lets the source choose the words and the hint the user sees.
"""

from __future__ import annotations

from datetime import datetime


class SourceError(Exception):
    """A source could not do what was asked. ``hint`` tells the user what to try."""

    error_class = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class SourceUnavailable(SourceError):
    """The system behind the source cannot be reached."""

    error_class = "unreachable"


class SourceAuthError(SourceError):
    """Credentials were refused (401) or lack a permission (403)."""

    error_class = "auth"


class SourceNotFound(SourceError):
    """The thing asked for does not exist in this source."""

    error_class = "not found"


class SourceDataError(SourceError):
    """The system answered with something the source cannot make sense of."""

    error_class = "malformed data"


class NotSupported(SourceError):
    """The source does not offer this capability."""

    error_class = "not supported"


class SourceRateLimited(SourceError):
    """The system asks to wait before the next request (a rate limit, ``retry-after``).

    ``retry_at`` is when to try again (timezone-aware). The hub does not call the source for
    anything until then, keeps showing the last answers, and says in the panes when it will
    try again, instead of reporting a failure.
    """

    error_class = "rate limited"

    def __init__(self, message: str, *, retry_at: datetime, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_at = retry_at


class PartialAnswer(SourceError):
    """Raised with part of an answer: ``data`` is what the source could get, ``error`` says what
    it could not (one cluster of several unreachable, one project of many forbidden).

    The hub uses ``data`` as the source's answer and reports ``error`` in the pane and the health
    view, as for a failure. ``data`` must be what the method returns (a list of records…).
    """

    def __init__(self, data: object, error: SourceError) -> None:
        super().__init__(error.message, hint=error.hint)
        self.data = data
        self.error = error
        self.error_class = error.error_class
