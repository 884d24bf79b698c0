"""When two names of a version are the same version.

A tag is often ``v1.4.2`` where a deploy's payload, an image tag or a chart says ``1.4.2``. Every
place that asks "is this version the one running there?" asks :func:`same_version`; what is shown
stays as its source wrote it.
"""

from __future__ import annotations

import re

__all__ = ["same_version", "version_name"]

#: A leading ``v`` (or ``V``) before a digit: ``v1.4.2``, ``V2``; not ``very-1``.
_PREFIX = re.compile(r"[vV](?=\d)")


def version_name(version: str) -> str:
    """The form in which versions are compared: surrounding blanks and a ``v`` prefix taken off
    (``v1.4.2`` → ``1.4.2``); anything else (a commit sha, a branch) as it is."""
    text = version.strip()
    return text[1:] if _PREFIX.match(text) else text


def same_version(a: str | None, b: str | None) -> bool:
    """True when ``a`` and ``b`` name the same version (``v1.4.2`` and ``1.4.2``); a missing or
    blank one is the same as nothing."""
    if not a or not b:
        return False
    return a == b or version_name(a) == version_name(b)
