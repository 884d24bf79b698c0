"""Errors a source raises. The hub turns them into an error class and a hint in the health view.

A source may raise any exception: the hub never lets one reach the user as a traceback. Raising one of
these instead lets the source choose the words and the hint the user sees, and say whether asking
again soon may help: a failure that will not fix itself (``permanent``: refused credentials, a
missing permission, a thing that does not exist) is asked again after 30 s, then 1, 2, 4… minutes
(at most 10), not at every refresh.
"""

from __future__ import annotations

from datetime import datetime


class SourceError(Exception):
    """A source could not do what was asked. ``hint`` tells the user what to try."""

    error_class = "error"
    #: The failure will not fix itself by asking again (refused credentials, a 404): the hub
    #: backs off exponentially instead of asking at every refresh. ``permanent=`` overrides it.
    permanent = False
    #: The failure is about everything the source does, not the one call (refused credentials):
    #: every topic of the source backs off together.
    whole_source = False
    #: Which part of what the source reads failed ("owner/repo", a cluster), if one part.
    part: str | None = None

    def __init__(self, message: str, *, hint: str | None = None, permanent: bool | None = None,
                 part: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if permanent is not None:
            self.permanent = permanent
        if part is not None:
            self.part = part


class SourceUnavailable(SourceError):
    """The system behind the source cannot be reached."""

    error_class = "unreachable"


class SourceAuthError(SourceError):
    """Credentials were refused (401) or lack a permission (403). Permanent: backed off."""

    error_class = "auth"
    permanent = True


class SourceCredentialsRefused(SourceAuthError):
    """The system refused the credentials themselves (401, "Bad credentials").

    Every call of the source backs off together: a system may lock a user out after repeated bad
    credentials (GitHub does), so a refused token is not sent again at every refresh.
    """

    whole_source = True


class SourceNotFound(SourceError):
    """The thing asked for does not exist in this source (a 404). Permanent: backed off."""

    error_class = "not found"
    permanent = True


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
        super().__init__(error.message, hint=error.hint, permanent=error.permanent,
                         part=error.part)
        self.data = data
        self.error = error
        self.error_class = error.error_class
